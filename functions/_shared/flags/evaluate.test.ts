import { describe, expect, it } from 'vitest';
import {
  compareSemver,
  evaluateFlag,
  FLAG_RULE_DEFAULTS,
  type FlagContext,
  type FlagReason,
  type FlagRule,
  murmur3,
  rolloutBucket,
} from './evaluate.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('murmur3', () => {
  // Published MurmurHash3_x86_32 vectors (each also checked against a separate
  // implementation written from the algorithm's description): every tail length, bytes
  // with the high bit set, and seeds that use all 32 bits.
  const vectors: [string, Uint8Array, number, number][] = [
    ['empty', new Uint8Array(), 0, 0],
    ['empty, seed 1', new Uint8Array(), 1, 0x514e28b7],
    ['empty, seed 0xffffffff', new Uint8Array(), 0xffffffff, 0x81f16f39],
    ['hello', utf8('hello'), 0, 0x248bfa47],
    ['Hello, world!, seed 1234', utf8('Hello, world!'), 1234, 0xfaf6cdb3],
    ['Hello, world!, seed 0x9747b28c', utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
    ['quick brown fox', utf8('The quick brown fox jumps over the lazy dog'), 0, 0x2e4ff723],
    [
      'quick brown fox, seed 0x9747b28c',
      utf8('The quick brown fox jumps over the lazy dog'),
      0x9747b28c,
      0x2fa826cd,
    ],
    ['abc', utf8('abc'), 0, 0xb3dd93fa],
    ['a, seed 0x9747b28c', utf8('a'), 0x9747b28c, 0x7fa09ea6],
    ['ab, seed 0x9747b28c', utf8('ab'), 0x9747b28c, 0x74875592],
    ['abcd, seed 0x9747b28c', utf8('abcd'), 0x9747b28c, 0xf0478627],
    ['aaaa, seed 0x9747b28c', utf8('aaaa'), 0x9747b28c, 0x5a97808a],
    ['four zero bytes', new Uint8Array(4), 0, 0x2362f9de],
    ['three zero bytes', new Uint8Array(3), 0, 0x85f0b427],
    ['two zero bytes', new Uint8Array(2), 0, 0x30f4c306],
    ['one zero byte', new Uint8Array(1), 0, 0x514e28b7],
    ['ff ff ff ff', new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, 0x76293b50],
    ['21 43 65 87', new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0, 0xf55b516b],
    [
      '21 43 65 87, seed 0x5082edee',
      new Uint8Array([0x21, 0x43, 0x65, 0x87]),
      0x5082edee,
      0x2362f9de,
    ],
    ['21 43 65', new Uint8Array([0x21, 0x43, 0x65]), 0, 0x7e4a8634],
    ['21 43', new Uint8Array([0x21, 0x43]), 0, 0xa0f7b07a],
    ['21', new Uint8Array([0x21]), 0, 0x72661cf4],
  ];

  it.each(vectors)('%s', (_name, bytes, seed, expected) => {
    expect(murmur3(bytes, seed)).toBe(expected);
  });

  it('defaults to seed 0 and answers an unsigned 32-bit integer', () => {
    expect(murmur3(utf8('hello'))).toBe(613153351);
    // The high bit is set: a signed result would be negative.
    expect(murmur3(utf8('Hello, world!'), 1234)).toBeGreaterThan(2 ** 31);
    for (let i = 0; i < 1_000; i += 1) {
      const hash = murmur3(utf8(crypto.randomUUID()));
      expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32).toBe(true);
    }
  });
});

describe('rolloutBucket', () => {
  // Hashes pinned from a separate implementation: other clients must bucket the same.
  it('hashes the UTF-8 bytes of key:subject', () => {
    expect(rolloutBucket('rides.pooling', 'user-42')).toBe(2330185062 % 100);
    expect(rolloutBucket('checkout.v2', 'ünïcødé')).toBe(1061180533 % 100);
    expect(rolloutBucket('checkout.v2', '用户')).toBe(2505001709 % 100);
    expect(rolloutBucket('checkout.v2', '👩\u200d💻')).toBe(3070184662 % 100);
    expect(rolloutBucket('früh', 'x')).toBe(1410893724 % 100);
    // A lone surrogate is encoded as U+FFFD, as TextEncoder does.
    expect(rolloutBucket('checkout.v2', '\ud800')).toBe(1874306109 % 100);
  });

  it('buckets non-ASCII and long subjects by their UTF-8 bytes', () => {
    const subjects = [
      'ünïcødé',
      '用户-7',
      '👩\u200d💻',
      'a\ud800b',
      'é'.repeat(300), // 600 bytes: encoded into the scratch buffer
      '日本語'.repeat(300), // 900 UTF-16 units but 2,700 bytes: too long for it
      'x'.repeat(5_000), // longer than the scratch buffer, ASCII
      '日本'.repeat(2_000), // longer, non-ASCII
      ...Array.from({ length: 200 }, () => crypto.randomUUID()),
      ...Array.from({ length: 200 }, (_, i) => `Ωμέγα-${i}-${crypto.randomUUID()}`),
    ];
    for (const key of ['checkout.v2', 'früh.zugang', 'k']) {
      for (const subject of subjects) {
        expect(rolloutBucket(key, subject)).toBe(murmur3(utf8(`${key}:${subject}`)) % 100);
      }
    }
  });

  it('returns 0..99, the same on every call', () => {
    for (let i = 0; i < 1_000; i += 1) {
      const subject = crypto.randomUUID();
      const bucket = rolloutBucket('rides.pooling', subject);
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 100).toBe(true);
      expect(rolloutBucket('rides.pooling', subject)).toBe(bucket);
    }
  });
});

const flag = (overrides: Partial<FlagRule> = {}): FlagRule => ({
  ...FLAG_RULE_DEFAULTS,
  key: 'rides.pooling',
  ...overrides,
});

describe('evaluateFlag', () => {
  const subject = 'user-42';
  const bucket = rolloutBucket('rides.pooling', subject);
  const everything: FlagContext = {
    subject,
    groups: ['beta', 'staff'],
    environment: 'production',
    appVersion: '2.3.0',
  };

  const min = (version: string): Partial<FlagRule> => ({ min_app_version: version });
  const cases: [string, Partial<FlagRule>, FlagContext, FlagReason][] = [
    ['no targeting, empty context', {}, {}, 'on'],
    [
      'every rule passes',
      {
        groups: ['staff'],
        environments: ['production'],
        rollout_percent: bucket + 1,
        min_app_version: '2.3.0',
      },
      everything,
      'on',
    ],
    // The kill switch beats everything, even rules that would fail.
    ['disabled, nothing else', { enabled: false }, everything, 'disabled'],
    [
      'disabled beats every other rule',
      {
        enabled: false,
        environments: ['staging'],
        groups: ['nobody'],
        rollout_percent: 0,
        min_app_version: '9.0.0',
      },
      {},
      'disabled',
    ],
    // Environment.
    ['environment listed', { environments: ['staging', 'production'] }, everything, 'on'],
    ['environment not listed', { environments: ['staging'] }, everything, 'environment'],
    ['environments listed, context has none', { environments: ['production'] }, {}, 'environment'],
    [
      'environment is checked before groups',
      { environments: ['staging'], groups: ['nobody'] },
      everything,
      'environment',
    ],
    // Groups.
    ['group shared', { groups: ['nobody', 'beta'] }, everything, 'on'],
    ['no group shared', { groups: ['nobody', 'admins'] }, everything, 'group'],
    ['groups targeted, context has none', { groups: ['beta'] }, { subject }, 'group'],
    ['groups targeted, context in none', { groups: ['beta'] }, { groups: [] }, 'group'],
    [
      'group checked before rollout',
      { groups: ['nobody'], rollout_percent: 0 },
      everything,
      'group',
    ],
    // Rollout.
    ['rollout 100, no subject', { rollout_percent: 100 }, {}, 'on'],
    ['rollout 0, with a subject', { rollout_percent: 0 }, everything, 'rollout'],
    ['partial rollout, no subject', { rollout_percent: 99 }, { groups: ['beta'] }, 'rollout'],
    ['partial rollout, null subject', { rollout_percent: 99 }, { subject: null }, 'rollout'],
    ['partial rollout, empty subject', { rollout_percent: 99 }, { subject: '' }, 'rollout'],
    ['rollout just above the bucket', { rollout_percent: bucket + 1 }, { subject }, 'on'],
    ['rollout equal to the bucket', { rollout_percent: bucket }, { subject }, 'rollout'],
    [
      'rollout checked before app version',
      { rollout_percent: 0, min_app_version: '9.0.0' },
      everything,
      'rollout',
    ],
    // Minimum app version.
    ['app version above', { min_app_version: '2.2.9' }, everything, 'on'],
    ['app version equal', { min_app_version: '2.3.0' }, everything, 'on'],
    ['app version below', { min_app_version: '2.10.0' }, everything, 'app_version'],
    ['app version missing', { min_app_version: '1.0.0' }, { subject }, 'app_version'],
    ['app version null', { min_app_version: '1.0.0' }, { appVersion: null }, 'app_version'],
    ['app version not semver', { min_app_version: '1.0.0' }, { appVersion: '2.3' }, 'app_version'],
    ['app version with a v', { min_app_version: '1.0.0' }, { appVersion: 'v2.3.0' }, 'app_version'],
    ['pre-release of the minimum', min('2.3.0'), { appVersion: '2.3.0-rc.1' }, 'app_version'],
    ['pre-release of a later version', min('2.3.0'), { appVersion: '2.4.0-beta' }, 'on'],
    ['build metadata ignored', min('2.3.0'), { appVersion: '2.3.0+build.77' }, 'on'],
    ['minimum that is not semver', { min_app_version: 'latest' }, everything, 'app_version'],
  ];

  it.each(cases)('%s', (_name, overrides, context, reason) => {
    expect(evaluateFlag(flag(overrides), context)).toEqual({ on: reason === 'on', reason });
  });

  it('evaluates a key with no row as on', () => {
    expect(evaluateFlag({ ...FLAG_RULE_DEFAULTS, key: 'no.such.flag' }, {})).toEqual({
      on: true,
      reason: 'on',
    });
    expect(evaluateFlag({ ...FLAG_RULE_DEFAULTS, key: 'no.such.flag' }, everything).on).toBe(true);
  });
});

describe('percentage rollout', () => {
  // A fixed sample, so the shares below are the same on every run (random ones strayed past
  // two points once in a blue moon).
  const SUBJECTS = Array.from(
    { length: 10_000 },
    (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
  );
  const onFor = (key: string, percent: number) =>
    new Set(
      SUBJECTS.filter((subject) =>
        evaluateFlag(flag({ key, rollout_percent: percent }), { subject }).on
      ),
    );

  it.each([1, 5, 25, 50, 90, 99])('reaches %i%% of subjects, within 2 points', (percent) => {
    const share = (onFor('rides.pooling', percent).size / SUBJECTS.length) * 100;
    expect(Math.abs(share - percent)).toBeLessThanOrEqual(2);
  });

  it('is sticky: a subject in at 20% is in at 30% and at 50%', () => {
    const at20 = onFor('rides.pooling', 20);
    const at30 = onFor('rides.pooling', 30);
    const at50 = onFor('rides.pooling', 50);
    expect(at20.size).toBeGreaterThan(0);
    for (const subject of at20) {
      expect(at30.has(subject)).toBe(true);
      expect(at50.has(subject)).toBe(true);
    }
    for (const subject of at30) expect(at50.has(subject)).toBe(true);
  });

  it('buckets each flag independently', () => {
    const a = onFor('rides.pooling', 50);
    const b = onFor('checkout.v2', 50);
    const both = [...a].filter((subject) => b.has(subject)).length;
    // Independent halves overlap on about a quarter; the same bucketing would overlap on half.
    expect(Math.abs((both / SUBJECTS.length) * 100 - 25)).toBeLessThanOrEqual(2);
  });
});

describe('compareSemver', () => {
  it('orders pre-releases as semver.org §11 does', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ];
    for (let i = 0; i < ordered.length; i += 1) {
      for (let j = 0; j < ordered.length; j += 1) {
        const order = compareSemver(ordered[i]!, ordered[j]!);
        expect(order, `${ordered[i]} vs ${ordered[j]}`).not.toBeNull();
        expect(Math.sign(order!), `${ordered[i]} vs ${ordered[j]}`).toBe(Math.sign(i - j));
      }
    }
  });

  it.each(
    [
      ['1.0.0', '2.0.0', -1],
      ['2.0.0', '2.1.0', -1],
      ['2.1.0', '2.1.1', -1],
      ['1.10.0', '1.9.0', 1],
      ['1.0.10', '1.0.9', 1],
      ['10.0.0', '9.99.99', 1],
      ['0.0.0', '0.0.0', 0],
      ['1.0.0+build.1', '1.0.0+build.2', 0],
      ['1.0.0-rc.1+build.1', '1.0.0-rc.1', 0],
      ['1.0.0-alpha.10', '1.0.0-alpha.9', 1],
      ['1.0.0-1', '1.0.0-alpha', -1],
      ['1.0.0-alpha-1', '1.0.0-alpha', 1],
      ['1.0.0-Z', '1.0.0-a', -1], // ASCII order: upper case first
      ['1.0.0-0a', '1.0.0-0', 1], // "0a" is alphanumeric, not a number with a leading zero
      // Beyond 2^53: compared exactly, not as doubles.
      ['9007199254740993.0.0', '9007199254740992.0.0', 1],
      ['1.0.0-9007199254740993', '1.0.0-9007199254740992', 1],
    ] as const,
  )('%s vs %s: %i', (a, b, expected) => {
    expect(Math.sign(compareSemver(a, b)!)).toBe(expected);
    expect(Math.sign(compareSemver(b, a)!)).toBe(-expected || 0);
  });

  it.each([
    '1.0',
    '1',
    'v1.0.0',
    '01.0.0',
    '1.01.0',
    '1.0.01',
    '1.0.0-01',
    '1.0.0-',
    '1.0.0+',
    '1.0.0-alpha..1',
    '1.0.0-alpha_1',
    '1.0.0+build..1',
    ' 1.0.0',
    '1.0.0 ',
    '1.0.0\n',
    '',
    '-1.0.0',
    '1.0.0.0',
    '１.0.0', // a full-width digit
  ])('%j is not semver', (invalid) => {
    expect(compareSemver(invalid, '1.0.0')).toBeNull();
    expect(compareSemver('1.0.0', invalid)).toBeNull();
  });

  it('stays right after more distinct versions than it remembers', () => {
    for (let i = 0; i < 2_000; i += 1) {
      expect(compareSemver(`1.${i}.0`, '1.1000.0')).toBe(Math.sign(i - 1000));
      expect(compareSemver(`1.${i}.0-`, '1.0.0')).toBeNull();
    }
    expect(compareSemver('2.3.0-rc.1', '2.3.0')).toBe(-1);
  });
});
