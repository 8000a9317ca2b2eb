import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, EdgeDmpError } from '../errors.js';

/** One CLI subcommand: a thin layer over the public API of sdk/, converter/ or device/. */
export interface Command {
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** What {@link parseFlags} returns: node's parseArgs result for these options. */
export type ParsedFlags<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>
>;

/**
 * Parses flags with node's parseArgs, turning its errors into ConfigError that name the flag.
 * @example const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } });
 */
export function parseFlags<O extends Options>(
  argv: string[],
  options: O,
  allowPositionals = false,
): ParsedFlags<O> {
  try {
    return parseArgs({ args: joinNegatives(argv, options), options, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message;
    const flag = /'(-[^']+)'/.exec(msg)?.[1] ?? 'argv';
    throw new ConfigError(
      { field: flag, expected: 'a known flag with a valid value', received: argv.join(' ') },
      msg,
    );
  }
}

/**
 * `--epochs -3` reaches parseArgs as two tokens, and it takes `-3` for a flag ("argument is
 * ambiguous"); a negative number after a string flag is that flag's value, so join them
 * (`--epochs=-3`) and let the command's range check name the flag and what it expects.
 */
function joinNegatives(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : undefined;
    if (name && options[name]?.type === 'string' && /^-(\d|\.\d)/.test(argv[i + 1] ?? '')) {
      out.push(`${argv[i]}=${argv[++i]}`);
    } else out.push(argv[i]);
  }
  return out;
}

/** Constraints on numeric flags, in words for the error and as a predicate. */
export const NUMBER_RULES = {
  positive: ['a number > 0', (n: number) => n > 0],
  'non-negative': ['a number >= 0', (n: number) => n >= 0],
  'positive integer': ['an integer >= 1', (n: number) => Number.isInteger(n) && n >= 1],
  'non-negative integer': ['an integer >= 0', (n: number) => Number.isInteger(n) && n >= 0],
} as const satisfies Record<string, readonly [string, (n: number) => boolean]>;

/**
 * A numeric flag that must satisfy a rule (ConfigError naming the flag, the rule and the value).
 * @example const s = numIn('--stats-interval', v['stats-interval'], 'positive', 10);
 */
export function numIn(
  flag: string,
  v: string | undefined,
  rule: keyof typeof NUMBER_RULES,
  fallback?: number,
): number {
  const n = num(flag, v, fallback);
  const [expected, ok] = NUMBER_RULES[rule];
  if (!ok(n)) throw new ConfigError({ field: flag, expected, received: v ?? n });
  return n;
}

/**
 * Checks an output path before any work is done: its folder can be created and written, and (for
 * a file) it is not a directory. Problems are ConfigErrors naming the flag, not stack traces later.
 * @example checkOutputPath('--out', 'model.edmp', 'file');
 */
export function checkOutputPath(flag: string, path: string, kind: 'file' | 'dir'): void {
  const target = resolve(path);
  const folder = kind === 'file' ? dirname(target) : target;
  const refuse = (expected: string, e: unknown) =>
    new ConfigError({
      field: flag,
      expected,
      received: `${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    });
  if (kind === 'file' && existsSync(target) && statSync(target).isDirectory()) {
    throw refuse('a file path, not a directory', { message: 'a directory' });
  }
  try {
    mkdirSync(folder, { recursive: true });
  } catch (e) {
    throw refuse('a path whose folder can be created', e);
  }
  try {
    accessSync(folder, constants.W_OK);
    if (!statSync(folder).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    throw refuse('a path in a writable folder', e);
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

/** A command table: name -> lazy loader, so a command pays only for the modules it uses. */
export type CommandTable = Record<string, () => Promise<{ default: Command }>>;

function help(prog: string, table: CommandTable): string {
  return [
    `usage: ${prog} <command> [options]`,
    '',
    'commands:',
    ...Object.keys(table).map((c) => `  ${c}`),
    '',
    `run \`${prog} <command> --help\` for its options`,
  ].join('\n');
}

/**
 * Runs one command of `table` on `argv` (`[name, ...flags]`); returns the exit code: 0 ok,
 * 1 usage, 2 a typed error (printed as `<prog> <name>: <Error> [<code>] <message>`).
 * @example process.exitCode = await runCommandTable('edge-dmp', { models: () => import('./models.js') }, argv);
 */
export async function runCommandTable(prog: string, table: CommandTable, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help(prog, table));
    return name ? 0 : 1;
  }
  const load = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!load) {
    console.error(`${prog}: unknown command ${JSON.stringify(name)}\n\n${help(prog, table)}`);
    return 2;
  }
  const cmd = (await load()).default;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof EdgeDmpError) {
      console.error(`${prog} ${name}: ${e.name} [${e.code}] ${e.message}`);
      return 2;
    }
    throw e;
  }
}
