/**
 * Building blocks: conv-BN-act, squeeze-and-excitation, and the MBConv (inverted residual) block
 * with the paper's replacements. Functional tf.layers code, no architecture numbers here.
 */
import * as tf from '@tensorflow/tfjs';
import { ChannelDuplicate, ChannelMaxPool, DropConnect, type ChannelOrder } from '../layers.js';
import { BatchNorm, Swish } from '../norm-layers.js';

type SymT = tf.SymbolicTensor;
export type Activation = 'swish' | 'relu6';

/** BatchNorm settings: PyTorch-like momentum so short runs get usable moving statistics. */
const BN = { momentum: 0.9, epsilon: 1e-3 };

function bn(x: SymT, name: string): SymT {
  return new BatchNorm({ ...BN, name }).apply(x) as SymT;
}

function act(x: SymT, a: Activation | 'sigmoid', name: string): SymT {
  if (a === 'swish') return new Swish({ name }).apply(x) as SymT;
  return tf.layers.activation({ activation: a, name }).apply(x) as SymT;
}

/** Conv (no bias) -> BN -> activation. */
export function convBnAct(
  x: SymT,
  filters: number,
  kernel: number,
  stride: number,
  activation: Activation | null,
  name: string,
): SymT {
  let y = tf.layers
    .conv2d({
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: 'same',
      useBias: false,
      name: `${name}_conv`,
    })
    .apply(x) as SymT;
  y = bn(y, `${name}_bn`);
  return activation ? act(y, activation, `${name}_act`) : y;
}

/** Squeeze-and-excitation: per-channel scale from globally pooled features. */
export function squeezeExcite(
  x: SymT,
  channels: number,
  seFilters: number,
  activation: Activation,
  name: string,
): SymT {
  let s = tf.layers.globalAveragePooling2d({ name: `${name}_se_squeeze` }).apply(x) as SymT;
  s = tf.layers.reshape({ targetShape: [1, 1, channels], name: `${name}_se_reshape` }).apply(s) as SymT;
  s = tf.layers
    .conv2d({ filters: seFilters, kernelSize: 1, activation, useBias: true, name: `${name}_se_reduce` })
    .apply(s) as SymT;
  s = tf.layers
    .conv2d({
      filters: channels,
      kernelSize: 1,
      activation: 'sigmoid',
      useBias: true,
      name: `${name}_se_expand`,
    })
    .apply(s) as SymT;
  return tf.layers.multiply({ name: `${name}_se_excite` }).apply([x, s]) as SymT;
}

export interface MBConvSpec {
  inFilters: number;
  outFilters: number;
  expand: number;
  kernel: number;
  stride: number;
  /** SE bottleneck width; 0 = no SE. */
  seFilters: number;
  activation: Activation;
  /** Replace the expansion 1x1 conv + BN by ChannelDuplicate. */
  duplicate: boolean;
  /** Replace the projection 1x1 conv + BN by ChannelMaxPool. */
  maxpool: boolean;
  channelOrder: ChannelOrder;
  /** Activation applied right after ChannelDuplicate (default none: see docs/model-zoo.md). */
  duplicateActivation: Activation | 'none';
  dropConnect: number;
  name: string;
}

/**
 * MBConv / inverted residual block. The paper's replacements apply only when the caller sets
 * `duplicate`/`maxpool`, which the builder does for equal-width stride-1 blocks.
 */
export function mbConv(x: SymT, s: MBConvSpec): SymT {
  const expanded = s.inFilters * s.expand;
  let y = x;
  if (s.expand !== 1) {
    if (s.duplicate) {
      y = new ChannelDuplicate({ t: s.expand, order: s.channelOrder, name: `${s.name}_duplicate` }).apply(
        y,
      ) as SymT;
      if (s.duplicateActivation !== 'none') y = act(y, s.duplicateActivation, `${s.name}_duplicate_act`);
    } else {
      y = convBnAct(y, expanded, 1, 1, s.activation, `${s.name}_expand`);
    }
  }
  y = tf.layers
    .depthwiseConv2d({
      kernelSize: s.kernel,
      strides: s.stride,
      padding: 'same',
      useBias: false,
      name: `${s.name}_dw_conv`,
    })
    .apply(y) as SymT;
  y = bn(y, `${s.name}_dw_bn`);
  y = act(y, s.activation, `${s.name}_dw_act`);
  if (s.seFilters > 0) y = squeezeExcite(y, expanded, s.seFilters, s.activation, s.name);
  if (s.maxpool) {
    y = new ChannelMaxPool({ t: s.expand, order: s.channelOrder, name: `${s.name}_maxpool` }).apply(
      y,
    ) as SymT;
  } else {
    y = convBnAct(y, s.outFilters, 1, 1, null, `${s.name}_project`);
  }
  if (s.stride === 1 && s.inFilters === s.outFilters) {
    if (s.dropConnect > 0)
      y = new DropConnect({ rate: s.dropConnect, name: `${s.name}_drop` }).apply(y) as SymT;
    y = tf.layers.add({ name: `${s.name}_add` }).apply([y, x]) as SymT;
  }
  return y;
}
