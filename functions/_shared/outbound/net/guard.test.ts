import { describe, expect, it } from 'vitest';
import { OutboundRefused } from './errors.ts';
import {
  checkUrl,
  createOutboundPolicy,
  type OutboundPolicyOptions,
  type Resolver,
  resolveTarget,
  systemResolver,
} from './guard.ts';

/** A resolver answering `answers[n]` to the n-th lookup (the last one repeats). */
function scripted(...answers: string[][]): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = (hostname: string) => {
    calls.push(hostname);
    return Promise.resolve(answers[Math.min(calls.length - 1, answers.length - 1)] ?? []);
  };
  return Object.assign(resolver, { calls });
}

const PUBLIC = '93.184.215.14';

function production(options: Partial<OutboundPolicyOptions> = {}) {
  return createOutboundPolicy({ allowHttp: false, resolver: scripted([PUBLIC]), ...options });
}

async function refusal(url: string, policy = production()): Promise<OutboundRefused> {
  const error = await resolveTarget(url, policy).then(() => undefined, (error) => error);
  expect(error).toBeInstanceOf(OutboundRefused);
  return error as OutboundRefused;
}

describe('checkUrl and resolveTarget: the URL itself', () => {
  it('accepts https to a public host and pins the address it resolved to', async () => {
    const resolver = scripted([PUBLIC, '2606:4700:4700::1111']);
    const target = await resolveTarget(
      'https://hooks.example.com/in?x=1',
      production({ resolver }),
    );
    expect(target.url.href).toBe('https://hooks.example.com/in?x=1');
    expect(target).toMatchObject({ address: PUBLIC, family: 4 });
    expect(resolver.calls).toEqual(['hooks.example.com']);
  });

  it.each([
    ['ftp://hooks.example.com/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['gopher://hooks.example.com/', 'scheme'],
    ['javascript:alert(1)', 'scheme'],
    ['https://user:pass@hooks.example.com/', 'userinfo'],
    ['https://user@hooks.example.com/', 'userinfo'],
    ['not a url', 'invalid_url'],
    ['https://', 'invalid_url'],
  ])('refuses %s (%s)', async (url, reason) => {
    expect((await refusal(url)).reason).toBe(reason);
  });

  it('production allows https only; development (allowHttp) allows http', async () => {
    const http = 'http://hooks.example.com/in';
    const refused = await refusal(http);
    expect(refused.reason).toBe('scheme');
    expect(refused.message).toMatch(/^hooks\.example\.com: plain http is refused/);
    expect(() => checkUrl(http, production())).toThrow(OutboundRefused);
    const dev = createOutboundPolicy({ allowHttp: true, resolver: scripted([PUBLIC]) });
    await expect(resolveTarget(http, dev)).resolves.toMatchObject({ address: PUBLIC });
  });

  it('development still blocks private addresses: allowHttp is about the scheme only', async () => {
    const dev = createOutboundPolicy({ allowHttp: true, resolver: scripted(['10.0.0.5']) });
    expect((await refusal('http://hooks.example.com/', dev)).reason).toBe('blocked_address');
  });

  it.each([
    'http://localhost:8080/',
    'https://LOCALHOST./',
    'https://app.localhost/',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://Metadata.Google.Internal./',
    'https://metadata/',
    'https://instance-data/latest/meta-data/',
    'https://billing.internal/',
    'https://printer.local/',
    'https://router.home.arpa/',
  ])('refuses the internal name in %s before any lookup', async (url) => {
    const resolver = scripted([PUBLIC]);
    const refused = await refusal(url, production({ resolver, allowHttp: true }));
    expect(refused.reason).toBe('blocked_host');
    expect(resolver.calls).toEqual([]);
  });

  it('messages name the host, never the path or query (they may hold a secret)', async () => {
    const resolver = scripted(['10.1.2.3']);
    const url = 'https://hooks.example.com/hook/s3cr3t-path?token=s3cr3t-token';
    const refused = await refusal(url, production({ resolver }));
    expect(refused.message).toBe(
      'hooks.example.com resolves to 10.1.2.3, which is a blocked address (private): ' +
        'no deliveries there unless allow-listed',
    );
    expect(refused.host).toBe('hooks.example.com');
    const credentials = await refusal('https://admin:hunter2@hooks.example.com/');
    expect(credentials.message).not.toMatch(/hunter2|admin/);
    const scheme = await refusal('ftp://files.example.com/s3cr3t?token=s3cr3t');
    expect(scheme.message).not.toMatch(/s3cr3t/);
  });
});

describe('literal addresses, in every spelling the URL parser accepts', () => {
  it.each([
    ['https://127.0.0.1/', 'loopback'],
    ['https://2130706433/', 'loopback'], // decimal
    ['https://0x7f000001/', 'loopback'], // hex
    ['https://0x7f.1/', 'loopback'],
    ['https://017700000001/', 'loopback'], // octal
    ['https://0177.0.0.1/', 'loopback'],
    ['https://127.1/', 'loopback'],
    ['https://127.0.0.1./', 'loopback'],
    ['https://%31%32%37.0.0.1/', 'loopback'], // percent-encoded
    ['https://１２７.０.０.１/', 'loopback'], // full-width digits
    ['https://0/', '"this network"'],
    ['https://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['https://2852039166/', 'cloud metadata'], // 169.254.169.254 as one number
    ['https://10.0.0.1/', 'private'],
    ['https://100.64.0.1/', 'CGNAT (shared address space)'],
    ['https://[::1]/', 'loopback'],
    ['https://[::]/', 'unspecified'],
    ['https://[::ffff:127.0.0.1]/', 'IPv4-mapped loopback'],
    ['https://[0:0:0:0:0:ffff:7f00:1]/', 'IPv4-mapped loopback'],
    ['https://[::ffff:a9fe:a9fe]/', 'IPv4-mapped cloud metadata'],
    ['https://[::127.0.0.1]/', 'IPv4-compatible loopback'],
    ['https://[64:ff9b::127.0.0.1]/', 'NAT64 loopback'],
    ['https://[fd00:ec2::254]/', 'unique local (private)'],
    ['https://[fe80::1]/', 'link-local'],
    ['https://[2001:db8::1]/', 'documentation'],
  ])('%s is refused (%s) without a lookup', async (url, label) => {
    const resolver = scripted([PUBLIC]);
    const policy = production({ resolver });
    expect(() => checkUrl(url, policy)).toThrow(OutboundRefused);
    const refused = await refusal(url, policy);
    expect(refused.reason).toBe('blocked_address');
    expect(refused.message).toContain(`(${label})`);
    expect(resolver.calls).toEqual([]);
  });

  it('a public literal is its own pinned address; a mapped one is dialled as IPv4', async () => {
    const policy = production();
    await expect(resolveTarget('https://8.8.8.8/', policy)).resolves.toMatchObject({
      address: '8.8.8.8',
      family: 4,
    });
    await expect(resolveTarget('https://[::ffff:8.8.8.8]/', policy)).resolves.toMatchObject({
      address: '8.8.8.8',
      family: 4,
    });
    await expect(resolveTarget('https://[2606:4700:4700::1111]/', policy)).resolves
      .toMatchObject({ address: '2606:4700:4700::1111', family: 6 });
  });
});

describe('DNS answers', () => {
  it.each([
    [['127.0.0.1']],
    [[PUBLIC, '127.0.0.1']], // one bad answer among good ones is enough
    [['2606:4700:4700::1111', '::1']],
    [[PUBLIC, '::ffff:169.254.169.254']],
    [['64:ff9b::a00:1']],
    [['fe80::1']],
  ])('refuses a name that resolves to %j', async (answer) => {
    const refused = await refusal(
      'https://hooks.example.com/',
      production({
        resolver: scripted(answer),
      }),
    );
    expect(refused.reason).toBe('blocked_address');
    expect(refused.message).toMatch(/^hooks\.example\.com resolves to /);
  });

  it('DNS rebinding: only the first answer is judged and pinned, the name is not asked again', async () => {
    // A hostile name answers a public address, then the metadata address to the next lookup.
    const resolver = scripted([PUBLIC], ['169.254.169.254']);
    const policy = production({ resolver });
    const target = await resolveTarget('https://rebind.example.com/', policy);
    expect(target.address).toBe(PUBLIC);
    expect(resolver.calls).toHaveLength(1);
    // The request connects to target.address (pinned.test.ts shows it against a server); a
    // fresh resolution, as a naive client would make, now lands on the blocked address.
    expect((await refusal('https://rebind.example.com/', policy)).reason).toBe('blocked_address');
  });

  it.each([
    ['no answer', scripted([])],
    ['not an address', scripted(['rebind.example.com'])],
    ['an address with a zone', scripted(['fe80::1%eth0'])],
    [
      'a failed lookup',
      () =>
        Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })),
    ],
  ])('%s is unresolvable', async (_, resolver) => {
    const refused = await refusal('https://hooks.example.com/', production({ resolver }));
    expect(refused.reason).toBe('unresolvable');
    expect(refused.message).toMatch(/^hooks\.example\.com does not resolve/);
  });

  it('a lookup that never answers is unresolvable after resolveTimeoutMs', async () => {
    const policy = production({ resolver: () => new Promise(() => {}), resolveTimeoutMs: 50 });
    const refused = await refusal('https://hooks.example.com/', policy);
    expect(refused).toMatchObject({ reason: 'unresolvable' });
    expect(refused.message).toContain('no answer within 50 ms');
  });

  it('the system resolver answers under this runtime (getaddrinfo, hosts file included)', async () => {
    expect(await systemResolver('localhost')).toContain('127.0.0.1');
    // ENOTFOUND, or EAI_AGAIN where no DNS server is reachable: either way an error with a code.
    await expect(systemResolver('no-such-host.invalid')).rejects.toMatchObject({
      code: expect.stringMatching(/^E[A-Z_]+$/),
    });
  });
});

describe('the allow-list', () => {
  it('a CIDR lets matching addresses through, over http too', async () => {
    const policy = production({
      allowedTargets: ['127.0.0.1/32'],
      resolver: scripted(['127.0.0.1']),
    });
    await expect(resolveTarget('http://receiver.test:8080/in', policy)).resolves.toMatchObject({
      address: '127.0.0.1',
    });
    await expect(resolveTarget('http://127.0.0.1:9/', policy)).resolves.toBeDefined();
    await expect(resolveTarget('https://[::ffff:127.0.0.1]/', policy)).resolves.toMatchObject({
      address: '127.0.0.1',
    });
    // Only that address: its neighbour, and a name answering both, stay blocked.
    expect((await refusal('https://127.0.0.2/', policy)).reason).toBe('blocked_address');
    const both = production({
      allowedTargets: ['127.0.0.1/32'],
      resolver: scripted(['127.0.0.1', '10.0.0.1']),
    });
    expect((await refusal('https://receiver.test/', both)).reason).toBe('blocked_address');
  });

  it('http in production needs every address allow-listed, not just an accepted one', async () => {
    const policy = production({ allowedTargets: ['10.20.0.0/16'], resolver: scripted([PUBLIC]) });
    expect((await refusal('http://hooks.example.com/', policy)).reason).toBe('scheme');
    expect(() => checkUrl('http://8.8.8.8/', policy)).toThrow(/plain http is refused/);
    await expect(resolveTarget('https://hooks.example.com/', policy)).resolves.toBeDefined();
  });

  it('a hostname is let through whatever it resolves to, internal names included', async () => {
    const policy = production({
      allowedTargets: ['Billing.Internal', 'localhost', 'fd00::/8'],
      resolver: scripted(['10.9.8.7']),
    });
    await expect(resolveTarget('http://billing.internal/hook', policy)).resolves.toMatchObject({
      address: '10.9.8.7',
    });
    await expect(resolveTarget('http://localhost:3000/', policy)).resolves.toBeDefined();
    await expect(resolveTarget('https://[fd00::7]/', policy)).resolves.toMatchObject({
      address: 'fd00::7',
      family: 6,
    });
    // The name is matched exactly: a subdomain or another name is judged as usual.
    expect((await refusal('https://api.billing.internal/', policy)).reason).toBe('blocked_host');
    expect((await refusal('https://other.example.com/', policy)).reason).toBe('blocked_address');
  });

  it('an entry that is neither a hostname nor an address or range fails when the policy is built', () => {
    for (const entry of ['http://hooks.example.com', '10.0.0.0/33', '::1/200', 'a b', '1.2.3']) {
      expect(() => createOutboundPolicy({ allowHttp: false, allowedTargets: [entry] }), entry)
        .toThrow(`"${entry}" is neither a hostname nor an IP address or CIDR range`);
    }
  });
});
