/**
 * The one builder: turns an ArchDef (stage table) plus scaling into a tf.LayersModel.
 */
import * as tf from '@tensorflow/tfjs';
import type { ChannelOrder } from '../layers.js';
import type { ArchDef, ScalingDef, Variant } from './archs.js';
import { VARIANTS } from './archs.js';
import { mbConv, convBnAct, type Activation } from './blocks.js';

export interface BuildOptions {
  variant: Variant;
  classes: number;
  /** Square input side in pixels. */
  inputSize: number;
  inputChannels: 1 | 3;
  dropout: number;
  dropConnect: number;
  /** Multiplies the scaling table's width (for small test models or custom sizes). */
  widthMult: number;
  /** Multiplies the scaling table's depth. */
  depthMult: number;
  channelOrder: ChannelOrder;
  duplicateActivation: Activation | 'none';
  name: string;
}

/** Rounds a channel count to the divisor, never dropping more than 10% (EfficientNet/MobileNet rule). */
export function roundFilters(filters: number, width: number, divisor: number): number {
  const f = filters * width;
  let out = Math.max(divisor, Math.floor((f + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * f) out += divisor;
  return out;
}

export function roundRepeats(repeats: number, depth: number): number {
  return Math.ceil(repeats * depth);
}

/** One planned block, before any layer exists: what `summary` and tests inspect. */
export interface BlockPlan {
  name: string;
  stage: number;
  inFilters: number;
  outFilters: number;
  expand: number;
  kernel: number;
  stride: number;
  /** True when the paper's rule applies: equal width, stride 1, an expansion to replace. */
  replaceable: boolean;
}

/** Lays out the blocks of an architecture at a given scaling. */
export function planBlocks(arch: ArchDef, width: number, depth: number): BlockPlan[] {
  const plans: BlockPlan[] = [];
  let inF = roundFilters(arch.stem.filters, width, arch.divisor);
  arch.stages.forEach((st, si) => {
    const outF = roundFilters(st.filters, width, arch.divisor);
    const n = roundRepeats(st.repeats, depth);
    for (let r = 0; r < n; r++) {
      const stride = r === 0 ? st.stride : 1;
      plans.push({
        name: `block${si + 1}${String.fromCharCode(97 + (r % 26))}${r >= 26 ? Math.floor(r / 26) : ''}`,
        stage: si + 1,
        inFilters: inF,
        outFilters: outF,
        expand: st.expand,
        kernel: st.kernel,
        stride,
        replaceable: stride === 1 && inF === outF && st.expand > 1,
      });
      inF = outF;
    }
  });
  return plans;
}

/**
 * Builds the network.
 * @example
 * const m = buildNetwork(EFFICIENTNET, EFFICIENTNET_SCALING.b0, { ...defaults, variant: 'dmp', classes: 10 });
 */
export function buildNetwork(arch: ArchDef, scaling: ScalingDef, o: BuildOptions): tf.LayersModel {
  const width = scaling.width * o.widthMult;
  const depth = scaling.depth * o.depthMult;
  const v = VARIANTS[o.variant];
  const blocks = planBlocks(arch, width, depth);

  const input = tf.input({ shape: [o.inputSize, o.inputSize, o.inputChannels], name: 'input' });
  let x = convBnAct(
    input,
    roundFilters(arch.stem.filters, width, arch.divisor),
    arch.stem.kernel,
    arch.stem.stride,
    arch.activation,
    'stem',
  );
  blocks.forEach((b, i) => {
    x = mbConv(x, {
      inFilters: b.inFilters,
      outFilters: b.outFilters,
      expand: b.expand,
      kernel: b.kernel,
      stride: b.stride,
      seFilters: arch.seRatio > 0 ? Math.max(1, Math.floor(b.inFilters * arch.seRatio)) : 0,
      activation: arch.activation,
      duplicate: b.replaceable && v.duplicate,
      maxpool: b.replaceable && v.maxpool,
      channelOrder: o.channelOrder,
      duplicateActivation: o.duplicateActivation,
      dropConnect: (o.dropConnect * i) / blocks.length,
      name: b.name,
    });
  });
  const headFilters =
    arch.headScaling === 'max'
      ? roundFilters(arch.head.filters, Math.max(1, width), arch.divisor)
      : roundFilters(arch.head.filters, width, arch.divisor);
  x = convBnAct(x, headFilters, 1, 1, arch.activation, 'head');
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  if (o.dropout > 0)
    x = tf.layers.dropout({ rate: o.dropout, name: 'top_dropout' }).apply(x) as tf.SymbolicTensor;
  // Logits: the loss applies softmax, the converter can append SOFTMAX.
  const logits = tf.layers.dense({ units: o.classes, name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: o.name });
}
