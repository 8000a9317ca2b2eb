/** int8 calibration: activation ranges from representative samples (min/max, percentile, mse, average). */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, consumersOf } from '@edge-dmp/core';
import { lowerModel } from './lower.js';
import { calibrationGraph, type Ranges } from './quantize.js';
import { writeTflite } from './tflite/writer.js';
import { loadTfliteModel } from '@edge-dmp/runtime';

/** How activation ranges are taken from calibration data. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'mse' | 'average';

/** Percentile clipping: never below min/max in `npm run bench:convert-int8` and on trained runs (docs/converter.md). */
export const DEFAULT_CALIBRATION: CalibrationMethod = 'percentile';

/** Histogram bins per tensor for percentile calibration. */
const BINS = 2048;

type Range = { min: number; max: number };

/**
 * Of the candidate clippings of [min, max] (factors [a, c] scaling the low and high end towards 0),
 * the one that minimises the expected squared error of f(x) when x is quantized to int8 over the
 * clipped range, over a histogram of x: f(v) - f(edge) outside, f'(v)^2 step^2 / 12 inside.
 */
function bestClip(
  h: Float64Array,
  r: Range,
  factors: readonly (readonly [number, number])[],
  f: (v: number) => number = (v) => v,
  df: (v: number) => number = () => 1,
): Range {
  const w = (r.max - r.min) / BINS;
  const v = Array.from({ length: BINS }, (_, b) => r.min + (b + 0.5) * w);
  const fv = v.map(f);
  const d2 = v.map((x) => df(x) ** 2);
  let best = { err: Infinity, min: r.min, max: r.max };
  for (const [a, c] of factors) {
    const lo = Math.min(0, r.min * a);
    const hi = Math.max(0, r.max * c);
    const step = (hi - lo) / 255;
    const step2 = (step * step) / 12;
    const flo = f(lo);
    const fhi = f(hi);
    let err = 0;
    for (let b = 0; b < BINS; b++) {
      if (!h[b]) continue;
      const e = v[b] < lo ? fv[b] - flo : v[b] > hi ? fv[b] - fhi : 0;
      err += h[b] * (e * e + d2[b] * step2);
    }
    if (err < best.err) best = { err, min: lo, max: hi };
  }
  return { min: best.min, max: best.max };
}

/** `mse`: both ends scaled by the same factor, 1 down to 0.2. */
const MSE_FACTORS: [number, number][] = [];
for (let a = 1; a >= 0.2; a -= 0.02) MSE_FACTORS.push([a, a]);

/** `swishRanges`: each end on its own; the negative tail may go down to 5% of its extent. */
const SWISH_FACTORS: [number, number][] = [];
for (let a = 1; a >= 0.05; a -= 0.01) for (let c = 1; c >= 0.3; c -= 0.02) SWISH_FACTORS.push([a, c]);

/** Each end of [min, max] clipped where the histogram's tail beyond it holds (100 - pct)% of the values. */
function percentileRange(h: Float64Array, r: Range, pct: number): Range {
  const total = h.reduce((a, c) => a + c, 0);
  const cut = ((100 - pct) / 100) * total;
  const w = (r.max - r.min) / BINS;
  let lo = 0;
  for (let acc = 0; lo < BINS - 1 && acc + h[lo] <= cut; lo++) acc += h[lo];
  let hi = BINS - 1;
  for (let acc = 0; hi > lo && acc + h[hi] <= cut; hi--) acc += h[hi];
  return { min: r.min + lo * w, max: r.min + (hi + 1) * w };
}

// swish and its derivative, for the error a quantized swish input causes after the swish.
const swish = (v: number) => v / (1 + Math.exp(-v));
const dswish = (v: number) => {
  const s = 1 / (1 + Math.exp(-v));
  return s * (1 + v * (1 - s));
};

/** Tensors whose only consumers are the LOGISTIC and MUL of an exact swish x * sigmoid(x). */
export function swishInputs(g: ReturnType<typeof lowerModel>): Set<number> {
  const out = new Set<number>();
  for (const [t, ops] of consumersOf(g)) {
    if (ops.length !== 2 || g.outputs.includes(t)) continue;
    const sig = ops.find((o) => o.op === 'LOGISTIC');
    const mul = ops.find((o) => o.op === 'MUL');
    if (sig && mul && mul.inputs.includes(t) && mul.inputs.includes(sig.outputs[0])) out.add(t);
  }
  return out;
}

/**
 * Collects per-tensor activation ranges of the float graph over calibration samples, by running a
 * copy of the graph in the TFLite runtime with all activations as outputs. `minmax` takes the
 * extremes; `percentile` (the default) makes a second pass that fills a histogram over [min, max]
 * per tensor and clips each end to the given percentile (default 99.99), so rare outliers do not
 * stretch the int8 step; `mse` picks the clipping with the least expected squared error over that
 * histogram; `average` takes the mean over samples of each sample's min and max. With
 * `swishRanges: true` (`percentile` and `mse`), a tensor that only feeds a swish (LOGISTIC + MUL:
 * every pre-activation of EfficientNet) gets the range that minimises the error of swish(x)
 * instead: swish flattens x < -4 to within 0.08 of 0, so its negative tail can be clipped harder
 * than the tensor's own histogram would allow.
 * @example const ranges = await calibrate(floatGraph, calib.x);
 */
export async function calibrate(
  graph: ReturnType<typeof lowerModel>,
  x: tf.Tensor,
  o: { threads?: number; method?: CalibrationMethod; percentile?: number; swishRanges?: boolean } = {},
): Promise<Ranges> {
  const method = o.method ?? DEFAULT_CALIBRATION;
  const pct = o.percentile ?? 99.99;
  if (!['minmax', 'percentile', 'mse', 'average'].includes(method))
    throw new ConfigError({
      field: 'calibration',
      expected: 'minmax | percentile | mse | average',
      received: method,
    });
  if (!(pct > 50 && pct <= 100))
    throw new ConfigError({ field: 'percentile', expected: 'a number in (50, 100]', received: pct });
  const { graph: cg, tensors } = calibrationGraph(graph);
  const rt = await loadTfliteModel(writeTflite(cg), { threads: o.threads });
  const ranges: Ranges = new Map();
  const n = x.shape[0];
  const per = x.size / n;
  const all = x.dataSync() as Float32Array;
  const pass = (visit: (t: number, v: ArrayLike<number>) => void) => {
    for (let i = 0; i < n; i++) {
      const xi = all.subarray(i * per, (i + 1) * per);
      visit(graph.inputs[0], xi);
      rt.infer([xi]).forEach((v, j) => visit(tensors[j], v));
    }
  };
  try {
    // Sums of per-sample extremes, for `average`.
    const sums = new Map<number, { min: number; max: number }>();
    pass((t, v) => {
      const r = ranges.get(t) ?? { min: Infinity, max: -Infinity };
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < v.length; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
      }
      ranges.set(t, { min: Math.min(r.min, lo), max: Math.max(r.max, hi) });
      const sm = sums.get(t) ?? { min: 0, max: 0 };
      sums.set(t, { min: sm.min + lo, max: sm.max + hi });
    });
    if (method === 'average') {
      for (const [t, sm] of sums)
        if (t !== graph.inputs[0]) ranges.set(t, { min: sm.min / n, max: sm.max / n });
    } else if (method !== 'minmax') {
      const hist = new Map<number, Float64Array>();
      pass((t, v) => {
        if (t === graph.inputs[0]) return;
        const r = ranges.get(t) as { min: number; max: number };
        const h = hist.get(t) ?? new Float64Array(BINS);
        const w = (r.max - r.min) / BINS || 1;
        for (let i = 0; i < v.length; i++) h[Math.min(BINS - 1, Math.floor((v[i] - r.min) / w))]++;
        hist.set(t, h);
      });
      const sw = o.swishRanges ? swishInputs(graph) : new Set<number>();
      for (const [t, h] of hist) {
        const r = ranges.get(t) as Range;
        if (sw.has(t)) ranges.set(t, bestClip(h, r, SWISH_FACTORS, swish, dswish));
        else if (method === 'mse') ranges.set(t, bestClip(h, r, MSE_FACTORS));
        else ranges.set(t, percentileRange(h, r, pct));
      }
    }
  } finally {
    rt.dispose();
  }
  return ranges;
}
