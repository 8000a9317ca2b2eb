/**
 * Device benchmark (not a test). One run prints one table:
 *  - per-image latency p50/p95 at 32x32 and 224x224 for EfficientNet-B0 vs DMP (10 classes, full
 *    width/depth; the TFLite rows of one resolution timed round-robin, bench/round-robin.ts, so
 *    their ratios hold on a shared machine), fp32 vs int8 in the TFLite WASM runtime, and fp32 in tfjs `wasm`: `infer` is the
 *    model alone, `classify` adds decoding a 640x480 JPEG and preprocessing with sharp;
 *  - end-to-end fps of the pipeline fed by ffmpeg `testsrc` (320x240 MJPEG at 60 fps) and bare
 *    `classify()` in a loop on frames of the same source, per model, at the largest resolution (at
 *    32x32 the 60 fps source, not the model, would be the limit). The pipeline overhead is the median
 *    interval between results over the median classify() time inside the same run, so load from
 *    other processes hits both sides alike; fps are from medians too;
 *  - RSS after each step and the peak;
 *  - per TFLite row, the runtime profiler's XNNPACK partitions and the ops left outside the
 *    delegate (bench/op-profile.ts; `npm run bench:profile` has the per-op times);
 *  - 2 and 4 interpreter threads (the threaded build) against 1, round-robin per model;
 *  - the DMP/B0 and int8/fp32 ratios against their targets (DMP/B0 <= 0.6, DMP int8 <= 0.7x fp32).
 * Weights are random (speed does not depend on them); BatchNorm statistics are left at init.
 *
 *   npm run bench:device                    # full table (a few minutes on 2 cores)
 *   npm run bench:device -- --quick         # 32x32 only, fewer iterations
 *   npm run bench:device -- --json          # one JSON line per row
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { convertModel } from '../converter/convert.js';
import { createClassifier, createSource, Pipeline, type Classifier } from '../device/index.js';
import { createModel, registerFastKernels, selectBackend } from '../sdk/index.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { opsOutside, profileTflite } from './op-profile.js';
import { roundRobin } from './round-robin.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const RES = quick ? [32] : [32, 224];
const VARIANTS = ['baseline', 'dmp'] as const;
const LABELS = Array.from({ length: 10 }, (_, i) => `c${i}`);
const iters = (res: number) => (res >= 224 ? (quick ? 5 : 30) : quick ? 30 : 100);
const PIPELINE_FRAMES = quick ? 20 : 60;
const THREADS = [2, 4];

interface Row {
  section: 'latency' | 'pipeline' | 'threads';
  speedup?: number;
  res: number;
  model: string;
  engine: string;
  precision: string;
  p50?: number;
  p95?: number;
  threads?: number;
  /** XNNPACK partitions and the builtin ops outside the delegate (runtime profiler). */
  partitions?: number;
  outside?: string;
  classifyP50?: number;
  fps?: number;
  bareFps?: number;
  overheadPct?: number;
  rssMB: number;
}
const rows: Row[] = [];
const mb = (b: number) => Math.round(b / 2 ** 20);
const rss = () => mb(process.memoryUsage().rss);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

async function timeIt(n: number, fn: () => unknown | Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(3, n); i++) await fn(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t;
}

function print(r: Row): void {
  if (json) return void console.log(JSON.stringify(r));
  const f = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));
  if (r.section === 'latency') {
    console.log(
      `${String(r.res).padStart(4)}  ${r.model.padEnd(9)} ${r.engine.padEnd(14)} ${r.precision.padEnd(5)}` +
        ` ${f(r.p50).padStart(9)} ${f(r.p95).padStart(9)} ${f(r.classifyP50).padStart(12)} ${String(r.rssMB).padStart(7)}` +
        (r.partitions === undefined ? '' : `  ${String(r.partitions).padStart(5)}  ${r.outside}`),
    );
  } else if (r.section === 'threads') {
    console.log(
      `${String(r.res).padStart(4)}  ${r.model.padEnd(9)} ${r.precision.padEnd(5)} ${r.threads} threads` +
        `  p50 ${f(r.p50).padStart(7)} ms  p95 ${f(r.p95).padStart(7)} ms  speed-up vs 1 thread ${f(r.speedup, 2)}x`,
    );
  } else {
    console.log(
      `${String(r.res).padStart(4)}  ${r.model.padEnd(9)} ${r.precision.padEnd(5)} pipeline ${f(r.fps).padStart(7)} fps` +
        `  bare classify ${f(r.bareFps).padStart(7)} fps  pipeline overhead ${f(r.overheadPct).padStart(5)} %  rss ${r.rssMB} MB`,
    );
  }
}

async function pipelineFps(
  c: Classifier,
  res: number,
): Promise<{ fps: number; bareFps: number; overheadPct: number }> {
  // Source frames faster than the model can take them, so the classifier is the bottleneck.
  const source = createSource('testsrc:', { width: 320, height: 240, fps: 60 });
  // Bare: classify() in a loop on frames from the same source.
  const frames: Buffer[] = [];
  await new Promise<void>((resolve) => {
    source.on('frame', (f) => {
      if (frames.length < 10) frames.push(f.data);
      if (frames.length === 10) resolve();
    });
    source.start();
  });
  await source.stop();
  const n = Math.max(10, Math.round(PIPELINE_FRAMES / (res >= 224 ? 2 : 1)));
  let k = 0;
  const bare = await timeIt(n, () => c.classify(frames[k++ % frames.length]));
  // Medians on both sides: other processes on a shared board cause spikes, not steady cost.
  const bareFps = 1000 / pct(bare, 50);
  // The classify() calls inside the pipeline are timed too: overhead = interval between results
  // over the classify time, both from the same run, so load from other processes hits both alike.
  const inside: number[] = [];
  const timed = {
    async tryClassify(
      f: Parameters<Classifier['tryClassify']>[0],
      m: Parameters<Classifier['tryClassify']>[1],
    ) {
      const t = performance.now();
      const o = await c.tryClassify(f, m);
      inside.push(performance.now() - t);
      return o;
    },
  };
  const p = new Pipeline({
    source: createSource('testsrc:', { width: 320, height: 240, fps: 60 }),
    classifier: timed,
    maxFrames: n + 3,
    statsIntervalMs: 0,
  });
  const at: number[] = [];
  p.on('result', () => at.push(performance.now()));
  await p.run();
  // Intervals between results, skipping the first 3 (process start, warm caches).
  const gaps = at.slice(4).map((t, i) => t - at[i + 3]);
  const overheadPct = 100 * (pct(gaps, 50) / pct(inside.slice(3), 50) - 1);
  return { fps: 1000 / pct(gaps, 50), bareFps, overheadPct };
}

async function main(): Promise<void> {
  await selectBackend('wasm');
  registerFastKernels();
  const t0 = performance.now();
  if (!json) {
    console.log(
      `edge-dmp device bench: node ${process.version}, tfjs ${tf.version.tfjs} (wasm), TFLite runtime from tfjs-tflite; ` +
        `${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at start`,
    );
    console.log(
      ' res  model     engine         prec   p50 (ms)  p95 (ms)  classify p50   RSS MB  parts  ops outside the delegate',
    );
  }
  const jpeg = await sharp({
    create: {
      width: 640,
      height: 480,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 50 },
    },
  })
    .jpeg()
    .toBuffer();
  const pipelineRows: Row[] = [];
  const threadRows: Row[] = [];
  const pending: { row: Row; tflite: Uint8Array }[] = [];
  for (const res of RES) {
    for (const variant of VARIANTS) {
      const name = variant === 'baseline' ? 'b0' : 'b0-dmp';
      const model = createModel({
        model: 'efficientnet-b0',
        variant,
        classes: 10,
        inputSize: res,
        dropout: 0,
        dropConnect: 0,
      });
      const x = tf.randomUniform([1, res, res, 3], 0, 1, 'float32', 7);
      // tfjs wasm, fp32.
      const tj = await timeIt(iters(res), () => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync()));
      const tjRow: Row = {
        section: 'latency',
        res,
        model: name,
        engine: 'tfjs-wasm',
        precision: 'fp32',
        p50: pct(tj, 50),
        p95: pct(tj, 95),
        rssMB: rss(),
      };
      rows.push(tjRow);
      print(tjRow);
      const calib = tf.randomUniform([4, res, res, 3], 0, 1, 'float32', 8);
      for (const precision of ['fp32', 'int8'] as const) {
        const { tflite } = await convertModel(model, {
          quantize: precision,
          calib: precision === 'int8' ? { x: calib } : undefined,
          eval: { x: calib },
          force: true,
        });
        const prof = await profileTflite(tflite, 3);
        const c = await createClassifier({
          model: tflite,
          labels: LABELS,
          preprocessing: defaultPreprocess([res, res], 3),
        });
        const tc = await timeIt(iters(res), () => c.classify(jpeg));
        const row: Row = {
          section: 'latency',
          res,
          model: name,
          engine: 'tflite-runtime',
          precision,
          classifyP50: pct(tc, 50),
          partitions: prof.partitions,
          outside: opsOutside(prof.outside),
          rssMB: rss(),
        };
        rows.push(row);
        pending.push({ row, tflite });
        if (res === RES[RES.length - 1]) {
          const { fps, bareFps, overheadPct } = await pipelineFps(c, res);
          pipelineRows.push({
            section: 'pipeline',
            res,
            model: name,
            engine: 'tflite-runtime',
            precision,
            fps,
            bareFps,
            overheadPct,
            rssMB: rss(),
          });
        }
        c.dispose();
      }
      tf.dispose([x, calib]);
      model.dispose();
    }
    // The TFLite rows of this resolution timed round-robin: their ratios hold within the run.
    const times = await roundRobin(
      pending.map((p) => ({ bytes: p.tflite })),
      iters(res),
    );
    pending.forEach((p, i) => {
      p.row.p50 = pct(times[i], 50);
      p.row.p95 = pct(times[i], 95);
      print(p.row);
    });
    // Threads at every resolution: at 32x32 a per-call floor shows when workers outnumber free cores.
    {
      for (const p of pending) {
        const t = await roundRobin(
          [1, ...THREADS].map((threads) => ({ bytes: p.tflite, threads })),
          iters(res),
        );
        THREADS.forEach((threads, i) =>
          threadRows.push({
            ...p.row,
            section: 'threads',
            threads,
            p50: pct(t[i + 1], 50),
            p95: pct(t[i + 1], 95),
            speedup: pct(t[0], 50) / pct(t[i + 1], 50),
            rssMB: rss(),
          }),
        );
      }
    }
    pending.length = 0;
  }
  if (!json)
    console.log(
      '\nend-to-end: ffmpeg testsrc 320x240 MJPEG 60 fps -> pipeline (no reporter), vs classify() in a loop',
    );
  for (const r of pipelineRows) {
    rows.push(r);
    print(r);
  }
  if (!json)
    console.log(
      `\nthreads (threaded SIMD build; this machine has ${cpus().length} cores, so 4 threads share 2 cores)`,
    );
  for (const r of threadRows) {
    rows.push(r);
    print(r);
  }
  // Bounded memory under bad input: RSS after 200 and after 2000 frames, a third of them corrupt,
  // truncated or zero-byte, through one classifier.
  {
    const model = createModel({
      model: 'efficientnet-b0',
      variant: 'dmp',
      classes: 10,
      inputSize: 32,
      widthMult: 0.25,
      depthMult: 0.34,
    });
    const { tflite } = await convertModel(model, { quantize: 'fp32', force: true });
    model.dispose();
    const c = await createClassifier({
      model: tflite,
      labels: LABELS,
      preprocessing: defaultPreprocess([32, 32], 3),
    });
    const bad = [
      Buffer.alloc(0),
      jpeg.subarray(0, jpeg.length >> 1),
      Buffer.concat([jpeg.subarray(0, 600), Buffer.alloc(5000, 7)]),
    ];
    const total = quick ? 600 : 2000;
    let after200 = 0;
    let failures = 0;
    for (let i = 1; i <= total; i++) {
      const o = await c.tryClassify(i % 3 === 0 ? bad[(i / 3) % 3] : jpeg);
      if (!o.ok) failures++;
      if (i === 200) after200 = rss();
    }
    c.dispose();
    const row = { section: 'soak', frames: total, failures, rssAfter200MB: after200, rssAfterAllMB: rss() };
    if (json) console.log(JSON.stringify(row));
    else
      console.log(
        `\nbad-frame soak (32x32 DMP): ${total} frames, ${failures} failures; RSS ${after200} MB after 200, ${row.rssAfterAllMB} MB after ${total}`,
      );
  }
  const p50Of = (res: number, model: string, prec: string) =>
    rows.find(
      (r) =>
        r.section === 'latency' &&
        r.res === res &&
        r.model === model &&
        r.engine === 'tflite-runtime' &&
        r.precision === prec,
    )?.p50;
  const int8OverFp32 = (res: number, model: string) => {
    const a = p50Of(res, model, 'int8');
    const b = p50Of(res, model, 'fp32');
    return a && b ? a / b : undefined;
  };
  const ratio = (res: number, prec: string) => {
    const b = rows.find(
      (r) =>
        r.section === 'latency' &&
        r.res === res &&
        r.model === 'b0' &&
        r.engine === 'tflite-runtime' &&
        r.precision === prec,
    );
    const d = rows.find(
      (r) =>
        r.section === 'latency' &&
        r.res === res &&
        r.model === 'b0-dmp' &&
        r.engine === 'tflite-runtime' &&
        r.precision === prec,
    );
    return b && d ? d.p50! / b.p50! : undefined;
  };
  const peak = mb(process.resourceUsage().maxRSS * 1024);
  if (json) {
    console.log(
      JSON.stringify({
        section: 'summary',
        dmpOverB0: RES.map((r) => ({ res: r, fp32: ratio(r, 'fp32'), int8: ratio(r, 'int8') })),
        int8OverFp32: RES.map((r) => ({ res: r, b0: int8OverFp32(r, 'b0'), dmp: int8OverFp32(r, 'b0-dmp') })),
        peakRssMB: peak,
      }),
    );
  } else {
    const mark = (v: number | undefined, target: number) =>
      v === undefined ? '-' : `${v.toFixed(2)}x (${v <= target ? 'meets' : 'misses'} <= ${target})`;
    for (const r of RES) {
      console.log(
        `DMP/B0 latency (TFLite runtime, p50) at ${r}x${r}: fp32 ${mark(ratio(r, 'fp32'), 0.6)}, int8 ${mark(ratio(r, 'int8'), 0.6)}`,
      );
      console.log(
        `int8/fp32 latency at ${r}x${r}: B0 ${int8OverFp32(r, 'b0')?.toFixed(2)}x, DMP ${mark(int8OverFp32(r, 'b0-dmp'), 0.7)}`,
      );
    }
    console.log(
      `peak RSS ${peak} MB; load average ${loadavg()[0].toFixed(1)} at end; total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  }
}

await main();
