/**
 * Parts for the agent tests: signing keys, real bundles around the tiny colour model (good,
 * golden-failing, unsigned, wrong key, tampered, any version), a temp `<prefix>` with agent.json,
 * and an agent process (`node bin/edge-dmp.js agent`) whose stdout JSON lines are collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateKeyPair, writeBundle, type GoldenInput } from '../../converter/index.js';
import { defaultPreprocess } from '../../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from './device-models.js';
import { GraphBuilder } from '../../core/tflite/graph.js';
import { writeTflite } from '../../converter/tflite/writer.js';
import { tamper } from './bundle-fixtures.js';
import { until } from './mqtt-harness.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** 8x8 RGB pixels dominated by channel `d` (the tiny colour model answers COLOUR_LABELS[d]). */
export function colourPixels(d: number): Uint8Array {
  const px = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) for (let c = 0; c < 3; c++) px[i * 3 + c] = c === d ? 200 : 20;
  return px;
}

export type Keys = Awaited<ReturnType<typeof generateKeyPair>>;

export function makeKeys(dir: string): Promise<Keys> {
  return generateKeyPair(dir);
}

/**
 * A model the runtime loads but cannot run: GATHER with an index out of range fails every Invoke
 * ("gather index out of bounds"), as a broken converter output or a runtime bug would.
 */
export function failingModel(size = 32): Uint8Array {
  const g = new GraphBuilder();
  const input = g.tensor({ name: 'input', shape: [1, size, size, 3], type: 'FLOAT32' });
  const pooled = g.tensor({ name: 'mean', shape: [1, 3], type: 'FLOAT32' });
  const axes = g.constI32('axes', [2], [1, 2]);
  g.op({
    op: 'MEAN',
    inputs: [input, axes],
    outputs: [pooled],
    options: { kind: 'ReducerOptions', values: { keep_dims: false } },
  });
  const idx = g.constI32('idx', [3], [0, 1, 1000]);
  const out = g.tensor({ name: 'out', shape: [1, 3], type: 'FLOAT32' });
  g.op({
    op: 'GATHER',
    inputs: [pooled, idx],
    outputs: [out],
    options: { kind: 'GatherOptions', values: { axis: 1 } },
  });
  g.graph.inputs = [input];
  g.graph.outputs = [out];
  return writeTflite(g.graph);
}

export interface BundleSpec {
  version: string;
  /** Record golden labels the model does not give (the golden self-check fails). */
  badGolden?: boolean;
  /** Sign with this key; unsigned when null. */
  key: string | null;
  size?: number;
  /** A model that fails in the runtime on every frame (see failingModel). */
  failing?: boolean;
  /** Leave out golden samples (the health window alone judges). */
  noGolden?: boolean;
}

/** Writes a bundle of the tiny 32x32 colour model. */
export async function makeBundle(path: string, s: BundleSpec): Promise<string> {
  const size = s.size ?? 32;
  const golden: GoldenInput[] = [0, 1, 2].map((d) => ({
    pixels: { data: colourPixels(d), width: 8, height: 8, channels: 3 },
    label: COLOUR_LABELS[s.badGolden ? (d + 1) % 3 : d],
  }));
  await writeBundle(
    path,
    {
      tflite: s.failing ? failingModel(size) : tinyModel({ kind: 'colour', size: [size, size] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version: s.version, variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([size, size], 3),
      quantization: 'fp32',
      golden: s.noGolden ? [] : golden,
      provenance: { createdAt: '2026-12-01T00:00:00.000Z' },
    },
    s.key ? { signKey: s.key } : {},
  );
  return path;
}

/** A signed bundle whose model.tflite was changed afterwards (manifest hash no longer matches). */
export async function tamperedCopy(src: Uint8Array, out: string): Promise<string> {
  const bytes = tamper(src, (f) => {
    const m = f['model.tflite'];
    m[m.length - 1] ^= 0xff;
  });
  writeFileSync(out, bytes);
  return out;
}

/** Writes `<prefix>/agent.json`. */
export function writeConfig(prefix: string, cfg: Record<string, unknown>): string {
  mkdirSync(prefix, { recursive: true });
  const path = join(prefix, 'agent.json');
  writeFileSync(path, JSON.stringify(cfg, null, 2));
  return path;
}

export interface AgentEvent {
  event: string;
  [k: string]: unknown;
}

export interface AgentProc {
  proc: ChildProcess;
  events: AgentEvent[];
  waitFor(pred: (e: AgentEvent) => boolean, what: string, timeoutMs?: number): Promise<AgentEvent>;
  stderr(): string;
  /** Sends a signal and waits for the exit code/signal. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }>;
}

/** Runs `edge-dmp <args>` as a child with its stdout parsed as JSON lines. */
export function spawnCli(args: string[], env: Record<string, string> = {}): AgentProc {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'edge-dmp.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: AgentEvent[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as AgentEvent);
    } catch {
      events.push({ event: 'text', line: l });
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  return {
    proc,
    events,
    stderr: () => err,
    waitFor: (pred, what, timeoutMs = 30_000) =>
      until(
        () => `${what}; events: ${JSON.stringify(events.slice(-8))}; stderr: ${err.slice(-1500)}`,
        () =>
          events.find(pred) ??
          (proc.exitCode !== null
            ? Promise.reject(new Error(`exited ${proc.exitCode}: ${what}; ${err.slice(-1500)}`))
            : undefined),
        timeoutMs,
      ),
    async kill(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs `edge-dmp <args>` to completion: exit code, stdout, stderr. */
export function runCli(args: string[]): Promise<{ code: number | null; out: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'edge-dmp.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, out, stderr }));
  });
}

/** Every non-empty line of `out` as JSON (throws on a line that is not). */
export function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts `edge-dmp agent --prefix <prefix>`. */
export function spawnAgent(prefix: string, env: Record<string, string> = {}): AgentProc {
  return spawnCli(['agent', '--prefix', prefix], env);
}

/** Runs `edge-dmp agent ctl --prefix <prefix> ...` to completion; its JSON lines and exit code. */
export async function ctl(
  prefix: string,
  args: string[],
): Promise<{ code: number | null; lines: AgentEvent[]; stderr: string }> {
  const p = spawnCli(['agent', 'ctl', '--prefix', prefix, ...args]);
  const r = await new Promise<number | null>((resolve) => p.proc.once('exit', (c) => resolve(c)));
  await new Promise((r2) => setImmediate(r2));
  return { code: r, lines: p.events, stderr: p.stderr() };
}

/** A subscriber on mosquitto collecting the agent's results (seq, model version) and deploy records. */
export interface Watcher {
  results: { seq: number; version: string; label: string }[];
  deploys: Record<string, unknown>[];
  status: string[];
  close(): Promise<void>;
}

let watchers = 0;

export async function watchDevice(port: number, deviceId: string): Promise<Watcher> {
  const { connect } = await import('mqtt');
  const c = connect(`mqtt://127.0.0.1:${port}`, {
    clientId: `watch-${deviceId}-${process.pid}-${++watchers}`,
    reconnectPeriod: 200,
  });
  const w: Watcher = {
    results: [],
    deploys: [],
    status: [],
    close: () => new Promise((r) => c.end(true, {}, () => r())),
  };
  c.on('message', (topic, payload) => {
    const text = payload.toString();
    if (topic.endsWith('/results')) {
      const p = JSON.parse(text);
      w.results.push({ seq: p.seq, version: p.model.version, label: p.label });
    } else if (topic.endsWith('/deploy') && text) w.deploys.push(JSON.parse(text));
    else if (topic.endsWith('/status')) w.status.push(text);
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () =>
      c.subscribe(
        [`edge-dmp/${deviceId}/results`, `edge-dmp/${deviceId}/deploy`, `edge-dmp/${deviceId}/status`],
        { qos: 1 },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    c.once('error', reject);
  });
  return w;
}

/** Distinct seqs seen, and the ones missing between the first and the last. */
export function seqGaps(results: { seq: number }[]): { first: number; last: number; missing: number[] } {
  const seen = new Set(results.map((r) => r.seq));
  const first = Math.min(...seen);
  const last = Math.max(...seen);
  const missing: number[] = [];
  for (let s = first; s <= last; s++) if (!seen.has(s)) missing.push(s);
  return { first, last, missing };
}
