/** True when `text` has no control character (C0 or DEL; Postgres text cannot even hold NUL). */
export function printable(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/**
 * True for text a person could have typed: no control character and no unpaired UTF-16
 * surrogate. JSON can carry a lone surrogate (`"\ud800"`), which no UTF-8 database can
 * hold: stored, it would come back as U+FFFD, not as what was sent.
 */
export function plainText(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
    if (code >= 0xd800 && code <= 0xdfff) {
      // A high surrogate must be followed by a low one, and a low one never stands first.
      const next = text.charCodeAt(i + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
      i += 1;
    }
  }
  return true;
}

export const PLAIN_TEXT_MESSAGE = 'text without control characters or unpaired surrogates';
