/**
 * tfjs LayersModel -> verified `.tflite`: lower (lower.ts), quantize (quantize.ts), write, then run
 * the result in the device's TFLite runtime against the tfjs model and produce a report card.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';
import { loadTfliteModel, type TfliteModel } from '@edge-dmp/runtime';
import { lowerModel, type LowerOptions } from './lower.js';
import {
  calibrationGraph,
  quantizeGraph,
  roundAway,
  QUANTIZE_MODES,
  type IoType,
  type QuantizeMode,
  type Ranges,
} from './quantize.js';
import { consumersOf } from '@edge-dmp/core';
import { QAT_DEFAULTS, qatFinetune } from './qat.js';
import { writeTflite } from './tflite/writer.js';

/** Preprocessed samples: x is [N, ...model input shape without batch]; labels optional. */
export interface Samples {
  x: tf.Tensor;
  labels?: Int32Array;
}

export interface ReportCard {
  quantize: QuantizeMode;
  inputType: IoType;
  outputType: IoType;
  sizeBytes: number;
  samples: number;
  /** Largest |tflite logit - tfjs logit| over all samples and classes. */
  maxAbsDiff: number;
  /** max - min of the tfjs logits over all samples. */
  logitRange: number;
  /** maxAbsDiff / logitRange. */
  relDiff: number;
  /** Fraction of samples whose top-1 class agrees (0..1). */
  top1Agreement: number;
  /**
   * Top-1 agreement on the samples the float model decides: its top-1 logit at least
   * `decidedMargin` above the second (0..1; 1 when there are none). Quantization flips near-ties
   * (docs/converter.md): this says whether it changes anything else.
   */
  decidedAgreement: number;
  decidedMargin: number;
  /** The samples whose top-1 changed: how many, and the float model's top-1 - top-2 logit margin on them. */
  flips: { count: number; medianFloatMargin: number; maxFloatMargin: number };
  /** Top-1 accuracy in percent, when labels were given. */
  accuracy?: { float: number; converted: number; drop: number };
  /** Per class: samples, float and converted accuracy (percent). */
  perClass?: { label: string; n: number; float: number; converted: number }[];
  /** int8 with `qat`: the fine-tuning run and its distillation loss (simulated-int8 vs float logits MSE). */
  qat?: { steps: number; samples: number; lr: number; lossBefore: number; lossAfter: number };
  /** fp32 must stay within this relative difference; other modes report it. */
  tolerance: number;
  maxDrop: number;
  passed: boolean;
}

/** The converted model failed verification (accuracy drop or fp32 mismatch). */
export class VerificationError extends EdgeDmpError {
  readonly report: ReportCard;
  constructor(detail: ErrorDetail, report: ReportCard) {
    super('E_VERIFY', detail);
    this.report = report;
  }
}

export interface ConvertOptions extends LowerOptions {
  quantize?: QuantizeMode;
  /** Representative samples for int8 calibration (preprocessed like training inputs). */
  calib?: Samples;
  /** How many calibration samples to use; default 300. */
  calibSamples?: number;
  /** Evaluation samples for verification; default: the calibration samples. */
  eval?: Samples;
  /** Class names for the per-class report. */
  labels?: string[];
  /**
   * int8 only: quantization-aware fine-tuning by distillation before the file is written
   * (`qatFinetune`): `steps` Adam steps of `batchSize` samples at `lr` on `samples` (default the
   * calibration samples; no labels needed). Verification still compares with the original model.
   */
  qat?: { steps: number; lr?: number; batchSize?: number; samples?: Samples };
  /** Allowed top-1 accuracy drop in points; default 1.0. */
  maxDrop?: number;
  /** Keep the model even when verification fails. */
  force?: boolean;
  inputType?: IoType;
  outputType?: IoType;
  /** Runtime threads for verification. */
  threads?: number;
  /** int8 activation ranges: `percentile` (default), `minmax`, `mse` or `average` (see calibrate). */
  calibration?: CalibrationMethod;
  /** Percentile for `calibration: 'percentile'`; default 99.99. */
  percentile?: number;
  /**
   * `percentile` / `mse`: pick the range of a tensor that only feeds an exact swish (LOGISTIC + MUL)
   * by the error after the swish rather than of the tensor itself. Default false: it lowers that
   * error, yet did not raise top-1 agreement on the four trained models measured (docs/converter.md).
   */
  swishRanges?: boolean;
}

export interface ConvertResult {
  tflite: Uint8Array;
  report: ReportCard;
}

/** fp32 tolerance: max abs logit difference relative to the logit range. */
export const FP32_TOLERANCE = 1e-3;

/**
 * A float top-1 logit this far above the second is a decided prediction (softmax odds of 1.65 : 1
 * between the two); int8 flips in `npm run bench:int8-floor` sit at a median margin of 0.08-0.10.
 */
export const DECIDED_MARGIN = 0.5;

/**
 * The int8 gate (the owner's criterion, issue 15): accuracy drop <= maxDrop points and at least this
 * top-1 agreement on the decided predictions; overall agreement is reported, not gated (its floor
 * is the int8 rounding noise on near-ties, docs/converter.md).
 */
export const INT8_MIN_DECIDED_AGREEMENT = 0.99;

/**
 * Whether a report card passes: fp32 within FP32_TOLERANCE; int8 within the drop and the decided
 * agreement; fp16 / dynamic within the drop.
 * @example passes({ quantize: 'int8', relDiff: 0.1, decidedAgreement: 0.995, accuracy: { drop: 0.4 } }, 1) // true
 */
export function passes(
  card: Pick<ReportCard, 'quantize' | 'relDiff' | 'decidedAgreement'> & { accuracy?: { drop: number } },
  maxDrop: number,
): boolean {
  if (card.quantize === 'fp32') return card.relDiff <= FP32_TOLERANCE;
  const dropOk = !card.accuracy || card.accuracy.drop <= maxDrop;
  return card.quantize === 'int8' ? dropOk && card.decidedAgreement >= INT8_MIN_DECIDED_AGREEMENT : dropOk;
}

function quantizeInput(
  x: Float32Array,
  dtype: string,
  q?: { scale: number; zeroPoint: number },
): ArrayBufferView {
  if (dtype === 'float32') return x;
  const s = q?.scale ?? 1;
  const z = q?.zeroPoint ?? 0;
  const round = (lo: number, hi: number) => (v: number) => Math.max(lo, Math.min(hi, roundAway(v / s) + z));
  return dtype === 'int8' ? Int8Array.from(x, round(-128, 127)) : Uint8Array.from(x, round(0, 255));
}

function dequantizeOutput(
  y: ArrayLike<number>,
  dtype: string,
  q?: { scale: number; zeroPoint: number },
): Float32Array {
  if (dtype === 'float32') return Float32Array.from(y);
  const s = q?.scale ?? 1;
  const z = q?.zeroPoint ?? 0;
  return Float32Array.from(y, (v) => (v - z) * s);
}

/**
 * Runs every sample through a loaded TFLite model (batch 1), returning float logits [N][classes].
 * @example const logits = runTflite(rt, samples.x);
 */
export function runTflite(rt: TfliteModel, x: tf.Tensor): Float32Array[] {
  const n = x.shape[0];
  const per = x.size / n;
  const all = x.dataSync() as Float32Array;
  const [inSpec] = rt.inputs;
  const [outSpec] = rt.outputs;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const xi = all.subarray(i * per, (i + 1) * per);
    const [y] = rt.infer([quantizeInput(xi, inSpec.dtype, inSpec.quantization)]);
    out.push(dequantizeOutput(y, outSpec.dtype, outSpec.quantization));
  }
  return out;
}

function predictTfjs(model: tf.LayersModel, x: tf.Tensor, batch = 32): Float32Array[] {
  const out: Float32Array[] = [];
  const n = x.shape[0];
  for (let i = 0; i < n; i += batch) {
    const y = tf.tidy(
      () => model.predict(x.slice(i, Math.min(batch, n - i)), { batchSize: batch }) as tf.Tensor,
    );
    const d = y.dataSync() as Float32Array;
    const k = y.shape[y.shape.length - 1] as number;
    for (let j = 0; j < y.shape[0]; j++) out.push(d.slice(j * k, (j + 1) * k));
    y.dispose();
  }
  return out;
}

function argmax(v: Float32Array): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
}

/** Top-1 minus top-2 logit. */
function topMargin(v: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const x of v) {
    if (x > a) [a, b] = [x, a];
    else if (x > b) b = x;
  }
  return v.length > 1 ? a - b : Infinity;
}

/**
 * Top-1 agreement of `out` with `ref` (logits per sample): overall, on the samples `ref` decides
 * (top-1 >= DECIDED_MARGIN above top-2), and the flipped samples' `ref` margins.
 * @example const { top1Agreement, decidedAgreement, flips } = compareTop1(floatLogits, int8Logits);
 */
export function compareTop1(
  ref: Float32Array[],
  out: Float32Array[],
): Pick<ReportCard, 'top1Agreement' | 'decidedAgreement' | 'flips'> {
  let agree = 0;
  let decided = 0;
  let decidedAgree = 0;
  const flipMargins: number[] = [];
  ref.forEach((r, i) => {
    const same = argmax(r) === argmax(out[i]);
    const m = topMargin(r);
    if (same) agree++;
    else flipMargins.push(m);
    if (m >= DECIDED_MARGIN) {
      decided++;
      if (same) decidedAgree++;
    }
  });
  flipMargins.sort((a, b) => a - b);
  return {
    top1Agreement: ref.length ? agree / ref.length : 1,
    decidedAgreement: decided ? decidedAgree / decided : 1,
    flips: {
      count: flipMargins.length,
      medianFloatMargin: flipMargins.length ? flipMargins[Math.floor((flipMargins.length - 1) / 2)] : 0,
      maxFloatMargin: flipMargins.at(-1) ?? 0,
    },
  };
}

/**
 * Compares a `.tflite` (run in the TFLite runtime) with its tfjs model on samples.
 * @example
 * const card = await verifyTflite(model, bytes, { x, labels }, { quantize: 'fp32' });
 */
export async function verifyTflite(
  model: tf.LayersModel,
  tflite: Uint8Array,
  samples: Samples,
  o: { quantize: QuantizeMode; labels?: string[]; maxDrop?: number; threads?: number } = { quantize: 'fp32' },
): Promise<ReportCard> {
  const rt = await loadTfliteModel(tflite, { threads: o.threads });
  let conv: Float32Array[];
  try {
    conv = runTflite(rt, samples.x);
  } finally {
    rt.dispose();
  }
  const ref = predictTfjs(model, samples.x);
  let maxAbsDiff = 0;
  let lo = Infinity;
  let hi = -Infinity;
  ref.forEach((r, i) => {
    const c = conv[i];
    for (let k = 0; k < r.length; k++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(r[k] - c[k]));
      lo = Math.min(lo, r[k]);
      hi = Math.max(hi, r[k]);
    }
  });
  const top1 = compareTop1(ref, conv);
  const logitRange = hi - lo;
  const maxDrop = o.maxDrop ?? 1.0;
  const card: ReportCard = {
    quantize: o.quantize,
    inputType: rt.inputs[0].dtype as IoType,
    outputType: rt.outputs[0].dtype as IoType,
    sizeBytes: tflite.length,
    samples: ref.length,
    maxAbsDiff,
    logitRange,
    relDiff: logitRange > 0 ? maxAbsDiff / logitRange : maxAbsDiff,
    ...top1,
    decidedMargin: DECIDED_MARGIN,
    tolerance: FP32_TOLERANCE,
    maxDrop,
    passed: true,
  };
  if (samples.labels) {
    const labels = samples.labels;
    const k = ref[0]?.length ?? 0;
    const per = Array.from({ length: k }, (_, c) => ({
      label: o.labels?.[c] ?? String(c),
      n: 0,
      f: 0,
      q: 0,
    }));
    ref.forEach((r, i) => {
      const p = per[labels[i]];
      if (!p) return;
      p.n++;
      if (argmax(r) === labels[i]) p.f++;
      if (argmax(conv[i]) === labels[i]) p.q++;
    });
    const n = ref.length;
    const fAcc = (100 * per.reduce((a, p) => a + p.f, 0)) / n;
    const qAcc = (100 * per.reduce((a, p) => a + p.q, 0)) / n;
    card.accuracy = { float: fAcc, converted: qAcc, drop: fAcc - qAcc };
    card.perClass = per.map((p) => ({
      label: p.label,
      n: p.n,
      float: p.n ? (100 * p.f) / p.n : 0,
      converted: p.n ? (100 * p.q) / p.n : 0,
    }));
  }
  card.passed = passes(card, maxDrop);
  return card;
}

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

/**
 * Converts a tfjs LayersModel to `.tflite`, quantizes it and verifies it in the TFLite runtime.
 * Throws VerificationError when fp32 exceeds the tolerance or int8 loses more than `maxDrop`
 * accuracy points (unless `force`).
 * @example
 * const { tflite, report } = await convertModel(model, { quantize: 'int8', calib: { x }, eval: { x, labels } });
 */
export async function convertModel(model: tf.LayersModel, o: ConvertOptions = {}): Promise<ConvertResult> {
  const mode = o.quantize ?? 'fp32';
  if (!QUANTIZE_MODES.includes(mode))
    throw new ConfigError({ field: 'quantize', expected: QUANTIZE_MODES.join(' | '), received: mode });
  const maxDrop = o.maxDrop ?? 1.0;
  if (!(maxDrop >= 0))
    throw new ConfigError({ field: 'maxDrop', expected: 'a number >= 0', received: o.maxDrop });
  const calibN = o.calibSamples ?? 300;
  if (!Number.isInteger(calibN) || calibN < 1)
    throw new ConfigError({ field: 'calibSamples', expected: 'an integer >= 1', received: o.calibSamples });
  if (
    (o.inputType || o.outputType) &&
    mode !== 'int8' &&
    (o.inputType ?? 'float32') + (o.outputType ?? 'float32') !== 'float32float32'
  ) {
    throw new ConfigError({
      field: 'inputType/outputType',
      expected: 'float32 unless quantize is int8',
      received: `${o.inputType}/${o.outputType}`,
    });
  }
  if (o.qat && mode !== 'int8')
    throw new ConfigError({ field: 'qat', expected: 'quantize int8', received: mode });
  const graph = lowerModel(model, o);
  let quantized: typeof graph;
  let qatReport: ReportCard['qat'];
  if (mode === 'int8') {
    if (!o.calib)
      throw new ConfigError({
        field: 'calib',
        expected: 'representative samples for int8 calibration',
        received: undefined,
      });
    const n = Math.min(calibN, o.calib.x.shape[0]);
    const cx = o.calib.x.slice(0, n);
    try {
      const ranges = await calibrate(graph, cx, {
        threads: o.threads,
        method: o.calibration,
        percentile: o.percentile,
        swishRanges: o.swishRanges,
      });
      let tunedGraph = graph;
      if (o.qat) {
        const qx = o.qat.samples?.x ?? o.calib.x;
        const lr = o.qat.lr ?? QAT_DEFAULTS.lr;
        const r = await qatFinetune(graph, ranges, qx, {
          steps: o.qat.steps,
          lr,
          batchSize: o.qat.batchSize,
        });
        tunedGraph = r.graph;
        qatReport = {
          steps: o.qat.steps,
          samples: qx.shape[0],
          lr,
          lossBefore: r.lossBefore,
          lossAfter: r.lossAfter,
        };
      }
      quantized = quantizeGraph(tunedGraph, 'int8', {
        ranges,
        inputType: o.inputType,
        outputType: o.outputType,
      });
    } finally {
      cx.dispose();
    }
  } else {
    quantized = quantizeGraph(graph, mode);
  }
  const tflite = writeTflite(quantized);
  const evalSet = o.eval ?? o.calib;
  let report: ReportCard;
  if (evalSet) {
    report = await verifyTflite(model, tflite, evalSet, {
      quantize: mode,
      labels: o.labels,
      maxDrop,
      threads: o.threads,
    });
  } else {
    // No samples given: verify on random inputs (agreement only, no accuracy).
    const shape = model.inputs[0].shape.map((d, i) => (i === 0 ? 8 : Number(d)));
    const x = tf.randomUniform(shape, 0, 1, 'float32', 1);
    try {
      report = await verifyTflite(model, tflite, { x }, { quantize: mode, maxDrop, threads: o.threads });
    } finally {
      x.dispose();
    }
  }
  if (qatReport) report.qat = qatReport;
  if (!report.passed && !o.force) {
    throw new VerificationError(
      mode === 'fp32'
        ? {
            field: 'fp32 logits',
            expected: `max abs diff <= ${FP32_TOLERANCE} x logit range`,
            received: report.relDiff,
          }
        : {
            field: '--max-drop',
            expected: `an accuracy drop <= ${maxDrop} points (or --force)`,
            received: report.accuracy?.drop,
          },
      report,
    );
  }
  return { tflite, report };
}
