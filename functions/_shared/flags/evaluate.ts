/**
 * Targeted feature flags, evaluated in process: a flag row (kill switch, environments,
 * groups, a sticky percentage rollout, a minimum app version) and a caller's context in, on
 * or off and the rule that decided out. Pure and synchronous, no database: the rows come from
 * wherever the caller keeps them, and one evaluation costs well under a microsecond.
 */

/**
 * A `feature_flags` row as the evaluator reads it. Arrays left empty mean "no targeting":
 * no `groups` admits every group (and none), no `environments` admits every environment.
 */
export type FlagRule = {
  readonly key: string;
  /** The kill switch: false turns the flag off for everyone, whatever else it says. */
  readonly enabled: boolean;
  /** Integer 0..100: the share of subjects it is on for; 100 is everyone, 0 no one. */
  readonly rollout_percent: number;
  /** On only for a context in at least one of these; empty targets no group. */
  readonly groups: readonly string[];
  /** On only in these environments; empty is every environment. */
  readonly environments: readonly string[];
  /** A semver such as `2.3.0`: off for older app versions and ones it cannot read. */
  readonly min_app_version: string | null;
};

/** Who and where a flag is evaluated for; every field is optional. */
export interface FlagContext {
  /**
   * What the percentage rollout buckets by (a user or device id): the same subject gets the
   * same answer on every call and every instance. With none (or an empty string) a flag
   * rolled out to between 0 and 100 % is off.
   */
  readonly subject?: string | null;
  /** The groups the subject is in, matched against {@link FlagRule.groups}. */
  readonly groups?: readonly string[];
  /** Where the code runs (`production`, `staging`, ...), matched against the flag's. */
  readonly environment?: string;
  /** The caller's app version (semver), checked against {@link FlagRule.min_app_version}. */
  readonly appVersion?: string | null;
}

/**
 * Why a flag is on or off: `on`, or the first rule that turned it off, in the order they
 * are checked (`disabled`, `environment`, `group`, `rollout`, `app_version`).
 */
export type FlagReason = 'on' | 'disabled' | 'environment' | 'group' | 'rollout' | 'app_version';

/** An evaluation's answer. The evaluator returns shared frozen objects: do not mutate them. */
export type FlagEvaluation = { readonly on: boolean; readonly reason: FlagReason };

/**
 * The row a key without one is evaluated as: on for everyone, everywhere, at every version
 * (a switch exists before anyone writes it, as `createFlagReader` in `./index.ts` treats it).
 *
 * @example
 * const rule = rows.get(key) ?? { ...FLAG_RULE_DEFAULTS, key };
 */
export const FLAG_RULE_DEFAULTS: Readonly<Omit<FlagRule, 'key'>> = Object.freeze({
  enabled: true,
  rollout_percent: 100,
  groups: Object.freeze([]) as readonly string[],
  environments: Object.freeze([]) as readonly string[],
  min_app_version: null,
});

// One answer per reason, shared: an evaluation allocates nothing.
const ON: FlagEvaluation = Object.freeze({ on: true, reason: 'on' });
const DISABLED: FlagEvaluation = Object.freeze({ on: false, reason: 'disabled' });
const ENVIRONMENT: FlagEvaluation = Object.freeze({ on: false, reason: 'environment' });
const GROUP: FlagEvaluation = Object.freeze({ on: false, reason: 'group' });
const ROLLOUT: FlagEvaluation = Object.freeze({ on: false, reason: 'rollout' });
const APP_VERSION: FlagEvaluation = Object.freeze({ on: false, reason: 'app_version' });

/**
 * Evaluates `flag` for `context`. The rules run in this order and the first that fails
 * decides: the kill switch (`disabled`), the environment (`environment`), the groups
 * (`group`), the percentage rollout (`rollout`), the minimum app version (`app_version`);
 * a flag that passes them all is `on`. The rollout is sticky: a subject's bucket depends
 * only on the flag's key and the subject, so raising the percentage only ever adds subjects,
 * and two flags at the same percentage reach different subjects.
 *
 * @example
 * const rule = rows.get('rides.pooling') ?? { ...FLAG_RULE_DEFAULTS, key: 'rides.pooling' };
 * const { on, reason } = evaluateFlag(rule, {
 *   subject: user.id,
 *   groups: user.groups,
 *   environment: 'production',
 *   appVersion: c.req.header('x-app-version'),
 * });
 * if (!on) log.info({ flag: rule.key, reason }, 'pooling off');
 */
export function evaluateFlag(flag: FlagRule, context: FlagContext): FlagEvaluation {
  if (!flag.enabled) return DISABLED;

  const environments = flag.environments;
  if (environments.length > 0) {
    const environment = context.environment;
    if (environment === undefined || !environments.includes(environment)) return ENVIRONMENT;
  }

  const groups = flag.groups;
  if (groups.length > 0 && !sharesGroup(groups, context.groups)) return GROUP;

  const percent = flag.rollout_percent;
  if (!(percent >= 100)) {
    // 0, below it, or not a number: no one.
    if (!(percent > 0)) return ROLLOUT;
    const subject = context.subject;
    if (typeof subject !== 'string' || subject === '') return ROLLOUT;
    if (!(rolloutBucket(flag.key, subject) < percent)) return ROLLOUT;
  }

  const minimum = flag.min_app_version;
  if (typeof minimum === 'string') {
    const version = context.appVersion;
    if (typeof version !== 'string') return APP_VERSION;
    const order = compareSemver(version, minimum);
    if (order === null || order < 0) return APP_VERSION;
  }

  return ON;
}

function sharesGroup(wanted: readonly string[], held: readonly string[] | undefined): boolean {
  if (held === undefined) return false;
  // Both lists are short: a nested scan beats building a Set on every call.
  for (let i = 0; i < held.length; i += 1) {
    const group = held[i];
    for (let j = 0; j < wanted.length; j += 1) {
      if (wanted[j] === group) return true;
    }
  }
  return false;
}

// Scratch space for the UTF-8 of `${key}:${subject}`, reused by every call. Longer input
// (rare) gets its own array rather than growing this one for good.
const SCRATCH = new Uint8Array(1024);
const ENCODER = new TextEncoder();
const COLON = 0x3a;

/**
 * The rollout bucket, 0..99, of `subject` for the flag `key`: MurmurHash3 (x86, 32-bit,
 * seed 0) of the UTF-8 bytes of `${key}:${subject}`, unsigned, modulo 100. A subject is in a
 * rollout of `p` percent when its bucket is below `p`. Any other implementation that hashes
 * the same bytes the same way (a mobile client, SQL) buckets subjects identically.
 *
 * @example
 * rolloutBucket('rides.pooling', 'user-42'); // the same number on every call, 0..99
 */
export function rolloutBucket(key: string, subject: string): number {
  const keyLength = key.length;
  const total = keyLength + 1 + subject.length;
  if (total <= SCRATCH.length) {
    // ASCII, by far the common case: one byte per char code, no encoder, no allocation.
    let ascii = true;
    for (let i = 0; i < keyLength; i += 1) {
      const code = key.charCodeAt(i);
      if (code > 0x7f) {
        ascii = false;
        break;
      }
      SCRATCH[i] = code;
    }
    if (ascii) {
      SCRATCH[keyLength] = COLON;
      for (let i = 0, at = keyLength + 1; i < subject.length; i += 1, at += 1) {
        const code = subject.charCodeAt(i);
        if (code > 0x7f) {
          ascii = false;
          break;
        }
        SCRATCH[at] = code;
      }
    }
    if (ascii) return hashRange(SCRATCH, total, 0) % 100;
  }
  // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair's 4 for 2 units).
  const text = `${key}:${subject}`;
  if (text.length * 3 <= SCRATCH.length) {
    const { written } = ENCODER.encodeInto(text, SCRATCH);
    return hashRange(SCRATCH, written, 0) % 100;
  }
  return murmur3(ENCODER.encode(text)) % 100;
}

/**
 * MurmurHash3, the x86 32-bit variant, of `bytes` with `seed` (default 0), as an unsigned
 * 32-bit integer. Fast, well spread and the same in every language, which is what a sticky
 * rollout needs; it is not a cryptographic hash, so never use it where someone could profit
 * from choosing an input's hash.
 *
 * @example
 * murmur3(new TextEncoder().encode('hello')); // 613153351 (0x248bfa47)
 */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  return hashRange(bytes, bytes.length, seed);
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3_x86_32 of the first `length` bytes of `bytes`. */
function hashRange(bytes: Uint8Array, length: number, seed: number): number {
  let h = seed | 0;
  const blocks = length & ~3;
  let k = 0;
  for (let i = 0; i < blocks; i += 4) {
    // Blocks are read little-endian, whatever the machine.
    k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    k = 0;
    if (rest === 3) k ^= bytes[blocks + 2]! << 16;
    if (rest >= 2) k ^= bytes[blocks + 1]! << 8;
    k ^= bytes[blocks]!;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A parsed semver: numeric fields kept as digit strings, so any size compares exactly. */
interface Semver {
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  /** The pre-release identifiers; empty for a release. */
  readonly prerelease: readonly string[];
}

// Semver 2.0.0's grammar: numbers without leading zeros; pre-release identifiers that are
// such a number or contain a letter or hyphen; build metadata of any [0-9A-Za-z-] runs.
const NUMBER = '(0|[1-9][0-9]*)';
const PRE_ID = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const SEMVER = new RegExp(
  `^${NUMBER}\\.${NUMBER}\\.${NUMBER}` +
    `(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?` +
    `(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`,
);
const DIGITS = /^[0-9]+$/;

// Versions seen, parsed once: a flag's minimum and the few app versions in the field. Bounded,
// so a client sending a new version string on every request costs a parse, not memory.
const PARSED = new Map<string, Semver | null>();
const PARSED_MAX = 512;

function parseSemver(text: string): Semver | null {
  const cached = PARSED.get(text);
  if (cached !== undefined) return cached;
  const match = SEMVER.exec(text);
  const parsed = match === null ? null : {
    major: match[1]!,
    minor: match[2]!,
    patch: match[3]!,
    prerelease: match[4] === undefined ? [] : match[4].split('.'),
  };
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
  PARSED.set(text, parsed);
  return parsed;
}

/** Two numbers written without leading zeros: the longer is larger, else the digits decide. */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePrerelease(a: readonly string[], b: readonly string[]): number {
  // A release ranks above any of its pre-releases.
  if (a.length === 0 || b.length === 0) {
    return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  }
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i += 1) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const xNumeric = DIGITS.test(x);
    const yNumeric = DIGITS.test(y);
    if (xNumeric && yNumeric) return compareDigits(x, y);
    // A numeric identifier ranks below an alphanumeric one; two of those compare in ASCII.
    if (xNumeric !== yNumeric) return xNumeric ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * Orders two semantic versions by semver 2.0.0 precedence: negative when `a` is lower, 0 when
 * they rank the same, positive when `a` is higher; `null` when either is not a valid semver
 * (`MAJOR.MINOR.PATCH`, optional `-prerelease` and `+build`, no leading zeros, no `v`). A
 * pre-release ranks below its release and pre-releases compare identifier by identifier
 * (§11); build metadata is ignored. Each distinct string is parsed once and remembered.
 *
 * @example
 * compareSemver('2.3.0-rc.1', '2.3.0'); // -1
 * compareSemver('2.3.0+build.7', '2.3.0'); // 0
 * compareSemver('v2.3', '2.3.0'); // null
 */
export function compareSemver(a: string, b: string): number | null {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (x === null || y === null) return null;
  return compareDigits(x.major, y.major) || compareDigits(x.minor, y.minor) ||
    compareDigits(x.patch, y.patch) || comparePrerelease(x.prerelease, y.prerelease);
}
