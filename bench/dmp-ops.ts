/**
 * Which TFLite op sequence is fastest for ChannelDuplicate and ChannelMaxPool in the runtime the
 * device uses? Builds one-layer models for each strategy at the shapes of EfficientNet-B0's
 * replaceable blocks (224 input) and prints the median latency of each.
 *
 *   npm run bench:dmp-ops            (or: nice node --conditions=edge-dmp-source --import tsx bench/dmp-ops.ts [--runs N] [--json])
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import {
  lowerModel,
  type DuplicateStrategy,
  type LowerOptions,
  type MaxPoolStrategy,
} from '../converter/lower.js';
import { quantizeGraph, calibrationGraph } from '../converter/quantize.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { ChannelDuplicate, ChannelMaxPool } from '../sdk/layers.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1]) || 30;
const JSON_OUT = args.includes('--json');

// [H, C, t] of B0's replaceable (equal width, stride 1) blocks at 224x224: stages 2-7.
const SHAPES: [number, number, number][] = [
  [56, 24, 6],
  [28, 40, 6],
  [14, 80, 6],
  [14, 112, 6],
  [7, 192, 6],
];

/** Lowering options, plus the int8 choice of keeping a depth_multiplier > 1 (see quantize.ts). */
type BenchOptions = LowerOptions & { splitDepthMultiplier?: boolean };

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function load(model: tf.LayersModel, opts: BenchOptions, int8: boolean) {
  let g = lowerModel(model, opts);
  if (int8) {
    // Ranges for a uniform [-1, 1] input; every tensor of these graphs shares the input's range.
    const { tensors } = calibrationGraph(g);
    const ranges = new Map([...tensors, ...g.inputs].map((t) => [t, { min: -1, max: 1 }]));
    g = quantizeGraph(g, 'int8', {
      ranges,
      inputType: 'int8',
      outputType: 'int8',
      splitDepthMultiplier: opts.splitDepthMultiplier,
    });
  }
  const rt = await loadTfliteModel(writeTflite(g));
  const n = rt.inputs[0].shape.reduce((a, b) => a * b, 1);
  const x = int8
    ? Int8Array.from({ length: n }, (_, i) => ((i * 37) % 255) - 128)
    : Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  for (let i = 0; i < 5; i++) rt.infer([x]);
  return { rt, x };
}

/**
 * Times the candidates round-robin (one run of each in turn), so load from other processes hits
 * them alike; reports median and minimum per candidate.
 */
async function race<S extends string>(
  model: tf.LayersModel,
  strategies: S[],
  key: 'duplicate' | 'maxpool',
  int8: boolean,
  optsOf: (s: S) => BenchOptions = (s) => ({ [key]: s }),
): Promise<Map<S, { median: number; min: number }>> {
  const loaded = await Promise.all(strategies.map((s) => load(model, optsOf(s), int8)));
  const t = strategies.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) {
    loaded.forEach(({ rt, x }, k) => {
      const t0 = performance.now();
      rt.infer([x]);
      t[k].push(performance.now() - t0);
    });
  }
  loaded.forEach(({ rt }) => rt.dispose());
  return new Map(strategies.map((s, k) => [s, { median: median(t[k]), min: Math.min(...t[k]) }]));
}

const rows: { layer: string; shape: string; dtype: string; strategy: string; ms: number; minMs: number }[] =
  [];
for (const int8 of [false, true]) {
  const dtype = int8 ? 'int8' : 'float32';
  for (const [h, c, t] of SHAPES) {
    const dupIn = tf.input({ shape: [h, h, c] });
    const dup = tf.model({
      inputs: dupIn,
      outputs: new ChannelDuplicate({ t }).apply(dupIn) as tf.SymbolicTensor,
    });
    for (const [s, r] of await race(
      dup,
      ['gather', 'tile', 'concat'] as DuplicateStrategy[],
      'duplicate',
      int8,
      (s) => ({ duplicate: s, fuseDuplicate: false }),
    )) {
      rows.push({
        layer: 'ChannelDuplicate',
        shape: `${h}x${h}x${c} t=${t}`,
        dtype,
        strategy: s,
        ms: r.median,
        minMs: r.min,
      });
    }
    const poolIn = tf.input({ shape: [h, h, c * t] });
    const pool = tf.model({
      inputs: poolIn,
      outputs: new ChannelMaxPool({ t }).apply(poolIn) as tf.SymbolicTensor,
    });
    // The duplicate as the zoo uses it: followed by a 3x3 depthwise conv, as GATHER + DEPTHWISE_CONV_2D
    // or folded into one DEPTHWISE_CONV_2D with depth_multiplier t.
    const dw = tf.model({
      inputs: dupIn,
      outputs: tf.layers
        .depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false })
        .apply(new ChannelDuplicate({ t }).apply(dupIn)) as tf.SymbolicTensor,
    });
    for (const [s, r] of await race(dw, ['gather+dw', 'fused dw'], 'duplicate', int8, (s) => ({
      fuseDuplicate: s === 'fused dw',
      splitDepthMultiplier: false,
    }))) {
      rows.push({
        layer: 'ChannelDuplicate + DW 3x3',
        shape: `${h}x${h}x${c} t=${t}`,
        dtype,
        strategy: s,
        ms: r.median,
        minMs: r.min,
      });
    }
    for (const [s, r] of await race(
      pool,
      ['reduce_max', 'maximum', 'max_pool_2d'] as MaxPoolStrategy[],
      'maxpool',
      int8,
    )) {
      rows.push({
        layer: 'ChannelMaxPool',
        shape: `${h}x${h}x${c * t} t=${t}`,
        dtype,
        strategy: s,
        ms: r.median,
        minMs: r.min,
      });
    }
  }
}

if (JSON_OUT) console.log(JSON.stringify(rows));
else {
  console.log(`${RUNS} round-robin runs, TFLite WASM runtime (SIMD, 1 thread), interleave order`);
  console.log(
    '| layer | input | dtype | strategy | median ms | min ms |\n| --- | --- | --- | --- | --- | --- |',
  );
  for (const r of rows) {
    console.log(
      `| ${r.layer} | ${r.shape} | ${r.dtype} | ${r.strategy} | ${r.ms.toFixed(3)} | ${r.minMs.toFixed(3)} |`,
    );
  }
  // Totals per strategy over all shapes.
  const totals = new Map<string, [number, number]>();
  for (const r of rows) {
    const k = `${r.layer} | ${r.dtype} | ${r.strategy}`;
    const [a, b] = totals.get(k) ?? [0, 0];
    totals.set(k, [a + r.ms, b + r.minMs]);
  }
  console.log(
    '\n| layer | dtype | strategy | sum of medians (ms) | sum of minima (ms) |\n| --- | --- | --- | --- | --- |',
  );
  for (const [k, [a, b]] of totals) console.log(`| ${k} | ${a.toFixed(3)} | ${b.toFixed(3)} |`);
}
