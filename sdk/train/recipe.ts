/**
 * The training recipe. Defaults are the paper's: cross-entropy, Adam at lr 0.01, cosine annealing
 * to 0. The schedule is stepped per optimiser step (PyTorch's CosineAnnealingLR with T_max = total
 * steps), so even a 1-epoch or `--max-steps` run anneals; per-epoch stepping would leave the lr
 * constant in a 1-epoch run.
 */
import { inRange, nonNegativeInt, oneOf, positiveInt } from '@edge-dmp/core';
import type { AugmentName } from '../data/augment.js';
import { AUGMENTS } from '../data/augment.js';

export type Normalize = 'dataset' | 'imagenet' | 'none';
export const NORMALIZE_MODES: readonly Normalize[] = ['dataset', 'imagenet', 'none'];

/** Everything that defines a run; written to `config.json` and re-read by `--resume`. */
export interface TrainConfig {
  /** Zoo model name, e.g. `efficientnet-b0`. */
  model: string;
  /** `baseline`, `maxpool`, `duplicate` or `dmp`. */
  variant: string;
  widthMult: number;
  depthMult: number;
  /** Square input size; default the data's native size (32 CIFAR, 28 IDX) or 224 for folders. */
  inputSize?: number;
  /** Model input channels; default the data's (1 for IDX, 3 otherwise). */
  inputChannels?: 1 | 3;
  /** Classifier dropout / stochastic depth; default the model zoo's. */
  dropout?: number;
  dropConnect?: number;
  /** Data spec (`cifar10:<dir>`, ...). Its training split trains, its val split validates. */
  data: string;
  /** Another spec whose val split replaces `data`'s. */
  valData?: string;
  cifar100Labels: 'fine' | 'coarse';
  /** Held-out fraction for single-tree folder datasets. */
  valFraction: number;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  labelSmoothing: number;
  /** Linear warmup from 0 over this many epochs (fractions allowed), then cosine. */
  warmupEpochs: number;
  seed: number;
  /** Stop after this many optimiser steps in total; the cosine spans min(epochs * steps, maxSteps). */
  maxSteps?: number;
  /** Default: `crop-flip` for CIFAR/IDX, `rrc-flip` for folders. */
  augment?: AugmentName;
  normalize: Normalize;
  /** Evaluate at most this many val images after each epoch (the final summary uses all). */
  valLimit?: number;
  evalBatchSize: number;
  /**
   * Before each evaluation, re-estimate BatchNorm's running statistics as the exact average over
   * this many training batches (forward only; "precise BN"). Short runs at lr 0.01 otherwise
   * evaluate with statistics that lag the weights. 0 turns it off.
   */
  preciseBn: number;
  backend: string;
}

/** The paper's recipe plus our choices where it is silent. */
export const DEFAULT_CONFIG: Omit<TrainConfig, 'data'> = {
  model: 'efficientnet-b0',
  // Same default as the model zoo's createModel.
  variant: 'baseline',
  widthMult: 1,
  depthMult: 1,
  cifar100Labels: 'fine',
  valFraction: 0.1,
  epochs: 30,
  batchSize: 64,
  lr: 0.01,
  weightDecay: 0,
  labelSmoothing: 0,
  warmupEpochs: 0,
  seed: 0,
  normalize: 'dataset',
  evalBatchSize: 128,
  preciseBn: 20,
  backend: 'auto',
};

type Check = (field: string, v: unknown) => unknown;
const optional =
  (check: Check): Check =>
  (f, v) =>
    v === undefined ? v : check(f, v);
/** An integer >= min. */
const atLeast =
  (min: number): Check =>
  (f, v) =>
    inRange(f, nonNegativeInt(f, v), { min });

/** Field checks as a table: name -> one of core's checks (they name the field and the expectation). */
const CHECKS: [keyof TrainConfig, Check][] = [
  ['epochs', positiveInt],
  ['batchSize', positiveInt],
  ['lr', (f, v) => inRange(f, v, { min: 0, exclusiveMin: true })],
  ['weightDecay', (f, v) => inRange(f, v, { min: 0 })],
  ['labelSmoothing', (f, v) => inRange(f, v, { min: 0, max: 0.999999 })],
  ['warmupEpochs', (f, v) => inRange(f, v, { min: 0 })],
  ['seed', nonNegativeInt],
  ['maxSteps', optional(positiveInt)],
  ['inputSize', optional(atLeast(8))],
  ['inputChannels', optional((f, v) => oneOf(f, v, [1, 3]))],
  ['valFraction', (f, v) => inRange(f, v, { min: 0, max: 0.999999, exclusiveMin: true })],
  ['valLimit', optional(positiveInt)],
  ['evalBatchSize', positiveInt],
  ['preciseBn', nonNegativeInt],
  ['augment', optional((f, v) => oneOf(f, v, AUGMENTS))],
  ['normalize', (f, v) => oneOf(f, v, NORMALIZE_MODES)],
  ['cifar100Labels', (f, v) => oneOf(f, v, ['fine', 'coarse'])],
];

/**
 * Fills defaults and validates; each bad field is a ConfigError naming it.
 * @example
 * const cfg = resolveTrainConfig({ data: 'fashion-mnist', epochs: 1 });
 */
export function resolveTrainConfig(partial: Partial<TrainConfig> & { data: string }): TrainConfig {
  const cfg: TrainConfig = { ...DEFAULT_CONFIG, ...stripUndefined(partial) } as TrainConfig;
  for (const [field, check] of CHECKS) check(field, cfg[field]);
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Learning rate at optimiser step `step` (0-based) of `total`: linear warmup over `warmup` steps,
 * then cosine from `lr` to 0.
 * @example
 * learningRate(0, 100, 0.01, 0); // 0.01
 * learningRate(50, 100, 0.01, 0); // 0.005
 */
export function learningRate(step: number, total: number, lr: number, warmup: number): number {
  if (warmup > 0 && step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const t = Math.min(1, (step - warmup) / span);
  return 0.5 * lr * (1 + Math.cos(Math.PI * t));
}
