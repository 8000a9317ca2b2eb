/**
 * The model registry: names -> (architecture, scaling). `createModel` validates options and builds.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, inRange, oneOf, positiveInt } from '@edge-dmp/core';
import { CHANNEL_ORDERS, type ChannelOrder } from '../layers.js';
import {
  EFFICIENTNET,
  EFFICIENTNET_SCALING,
  EFFICIENTNET_LITE,
  MOBILENETV2,
  MOBILENETV2_SCALING,
  VARIANTS,
  type ArchDef,
  type ScalingDef,
  type Variant,
} from './archs.js';
import { buildNetwork, planBlocks, type BlockPlan } from './builder.js';
import type { Activation } from './blocks.js';

export interface ModelEntry {
  name: string;
  arch: ArchDef;
  scaling: ScalingDef;
  description: string;
}

const REGISTRY = new Map<string, ModelEntry>();

/** Adds a model to the registry (the zoo registers its own below). */
export function registerModel(entry: ModelEntry): void {
  REGISTRY.set(entry.name, entry);
}

for (const [k, s] of Object.entries(EFFICIENTNET_SCALING)) {
  registerModel({
    name: `efficientnet-${k}`,
    arch: EFFICIENTNET,
    scaling: s,
    description: `EfficientNet-${k.toUpperCase()} (width ${s.width}, depth ${s.depth}, ${s.resolution}px)`,
  });
}
registerModel({
  name: 'efficientnet-lite0',
  arch: EFFICIENTNET_LITE,
  scaling: EFFICIENTNET_SCALING.b0,
  description: 'EfficientNet-Lite0 (B0 stages, ReLU6, no SE: int8-friendly); scale with widthMult/depthMult',
});
registerModel({
  name: 'mobilenetv2',
  arch: MOBILENETV2,
  scaling: MOBILENETV2_SCALING['1.0'],
  description: 'MobileNetV2 1.0 (ReLU6, no SE); scale with widthMult',
});

/** Registered model names. */
export function listModels(): ModelEntry[] {
  return [...REGISTRY.values()];
}

export function getModelEntry(name: string): ModelEntry {
  const e = REGISTRY.get(name);
  if (!e)
    throw new ConfigError({
      field: 'model',
      expected: `one of ${[...REGISTRY.keys()].join(', ')}`,
      received: name,
    });
  return e;
}

export interface ModelOptions {
  /** Registry name, e.g. `efficientnet-b0`. */
  model: string;
  /** Paper ablation variant; default `baseline`. */
  variant?: Variant;
  /** Number of classes; default 1000. */
  classes?: number;
  /** Square input size; default: the model's native resolution. */
  inputSize?: number;
  /** 1 (grayscale) or 3; default 3. */
  inputChannels?: number;
  /** Dropout before the classifier; default the scaling table's. */
  dropout?: number;
  /** Stochastic-depth rate for the last block (linear ramp); default 0.2 for EfficientNet, 0 otherwise. */
  dropConnect?: number;
  widthMult?: number;
  depthMult?: number;
  /** Duplicate copy order / max-pool grouping; default `interleave`. */
  channelOrder?: ChannelOrder;
  /** Activation after ChannelDuplicate; default `none`. */
  duplicateActivation?: Activation | 'none';
}

/** Options with every default filled in, as recorded with a model. */
export type ResolvedModelOptions = Required<ModelOptions> & { variant: Variant; inputChannels: 1 | 3 };

function positive(field: string, v: unknown, integer: boolean): void {
  if (integer) positiveInt(field, v);
  else inRange(field, v, { min: 0, exclusiveMin: true });
}

/** Validates options and fills defaults. Every bad field is a ConfigError naming it. */
export function resolveModelOptions(o: ModelOptions): ResolvedModelOptions {
  const entry = getModelEntry(o.model);
  const variant = o.variant ?? 'baseline';
  oneOf('variant', variant, Object.keys(VARIANTS));
  const r = {
    model: o.model,
    variant,
    classes: o.classes ?? 1000,
    inputSize: o.inputSize ?? entry.scaling.resolution,
    inputChannels: (o.inputChannels ?? 3) as 1 | 3,
    dropout: o.dropout ?? entry.scaling.dropout,
    dropConnect: o.dropConnect ?? (entry.arch.family === 'efficientnet' ? 0.2 : 0),
    widthMult: o.widthMult ?? 1,
    depthMult: o.depthMult ?? 1,
    channelOrder: o.channelOrder ?? 'interleave',
    duplicateActivation: o.duplicateActivation ?? 'none',
  };
  positive('classes', r.classes, true);
  positive('inputSize', r.inputSize, true);
  positive('widthMult', r.widthMult, false);
  positive('depthMult', r.depthMult, false);
  if (r.inputChannels !== 1 && r.inputChannels !== 3) {
    throw new ConfigError({ field: 'inputChannels', expected: '1 or 3', received: r.inputChannels });
  }
  inRange('inputSize', r.inputSize, { min: 8 });
  for (const f of ['dropout', 'dropConnect'] as const) inRange(f, r[f], { min: 0, max: 0.999999 });
  oneOf('channelOrder', r.channelOrder, CHANNEL_ORDERS);
  oneOf('duplicateActivation', r.duplicateActivation, ['none', 'swish', 'relu6']);
  return r;
}

/** The block layout a model would get, with which blocks the paper's rule replaces. */
export function modelBlocks(o: ModelOptions): BlockPlan[] {
  const r = resolveModelOptions(o);
  const e = getModelEntry(r.model);
  return planBlocks(e.arch, e.scaling.width * r.widthMult, e.scaling.depth * r.depthMult);
}

/**
 * Builds a zoo model (logits output). Its resolved options are stored in the model's user-defined
 * metadata under `edgeDmp`, so a saved model says what it is.
 *
 * @example
 * const m = createModel({ model: 'efficientnet-b0', variant: 'dmp', classes: 10, inputSize: 32 });
 * countParams(m).trainable // 2,198,150
 */
export function createModel(o: ModelOptions): tf.LayersModel {
  const r = resolveModelOptions(o);
  const e = getModelEntry(r.model);
  const m = buildNetwork(e.arch, e.scaling, {
    variant: r.variant,
    classes: r.classes,
    inputSize: r.inputSize,
    inputChannels: r.inputChannels,
    dropout: r.dropout,
    dropConnect: r.dropConnect,
    widthMult: r.widthMult,
    depthMult: r.depthMult,
    channelOrder: r.channelOrder,
    duplicateActivation: r.duplicateActivation,
    name: `${r.model}-${r.variant}`,
  });
  m.setUserDefinedMetadata({ edgeDmp: r });
  return m;
}

/** Reads back the options a zoo model was created with (undefined for foreign models). */
export function modelOptionsOf(m: tf.LayersModel): ResolvedModelOptions | undefined {
  const md = m.getUserDefinedMetadata() as { edgeDmp?: ResolvedModelOptions } | undefined;
  return md?.edgeDmp;
}
