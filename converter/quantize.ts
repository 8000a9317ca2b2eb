/**
 * Quantization as rules over a float32 TFLite Graph:
 * - `fp32`: unchanged.
 * - `fp16`: conv / depthwise / dense weights and biases stored as float16, expanded by DEQUANTIZE.
 * - `dynamic`: the same weights stored as int8 (symmetric, per output channel) and expanded by
 *   DEQUANTIZE; activations stay float.
 * - `int8`: full integer. Per-channel int8 weights (zero point 0), int32 biases with scale
 *   s_in * s_w[c], activations int8 with ranges calibrated by running a calibration copy of the
 *   float graph (every activation exposed as an output) over representative samples (min/max).
 */
import {
  ConfigError,
  ModelError,
  type Graph,
  type GraphOp,
  type GraphTensor,
  type Quantization,
  bytesOf,
  consumersOf,
  dropUnused,
  floatData,
  type BuiltinOpName,
} from '@edge-dmp/core';

export type QuantizeMode = 'fp32' | 'fp16' | 'dynamic' | 'int8';
export const QUANTIZE_MODES: readonly QuantizeMode[] = ['fp32', 'fp16', 'dynamic', 'int8'];
export type IoType = 'float32' | 'int8' | 'uint8';

/** Per-tensor observed ranges, by tensor index of the float graph. */
export type Ranges = Map<number, { min: number; max: number }>;

export interface QuantizeOptions {
  /** Needed for `int8`: activation ranges from {@link calibrationGraph}. */
  ranges?: Ranges;
  /** int8 only: type of the model input; default float32 (a QUANTIZE op is added). */
  inputType?: IoType;
  /** int8 only: type of the model output; default float32 (a DEQUANTIZE op is added). */
  outputType?: IoType;
  /**
   * int8 only: write a DEPTHWISE_CONV_2D with depth_multiplier M > 1 as GATHER (each channel M
   * times) + DEPTHWISE_CONV_2D with multiplier 1. Default false: GATHER runs outside XNNPACK and
   * Arm NN lacks it; speed was about level (bench/dmp-b0.ts, docs/converter.md).
   */
  splitDepthMultiplier?: boolean;
}

/** Which inputs of an op are weights (quantized per channel along `axis`) and which is the bias. */
const WEIGHT_INPUTS: Partial<Record<BuiltinOpName, { weight: number; axis: number; bias: number }>> = {
  CONV_2D: { weight: 1, axis: 0, bias: 2 },
  DEPTHWISE_CONV_2D: { weight: 1, axis: 3, bias: 2 },
  // Per-tensor: per-channel FULLY_CONNECTED needs newer kernels than the runtime ships.
  FULLY_CONNECTED: { weight: 1, axis: -1, bias: 2 },
};

/**
 * int8 op rules: kernel version and how the output's quantization is chosen.
 * `same`: copies the input's parameters (data-movement ops and max, whose kernels require it);
 * `fixed`: the kernel's fixed output range; `calibrated`: the observed range.
 */
const INT8_RULES: Partial<
  Record<
    BuiltinOpName,
    { version: number; output: 'calibrated' | 'same' | { scale: number; zeroPoint: number } }
  >
> = {
  CONV_2D: { version: 3, output: 'calibrated' },
  DEPTHWISE_CONV_2D: { version: 3, output: 'calibrated' },
  FULLY_CONNECTED: { version: 4, output: 'calibrated' },
  ADD: { version: 2, output: 'calibrated' },
  MUL: { version: 2, output: 'calibrated' },
  MEAN: { version: 2, output: 'calibrated' },
  RELU: { version: 2, output: 'calibrated' },
  RELU6: { version: 2, output: 'calibrated' },
  LOGISTIC: { version: 2, output: { scale: 1 / 256, zeroPoint: -128 } },
  SOFTMAX: { version: 2, output: { scale: 1 / 256, zeroPoint: -128 } },
  RESHAPE: { version: 1, output: 'same' },
  GATHER: { version: 2, output: 'same' },
  TILE: { version: 2, output: 'same' },
  CONCATENATION: { version: 2, output: 'same' },
  REDUCE_MAX: { version: 2, output: 'same' },
  MAXIMUM: { version: 2, output: 'same' },
  SLICE: { version: 2, output: 'same' },
  STRIDED_SLICE: { version: 2, output: 'same' },
  MAX_POOL_2D: { version: 2, output: 'same' },
};

/**
 * Rounds half away from zero, like the TFLite kernels' std::round (Math.round rounds -0.5 up).
 * @example roundAway(-63.5) // -64
 */
export function roundAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/**
 * float32 -> IEEE half bits, round to nearest even.
 * @example toHalf(1) // 0x3c00
 */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

function cloneGraph(g: Graph): Graph {
  return {
    tensors: g.tensors.map((t) => ({ ...t })),
    ops: g.ops.map((o) => ({ ...o, inputs: [...o.inputs], outputs: [...o.outputs] })),
    inputs: [...g.inputs],
    outputs: [...g.outputs],
    description: g.description,
  };
}

/** Replaces constant input `slot` of `op` by a stored copy expanded by DEQUANTIZE. */
function dequantized(g: Graph, newOps: GraphOp[], op: GraphOp, slot: number, stored: GraphTensor): void {
  const orig = g.tensors[op.inputs[slot]];
  g.tensors.push(stored);
  const src = g.tensors.length - 1;
  g.tensors.push({ name: `${orig.name}/dequantized`, shape: orig.shape, type: 'FLOAT32' });
  const out = g.tensors.length - 1;
  newOps.push({
    op: 'DEQUANTIZE',
    inputs: [src],
    outputs: [out],
    version: 2,
    options: { kind: 'DequantizeOptions', values: {} },
  });
  op.inputs[slot] = out;
}

/**
 * Symmetric int8 per-channel (axis >= 0) or per-tensor (axis -1) quantization of a float array.
 * @example const { q, scale } = quantizeSymmetric(weights, [16, 3, 3, 8], 0); // 16 scales
 */
export function quantizeSymmetric(
  values: Float32Array,
  shape: number[],
  axis: number,
): { q: Int8Array; scale: number[] } {
  const channels = axis < 0 ? 1 : shape[axis];
  const inner = axis < 0 ? 1 : shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const chOf = (i: number) => (axis < 0 ? 0 : Math.floor(i / inner) % channels);
  const maxAbs = new Float64Array(channels);
  values.forEach((v, i) => {
    const c = chOf(i);
    maxAbs[c] = Math.max(maxAbs[c], Math.abs(v));
  });
  const scale = Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1e-8));
  const q = new Int8Array(values.length);
  values.forEach((v, i) => {
    q[i] = Math.max(-127, Math.min(127, roundAway(v / scale[chOf(i)])));
  });
  return { q, scale };
}

function storedWeights(mode: 'fp16' | 'dynamic', t: GraphTensor, axis: number): GraphTensor {
  const v = floatData(t);
  if (mode === 'fp16')
    return {
      name: `${t.name}/fp16`,
      shape: t.shape,
      type: 'FLOAT16',
      data: bytesOf(Uint16Array.from(v, toHalf)),
    };
  const { q, scale } = quantizeSymmetric(v, t.shape, axis);
  return {
    name: `${t.name}/int8`,
    shape: t.shape,
    type: 'INT8',
    data: bytesOf(q),
    quant: { scale, zeroPoint: scale.map(() => 0), dimension: Math.max(0, axis) },
  };
}

function weightOnly(g0: Graph, mode: 'fp16' | 'dynamic'): Graph {
  const g = cloneGraph(g0);
  const ops: GraphOp[] = [];
  for (const op of g.ops) {
    const w = WEIGHT_INPUTS[op.op];
    if (w) {
      const wt = g.tensors[op.inputs[w.weight]];
      if (wt.data && wt.type === 'FLOAT32')
        dequantized(g, ops, op, w.weight, storedWeights(mode, wt, w.axis));
      const bt = op.inputs[w.bias] >= 0 ? g.tensors[op.inputs[w.bias]] : undefined;
      // Biases are tiny and precision-critical: float16 in fp16 mode, float32 otherwise.
      if (mode === 'fp16' && bt?.data && bt.type === 'FLOAT32')
        dequantized(g, ops, op, w.bias, storedWeights('fp16', bt, -1));
    }
    ops.push(op);
  }
  g.ops = ops;
  return dropUnused(g);
}

/**
 * The float graph with every activation tensor as an extra output, for calibration. Output i of the
 * returned graph is tensor `tensors[i]` of the original graph.
 * @example
 * const { graph, tensors } = calibrationGraph(floatGraph);
 */
export function calibrationGraph(g: Graph): { graph: Graph; tensors: number[] } {
  const tensors = g.tensors.map((t, i) => (t.data || g.inputs.includes(i) ? -1 : i)).filter((i) => i >= 0);
  return { graph: { ...g, outputs: tensors }, tensors };
}

/**
 * Asymmetric int8 parameters covering [min, max] (widened to include 0, as the kernels need).
 * @example int8Params(0, 1) // { scale: 1 / 255, zeroPoint: -128 }
 */
export function int8Params(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  const scale = hi - lo > 0 ? (hi - lo) / 255 : 1e-6;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(-128 - lo / scale)));
  return { scale, zeroPoint };
}

function quantOf(p: { scale: number; zeroPoint: number }): Quantization {
  return { scale: [p.scale], zeroPoint: [p.zeroPoint] };
}

/**
 * int8 LOGISTIC outputs (scale 1/256, zero point -128) saturate at 127 for x > 5.2 and at -128 for
 * x < -6.24: clipping its input range at +-6.25 loses nothing.
 */
export const LOGISTIC_INPUT_LIMIT = 6.25;

/**
 * DEPTHWISE_CONV_2D (multiplier M > 1) on C channels -> GATHER to C*M channels (channel c*M+m =
 * input c) + DEPTHWISE_CONV_2D (multiplier 1): the same filters [1,KH,KW,C*M], the same outputs.
 * The built-in int8 depthwise kernels (int8 does not go through XNNPACK in this runtime) have their
 * fast paths for multiplier 1 only (bench/dmp-b0.ts, docs/converter.md).
 */
function splitDepthMultiplier(g: Graph): void {
  const ops: GraphOp[] = [];
  for (const op of g.ops) {
    const m = Number(op.options?.values.depth_multiplier ?? 1);
    if (op.op !== 'DEPTHWISE_CONV_2D' || m <= 1) {
      ops.push(op);
      continue;
    }
    const x = g.tensors[op.inputs[0]];
    const c = x.shape[3];
    const idx = Int32Array.from({ length: c * m }, (_, k) => Math.floor(k / m));
    const it =
      g.tensors.push({ name: `${x.name}/x${m}/indices`, shape: [c * m], type: 'INT32', data: bytesOf(idx) }) -
      1;
    const y =
      g.tensors.push({ name: `${x.name}/x${m}`, shape: [...x.shape.slice(0, 3), c * m], type: x.type }) - 1;
    ops.push({
      op: 'GATHER',
      inputs: [op.inputs[0], it],
      outputs: [y],
      options: { kind: 'GatherOptions', values: { axis: 3, batch_dims: 0 } },
    });
    ops.push({
      ...op,
      inputs: [y, ...op.inputs.slice(1)],
      options: { kind: 'DepthwiseConv2DOptions', values: { ...op.options?.values, depth_multiplier: 1 } },
    });
  }
  g.ops = ops;
}

/**
 * The float32 or uint8 tensor outside an int8 graph input/output `t` (parameters `p`): uint8 keeps
 * the scale with the zero point moved by 128, so QUANTIZE between them is a shift.
 */
function boundaryTensor(
  t: GraphTensor,
  type: 'float32' | 'uint8',
  p: { scale: number; zeroPoint: number },
): GraphTensor {
  return type === 'float32'
    ? { name: `${t.name}/float`, shape: t.shape, type: 'FLOAT32' }
    : {
        name: `${t.name}/uint8`,
        shape: t.shape,
        type: 'UINT8',
        quant: quantOf({ scale: p.scale, zeroPoint: p.zeroPoint + 128 }),
      };
}

type QParams = { scale: number; zeroPoint: number };

/**
 * Tensors read only by LOGISTIC: beyond +-LOGISTIC_INPUT_LIMIT the int8 sigmoid is saturated, so
 * their range is clipped there (SE gates can reach +-1000 and would otherwise get a step of ~10).
 */
function logisticOnlyInputs(g: Graph): Set<number> {
  return new Set(
    [...consumersOf(g)]
      .filter(([t, ops]) => !g.outputs.includes(t) && ops.every((o) => o.op === 'LOGISTIC'))
      .map(([t]) => t),
  );
}

/** The op's INT8_RULES entry; an op without one is a ModelError naming it. */
function int8Rule(g: Graph, op: GraphOp): NonNullable<(typeof INT8_RULES)[BuiltinOpName]> {
  const rule = INT8_RULES[op.op];
  if (!rule)
    throw new ModelError({
      field: `op ${op.op} (${g.tensors[op.outputs[0]].name})`,
      expected: `an op with an int8 rule (${Object.keys(INT8_RULES).join(', ')})`,
      received: op.op,
    });
  return rule;
}

/** The int8 parameters of output `out` of `op` under INT8_RULES (`x`: its first input's). */
function outputParams(
  g: Graph,
  op: GraphOp,
  out: number,
  x: QParams,
  ranges: Ranges,
  onlyFeedsLogistic: Set<number>,
): QParams {
  const rule = int8Rule(g, op);
  if (rule.output === 'same') return x;
  if (rule.output !== 'calibrated') return rule.output;
  const r = ranges.get(out);
  if (!r)
    throw new ModelError({
      field: `tensor ${g.tensors[out].name}`,
      expected: 'a calibrated range',
      received: 'none',
    });
  return onlyFeedsLogistic.has(out)
    ? int8Params(Math.max(r.min, -LOGISTIC_INPUT_LIMIT), Math.min(r.max, LOGISTIC_INPUT_LIMIT))
    : int8Params(r.min, r.max);
}

/**
 * The int8 parameters every activation of a float graph gets in `int8` mode, by tensor index, and
 * which of them an op requantizes (the rest copy their input's, e.g. RESHAPE, max).
 * Quantization-aware fine-tuning (qat.ts) simulates exactly these.
 * @example const { params, requantized } = activationParams(floatGraph, ranges);
 */
export function activationParams(
  g: Graph,
  ranges: Ranges,
): { params: Map<number, QParams>; requantized: Set<number> } {
  const onlyFeedsLogistic = logisticOnlyInputs(g);
  const inRange = ranges.get(g.inputs[0]) ?? { min: 0, max: 1 };
  const params = new Map<number, QParams>([[g.inputs[0], int8Params(inRange.min, inRange.max)]]);
  const requantized = new Set<number>([g.inputs[0]]);
  for (const op of g.ops) {
    const x = params.get(op.inputs[0]) as QParams;
    for (const out of op.outputs) {
      params.set(out, outputParams(g, op, out, x, ranges, onlyFeedsLogistic));
      if (INT8_RULES[op.op]?.output !== 'same') requantized.add(out);
    }
  }
  return { params, requantized };
}

function fullInt8(g0: Graph, o: QuantizeOptions): Graph {
  const ranges = o.ranges;
  if (!ranges)
    throw new ConfigError({
      field: 'calib',
      expected: 'calibration ranges for int8 (a representative dataset)',
      received: undefined,
    });
  const g = cloneGraph(g0);
  if (o.splitDepthMultiplier ?? false) splitDepthMultiplier(g);
  const params = new Map<number, { scale: number; zeroPoint: number }>();
  const onlyFeedsLogistic = logisticOnlyInputs(g);
  const ops: GraphOp[] = [];
  const inputType = o.inputType ?? 'float32';
  const outputType = o.outputType ?? 'float32';

  // Graph input: quantized from its observed range.
  const inIdx = g.inputs[0];
  const inRange = ranges.get(inIdx) ?? { min: 0, max: 1 };
  const inP = int8Params(inRange.min, inRange.max);
  params.set(inIdx, inP);
  const inT = g.tensors[inIdx];
  g.tensors[inIdx] = { ...inT, type: 'INT8', quant: quantOf(inP) };
  if (inputType !== 'int8') {
    const e = g.tensors.push(boundaryTensor(inT, inputType, inP)) - 1;
    ops.push({
      op: 'QUANTIZE',
      inputs: [e],
      outputs: [inIdx],
      version: 2,
      options: { kind: 'QuantizeOptions', values: {} },
    });
    g.inputs = [e];
  }

  for (const op of g.ops) {
    const rule = int8Rule(g, op);
    const w = WEIGHT_INPUTS[op.op];
    const x = op.inputs[0];
    const sIn = params.get(x)?.scale;
    if (sIn === undefined)
      throw new ModelError({
        field: `tensor ${g.tensors[x].name}`,
        expected: 'quantized before its consumer',
        received: 'none',
      });
    op.inputs.forEach((ti, slot) => {
      if (ti < 0) return;
      const t = g.tensors[ti];
      if (!t.data || t.type !== 'FLOAT32') return;
      const v = floatData(t);
      if (w && slot === w.weight) {
        const { q, scale } = quantizeSymmetric(v, t.shape, w.axis);
        g.tensors[ti] = {
          ...t,
          type: 'INT8',
          data: bytesOf(q),
          quant: { scale, zeroPoint: scale.map(() => 0), dimension: Math.max(0, w.axis) },
        };
        params.set(ti, { scale: scale[0], zeroPoint: 0 });
      } else if (w && slot === w.bias) {
        // TFLite's spec: bias scale = input scale x weight scale, one per weight scale (a
        // per-tensor weight, e.g. FULLY_CONNECTED, gets a per-tensor bias).
        const ws = g.tensors[op.inputs[w.weight]].quant?.scale ?? [1];
        const scale = ws.map((s) => sIn * s);
        const q = Int32Array.from(v, (b, c) => roundAway(b / scale[scale.length === 1 ? 0 : c]));
        g.tensors[ti] = {
          ...t,
          type: 'INT32',
          data: bytesOf(q),
          quant: { scale, zeroPoint: scale.map(() => 0), dimension: 0 },
        };
      } else if (op.op === 'MUL' || op.op === 'ADD') {
        // Constant operands (standalone BatchNorm) get their own per-tensor range.
        let lo = 0;
        let hi = 0;
        for (const a of v) {
          lo = Math.min(lo, a);
          hi = Math.max(hi, a);
        }
        const p = int8Params(lo, hi);
        const q = Int8Array.from(v, (a) =>
          Math.max(-128, Math.min(127, roundAway(a / p.scale) + p.zeroPoint)),
        );
        g.tensors[ti] = { ...t, type: 'INT8', data: bytesOf(q), quant: quantOf(p) };
        params.set(ti, p);
      }
    });
    for (const out of op.outputs) {
      const p = outputParams(g, op, out, params.get(x) as QParams, ranges, onlyFeedsLogistic);
      params.set(out, p);
      g.tensors[out] = { ...g.tensors[out], type: 'INT8', quant: quantOf(p) };
    }
    op.version = rule.version;
    ops.push(op);
  }

  // Graph output.
  const outIdx = g.outputs[0];
  if (outputType !== 'int8') {
    const oP = params.get(outIdx) as { scale: number; zeroPoint: number };
    const e = g.tensors.push(boundaryTensor(g.tensors[outIdx], outputType, oP)) - 1;
    // float32 out: DEQUANTIZE; uint8 out: QUANTIZE requantizes int8 -> uint8.
    const op = outputType === 'float32' ? 'DEQUANTIZE' : 'QUANTIZE';
    ops.push({
      op,
      inputs: [outIdx],
      outputs: [e],
      version: 2,
      options: { kind: op === 'DEQUANTIZE' ? 'DequantizeOptions' : 'QuantizeOptions', values: {} },
    });
    g.outputs = [e];
  }
  g.ops = ops;
  return g;
}

/** The quantization rules table: mode -> graph rewrite. */
export const QUANTIZERS: Record<QuantizeMode, (g: Graph, o: QuantizeOptions) => Graph> = {
  fp32: (g) => g,
  fp16: (g) => weightOnly(g, 'fp16'),
  dynamic: (g) => weightOnly(g, 'dynamic'),
  int8: fullInt8,
};

/**
 * Applies a quantization mode to a float32 graph.
 * @example
 * const q = quantizeGraph(floatGraph, 'int8', { ranges, inputType: 'uint8' });
 */
export function quantizeGraph(g: Graph, mode: QuantizeMode, o: QuantizeOptions = {}): Graph {
  const f = QUANTIZERS[mode];
  if (!f) throw new ConfigError({ field: 'quantize', expected: QUANTIZE_MODES.join(' | '), received: mode });
  for (const [k, v] of [
    ['inputType', o.inputType],
    ['outputType', o.outputType],
  ] as const) {
    if (v !== undefined && !['float32', 'int8', 'uint8'].includes(v)) {
      throw new ConfigError({ field: k, expected: 'float32 | int8 | uint8', received: v });
    }
  }
  return f(g, o);
}
