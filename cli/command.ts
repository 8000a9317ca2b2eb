import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../sdk/errors.js';

/** One CLI subcommand: a thin layer over the public API of sdk/, converter/ or device/. */
export interface Command {
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses flags with node's parseArgs, turning its errors into ConfigError that name the flag.
 * @example const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } });
 */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message;
    const flag = /'(-[^']+)'/.exec(msg)?.[1] ?? 'argv';
    throw new ConfigError(
      { field: flag, expected: 'a known flag with a valid value', received: argv.join(' ') },
      msg,
    );
  }
}

/** Parses a numeric flag value, naming the flag on failure. */
export function num(flag: string, v: string | undefined, fallback?: number): number {
  if (v === undefined) {
    if (fallback === undefined) throw new ConfigError({ field: flag, expected: 'a number', received: v });
    return fallback;
  }
  // Accept simple fractions such as 1/255.
  const frac = /^(-?[\d.]+)\/([\d.]+)$/.exec(v);
  const n = frac ? Number(frac[1]) / Number(frac[2]) : Number(v);
  if (!Number.isFinite(n)) throw new ConfigError({ field: flag, expected: 'a number', received: v });
  return n;
}
