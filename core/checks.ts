/**
 * The input checks every package uses (sharp's `invalidParameterError` style): each names the
 * field, says what was expected and shows what came, so all messages read the same.
 */
import { ConfigError } from './errors.js';

/**
 * Returns `v` when it is an integer >= 1, else throws ConfigError naming `field`.
 * @example const epochs = positiveInt('--epochs', 30);
 */
export function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError({ field, expected: 'an integer >= 1', received: v });
  }
  return v;
}

/**
 * Returns `v` when it is an integer >= 0, else throws ConfigError naming `field`.
 * @example const retries = nonNegativeInt('--retries', 0);
 */
export function nonNegativeInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ConfigError({ field, expected: 'an integer >= 0', received: v });
  }
  return v;
}

/**
 * Returns `v` when it is a finite number in [min, max] (either end optional; `exclusiveMin`
 * makes the lower end open), else throws ConfigError naming `field`.
 * @example const lr = inRange('--lr', 0.01, { min: 0, exclusiveMin: true });
 */
export function inRange(
  field: string,
  v: unknown,
  range: { min?: number; max?: number; exclusiveMin?: boolean },
): number {
  const { min, max, exclusiveMin } = range;
  const low = min === undefined ? '' : exclusiveMin ? `> ${min}` : `>= ${min}`;
  const high = max === undefined ? '' : `<= ${max}`;
  const expected = `a number ${[low, high].filter(Boolean).join(' and ')}`.trim();
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (min === undefined || (exclusiveMin ? v > min : v >= min)) &&
    (max === undefined || v <= max);
  if (!ok) throw new ConfigError({ field, expected, received: v });
  return v as number;
}

/**
 * Returns `v` when it is one of `allowed`, else throws ConfigError listing them.
 * @example const mode = oneOf('--quantize', 'int8', ['fp32', 'fp16', 'dynamic', 'int8'] as const);
 */
export function oneOf<T extends string | number>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(v)) {
    throw new ConfigError({ field, expected: `one of ${allowed.join(', ')}`, received: v });
  }
  return v as T;
}

/**
 * Returns `v` when it is a non-empty string, else throws ConfigError naming `field`.
 * @example const host = nonEmptyString('--host', 'pi@board');
 */
export function nonEmptyString(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new ConfigError({ field, expected: 'a non-empty string', received: v });
  }
  return v;
}
