/**
 * The edge-dmp CLI: a table of subcommands, each loaded lazily so `edge-dmp models` does not pay
 * for MQTT or sharp. Each entry is a thin layer over the public API.
 */
import { EdgeDmpError } from '../sdk/errors.js';
import type { Command } from './command.js';

const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
  models: () => import('./commands/models.js'),
  summary: () => import('./commands/summary.js'),
  train: () => import('./commands/train.js'),
  eval: () => import('./commands/eval.js'),
  convert: () => import('./commands/convert.js'),
  keygen: () => import('./commands/keygen.js'),
  inspect: () => import('./commands/inspect.js'),
  verify: () => import('./commands/verify.js'),
  sign: () => import('./commands/sign.js'),
  watch: () => import('./commands/watch.js'),
  broker: () => import('./commands/broker.js'),
  classify: () => import('./commands/classify.js'),
  run: () => import('./commands/run.js'),
  demo: () => import('./commands/demo.js'),
  deploy: () => import('./commands/deploy.js'),
  status: () => import('./commands/status.js'),
  rollback: () => import('./commands/rollback.js'),
  agent: () => import('./commands/agent.js'),
  'device-info': () => import('./commands/device-info.js'),
};

function help(): string {
  return [
    'usage: edge-dmp <command> [options]',
    '',
    'commands:',
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
    '',
    'run `edge-dmp <command> --help` for its options',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 1;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`edge-dmp: unknown command ${JSON.stringify(name)}\n\n${help()}`);
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
      console.error(`edge-dmp ${name}: ${e.name} [${e.code}] ${e.message}`);
      return 2;
    }
    throw e;
  }
}
