/**
 * Arbitraries for hostile webhook deliveries: each piece of a delivery comes with whether
 * intake must refuse it, so a property can say what the answer has to be.
 */
import fc from 'fast-check';
import {
  USSD_NETWORK_CODE_MAX_CHARS,
  USSD_SERVICE_CODE_MAX_CHARS,
  USSD_SESSION_ID_MAX_CHARS,
  USSD_TEXT_MAX_CHARS,
} from '../../functions/_shared/webhooks/ussd/callback.ts';

/** A value placed in a delivery, and whether intake must refuse a delivery holding it. */
export interface Piece<T = unknown> {
  readonly value: T;
  readonly refused: boolean;
}

const ok = <T>(value: T): Piece<T> => ({ value, refused: false });
const bad = <T>(value: T): Piece<T> => ({ value, refused: true });

const visibleChar = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));

/** Visible ASCII text, quotes and backslashes included (JSON has to escape them). */
const visibleText = (minLength: number, maxLength: number) =>
  fc.string({ unit: visibleChar, minLength, maxLength });

/** Characters no stored id may hold; in a JSON body they travel escaped or as UTF-8. */
const ODD_IN_BODY = [' ', '\t', '\n', '\u0000', '\u007f', 'é', '🚗', '\ud800', '\udc00', '\u200b'];
/** The odd characters a header value can carry at all (no controls, Latin-1 only). */
const ODD_IN_HEADER = [' ', '\t'];

/**
 * A provider id of at most `maxChars` visible ASCII characters (`prefix` and random text,
 * up to exactly the limit), or a hostile one: one character over the limit, about
 * `hugeChars` random characters (3,000 by default: too large for a btree index), empty, or
 * with an odd character. `valid` leaves the hostile ones out.
 */
export function identifierPiece(
  maxChars: number,
  prefix: string,
  options: { header?: boolean; hugeChars?: number; valid?: boolean } = {},
): fc.Arbitrary<Piece<string>> {
  const odd = options.header ? ODD_IN_HEADER : ODD_IN_BODY;
  const huge = options.hugeChars ?? 3_000;
  const valid = fc.oneof(
    { weight: 4, arbitrary: visibleText(0, 24).map((rest) => ok(`${prefix}${rest}`)) },
    visibleText(maxChars, maxChars).map(ok),
  );
  const hostile = fc.oneof(
    visibleText(maxChars + 1, maxChars + 40).map(bad),
    fc.uint8Array({ minLength: huge - 200, maxLength: huge + 200 })
      .map((bytes) => bad(Array.from(bytes, (b) => String.fromCharCode(0x21 + (b % 94))).join(''))),
    // An empty header is a missing one: a signature failure (401), not a refused value.
    fc.constant(options.header ? bad(`${prefix}\t${prefix}`) : bad('')),
    fc.tuple(visibleText(1, 12), fc.constantFrom(...odd), visibleText(1, 12))
      .map(([head, char, tail]) => bad(`${prefix}${head}${char}${tail}`)),
  );
  if (options.valid) return valid;
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

/** `piece`, or a value of the wrong JSON type where a string belongs. */
export function anyPiece(piece: fc.Arbitrary<Piece<string>>): fc.Arbitrary<Piece> {
  return fc.oneof(
    { weight: 8, arbitrary: piece as fc.Arbitrary<Piece> },
    fc.constantFrom<unknown>(12345, null, true, {}, ['evt_1'], 1e300).map(bad),
  );
}

const nested = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/**
 * Raw JSON text for one extra member of a delivery that intake must store. Huge numbers
 * are valid JSON: stored (JSON.parse makes them Infinity, stored as null), never a 5xx.
 */
export const harmlessExtra: fc.Arbitrary<Piece<string>> = fc.oneof(
  fc.string().map((text) => ok(JSON.stringify(text))),
  fc.integer({ min: 1, max: 8 }).map((depth) => ok(nested(depth))),
  fc.integer({ min: 1, max: 8 }).map((depth) => ok(nestedObjects(depth))),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1e-400',
    '123456789012345678901234567890',
    '1.7976931348623157e308',
    '-0',
  ).map(ok),
  fc.constantFrom('"🚗"', '"\\ud83d\\ude97"', '"\\\\u0000"', '"\\u0001"').map(ok),
);

/**
 * Raw JSON text of an extra member that intake must refuse: what Postgres's jsonb cannot
 * hold (nesting past the cap, NUL, lone surrogates).
 */
export const hostileExtra: fc.Arbitrary<Piece<string>> = fc.oneof(
  fc.integer({ min: 65, max: 5_000 }).map((depth) => bad(nested(depth))),
  fc.integer({ min: 65, max: 2_000 }).map((depth) => bad(nestedObjects(depth))),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => bad(JSON.stringify(`${a}\u0000${b}`))),
  fc.string().map((key) => bad(JSON.stringify({ [`${key}\u0000`]: 1 }))),
  fc.constantFrom('\ud800', 'x\udc00', '\udbffa', '\udc00\ud800', '\ud83d\ud83d')
    .map((text) => bad(JSON.stringify({ text }))),
);

/** Either kind of extra member, as often. */
export const extraValue = fc.oneof(harmlessExtra, hostileExtra);

/** `fields` as JSON with `extra` (raw JSON text) as one more member. */
export function delivered(fields: Record<string, unknown>, extra: Piece<string>): string {
  const marker = '"__hostile_extra__"';
  // A function, so `$&` and the like in the value are not replacement patterns.
  return JSON.stringify({ ...fields, extra: JSON.parse(marker) }).replace(
    marker,
    () => extra.value,
  );
}

// --- USSD ---

const pickupChar = fc.constantFrom(...Array.from('abcdefghij ABC 0123456789 .,-é🚗'));

/** A USSD `text`: a completed ride request, a browsing step, or what must be refused. */
const ussdText: fc.Arbitrary<Piece<string> & { action: boolean }> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.string({ unit: pickupChar, minLength: 1, maxLength: 60 })
      // `0` and `00` are the menu's back and home, not a pickup.
      .filter((pickup) => !['', '0', '00'].includes(pickup.trim()))
      .map((pickup) => ({ ...ok(`1*${pickup}`), action: true })),
  },
  fc.constantFrom('', '1', '2', '0', '9', '1* ').map((text) => ({ ...ok(text), action: false })),
  // Exactly at the limit (ASCII, so characters and UTF-16 code units agree).
  fc.string({
    unit: visibleChar,
    minLength: USSD_TEXT_MAX_CHARS - 2,
    maxLength: USSD_TEXT_MAX_CHARS - 2,
  })
    .map((pickup) => pickup.replaceAll('*', '.'))
    .map((pickup) => ({ ...ok(`1*${pickup}`), action: true })),
  fc.string({ unit: visibleChar, minLength: USSD_TEXT_MAX_CHARS - 1, maxLength: 1_500 })
    .map((pickup) => ({ ...bad(`1*${pickup}`), action: false })),
  fc.tuple(
    fc.constantFrom('\u0000', '\n', '\t', '\u001b', '\u0085'),
    fc.string({ unit: pickupChar, maxLength: 20 }),
  ).map(([char, pickup]) => ({ ...bad(`1*${pickup}${char}x`), action: false })),
);

const phoneNumber = fc.oneof(
  { weight: 6, arbitrary: fc.constant(ok('+254711000111')) },
  fc.constantFrom('254711000111', '+2547110001112345', '+25471100011\u0000', '').map(bad),
);

/** A USSD callback form with whether it must be refused and whether it completes an action. */
// Huge values stay small enough that the whole form, percent-encoded, is under the
// route's 16 KiB body limit: past it the answer is 413 before any field is read.
const USSD_HUGE_CHARS = 1_000;

export const ussdCase = fc.record({
  sessionId: identifierPiece(USSD_SESSION_ID_MAX_CHARS, 'ATUid_', { hugeChars: USSD_HUGE_CHARS }),
  serviceCode: identifierPiece(USSD_SERVICE_CODE_MAX_CHARS, '*384*', {
    hugeChars: USSD_HUGE_CHARS,
  }),
  networkCode: identifierPiece(USSD_NETWORK_CODE_MAX_CHARS, '639', {
    hugeChars: USSD_HUGE_CHARS,
  }),
  phoneNumber,
  text: ussdText,
}).map(({ sessionId, serviceCode, networkCode, phoneNumber, text }) => {
  const refused = [sessionId, serviceCode, networkCode, phoneNumber, text]
    .some((piece) => piece.refused);
  return {
    form: {
      sessionId: sessionId.value,
      serviceCode: serviceCode.value,
      networkCode: networkCode.value,
      phoneNumber: phoneNumber.value,
      text: text.value,
    },
    refused,
    action: !refused && text.action,
  };
});
