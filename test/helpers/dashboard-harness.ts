/**
 * Parts for the dashboard test and the screenshot script: a tiny real bundle, mosquitto with a TCP
 * and a WebSocket listener, `edge-dmp run` device processes, the dashboard command, and Debian's
 * Chromium driven by puppeteer-core (nothing downloaded: the system binary, a fresh profile).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import puppeteer, { type Browser } from 'puppeteer-core';
import { generateKeyPair, writeBundle } from '../../converter/bundle.js';
import { defaultPreprocess } from '../../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from './device-models.js';
import { freePort, startMosquitto, until, type Mosquitto, type MosquittoOptions } from './mqtt-harness.js';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'edge-dmp.js');
export const CHROMIUM = process.env.EDGE_DMP_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Writes the mean-colour classifier (labels red, green, blue) as a bundle signed by a key in
 * `<dir>/keys` (devices refuse unsigned bundles by default); returns its path.
 */
export async function tinyBundle(dir: string): Promise<string> {
  const path = join(dir, 'colour.edmp');
  const keys = await generateKeyPair(join(dir, 'keys'));
  await writeBundle(
    path,
    {
      tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version: '0.3.0', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([16, 16], 3),
      quantization: 'fp32',
    },
    { signKey: keys.privateKeyPath },
  );
  return path;
}

export interface FleetBroker {
  mosquitto: Mosquitto;
  /** mqtt://127.0.0.1:port, for the devices. */
  tcpUrl: string;
  /** ws://127.0.0.1:port, for the browser. */
  wsUrl: string;
}

/**
 * mosquitto with `listener <port>` + `protocol websockets` beside its TCP listener (Debian's 2.0.11
 * refuses a WebSocket-only configuration: "Unable to start any listening sockets").
 */
export async function startFleetBroker(o: MosquittoOptions = {}): Promise<FleetBroker> {
  const ws = await freePort();
  const mosquitto = await startMosquitto({
    ...o,
    listener: [...(o.listener ?? []), `listener ${ws} 127.0.0.1`, 'protocol websockets'],
  });
  return { mosquitto, tcpUrl: `mqtt://127.0.0.1:${mosquitto.port}`, wsUrl: `ws://127.0.0.1:${ws}` };
}

export interface RunDevice {
  id: string;
  proc: ChildProcess;
  stderr(): string;
}

/** `edge-dmp run --bundle ... --source testsrc:?pattern=<pattern> --mqtt <url> --device-id <id>`. */
export function spawnRunDevice(o: {
  bundle: string;
  id: string;
  pattern: string;
  url: string;
  dir: string;
  fps?: number;
}): RunDevice {
  const args = [
    ...['run', '--bundle', o.bundle, '--source', `testsrc:?pattern=${o.pattern}`],
    ...['--width', '32', '--height', '32', '--fps', String(o.fps ?? 4), '--stats-interval', '1'],
    ...['--mqtt', o.url, '--device-id', o.id, '--outbox', join(o.dir, `outbox-${o.id}`)],
    // The bundle's key (tinyBundle), trusted in a file of the test's own.
    ...['--pubkey', join(dirname(o.bundle), 'keys', 'edmp.pub')],
    ...['--trusted-keys', join(o.dir, `trusted-keys-${o.id}`)],
  ];
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return { id: o.id, proc, stderr: () => err };
}

export interface DashboardProcess {
  proc: ChildProcess;
  url: string;
}

/** `edge-dmp dashboard --mqtt <wsUrl> --port 0`; resolves with the URL it prints. */
export async function spawnDashboard(wsUrl: string, extra: string[] = []): Promise<DashboardProcess> {
  const proc = spawn(process.execPath, [BIN, 'dashboard', '--mqtt', wsUrl, '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr!.on('data', (d) => (out += d));
  let url = '';
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    out += `${l}\n`;
    url ||= /(http:\/\/\S+\/)/.exec(l)?.[1] ?? '';
  });
  await until(`dashboard URL (${out})`, () => url || proc.exitCode !== null, 30_000);
  if (!url) throw new Error(`dashboard exited: ${out}`);
  return { proc, url };
}

/** Debian's Chromium, headless, with a fresh profile and no network of its own. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'edge-dmp-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  // After the browser process has exited (at 'disconnected' it may still be writing the profile).
  browser.process()?.once('exit', () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {
      // A temp folder left behind is not worth failing a run for.
    }
  });
  return browser;
}

/** Sends SIGKILL (or `signal`) and waits for the exit. */
export async function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  await exited;
}
