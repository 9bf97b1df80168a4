import { describe, expect, it } from 'vitest';
import { ipMatches, parseIpRule, parseIpv4, parseIpv6 } from './ip-rules.ts';

describe('parseIpRule and ipMatches (the USSD allow-list)', () => {
  it('matches IPv4 addresses, IPv4 ranges (mapped clients included) and IPv6 addresses', () => {
    const range = parseIpRule('196.201.214.0/24');
    expect(ipMatches(range, '196.201.214.7')).toBe(true);
    expect(ipMatches(range, '::ffff:196.201.214.7')).toBe(true);
    expect(ipMatches(range, '196.201.215.7')).toBe(false);
    const single = parseIpRule('2001:db8::10');
    expect(ipMatches(single, '2001:0db8:0:0::10')).toBe(true);
    expect(ipMatches(single, '2001:db8::11')).toBe(false);
  });

  it('refuses what is not an address or IPv4 range, naming it', () => {
    for (const entry of ['196.201.214.0/33', 'example.com', '010.0.0.1', '2001:db8::/32']) {
      expect(() => parseIpRule(entry)).toThrow(`"${entry}" is not an IPv4 address`);
    }
  });
});

describe('parseIpv4 and parseIpv6', () => {
  it('read a dotted quad strictly (no octal, no short forms)', () => {
    expect(parseIpv4('127.0.0.1')).toBe(0x7f000001);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const text of ['0127.0.0.1', '127.1', '256.0.0.1', '1.2.3.4.5', '0x7f.0.0.1', '']) {
      expect(parseIpv4(text), text).toBeUndefined();
    }
  });

  it('read every IPv6 spelling, embedded dotted quads included, as one 128-bit number', () => {
    expect(parseIpv6('::')).toBe(0n);
    expect(parseIpv6('::1')).toBe(1n);
    expect(parseIpv6('::ffff:127.0.0.1')).toBe(0xffff7f000001n);
    expect(parseIpv6('0:0:0:0:0:FFFF:7F00:0001')).toBe(0xffff7f000001n);
    expect(parseIpv6('2001:db8::1')).toBe(0x20010db8000000000000000000000001n);
    expect(parseIpv6('fe80::')).toBe(0xfe80n << 112n);
    expect(parseIpv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    for (const text of ['127.0.0.1', 'fe80::1%eth0', '1::2::3', 'example.com', '[::1]']) {
      expect(parseIpv6(text), text).toBeUndefined();
    }
  });
});
