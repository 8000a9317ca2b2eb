/**
 * Test parts for the MQTT/serial tests: a real mosquitto on a free loopback port, a device child
 * process (test/fixtures/mqtt-device.ts) whose stdout is a JSON-lines event stream, synthetic
 * classification results, and a tiny "wait until" helper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ClassificationResult } from '../../device/types.js';

export const MODEL = { name: 'efficientnet-b0-dmp', version: '1.0.0', sha256: 'ab'.repeat(32) };
const LABELS = ['cat', 'dog', 'ship', 'truck'];

/** A deterministic synthetic result for frame `i`. */
export function fakeResult(
  i: number,
  label = LABELS[i % LABELS.length],
  score = 0.5 + ((i * 37) % 50) / 100,
) {
  const r: ClassificationResult = {
    ok: true,
    label,
    score,
    topK: [
      { label, score },
      { label: 'other', score: Number((1 - score).toFixed(6)) },
    ],
    timings: { decodeMs: 1.25, preprocessMs: 0.5, inferMs: 7.75 },
    model: MODEL,
    frameId: i,
    ts: 1_700_000_000_000 + i * 100,
  };
  return r;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `edge-dmp-${tag}-`));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function until<T>(
  what: string | (() => string),
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(25);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Mosquitto {
  port: number;
  dir: string;
  proc: ChildProcess;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  log(): string;
}

export interface MosquittoOptions {
  port?: number;
  /** Working directory (config, persistence, certificates); a new temp dir by default. */
  dir?: string;
  persistence?: boolean;
  /** Extra global lines (password_file...). */
  global?: string[];
  /** Extra lines after the first listener (its TLS settings, more listeners...). */
  listener?: string[];
  anonymous?: boolean;
}

/** Starts mosquitto with a generated config on a loopback port and waits until it accepts TCP. */
export async function startMosquitto(o: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? tempDir('mosq');
  const conf = [
    'per_listener_settings false',
    `allow_anonymous ${o.anonymous ?? true}`,
    // As root mosquitto would drop to user "mosquitto", which cannot read the 0700 temp dir.
    `user ${userInfo().username}`,
    `persistence ${o.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...(o.global ?? []),
    `listener ${port} 127.0.0.1`,
    ...(o.listener ?? []),
  ];
  const confPath = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(confPath, `${conf.join('\n')}\n`);
  const proc = spawn('mosquitto', ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await until(
    `mosquitto on ${port} (${log})`,
    async () => proc.exitCode !== null || (await canConnect(port)),
  );
  if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
  return {
    port,
    dir,
    proc,
    log: () => log,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

export interface DeviceEvent {
  event: string;
  [k: string]: unknown;
}

export interface DeviceProcess {
  proc: ChildProcess;
  events: DeviceEvent[];
  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitFor(pred: (e: DeviceEvent) => boolean, what: string, timeoutMs?: number): Promise<DeviceEvent>;
  /** Writes a line to the device's stdin (its command channel). */
  send(cmd: Record<string, unknown>): void;
  kill(signal: NodeJS.Signals): Promise<number | null>;
  stderr(): string;
}

/** Starts test/fixtures/mqtt-device.ts with `config` (see that file). */
export function spawnDevice(config: Record<string, unknown>): DeviceProcess {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=edge-dmp-source',
      '--import',
      'tsx',
      join(import.meta.dirname, '..', 'fixtures', 'mqtt-device.ts'),
      JSON.stringify(config),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const events: DeviceEvent[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as DeviceEvent);
    } catch {
      err += `${l}\n`;
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    events,
    waitFor: (pred, what, timeoutMs = 20_000) =>
      until(
        `device ${what} (stderr: ${err.slice(-500)})`,
        () =>
          events.find(pred) ??
          (proc.exitCode !== null ? Promise.reject(new Error(`device exited: ${err}`)) : null),
        timeoutMs,
      ),
    send: (cmd) => proc.stdin!.write(`${JSON.stringify(cmd)}\n`),
    async kill(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    stderr: () => err,
  };
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** 1..n */
export const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => i + from);

export interface Gate {
  port: number;
  /** While closed, new connections are dropped at once (the device keeps retrying). */
  open: boolean;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a broker port, so a test decides when a device may reconnect (e.g. only
 * after the subscriber is back), without timing races.
 */
export async function gate(target: number): Promise<Gate> {
  const conns = new Set<Socket>();
  const server = createServer((inbound) => {
    if (!g.open) return void inbound.destroy();
    const outbound = createConnection({ port: target, host: '127.0.0.1' });
    for (const s of [inbound, outbound]) {
      conns.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        conns.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const g: Gate = {
    port: (server.address() as AddressInfo).port,
    open: true,
    close: () =>
      new Promise<void>((r) => {
        for (const s of conns) s.destroy();
        server.close(() => r());
      }),
  };
  return g;
}
