/**
 * What the lowering functions share (lower.ts, lower-layers.ts): the options, the default op
 * sequences and the state of one lowering (the graph being built, tensor maps, folds).
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder, ModelError } from '@edge-dmp/core';
import { permuteAxes, type RelayoutPlan } from './relayout.js';

/** Op sequences for ChannelDuplicate (see docs/converter.md for the measurement). */
export type DuplicateStrategy = 'gather' | 'tile' | 'concat';
/** Op sequences for ChannelMaxPool. */
export type MaxPoolStrategy = 'reduce_max' | 'maximum' | 'max_pool_2d' | 'slice_max';

export interface LowerOptions {
  /** Append SOFTMAX to the logits. Default false. */
  softmax?: boolean;
  duplicate?: DuplicateStrategy;
  maxpool?: MaxPoolStrategy;
  /**
   * Fold ChannelDuplicate(t, interleave) -> DepthwiseConv2D into one DEPTHWISE_CONV_2D with
   * depth_multiplier t (GATHER is not delegated to XNNPACK). Default true.
   */
  fuseDuplicate?: boolean;
  /**
   * Lower interleave-order DMP blocks in the tile channel order (weights permuted, same outputs):
   * the duplicate becomes CONCATENATION and the max-pool contiguous SLICE + MAXIMUM, which the
   * delegate takes (relayout.ts). Default true.
   */
  relayout?: boolean;
}

/** Default op sequences: the fastest in the TFLite runtime per `bench/dmp-ops.ts`. */
export const DEFAULT_STRATEGY: { duplicate: DuplicateStrategy; maxpool: MaxPoolStrategy } = {
  duplicate: 'gather',
  maxpool: 'reduce_max',
};

/**
 * Default op sequences inside a relaid DMP block (tile order, relayout.ts): the ones XNNPACK
 * delegates, measured fastest end to end (docs/converter.md, "Lowering DMP for the delegate").
 */
export const RELAID_STRATEGY: { duplicate: DuplicateStrategy; maxpool: MaxPoolStrategy } = {
  duplicate: 'concat',
  maxpool: 'max_pool_2d',
};

export interface LayerNode {
  layer: tf.layers.Layer;
  name: string;
  className: string;
  config: Record<string, unknown>;
  inputIds: number[];
  outputIds: number[];
  inChannels: number[];
  outChannels: number[];
}

/** State shared by the lowering functions. */
export class LowerContext {
  readonly g = new GraphBuilder();
  /** SymbolicTensor id -> TFLite tensor index. */
  readonly tensorOf = new Map<number, number>();
  /** SymbolicTensor id -> shape (batch fixed to 1). */
  readonly shapeOf = new Map<number, number[]>();
  /** BatchNormalization layers already folded into the conv before them. */
  readonly folded = new Set<string>();
  /** DepthwiseConv2D layer name -> t of the ChannelDuplicate folded into its depth_multiplier. */
  readonly dupFolded = new Map<string, number>();
  /** SymbolicTensor ids of the model outputs (never folded away). */
  readonly modelOutputs = new Set<number>();
  constructor(
    readonly nodes: LayerNode[],
    readonly consumers: Map<number, LayerNode[]>,
    readonly opts: Required<Pick<LowerOptions, 'duplicate' | 'maxpool' | 'fuseDuplicate'>> & {
      /** Strategies inside relaid blocks. */
      relaid: { duplicate: DuplicateStrategy; maxpool: MaxPoolStrategy };
    },
    /** DMP regions lowered in the tile channel order (relayout.ts). */
    readonly relayout: RelayoutPlan = { tile: new Set(), axes: new Map(), perm: new Map() },
  ) {}

  /** A layer's weights by short name, permuted where the layer sits in a relaid DMP region. */
  weights(layer: tf.layers.Layer): Map<string, { shape: number[]; data: Float32Array }> {
    const ws = weightsByName(layer);
    const axes = this.relayout.axes.get(layer.name);
    const perm = this.relayout.perm.get(layer.name);
    if (!axes || !perm) return ws;
    for (const [k, w] of ws) {
      if (axes[k]?.length) ws.set(k, { shape: w.shape, data: permuteAxes(w.data, w.shape, axes[k], perm) });
    }
    return ws;
  }

  act(name: string, shape: number[]): number {
    return this.g.tensor({ name, shape, type: 'FLOAT32' });
  }

  shape(t: number): number[] {
    return this.g.graph.tensors[t].shape;
  }
}

export type Lowering = (ctx: LowerContext, n: LayerNode, inputs: number[]) => number[];

export function weightsByName(layer: tf.layers.Layer): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const vals = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = w.originalName.split('/').pop() ?? w.originalName;
    out.set(short, { shape: vals[i].shape, data: vals[i].dataSync() as Float32Array });
  });
  return out;
}

export function need<T>(v: T | undefined, layer: string, what: string): T {
  if (v === undefined) throw new ModelError({ field: `layer ${layer}`, expected: what, received: 'missing' });
  return v;
}

export function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

export function outSpatial(size: number, stride: number, padding: string): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor(size / stride);
}
