/**
 * The agent's config and process on the board. With systemd the agent installs its own unit
 * (`edge-dmp agent --install-service`); without it (containers, tests, minimal images) the agent is
 * started detached with `setsid` and a pid file: the documented fallback (docs/deploy.md).
 */
import { DeployError } from './errors.js';
import { sh, type Transport } from './transport.js';

export type AgentAction = 'start' | 'restart' | 'running';

const pidFile = (prefix: string) => `${prefix}/agent.pid`;

/** Is the agent process of this prefix alive? */
export async function agentRunning(t: Transport, prefix: string, systemd: boolean): Promise<boolean> {
  if (systemd) return (await t.exec('systemctl is-active --quiet edge-dmp-agent')).code === 0;
  const r = await t.exec(`p=$(cat ${sh(pidFile(prefix))} 2>/dev/null) && [ -n "$p" ] && kill -0 "$p"`);
  return r.code === 0;
}

/** Runs `edge-dmp agent ctl <args>` on the board; JSON lines go to `onLine`. */
export function ctl(t: Transport, prefix: string, args: string, onLine?: (l: string) => void) {
  return t.exec(`${sh(`${prefix}/bin/edge-dmp`)} agent ctl --prefix ${sh(prefix)} ${args}`, { onLine });
}

async function waitReady(t: Transport, prefix: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    const r = await ctl(t, prefix, 'status');
    if (r.code === 0) return;
    last = r.stderr.trim() || r.stdout.trim();
    await new Promise((res) => setTimeout(res, 300));
  }
  const log = await t.exec(`tail -c 1500 ${sh(`${prefix}/agent.log`)} 2>/dev/null`);
  throw new DeployError(
    'E_DEPLOY',
    {
      field: 'agent',
      expected: `the agent answering on ${prefix}/agent.sock within ${timeoutMs} ms`,
      received: last,
    },
    `agent on ${t.name} did not come up: ${last}\n${log.stdout}`,
  );
}

/**
 * Starts (or restarts, after a runtime or config change) the agent and waits until its control
 * socket answers.
 * @example await ensureAgent(t, '/opt/edge-dmp', { systemd: false, restart: true });
 */
export async function ensureAgent(
  t: Transport,
  prefix: string,
  o: { systemd: boolean; restart: boolean; timeoutMs?: number; deviceRoot?: string },
): Promise<AgentAction> {
  const running = await agentRunning(t, prefix, o.systemd);
  if (running && !o.restart) return 'running';
  const cfg = `${prefix}/agent.json`;
  const bin = `${prefix}/bin/edge-dmp`;
  let r;
  if (o.systemd) {
    r = await t.exec(
      `set -e; ${sh(bin)} agent --install-service --config ${sh(cfg)} --prefix ${sh(prefix)}; systemctl daemon-reload; systemctl enable edge-dmp-agent; systemctl restart edge-dmp-agent`,
    );
  } else {
    // SIGTERM lets the agent flush its outbox; the loop waits up to 10 s for it to exit.
    r = await t.exec(
      [
        `P=${sh(prefix)}`,
        `if p=$(cat "$P/agent.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill "$p"; i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill -9 "$p" 2>/dev/null || true; fi`,
        // Alone on its line: `cd && cmd &` would background a subshell that keeps the SSH channel open.
        'cd "$P"',
        `${o.deviceRoot ? `EDGE_DMP_DEVICE_ROOT=${sh(o.deviceRoot)} ` : ''}setsid ${sh(bin)} agent --config ${sh(cfg)} --prefix ${sh(prefix)} </dev/null >>"$P/agent.log" 2>&1 &`,
        `echo $! > "$P/agent.pid"`,
      ].join('\n'),
    );
  }
  if (r.code !== 0)
    throw new DeployError('E_DEPLOY', {
      field: 'agent',
      expected: 'the agent service started',
      received: r.stderr.trim(),
    });
  await waitReady(t, prefix, o.timeoutMs ?? 60_000);
  return running ? 'restart' : 'start';
}
