/**
 * The int8 model simulated in tfjs, and quantization-aware fine-tuning (QAT) by distillation.
 *
 * `runGraph` executes a lowered float graph (BatchNorm already folded: the exact op sequence the
 * `.tflite` runs) in tfjs. Given `activationParams`, it simulates every int8 rounding of the `int8`
 * file: per-channel symmetric weights, and each activation rounded to the grid `quantizeGraph`
 * gives it, with float arithmetic between them. It matches the TFLite int8 kernels to one rounding
 * step per op (test/convert-qat.test.ts), so it can show in tfjs where int8 error arises.
 *
 * `qatFinetune` trains through that simulation (gradients pass the rounding straight through, zero
 * outside the clipped range): the conv / depthwise / dense weights and biases are tuned so that the
 * simulated int8 logits match the original float graph's logits (mean squared error), which needs
 * no labels. The ranges stay those calibrated on the float graph, so the file written afterwards
 * quantizes as simulated. `edge-dmp convert --qat-steps N` runs it. Measured (`npm run
 * bench:int8-floor`, docs/converter.md): on the converged Fashion-MNIST B0 it lifts top-1 agreement
 * from 96.99% to 97.86% (logit SQNR 15.9 -> 23.1 dB); on the less trained fixtures, whose int8
 * error is already small, it lowers the error 3-4 dB and leaves agreement about where it was.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  ModelError,
  hashSeed,
  Rng,
  bytesOf,
  floatData,
  intData,
  type Graph,
  type GraphOp,
  Activation,
  Padding,
} from '@edge-dmp/core';
import { activationParams, type Ranges } from './quantize.js';

type QParams = { scale: number; zeroPoint: number };

/** Weight slot, per-channel axis (-1: per tensor) and bias slot of the ops whose constants are tuned. */
const TUNED: Partial<Record<string, { weight: number; axis: number; bias: number }>> = {
  CONV_2D: { weight: 1, axis: 0, bias: 2 },
  DEPTHWISE_CONV_2D: { weight: 1, axis: 3, bias: 2 },
  FULLY_CONNECTED: { weight: 1, axis: -1, bias: 2 },
};

/** `forward(x)` with the gradient `grad(dy, x)` (tf.customGrad with its argument plumbing). */
function withGrad(
  x: tf.Tensor,
  forward: (v: tf.Tensor) => tf.Tensor,
  grad: (dy: tf.Tensor, v: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const v = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([v]);
    return {
      value: tf.tidy(() => forward(v)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => grad(dy, saved[0])),
    };
  });
  return f(x);
}

/**
 * x rounded to the int8 grid of `p` (clamped to [-128, 127]); the gradient passes unchanged inside
 * the representable range and is zero outside it (clipped straight-through estimator).
 */
function fakeQuant(x: tf.Tensor, p: QParams): tf.Tensor {
  const lo = (-128 - p.zeroPoint) * p.scale;
  const hi = (127 - p.zeroPoint) * p.scale;
  return withGrad(
    x,
    (v) => tf.round(tf.div(tf.clipByValue(v, lo, hi), p.scale)).mul(p.scale),
    (dy, v) => dy.mul(tf.logicalAnd(v.greaterEqual(lo), v.lessEqual(hi)).cast('float32')),
  );
}

/** Symmetric int8 weights (max |w| -> 127) per channel along `axis` (-1: per tensor); straight-through. */
function fakeQuantWeights(w: tf.Tensor, axis: number): tf.Tensor {
  const reduce = axis < 0 ? undefined : w.shape.map((_, i) => i).filter((i) => i !== axis);
  return withGrad(
    w,
    (v) => {
      const s = tf.maximum(tf.max(tf.abs(v), reduce, true).div(127), 1e-8);
      return tf.round(tf.div(v, s)).clipByValue(-127, 127).mul(s);
    },
    (dy) => dy.clone(),
  );
}

/** GATHER along `axis` with a gradient that the wasm backend can run (it has no UnsortedSegmentSum). */
function gatherAxis(x: tf.Tensor, indices: Int32Array, axis: number): tf.Tensor {
  const k = x.shape[axis] as number;
  return withGrad(
    x,
    (v) => tf.gather(v, Array.from(indices), axis),
    (dy) => {
      // dx[..., c, ...] = sum over j with indices[j] = c of dy[..., j, ...]: a matmul with one-hot rows.
      const perm = dy.shape.map((_, i) => i).filter((i) => i !== axis);
      perm.push(axis);
      const moved = tf.transpose(dy, perm);
      const onehot = tf.oneHot(tf.tensor1d(indices, 'int32'), k).cast('float32') as tf.Tensor2D;
      const summed = tf.matMul(moved.reshape([-1, indices.length]) as tf.Tensor2D, onehot);
      return tf.transpose(
        summed.reshape([...moved.shape.slice(0, -1), k]),
        perm.map((_, i) => perm.indexOf(i)),
      );
    },
  );
}

const ints = (g: Graph, t: number) => intData(g.tensors[t]);
const floatsOf = (g: Graph, t: number) => floatData(g.tensors[t]);

function fused(y: tf.Tensor, op: GraphOp): tf.Tensor {
  const a = Number(op.options?.values.fused_activation_function ?? Activation.NONE);
  if (a === Activation.RELU) return tf.relu(y);
  if (a === Activation.RELU6) return tf.relu6(y);
  return y;
}

/** Strides, padding and dilations of a CONV_2D / DEPTHWISE_CONV_2D, as tfjs takes them. */
function window(op: GraphOp): {
  strides: [number, number];
  pad: 'same' | 'valid';
  dilations: [number, number];
} {
  const o = op.options?.values ?? {};
  return {
    strides: [Number(o.stride_h), Number(o.stride_w)],
    pad: Number(o.padding) === Padding.SAME ? 'same' : 'valid',
    dilations: [Number(o.dilation_h_factor ?? 1), Number(o.dilation_w_factor ?? 1)],
  };
}

/** The op's bias added (when it has one), then its fused activation. */
const biasAct = (op: GraphOp, y: tf.Tensor, v: (t: number) => tf.Tensor) =>
  fused(op.inputs[2] >= 0 ? tf.add(y, v(op.inputs[2])) : y, op);

interface ExecContext {
  g: Graph;
  op: GraphOp;
  /** Activation or constant value of a tensor index. */
  v: (t: number) => tf.Tensor;
  /** The op's weight as used in the forward pass (fake-quantized in int8 simulation). */
  weight: () => tf.Tensor;
  batch: number;
}

/** The executor table: TFLite op -> tfjs ops (NHWC, batch first; graphs are lowered at batch 1). */
const EXEC: Record<string, (c: ExecContext) => tf.Tensor> = {
  CONV_2D: ({ op, v, weight }) => {
    const { strides, pad, dilations } = window(op);
    const f = tf.transpose(weight(), [1, 2, 3, 0]) as tf.Tensor4D;
    return biasAct(op, tf.conv2d(v(op.inputs[0]) as tf.Tensor4D, f, strides, pad, 'NHWC', dilations), v);
  },
  DEPTHWISE_CONV_2D: ({ op, v, weight }) => {
    const { strides, pad, dilations } = window(op);
    let x = v(op.inputs[0]) as tf.Tensor4D;
    const m = Number(op.options?.values.depth_multiplier ?? 1);
    const w = weight();
    const [, kh, kw, cm] = w.shape as number[];
    // Multiplier M as GATHER + multiplier 1 (the same arithmetic; tfjs's depthwise kernel needs it).
    if (m > 1)
      x = gatherAxis(
        x,
        Int32Array.from({ length: cm }, (_, k) => Math.floor(k / m)),
        3,
      ) as tf.Tensor4D;
    const f = w.reshape([kh, kw, cm, 1]) as tf.Tensor4D;
    return biasAct(op, tf.depthwiseConv2d(x, f, strides, pad, 'NHWC', dilations), v);
  },
  FULLY_CONNECTED: ({ op, v, weight }) => {
    const x = v(op.inputs[0]);
    const w = weight();
    const [units, inF] = w.shape as number[];
    let y: tf.Tensor = tf.matMul(x.reshape([-1, inF]) as tf.Tensor2D, w as tf.Tensor2D, false, true);
    if (op.options?.values.keep_num_dims) y = y.reshape([...x.shape.slice(0, -1), units]);
    return biasAct(op, y, v);
  },
  ADD: ({ op, v }) => fused(tf.add(v(op.inputs[0]), v(op.inputs[1])), op),
  MUL: ({ op, v }) => fused(tf.mul(v(op.inputs[0]), v(op.inputs[1])), op),
  LOGISTIC: ({ op, v }) => tf.sigmoid(v(op.inputs[0])),
  RELU: ({ op, v }) => tf.relu(v(op.inputs[0])),
  RELU6: ({ op, v }) => tf.relu6(v(op.inputs[0])),
  SOFTMAX: ({ op, v }) => tf.softmax(tf.mul(v(op.inputs[0]), Number(op.options?.values.beta ?? 1))),
  MEAN: ({ g, op, v }) =>
    tf.mean(v(op.inputs[0]), Array.from(ints(g, op.inputs[1])), Boolean(op.options?.values.keep_dims)),
  REDUCE_MAX: ({ g, op, v }) =>
    tf.max(v(op.inputs[0]), Array.from(ints(g, op.inputs[1])), Boolean(op.options?.values.keep_dims)),
  // Shapes were lowered at batch 1; the leading dimension holds the batch (or batch x H x W).
  RESHAPE: ({ g, op, v, batch }) => {
    const shape = Array.from(ints(g, op.inputs[1]));
    shape[0] *= batch;
    return v(op.inputs[0]).reshape(shape);
  },
  GATHER: ({ g, op, v }) =>
    gatherAxis(v(op.inputs[0]), ints(g, op.inputs[1]), Number(op.options?.values.axis ?? 0)),
  TILE: ({ g, op, v }) => tf.tile(v(op.inputs[0]), Array.from(ints(g, op.inputs[1]))),
  CONCATENATION: ({ op, v }) =>
    tf.concat(
      op.inputs.map((t) => v(t)),
      Number(op.options?.values.axis ?? 0),
    ),
  MAXIMUM: ({ op, v }) => tf.maximum(v(op.inputs[0]), v(op.inputs[1])),
  // Shapes were lowered at batch 1: the batch axis is taken whole.
  SLICE: ({ g, op, v }) => {
    const begin = Array.from(ints(g, op.inputs[1]));
    const size = Array.from(ints(g, op.inputs[2]));
    size[0] = -1;
    return tf.slice(v(op.inputs[0]), begin, size);
  },
  STRIDED_SLICE: ({ g, op, v }) => {
    const x = v(op.inputs[0]);
    const end = Array.from(ints(g, op.inputs[2]));
    end[0] = x.shape[0];
    return tf.stridedSlice(x, Array.from(ints(g, op.inputs[1])), end, Array.from(ints(g, op.inputs[3])));
  },
  MAX_POOL_2D: ({ op, v }) => {
    const o = op.options?.values ?? {};
    const { strides, pad } = window(op);
    return tf.maxPool(
      v(op.inputs[0]) as tf.Tensor4D,
      [Number(o.filter_height), Number(o.filter_width)],
      strides,
      pad,
    );
  },
};

/** The tuned constants of a graph as tfjs variables, by tensor index. */
export type GraphWeights = Map<number, tf.Variable>;

/**
 * Float variables for every conv / depthwise / dense weight and bias of a float graph.
 * @example const w = graphWeights(floatGraph); // dispose with w.forEach((v) => v.dispose())
 */
export function graphWeights(g: Graph): GraphWeights {
  const out: GraphWeights = new Map();
  for (const op of g.ops) {
    const r = TUNED[op.op];
    if (!r) continue;
    for (const slot of [r.weight, r.bias]) {
      const t = op.inputs[slot];
      if (t < 0 || out.has(t) || !g.tensors[t].data || g.tensors[t].type !== 'FLOAT32') continue;
      out.set(t, tf.variable(tf.tensor(floatsOf(g, t), g.tensors[t].shape), true));
    }
  }
  return out;
}

/**
 * Runs a float TFLite graph in tfjs on a batch. With `quant` (from `activationParams`), every
 * int8 rounding of the `int8` file is simulated: weights per channel, requantized activations on
 * their grid. Ops without an executor are a ModelError naming the op. The intermediates are
 * ordinary tfjs tensors: call it inside `tf.tidy` (or `optimizer.minimize`).
 * @example
 * const logits = tf.tidy(() => runGraph(graph, x, { weights: graphWeights(graph) }));
 */
export function runGraph(
  g: Graph,
  x: tf.Tensor,
  o: {
    weights?: GraphWeights;
    quant?: { params: Map<number, QParams>; requantized: Set<number> };
    /**
     * What-if: these activations rounded to 256 levels over their own range per channel (from
     * `channelRanges`) instead of their int8 grid. No int8 kernel has per-channel activations; this
     * bounds what channel equalization could gain (bench/int8-floor.ts).
     */
    perChannel?: Map<number, { lo: tf.Tensor; hi: tf.Tensor }>;
    /** Sees every activation (tensor index, value) as it is computed, for per-tensor comparisons. */
    trace?: (t: number, y: tf.Tensor) => void;
  } = {},
): tf.Tensor {
  const batch = x.shape[0];
  const vals = new Map<number, tf.Tensor>();
  const q = o.quant;
  const maybeQuant = (t: number, y: tf.Tensor) => {
    const pc = q?.requantized.has(t) ? o.perChannel?.get(t) : undefined;
    if (pc) {
      const step = tf.maximum(tf.sub(pc.hi, pc.lo).div(255), 1e-8);
      return tf.round(tf.div(tf.minimum(tf.maximum(y, pc.lo), pc.hi), step)).mul(step);
    }
    const p = q?.params.get(t);
    return p && q?.requantized.has(t) ? fakeQuant(y, p) : y;
  };
  vals.set(g.inputs[0], maybeQuant(g.inputs[0], x));
  const v = (t: number): tf.Tensor => {
    const have = vals.get(t) ?? o.weights?.get(t);
    if (have) return have;
    const c = g.tensors[t];
    if (!c.data)
      throw new ModelError({ field: `tensor ${c.name}`, expected: 'computed before use', received: 'none' });
    const k =
      c.type === 'INT32' ? tf.tensor(ints(g, t), c.shape, 'int32') : tf.tensor(floatsOf(g, t), c.shape);
    vals.set(t, k);
    return k;
  };
  for (const op of g.ops) {
    const exec = EXEC[op.op];
    if (!exec)
      throw new ModelError({
        field: `op ${op.op} (${g.tensors[op.outputs[0]].name})`,
        expected: `an op the QAT executor runs (${Object.keys(EXEC).join(', ')})`,
        received: op.op,
      });
    const r = TUNED[op.op];
    const weight = () => {
      const w = v(op.inputs[r?.weight ?? 1]);
      return q && r ? fakeQuantWeights(w, r.axis) : w;
    };
    const y = exec({ g, op, v, weight, batch });
    vals.set(op.outputs[0], maybeQuant(op.outputs[0], y));
    o.trace?.(op.outputs[0], vals.get(op.outputs[0]) as tf.Tensor);
  }
  return vals.get(g.outputs[0]) as tf.Tensor;
}

/**
 * Per-channel [min, max] (widened to include 0) of every activation of the float graph over `x`,
 * for runGraph's `perChannel` what-if. Dispose the tensors when done.
 * @example const pc = channelRanges(graph, calibX);
 */
export function channelRanges(g: Graph, x: tf.Tensor): Map<number, { lo: tf.Tensor; hi: tf.Tensor }> {
  const out = new Map<number, { lo: tf.Tensor; hi: tf.Tensor }>();
  tf.tidy(() => {
    runGraph(g, x, {
      trace: (t, y) => {
        const axes = y.shape.map((_, i) => i).slice(0, -1);
        out.set(t, {
          lo: tf.keep(tf.minimum(tf.min(y, axes), 0)),
          hi: tf.keep(tf.maximum(tf.max(y, axes), 0)),
        });
      },
    });
  });
  return out;
}

/** Defaults of `qatFinetune`: the setting measured in `npm run bench:int8-floor`. */
export const QAT_DEFAULTS = { steps: 400, batchSize: 32, lr: 3e-5 } as const;

export interface QatOptions {
  /** Optimiser steps; default 400. */
  steps?: number;
  /** Samples per step; default 32. */
  batchSize?: number;
  /** Adam learning rate; default 3e-5 (the weights start trained: small moves). */
  lr?: number;
  /** Seed of the batch order; default 1. */
  seed?: number;
  /** Called every `every` steps with the mean distillation loss since the last call. */
  onProgress?: (step: number, loss: number) => void;
  every?: number;
}

export interface QatResult {
  /** The float graph with tuned weights; quantize it with the same ranges. */
  graph: Graph;
  /** Mean distillation loss (MSE of simulated-int8 vs float logits) of the first and last `every` steps. */
  lossBefore: number;
  lossAfter: number;
}

/** Batches of `size` indices, a fresh seeded shuffle of 0..n-1 per pass (the data pipeline's Rng). */
function* batches(n: number, size: number, seed: number): Generator<number[]> {
  for (let pass = 0; ; pass++) {
    const idx = new Rng(hashSeed(seed, pass)).shuffle(Array.from({ length: n }, (_, i) => i)) as number[];
    for (let i = 0; i + size <= n; i += size) yield idx.slice(i, i + size);
  }
}

/**
 * Quantization-aware fine-tuning by distillation (see the file comment): returns the float graph
 * with weights tuned so that its int8 version (quantized with `ranges`) tracks the original float
 * graph's logits on `x`.
 * @example
 * const ranges = await calibrate(graph, calibX);
 * const { graph: tuned } = await qatFinetune(graph, ranges, trainX, { steps: 400 });
 * const int8 = quantizeGraph(tuned, 'int8', { ranges });
 */
export async function qatFinetune(
  g: Graph,
  ranges: Ranges,
  x: tf.Tensor,
  o: QatOptions = {},
): Promise<QatResult> {
  const steps = o.steps ?? QAT_DEFAULTS.steps;
  const batchSize = Math.min(o.batchSize ?? QAT_DEFAULTS.batchSize, x.shape[0]);
  const lr = o.lr ?? QAT_DEFAULTS.lr;
  const every = o.every ?? 25;
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError({ field: 'qatSteps', expected: 'an integer >= 1', received: o.steps });
  if (!(lr > 0)) throw new ConfigError({ field: 'qatLr', expected: 'a number > 0', received: o.lr });
  if (!(batchSize >= 1))
    throw new ConfigError({ field: 'qatBatch', expected: 'an integer >= 1', received: o.batchSize });
  const quant = activationParams(g, ranges);
  const n = x.shape[0];
  // Teacher: the untouched float graph, once over all samples.
  const teacher = tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < n; i += 64) parts.push(runGraph(g, x.slice(i, Math.min(64, n - i))));
    return tf.concat(parts);
  });
  const weights = graphWeights(g);
  const opt = tf.train.adam(lr);
  const vars = [...weights.values()];
  const order = batches(n, batchSize, o.seed ?? 1);
  let acc = 0;
  let first = NaN;
  let last = NaN;
  try {
    for (let step = 1; step <= steps; step++) {
      const idx = tf.tensor1d(order.next().value as number[], 'int32');
      const cost = opt.minimize(
        () => {
          const xb = tf.gather(x, idx);
          const tb = tf.gather(teacher, idx);
          const y = runGraph(g, xb, { weights, quant });
          return tf.mean(tf.squaredDifference(y, tb)) as tf.Scalar;
        },
        true,
        vars,
      );
      idx.dispose();
      acc += (await (cost as tf.Scalar).data())[0];
      cost?.dispose();
      if (step % every === 0 || step === steps) {
        const k = step % every === 0 ? every : step % every;
        const mean = acc / k;
        if (Number.isNaN(first)) first = mean;
        last = mean;
        acc = 0;
        o.onProgress?.(step, mean);
        await new Promise((r) => setImmediate(r));
      }
    }
    const tuned: Graph = { ...g, tensors: g.tensors.map((t) => ({ ...t })) };
    for (const [t, w] of weights) tuned.tensors[t].data = bytesOf(w.dataSync() as Float32Array);
    return { graph: tuned, lossBefore: first, lossAfter: last };
  } finally {
    teacher.dispose();
    opt.dispose();
    for (const w of vars) w.dispose();
  }
}
