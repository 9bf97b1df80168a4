import { describe, expect, it } from 'vitest';
import { blockedRange, formatIp, inCidr, parseCidr, parseIp, unwrapMapped } from './ranges.ts';

const judge = (address: string) => {
  const ip = parseIp(address);
  if (ip === undefined) throw new Error(`not an IP: ${address}`);
  return blockedRange(ip);
};

describe('blocked ranges', () => {
  it.each([
    ['0.0.0.0', '"this network"'],
    ['0.255.255.255', '"this network"'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'CGNAT (shared address space)'],
    ['100.127.255.254', 'CGNAT (shared address space)'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.10', 'documentation'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('IPv4 %s is blocked (%s)', (address, label) => {
    expect(judge(address)).toBe(label);
  });

  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'unique local (private)'],
    ['fd12:3456:789a::1', 'unique local (private)'],
    ['fd00:ec2::254', 'unique local (private)'], // AWS's IPv6 metadata address
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'IETF protocol assignments (Teredo included)'],
    ['64:ff9b:1::1', 'local-use NAT64'],
    ['100::1', 'discard-only'],
    ['4000::1', 'reserved'],
    ['1::1', 'reserved'],
  ])('IPv6 %s is blocked (%s)', (address, label) => {
    expect(judge(address)).toBe(label);
  });

  it.each([
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'IPv4-mapped cloud metadata'],
    ['::ffff:10.1.2.3', 'IPv4-mapped private'],
    ['::ffff:0:192.168.0.1', 'IPv4-translated private'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['::10.0.0.1', 'IPv4-compatible private'],
    ['64:ff9b::127.0.0.1', 'NAT64 loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 cloud metadata'],
    ['64:ff9b::100.64.0.1', 'NAT64 CGNAT (shared address space)'],
    ['2002:7f00:1::1', '6to4 loopback'],
    ['2002:c0a8:101::', '6to4 private'],
  ])('IPv6 carrying an IPv4 is judged by the IPv4: %s (%s)', (address, label) => {
    expect(judge(address)).toBe(label);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '100.63.255.255', // just below CGNAT
    '100.128.0.0', // just above
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('public %s is not blocked', (address) => {
    expect(judge(address)).toBeUndefined();
  });
});

describe('addresses and CIDR ranges', () => {
  it('reads every IPv6 spelling as the same number and writes it the usual way', () => {
    const spellings = ['::ffff:127.0.0.1', '0:0:0:0:0:ffff:7f00:1', '[::FFFF:7F00:1]'];
    const values = spellings.map((text) => parseIp(text));
    expect(values.every((ip) => ip?.value === 0xffff7f000001n && ip.family === 6)).toBe(true);
    expect(formatIp(values[0]!)).toBe('::ffff:7f00:1');
    expect(formatIp(unwrapMapped(values[0]!))).toBe('127.0.0.1');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
  });

  it('refuses what is not a plain address', () => {
    for (const text of ['127.1', '0x7f.0.0.1', '0177.0.0.1', '1.2.3.4.5', 'fe80::1%eth0', 'a.b']) {
      expect(parseIp(text), text).toBeUndefined();
    }
  });

  it('parses v4 and v6 CIDR ranges and bare addresses', () => {
    const loopback = parseCidr('127.0.0.1/32')!;
    expect(inCidr(parseIp('127.0.0.1')!, loopback)).toBe(true);
    expect(inCidr(parseIp('127.0.0.2')!, loopback)).toBe(false);
    expect(inCidr(parseIp('10.20.30.40')!, parseCidr('10.20.0.0/16')!)).toBe(true);
    expect(inCidr(parseIp('fd00::5')!, parseCidr('fd00::/8')!)).toBe(true);
    expect(inCidr(parseIp('::1')!, parseCidr('::1')!)).toBe(true);
    expect(inCidr(parseIp('::ffff:127.0.0.1')!, loopback)).toBe(false); // families differ
    expect(parseCidr('0.0.0.0/0')).toEqual({ family: 4, network: 0n, bits: 0 });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/8', 'example.com/8', '10.0.0.0/x']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });
});
