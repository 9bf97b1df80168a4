import { describe, expect, it } from 'vitest';
import { timingSafeEqual, timingSafeIncludes } from './index.ts';

describe('constant-time comparison', () => {
  it('compares strings and bytes, lengths included', () => {
    expect(timingSafeEqual('secret', 'secret')).toBe(true);
    expect(timingSafeEqual('secret', 'secreT')).toBe(false);
    expect(timingSafeEqual('secret', 'secret2')).toBe(false);
    expect(timingSafeEqual(new TextEncoder().encode('ab'), 'ab')).toBe(true);
  });

  it('finds a value among rotated secrets, wherever it stands', () => {
    expect(timingSafeIncludes(['old-key', 'new-key'], 'new-key')).toBe(true);
    expect(timingSafeIncludes(['old-key', 'new-key'], 'old-key')).toBe(true);
    expect(timingSafeIncludes(['old-key', 'new-key'], 'other')).toBe(false);
    expect(timingSafeIncludes([], '')).toBe(false);
  });
});
