/**
 * EfficientNet-B0 vs its DMP variant at 224x224 (10 classes, random weights) in the TFLite runtime
 * the device uses: p50 / min per model, fp32 and int8, timed round-robin (one inference of each in
 * turn) so load from other processes hits all alike. `dmp` is the default lowering (DMP blocks relaid
 * out in the tile order: CONCATENATION + DEPTHWISE_CONV_2D ... RESHAPE + MAX_POOL_2D, relayout.ts);
 * `dmp slice_max` / `dmp reduce_max` / `dmp gather` change the max-pool (SLICE + MAXIMUM,
 * RESHAPE + REDUCE_MAX) or the duplicate (GATHER) inside relaid blocks; `dmp interleave` is the
 * lowering before the relayout (`relayout: false`: duplicate folded into depth_multiplier t,
 * RESHAPE + REDUCE_MAX; in int8 the multiplier kept, the default) and `dmp interleave int8 split`
 * that with GATHER + multiplier 1 in int8 (`splitDepthMultiplier: true`).
 *
 *   nice node --conditions=edge-dmp-source --import tsx bench/dmp-b0.ts [--runs N]
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { calibrate } from '../converter/convert.js';
import { lowerModel, type LowerOptions } from '../converter/lower.js';
import { quantizeGraph } from '../converter/quantize.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { createModel, registerFastKernels, selectBackend } from '../sdk/index.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1]) || 20;
const RES = 224;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

await selectBackend('wasm');
registerFastKernels();
console.log(`load average ${loadavg()[0].toFixed(1)} at start`);
const candidates: {
  name: string;
  variant: 'baseline' | 'dmp';
  opts: LowerOptions;
  split?: boolean;
  int8Only?: boolean;
}[] = [
  { name: 'b0', variant: 'baseline', opts: {} },
  { name: 'dmp', variant: 'dmp', opts: {} },
  { name: 'dmp slice_max', variant: 'dmp', opts: { maxpool: 'slice_max' } },
  { name: 'dmp reduce_max', variant: 'dmp', opts: { maxpool: 'reduce_max' } },
  { name: 'dmp gather', variant: 'dmp', opts: { duplicate: 'gather' } },
  { name: 'dmp interleave', variant: 'dmp', opts: { relayout: false } },
  {
    name: 'dmp interleave int8 split',
    variant: 'dmp',
    opts: { relayout: false },
    split: true,
    int8Only: true,
  },
];
const calib = tf.randomUniform([2, RES, RES, 3], 0, 1, 'float32', 8);
for (const precision of ['fp32', 'int8'] as const) {
  const loaded = [];
  for (const c of candidates.filter((k) => precision === 'int8' || !k.int8Only)) {
    const model = createModel({
      model: 'efficientnet-b0',
      variant: c.variant,
      classes: 10,
      inputSize: RES,
      dropout: 0,
      dropConnect: 0,
    });
    const g = lowerModel(model, c.opts);
    const q =
      precision === 'int8'
        ? quantizeGraph(g, 'int8', { ranges: await calibrate(g, calib), splitDepthMultiplier: c.split })
        : g;
    const rt = await loadTfliteModel(writeTflite(q));
    const input =
      rt.inputs[0].dtype === 'float32'
        ? new Float32Array(RES * RES * 3).fill(0.5)
        : new Int8Array(RES * RES * 3);
    for (let i = 0; i < 3; i++) rt.infer([input]);
    loaded.push({ c, rt, input, t: [] as number[] });
  }
  for (let i = 0; i < RUNS; i++) {
    for (const l of loaded) {
      const t0 = performance.now();
      l.rt.infer([l.input]);
      l.t.push(performance.now() - t0);
    }
  }
  const b0 = pct(loaded[0].t, 50);
  for (const l of loaded) {
    const p50 = pct(l.t, 50);
    console.log(
      `${RES}  ${precision.padEnd(5)} ${l.c.name.padEnd(26)} p50 ${p50.toFixed(1).padStart(6)} ms  ` +
        `min ${Math.min(...l.t)
          .toFixed(1)
          .padStart(6)} ms  ${(p50 / b0).toFixed(2)}x b0`,
    );
    l.rt.dispose();
  }
}
console.log(`load average ${loadavg()[0].toFixed(1)} at end`);
