/**
 * The board's `edge-dmp` command (the @edge-dmp/device install): the device-side subcommands only,
 * so a board runs, checks and inspects bundles without the training stack.
 */
import { runCommandTable, type CommandTable } from '@edge-dmp/core';

/** Device-side subcommands; the full CLI (package `edge-dmp`) adds training, conversion and host tools. */
export const DEVICE_COMMANDS: CommandTable = {
  classify: () => import('./commands/classify.js'),
  run: () => import('./commands/run.js'),
  inspect: () => import('./commands/inspect.js'),
  verify: () => import('./commands/verify.js'),
  agent: () => import('./commands/agent.js'),
  'device-info': () => import('./commands/device-info.js'),
};

/**
 * Runs the board CLI; returns the exit code.
 * @example process.exitCode = await deviceMain(process.argv.slice(2));
 */
export function deviceMain(argv: string[]): Promise<number> {
  return runCommandTable('edge-dmp', DEVICE_COMMANDS, argv);
}
