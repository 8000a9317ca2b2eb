/**
 * The systemd unit of the agent (`edge-dmp agent --install-service`) and the sd_notify calls it
 * relies on (Type=notify, watchdog). Without systemd, docs/agent.md gives the fallback.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from './fsio.js';

export const UNIT_NAME = 'edge-dmp-agent.service';

export interface UnitOptions {
  prefix: string;
  /** The command systemd starts; default `<prefix>/bin/edge-dmp` (the deploy tool's wrapper). */
  exec?: string;
  /** Unprivileged user and group the agent runs as. */
  user?: string;
  group?: string;
  /** Extra groups for camera and serial access. */
  groups?: string[];
  memoryLimitMb?: number;
  watchdogSec?: number;
}

/**
 * The unit text.
 * @example writeFileSync('/etc/systemd/system/edge-dmp-agent.service', unitFile({ prefix: '/opt/edge-dmp' }));
 */
export function unitFile(o: UnitOptions): string {
  const exec = o.exec ?? join(o.prefix, 'bin', 'edge-dmp');
  const user = o.user ?? 'edge-dmp';
  return [
    '# Written by `edge-dmp agent --install-service`; docs/agent.md',
    '[Unit]',
    'Description=edge-dmp agent (on-device classification and model updates)',
    'Wants=network-online.target',
    'After=network-online.target',
    // The agent counts its own restarts (crash-loop rollback); systemd must keep restarting it.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=notify',
    'NotifyAccess=all',
    `ExecStart=${exec} agent --prefix ${o.prefix}`,
    `WorkingDirectory=${o.prefix}`,
    'Restart=on-failure',
    'RestartSec=5',
    `WatchdogSec=${o.watchdogSec ?? 30}`,
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20',
    `User=${user}`,
    `Group=${o.group ?? user}`,
    `SupplementaryGroups=${(o.groups ?? ['video', 'dialout']).join(' ')}`,
    'StandardOutput=journal',
    'StandardError=journal',
    'SyslogIdentifier=edge-dmp-agent',
    `MemoryMax=${o.memoryLimitMb ?? 1024}M`,
    'NoNewPrivileges=true',
    'ProtectSystem=full',
    `ReadWritePaths=${o.prefix}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * Writes the unit into `unitDir` (default /etc/systemd/system); returns its path.
 * @example const path = await installUnit({ prefix: '/opt/edge-dmp' });
 */
export async function installUnit(o: UnitOptions, unitDir = '/etc/systemd/system'): Promise<string> {
  mkdirSync(unitDir, { recursive: true });
  const path = join(unitDir, UNIT_NAME);
  await writeAtomic(path, unitFile(o));
  return path;
}

/** sd_notify through `systemd-notify` (Node has no unix datagram sockets); a no-op outside systemd. */
export function sdNotify(state: string): void {
  if (!process.env.NOTIFY_SOCKET) return;
  // --no-block: no barrier round trip (it needs fd passing and only slows the agent down).
  const p = spawn('systemd-notify', ['--no-block', `--pid=${process.pid}`, state], { stdio: 'ignore' });
  p.on('error', () => undefined);
}

/**
 * Ready, then the watchdog fed at half its period while `alive()` holds (liveness.ts: the pipeline
 * still moves); returns the stop function.
 */
export function startNotify(alive: (watchdogUsec: number) => boolean = () => true): () => void {
  sdNotify('--ready');
  const usec = Number(process.env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return () => sdNotify('STOPPING=1');
  const t = setInterval(
    () => {
      if (alive(usec)) sdNotify('WATCHDOG=1');
    },
    Math.max(1000, usec / 2000),
  );
  t.unref();
  return () => {
    clearInterval(t);
    sdNotify('STOPPING=1');
  };
}
