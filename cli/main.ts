/**
 * The edge-dmp CLI: a table of subcommands, each loaded lazily so `edge-dmp models` does not pay
 * for MQTT or sharp. Each entry is a thin layer over a package's public API; the device-side
 * entries come from @edge-dmp/device, which a board installs alone.
 */
import { runCommandTable, type CommandTable } from '@edge-dmp/core';
import { DEVICE_COMMANDS } from '@edge-dmp/device';

const COMMANDS: CommandTable = {
  models: () => import('./commands/models.js'),
  summary: () => import('./commands/summary.js'),
  train: () => import('./commands/train.js'),
  eval: () => import('./commands/eval.js'),
  convert: () => import('./commands/convert.js'),
  keygen: () => import('./commands/keygen.js'),
  sign: () => import('./commands/sign.js'),
  'sign-command': () => import('./commands/sign-command.js'),
  deploy: () => import('./commands/deploy.js'),
  status: () => import('./commands/status.js'),
  rollback: () => import('./commands/rollback.js'),
  ...DEVICE_COMMANDS,
  watch: () => import('./commands/watch.js'),
  broker: () => import('./commands/broker.js'),
  dashboard: () => import('./commands/dashboard.js'),
  demo: () => import('./commands/demo.js'),
};

/** Runs the CLI; returns the exit code. */
export function main(argv: string[]): Promise<number> {
  return runCommandTable('edge-dmp', COMMANDS, argv);
}
