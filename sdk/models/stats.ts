/**
 * Model statistics: trainable parameters (BatchNorm moving statistics excluded), multiply-accumulates
 * per image, and weight bytes at fp32/fp16/int8 as the converter stores them (BatchNorm folded).
 */
import type * as tf from '@tensorflow/tfjs';
import { modelOptionsOf } from './registry.js';

export interface ParamCounts {
  trainable: number;
  nonTrainable: number;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** @example countParams(createModel({ model: 'efficientnet-b0', classes: 10 })).trainable // 4020358 */
export function countParams(m: tf.LayersModel): ParamCounts {
  let trainable = 0;
  let nonTrainable = 0;
  for (const w of m.trainableWeights) trainable += size(w.shape as number[]);
  for (const w of m.nonTrainableWeights) nonTrainable += size(w.shape as number[]);
  return { trainable, nonTrainable };
}

type Shape = (number | null)[];

function outShape(layer: tf.layers.Layer): Shape {
  const s = layer.outputShape as Shape | Shape[];
  return (Array.isArray(s[0]) ? s[0] : s) as Shape;
}

/** Rules per layer class: MACs for one image. Layers absent from the table cost 0 MACs. */
const MAC_RULES: Record<string, (layer: tf.layers.Layer) => number> = {
  Conv2D: (l) => {
    const [, h, w, cout] = outShape(l) as number[];
    const k = l.getWeights()[0].shape as number[]; // [kh, kw, cin, cout]
    return h * w * cout * k[0] * k[1] * k[2];
  },
  DepthwiseConv2D: (l) => {
    const [, h, w, c] = outShape(l) as number[];
    const k = l.getWeights()[0].shape as number[]; // [kh, kw, cin, mult]
    return h * w * c * k[0] * k[1];
  },
  Dense: (l) => {
    const k = l.getWeights()[0].shape as number[];
    return k[0] * k[1];
  },
};

/** Multiply-accumulates per image (convolutions and dense layers) at the model's input size. */
export function countMacs(m: tf.LayersModel): number {
  let macs = 0;
  for (const l of m.layers) macs += MAC_RULES[l.getClassName()]?.(l) ?? 0;
  return macs;
}

export interface ModelBytes {
  fp32: number;
  fp16: number;
  int8: number;
}

/**
 * Weight bytes after BatchNorm folding (each BN becomes its conv's bias): fp32 = 4 B/weight;
 * fp16 = 2 B/weight; int8 = 1 B/weight plus an int32 bias and a float32 scale per output channel.
 */
export function modelBytes(m: tf.LayersModel): ModelBytes {
  let weights = 0;
  let channels = 0; // one bias + one scale per output channel of each conv / dense
  for (const l of m.layers) {
    const cls = l.getClassName();
    if (cls !== 'Conv2D' && cls !== 'DepthwiseConv2D' && cls !== 'Dense') continue;
    const k = l.getWeights()[0].shape as number[];
    weights += size(k);
    channels += cls === 'DepthwiseConv2D' ? k[2] * k[3] : k[k.length - 1];
  }
  return { fp32: 4 * (weights + channels), fp16: 2 * (weights + channels), int8: weights + 8 * channels };
}

export interface ModelSummary {
  model: string;
  variant: string;
  classes: number;
  input: number;
  trainableParams: number;
  nonTrainableParams: number;
  macs: number;
  bytes: ModelBytes;
  replacedBlocks: number;
}

/** Everything `edge-dmp summary --json` prints. */
export function summarize(m: tf.LayersModel): ModelSummary {
  const o = modelOptionsOf(m);
  const p = countParams(m);
  const inShape = m.inputs[0].shape;
  return {
    model: o?.model ?? m.name,
    variant: o?.variant ?? 'baseline',
    classes: (m.outputs[0].shape[1] as number) ?? 0,
    input: inShape[1] as number,
    trainableParams: p.trainable,
    nonTrainableParams: p.nonTrainable,
    macs: countMacs(m),
    bytes: modelBytes(m),
    replacedBlocks: new Set(
      m.layers
        .filter((l) => l.getClassName() === 'ChannelDuplicate' || l.getClassName() === 'ChannelMaxPool')
        .map((l) => l.name.replace(/_(duplicate|maxpool)$/, '')),
    ).size,
  };
}
