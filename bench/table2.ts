/**
 * The paper's Table 2 on data we have: the four variants of full-size EfficientNet-B0 (baseline,
 * maxpool, duplicate, dmp) x seeds, trained with the library's `train()` on Fashion-MNIST at the
 * CIFAR input shape (32x32x3) with the paper's recipe (Adam 0.01, cosine, batch 128), each run in
 * its own directory `<out>/<variant>-s<seed>`. Resumable: a finished run (summary.json) is skipped,
 * an interrupted one (checkpoint) continues with `resume: true`; Ctrl-C saves a checkpoint.
 * Then per run: test top-1, parameters, MACs, training images/s, an int8 bundle (convertRun) and its
 * latency in the TFLite runtime; a table per variant (mean and spread over seeds) beside the
 * paper's, a learning-curve plot, and with --torch the same recipe in PyTorch (bench/train_torch.py).
 *   npm run bench:table2                                   # 5 epochs x 2 seeds x 4 variants
 *   npm run bench:table2 -- --epochs 1 --seeds 1 --variants baseline,dmp --max-steps 30 --torch
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs, promisify } from 'node:util';
import {
  absoluteDataSpec,
  epochOrder,
  loadData,
  openRun,
  parseDataSpec,
  summarize,
  train,
  type RunSummary,
} from '../sdk/index.js';
import type { EpochMetrics, ProgressEvent, TrainConfig } from '../sdk/index.js';
import { convertRun } from '../converter/index.js';
import { ConfigError } from '../core/index.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { COLOURS, curvesSvg, type Series } from './table2-plot.js';
import { markdownTable, type RunRow, type TorchRow } from './table2-report.js';
import { tryLock, unlock } from './table2-locks.js';
import { ResultStore, type ResultRecord } from './table2-results.js';

const VARIANTS = ['baseline', 'maxpool', 'duplicate', 'dmp'] as const;
const { values: a } = parseArgs({
  options: {
    epochs: { type: 'string', default: '5' },
    seeds: { type: 'string', default: '2' },
    variants: { type: 'string', default: VARIANTS.join(',') },
    data: { type: 'string', default: 'fashion-mnist' },
    'max-steps': { type: 'string' },
    'batch-size': { type: 'string', default: '128' },
    out: { type: 'string', default: 'runs/table2' },
    report: { type: 'string', default: 'bench/out' },
    results: { type: 'string', default: 'bench/results/table2' },
    torch: { type: 'boolean', default: false },
    'torch-only': { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
    'torch-variants': { type: 'string', default: 'baseline,dmp' },
    'latency-runs': { type: 'string', default: '20' },
  },
});
const int = (flag: string, v: string | undefined, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError({ field: `--${flag}`, expected: `an integer >= ${min}`, received: v });
  return n;
};
const epochs = int('epochs', a.epochs);
const seeds = int('seeds', a.seeds);
const maxSteps = a['max-steps'] === undefined ? undefined : int('max-steps', a['max-steps']);
const batchSize = int('batch-size', a['batch-size']);
const latencyRuns = int('latency-runs', a['latency-runs']);
const variants = a.variants.split(',').filter(Boolean);
for (const v of variants)
  if (!(VARIANTS as readonly string[]).includes(v))
    throw new ConfigError({ field: '--variants', expected: `a list of ${VARIANTS.join(', ')}`, received: v });
parseDataSpec(a.data); // a bad --data is named before any training starts
// Stored absolute (as `edge-dmp train` does), so the runs convert and evaluate from any cwd.
const data = absoluteDataSpec(a.data, process.cwd());
const out = a.out;
// The committed records (bench/table2-results.ts): a recorded run is reported, not trained again.
const store = new ResultStore(a.results, { data: a.data, epochs, batchSize, maxSteps });
const provenance: Record<string, string> = {};
/** Records a measured value (the first record of a run stands) and notes where it came from. */
function record<T>(run: string, value: T): T {
  return noted(store.put(run, value));
}
function noted<T>(r: ResultRecord<T>): T {
  provenance[r.run] = `${r.commit}, ${r.recordedAt.slice(0, 10)}`;
  return r.value;
}
/** A run recorded before (this machine or another): reported as recorded, not trained again. */
function recorded<T>(run: string): T | undefined {
  const r = store.get<T>(run);
  if (!r) return undefined;
  console.error(`[${run}] recorded in ${store.path(run)} (${r.commit}): reported, not trained again`);
  return noted(r);
}
const started = performance.now();

const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  console.error('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)');
  controller.abort();
});

const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;
const metricsOf = (dir: string): EpochMetrics[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EpochMetrics);

/** Console lines for one run: messages, each epoch, and every 50th step (every tenth of a short run). */
const progress =
  (name: string) =>
  (e: ProgressEvent): void => {
    if (e.type === 'message') console.error(`[${name}] ${e.text}`);
    else if (e.type === 'epoch')
      console.error(
        `[${name}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} test top-1 ${(e.valTop1 * 100).toFixed(2)}% ${e.imgPerSec.toFixed(1)} img/s`,
      );
    else if (
      e.type === 'step' &&
      (e.globalStep % Math.max(1, Math.min(50, Math.floor(e.totalSteps / 10))) === 0 ||
        e.globalStep === e.totalSteps)
    )
      console.error(
        `[${name}] step ${e.globalStep}/${e.totalSteps} loss ${e.loss.toFixed(4)} ${e.imgPerSec.toFixed(1)} img/s eta ${Math.round(e.etaSec)} s`,
      );
  };

/**
 * A run directory left by other flags (a smoke run's `--max-steps`, fewer epochs) must not be
 * skipped or resumed as if it were this table's: name it instead.
 */
function checkSameRecipe(dir: string): void {
  if (!existsSync(join(dir, 'config.json'))) return;
  const c = readJson<Partial<TrainConfig>>(join(dir, 'config.json'));
  const want = { epochs, batchSize, maxSteps, data };
  const got = { epochs: c.epochs, batchSize: c.batchSize, maxSteps: c.maxSteps, data: c.data };
  if (JSON.stringify(want) !== JSON.stringify(got))
    throw new ConfigError({
      field: '--out',
      expected: `runs made with ${JSON.stringify(want)} in ${dir} (or another --out)`,
      received: JSON.stringify(got),
    });
}

/** Trains one run to its end (or to an interrupt); returns its summary, undefined if interrupted. */
async function trainRun(variant: string, seed: number): Promise<RunSummary | undefined> {
  const dir = join(out, `${variant}-s${seed}`);
  checkSameRecipe(dir);
  if (existsSync(join(dir, 'summary.json'))) {
    console.error(`[${variant}-s${seed}] done before: ${dir}/summary.json`);
    return readJson<RunSummary>(join(dir, 'summary.json'));
  }
  const resume =
    existsSync(join(dir, 'checkpoint', 'state.json')) ||
    existsSync(join(dir, 'checkpoint.old', 'state.json'));
  // A directory with a config but no checkpoint died before its first step was saved: start it again.
  if (!resume && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  console.error(`[${variant}-s${seed}] ${resume ? 'resuming' : 'training'} in ${dir}`);
  const config: Partial<TrainConfig> & { data: string } = {
    data,
    model: 'efficientnet-b0',
    variant,
    widthMult: 1,
    depthMult: 1,
    inputSize: 32,
    inputChannels: 3,
    epochs,
    batchSize,
    seed,
    maxSteps,
  };
  const r = await train(config, {
    out: dir,
    resume,
    onProgress: progress(`${variant}-s${seed}`),
    signal: controller.signal,
  });
  return r.interrupted ? undefined : r.summary;
}

/** Measures a finished run once (cached in its table2.json): params, MACs, img/s, int8 bundle + latency. */
async function measure(variant: string, seed: number, summary: RunSummary): Promise<RunRow> {
  const dir = join(out, `${variant}-s${seed}`);
  const cache = join(dir, 'table2.json');
  if (existsSync(cache)) return readJson<RunRow>(cache);
  const opened = await openRun(dir, 'last');
  const model = await opened.loadModel();
  const s = summarize(model);
  model.dispose();
  const history = metricsOf(dir);
  const seen = history.reduce((t, h) => t + h.imgPerSec * h.seconds, 0);
  const seconds = history.reduce((t, h) => t + h.seconds, 0);
  console.error(`[${variant}-s${seed}] converting to int8 (${dir}/model-int8.edmp)`);
  const conv = await convertRun(dir, {
    out: join(dir, 'model-int8.edmp'),
    quantize: 'int8',
    model: 'last',
    force: true, // a smoke run's model may fail the agreement check; the table reports it instead
    onLog: (l) => console.error(`[${variant}-s${seed}] ${l}`),
  });
  const rt = await loadTfliteModel(conv.tflite, { threads: 1 });
  const spec = rt.inputs[0];
  const n = spec.shape.reduce((p, d) => p * d, 1);
  const input =
    spec.dtype === 'float32'
      ? new Float32Array(n)
      : spec.dtype === 'int8'
        ? new Int8Array(n)
        : new Uint8Array(n);
  for (let i = 0; i < 3; i++) rt.infer([input]);
  const times: number[] = [];
  for (let i = 0; i < latencyRuns; i++) {
    const t0 = performance.now();
    rt.infer([input]);
    times.push(performance.now() - t0);
  }
  rt.dispose();
  times.sort((x, y) => x - y);
  const row: RunRow = {
    variant,
    seed,
    top1: summary.val.top1,
    testImages: summary.val.count,
    steps: summary.steps,
    epochs: summary.epochs,
    params: s.trainableParams,
    macs: s.macs,
    imgPerSec: seen / Math.max(seconds, 1e-9),
    trainSeconds: seconds,
    int8Bytes: conv.tflite.length,
    int8Agreement: conv.report.top1Agreement,
    int8LatencyMs: times[Math.floor(times.length / 2)],
    history: history.map((h) => ({ epoch: h.epoch, top1: h.valTop1 })),
  };
  writeFileSync(cache, `${JSON.stringify(row, null, 2)}\n`);
  return row;
}

/** The PyTorch run of one variant (seed 0) on the same IDX files and epoch order; cached. */
async function torchRun(variant: string, trainImages: number): Promise<TorchRow | undefined> {
  const spec = parseDataSpec(data);
  if (spec.format !== 'fashion-mnist' && spec.format !== 'idx') {
    console.error(`--torch: bench/train_torch.py reads IDX files only; skipped for ${data}`);
    return undefined;
  }
  const dir = join(out, 'torch');
  const cache = join(dir, `${variant}-s0.json`);
  const name = `torch-${variant}-s0`;
  const before = recorded<TorchRow>(name);
  if (before) return before;
  if (existsSync(cache)) return record(name, readJson<TorchRow>(cache));
  if (a['report-only']) {
    missing.push(`torch ${variant}-s0`);
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  // One process per PyTorch run too (it reads the order files this writes).
  if (!tryLock(join(dir, variant))) {
    console.error(`[torch ${variant}] running in another process: skipped here`);
    busy.push(`torch ${variant}`);
    return undefined;
  }
  // The project's epoch order for seed 0, so both see the same batches in the same order.
  for (let e = 0; e < epochs; e++) {
    const order = epochOrder(trainImages, 0, e);
    writeFileSync(
      join(dir, `order-e${e}.i32`),
      Buffer.from(order.buffer, order.byteOffset, order.byteLength),
    );
  }
  const ppPath = join(out, `${variants[0]}-s0`, 'preprocess.json');
  for (let waited = 0; !existsSync(ppPath); waited++) {
    if (waited === 0) console.error(`[torch ${variant}] waiting for ${ppPath} (start the tfjs runs first)`);
    if (waited > 600)
      throw new ConfigError({
        field: '--torch-only',
        expected: `${ppPath} (written when the first run starts)`,
        received: 'no file after 10 min',
      });
    await new Promise((r) => setTimeout(r, 1000));
  }
  const pp = readJson<{ mean: number[]; std: number[] }>(ppPath);
  const args = ['bench/train_torch.py', '--train', '--variant', variant, '--data-dir', spec.dir];
  args.push('--order-dir', dir, '--epochs', String(epochs), '--batch-size', String(batchSize));
  // One thread: the tfjs side (wasm) trains on one too.
  args.push('--mean', String(pp.mean[0]), '--std', String(pp.std[0]), '--seed', '0', '--threads', '1');
  if (maxSteps !== undefined) args.push('--max-steps', String(maxSteps));
  console.error(`[torch ${variant}] /usr/bin/python3 ${args.join(' ')}`);
  const child = promisify(execFile)('/usr/bin/python3', args, { maxBuffer: 1 << 24 });
  child.child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[torch ${variant}] ${d.toString()}`));
  const { stdout } = await child;
  const r = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as TorchRow & { error?: string };
  if (r.error) throw new Error(`bench/train_torch.py: ${r.error}`);
  writeFileSync(cache, `${JSON.stringify(r, null, 2)}\n`);
  unlock(join(dir, variant));
  return record(name, r);
}

const rows: RunRow[] = [];
const busy: string[] = [];
const missing: string[] = [];
// Seed-major: a run stopped part-way has every variant at seed 0 before any at seed 1.
for (let seed = 0; seed < seeds && !a['torch-only']; seed++)
  for (const variant of variants) {
    const name = `${variant}-s${seed}`;
    const dir = join(out, name);
    const before = recorded<RunRow>(name);
    if (before) {
      rows.push(before);
      continue;
    }
    if (a['report-only']) {
      // What is finished is reported (measured once, cached); the rest is named as missing.
      if (existsSync(join(dir, 'summary.json')) && (existsSync(join(dir, 'table2.json')) || tryLock(dir))) {
        rows.push(
          record(name, await measure(variant, seed, readJson<RunSummary>(join(dir, 'summary.json')))),
        );
        unlock(dir);
      } else missing.push(name);
      continue;
    }
    if (!tryLock(dir)) {
      console.error(`[${variant}-s${seed}] being trained by another process (${dir}.lock): skipped here`);
      busy.push(`${variant}-s${seed}`);
      continue;
    }
    const summary = await trainRun(variant, seed);
    if (!summary) {
      console.error('interrupted: rerun the same command to continue');
      process.exit(130);
    }
    rows.push(record(name, await measure(variant, seed, summary)));
    unlock(dir);
  }

const torchRows: TorchRow[] = [];
if (a.torch || a['torch-only'] || a['report-only']) {
  // The train split's size fixes the epoch order; the mean and std are the first run's (its
  // preprocess.json is written before its first step, so --torch-only can run beside it).
  const trainImages = (await loadData(data)).train.length;
  for (const v of a['torch-variants'].split(',').filter(Boolean)) {
    const r = await torchRun(v, trainImages);
    if (r) torchRows.push(r);
  }
}

if (a['torch-only']) {
  console.error(
    `--torch-only: ${torchRows.length} PyTorch row(s) cached in ${out}/torch/; the full command reports them`,
  );
  process.exit(0);
}
if (busy.length > 0) {
  console.error(
    `not reported yet: ${busy.join(', ')} still training elsewhere; rerun the same command when they finish`,
  );
  process.exit(0);
}
const minutes = (performance.now() - started) / 60000;
const command = `npm run bench:table2 -- ${process.argv.slice(2).join(' ')}`.trim();
const md = markdownTable(rows, torchRows, {
  command,
  data,
  epochs,
  seeds,
  maxSteps,
  minutes,
  missing,
  records: store.dir,
  provenance,
  load: loadavg()
    .map((l) => l.toFixed(2))
    .join(' '),
});
const series: Series[] = variants.map((v) => {
  const rs = rows.filter((r) => r.variant === v);
  const byEpoch = new Map<number, number[]>();
  for (const r of rs)
    for (const h of r.history) byEpoch.set(h.epoch, [...(byEpoch.get(h.epoch) ?? []), h.top1]);
  return {
    name: `${v} (${rs.length} seed${rs.length === 1 ? '' : 's'})`,
    points: [...byEpoch].map(([epoch, t]) => {
      const mean = t.reduce((p, q) => p + q, 0) / t.length;
      return { epoch, top1: mean, spread: (Math.max(...t) - Math.min(...t)) / 2 };
    }),
  };
});
for (const t of torchRows)
  series.push({
    name: `torch ${t.variant}`,
    dashed: true,
    colour: COLOURS[Math.max(0, variants.indexOf(t.variant)) % COLOURS.length],
    points: t.history.map((h) => ({ epoch: h.epoch, top1: h.valTop1 })),
  });
mkdirSync(a.report, { recursive: true });
writeFileSync(join(a.report, 'table2.md'), md);
writeFileSync(
  join(a.report, 'table2.json'),
  `${JSON.stringify({ command, rows, torch: torchRows }, null, 2)}\n`,
);
writeFileSync(
  join(a.report, 'table2-curves.svg'),
  curvesSvg(series, `EfficientNet-B0 variants on ${data}, 32x32x3: test top-1 per epoch`),
);
console.log(md);
console.error(`wrote ${a.report}/table2.md, table2.json, table2-curves.svg`);
