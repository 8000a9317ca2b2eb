import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Agent } from '../../agent/agent.js';
import { configPathOf, loadAgentConfig } from '../../agent/config.js';
import { ctlRequest, serveControl } from '../../agent/control.js';
import { profileByName } from '../../agent/profiles.js';
import { installUnit, startNotify, UNIT_NAME } from '../../agent/service.js';
import { livenessProbe, stallMsFor } from '../../agent/liveness.js';
import { ConfigError, parseFlags, type Command } from '@edge-dmp/core';

const DEFAULT_PREFIX = '/opt/edge-dmp';

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s;
}

async function readJsonFile(flag: string, path: string | undefined): Promise<unknown> {
  if (!path) throw new ConfigError({ field: flag, expected: 'a JSON file', received: path });
  try {
    return JSON.parse(path === '-' ? await readStdin() : await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConfigError({ field: flag, expected: 'a readable JSON file', received: (e as Error).message });
  }
}

/** `edge-dmp agent ctl ...`: one request to a running agent; JSON lines out. */
async function ctl(argv: string[]): Promise<number> {
  const { values: v, positionals: pos } = parseFlags(
    argv,
    {
      prefix: { type: 'string' },
      wait: { type: 'boolean' },
      request: { type: 'string' },
      'allow-downgrade': { type: 'string' },
    },
    true,
  );
  const prefix = resolve(v.prefix ?? DEFAULT_PREFIX);
  const [op, arg] = pos;
  let req: Record<string, unknown>;
  if (op === 'status') req = { op };
  else if (op === 'install') {
    if (!arg)
      throw new ConfigError({
        field: 'install',
        expected: 'the bundle path on the board',
        received: undefined,
      });
    req = { op, path: resolve(arg) };
    if (v['allow-downgrade'])
      req.allowDowngrade = await readJsonFile('--allow-downgrade', v['allow-downgrade']);
  } else if (op === 'rollback') req = { op, request: await readJsonFile('--request', v.request) };
  else
    throw new ConfigError({
      field: 'agent ctl',
      expected: 'status | install <path> | rollback --request <file>',
      received: op,
    });
  for await (const line of ctlRequest(prefix, req)) {
    console.log(JSON.stringify(line));
    // Without --wait, install returns once the agent has taken the request.
    if (op === 'install' && !v.wait && line.event === 'accepted') return 0;
    if ('ok' in line) return line.ok ? 0 : 1;
  }
  return 1;
}

const command: Command = {
  summary: 'Run the on-board agent (model store, health-gated updates), or talk to a running one.',
  usage: [
    'edge-dmp agent [--config <agent.json>] [--prefix <dir>]',
    'edge-dmp agent --install-service [--prefix <dir>] [--user <u>] [--unit-dir <dir>] [--exec <path>]',
    'edge-dmp agent ctl [--prefix <dir>] status | install <bundle> [--wait] [--allow-downgrade <req.json>] | rollback --request <req.json>',
    '',
    `  --prefix <dir>     everything the agent writes lives here (default ${DEFAULT_PREFIX})`,
    '  --config <file>    default <prefix>/agent.json (docs/agent.md)',
    '  --install-service  write the systemd unit (default into /etc/systemd/system) and exit',
    '  ctl install --wait stream state changes until the verdict; exit 0 on healthy',
  ].join('\n'),
  async run(argv) {
    if (argv[0] === 'ctl') return ctl(argv.slice(1));
    const { values: v } = parseFlags(argv, {
      config: { type: 'string' },
      prefix: { type: 'string' },
      'install-service': { type: 'boolean' },
      user: { type: 'string' },
      'unit-dir': { type: 'string' },
      exec: { type: 'string' },
    });
    // `--config` alone: the prefix is where agent.json lives.
    const prefix = resolve(v.prefix ?? (v.config ? dirname(resolve(v.config)) : DEFAULT_PREFIX));
    const config = await loadAgentConfig(v.config ?? configPathOf(prefix));
    if (v['install-service']) {
      const memoryLimitMb =
        config.profile === 'auto' ? undefined : profileByName(config.profile).memoryLimitMb;
      const path = await installUnit({ prefix, user: v.user, exec: v.exec, memoryLimitMb }, v['unit-dir']);
      console.log(JSON.stringify({ event: 'service-installed', path }));
      console.error(
        `edge-dmp agent: wrote ${path}; run: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`,
      );
      return 0;
    }
    // A daemon outlives whoever reads its log: a closed stdout/stderr pipe (EPIPE) drops lines
    // instead of taking the agent and its pipeline down.
    for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);
    const agent = new Agent({ prefix, config, root: process.env.EDGE_DMP_DEVICE_ROOT });
    await agent.start();
    const server = await serveControl(agent);
    // The watchdog is fed only while the pipeline moves: a hung source gets the agent restarted.
    let probe: (() => boolean) | undefined;
    const stopNotify = startNotify((usec) => {
      probe ??= livenessProbe(() => {
        const s = agent.pipeline?.stats();
        return s ? { frames: s.frames, paused: s.paused } : null;
      }, stallMsFor(usec));
      return probe();
    });
    await new Promise<void>((done) => {
      const onSignal = () => done();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    stopNotify();
    server.close();
    await agent.stop();
    return 0;
  },
};
export default command;
