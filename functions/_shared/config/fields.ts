import { z } from 'zod';

/**
 * An optional whole-number variable from `min` to `max`: blank counts as unset, anything
 * else must be digits in range, or the variable is named with what it must be.
 */
export const wholeNumber = (min: number, max: number) =>
  z.string().trim().optional().transform((value) => value === '' ? undefined : value).pipe(
    z.string().regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
      .transform(Number)
      .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
      .optional(),
  );
