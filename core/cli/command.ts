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
