/**
 * Opening a training run: the config (new or from the run directory), backend, data splits,
 * preprocessing spec, and the model, optimizer and loop state (fresh, or from the checkpoint).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '../backend.js';
import { ConfigError, DataError, hashSeed, withSeededRandom, type PreprocessSpec } from '@edge-dmp/core';
import { registerFastKernels } from '../kernels/index.js';
import { createModel, resolveModelOptions } from '../models/registry.js';
import { loadData } from '../data/spec.js';
import { channelStats, resizeModeFor, stepsPerEpoch } from '../data/pipeline.js';
import type { DatasetSplits, ImageDataset } from '../data/types.js';
import { loadCheckpoint, type LoopState } from './checkpoint.js';
import type { EpochMetrics } from './progress.js';
import { EdgeDmpAdam } from './adam.js';
import { resolveTrainConfig, type TrainConfig } from './recipe.js';
import type { RunContext } from './loop.js';
import type { TrainOptions } from './trainer.js';

const INIT = 0x1a17;
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

async function readJson<T>(file: string, field: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (e) {
    throw new ConfigError({ field, expected: `a readable ${file}`, received: (e as Error).message });
  }
}

async function loadSplits(cfg: TrainConfig, warn: (e: DataError) => void): Promise<DatasetSplits> {
  const common = {
    onWarning: warn,
    cifar100Labels: cfg.cifar100Labels,
    valFraction: cfg.valFraction,
    seed: cfg.seed,
  };
  const data = await loadData(cfg.data, { ...common, splits: cfg.valData ? 'train' : 'both' });
  if (data.train.length === 0)
    throw new DataError({ field: cfg.data, expected: 'at least one training image', received: 0 });
  if (cfg.valData) {
    const v = await loadData(cfg.valData, { ...common, splits: 'val' }, '--val-data');
    if (v.classes.length !== data.classes.length) {
      throw new DataError({
        field: cfg.valData,
        expected: `${data.classes.length} classes like ${cfg.data}`,
        received: v.classes.length,
      });
    }
    return { ...data, val: v.val };
  }
  return data;
}

/** Normalisation statistics per the config. */
async function makePreprocess(
  cfg: TrainConfig,
  train: ImageDataset,
  inputSize: number,
  channels: 1 | 3,
): Promise<PreprocessSpec> {
  let mean = new Array<number>(channels).fill(0);
  let std = new Array<number>(channels).fill(1);
  if (cfg.normalize === 'dataset') {
    ({ mean, std } = await channelStats(train, channels, train.kind === 'files' ? 500 : 10000, cfg.seed));
  } else if (cfg.normalize === 'imagenet') {
    mean = channels === 3 ? IMAGENET.mean : [0.449];
    std = channels === 3 ? IMAGENET.std : [0.226];
  }
  return {
    inputSize: [inputSize, inputSize],
    channels,
    scale: 1 / 255,
    mean,
    std,
    resize: resizeModeFor(train),
    layout: 'NHWC',
    channelOrder: 'rgb',
  };
}

/** The run's config: config.json of the run on resume, else `config` resolved (a new run directory). */
async function runConfig(
  config: Partial<TrainConfig> & { data: string },
  opts: TrainOptions,
): Promise<TrainConfig> {
  if (opts.resume)
    return resolveTrainConfig(await readJson<TrainConfig>(join(opts.out, 'config.json'), '--resume'));
  const cfg = resolveTrainConfig(config);
  if (existsSync(join(opts.out, 'config.json'))) {
    throw new ConfigError({
      field: '--out',
      expected: 'a new run directory (or --resume to continue this one)',
      received: opts.out,
    });
  }
  return cfg;
}

/** A fresh run: writes config, labels, preprocessing and an empty metrics log; builds the seeded model. */
async function newRun(
  ctx: Omit<RunContext, 'model' | 'vars' | 'state'>,
): Promise<{ model: tf.LayersModel; state: LoopState }> {
  const { cfg, out, classes, preprocess } = ctx;
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  await writeFile(join(out, 'labels.txt'), `${classes.join('\n')}\n`);
  await writeFile(join(out, 'preprocess.json'), `${JSON.stringify(preprocess, null, 2)}\n`);
  await writeFile(join(out, 'metrics.jsonl'), '');
  const model = withSeededRandom(hashSeed(cfg.seed, INIT), () =>
    createModel({
      model: cfg.model,
      variant: cfg.variant as never,
      classes: classes.length,
      inputSize: preprocess.inputSize[0],
      inputChannels: preprocess.channels,
      dropout: cfg.dropout,
      dropConnect: cfg.dropConnect,
      widthMult: cfg.widthMult,
      depthMult: cfg.depthMult,
    }),
  );
  const state: LoopState = {
    epoch: 0,
    step: 0,
    globalStep: 0,
    bestTop1: -1,
    bestEpoch: 0,
    partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
    done: false,
  };
  return { model, state };
}

/** Resuming: the checkpoint's model and loop state; metrics cut to the epochs it covers. */
async function resumedRun(
  ctx: Omit<RunContext, 'model' | 'vars' | 'state'>,
): Promise<{ model: tf.LayersModel; state: LoopState }> {
  const { model, state } = await loadCheckpoint(ctx.out, ctx.optimizer);
  ctx.emit({
    type: 'message',
    text: `resuming at epoch ${state.epoch + 1} step ${state.step} (global step ${state.globalStep})`,
  });
  // A crash may have left one more metrics line than the checkpoint covers.
  const file = join(ctx.out, 'metrics.jsonl');
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  const keep = lines.filter((l) => (JSON.parse(l) as EpochMetrics).epoch <= state.epoch);
  await writeFile(file, keep.map((l) => `${l}\n`).join(''));
  return { model, state };
}

/**
 * Everything a training loop needs, new or resumed.
 * @example const ctx = await openTraining({ data: 'fashion-mnist' }, { out: 'runs/fm' });
 */
export async function openTraining(
  config: Partial<TrainConfig> & { data: string },
  opts: TrainOptions,
): Promise<RunContext> {
  const emit = opts.onProgress ?? (() => {});
  let cfg = await runConfig(config, opts);
  // Fail on a bad model option before spending time on backends and data.
  resolveModelOptions({
    model: cfg.model,
    variant: cfg.variant as never,
    widthMult: cfg.widthMult,
    depthMult: cfg.depthMult,
    dropout: cfg.dropout,
    dropConnect: cfg.dropConnect,
    inputSize: cfg.inputSize,
    inputChannels: cfg.inputChannels,
  });
  const backend = await selectBackend(cfg.backend);
  const kernels = registerFastKernels(tf.getBackend());
  emit({
    type: 'message',
    text: `backend: ${backend}${kernels.length ? ` (+${kernels.length} edge-dmp kernels)` : ''}`,
  });

  const data = await loadSplits(cfg, (e) => emit({ type: 'warning', text: e.message }));
  const { train: trainDs, val: valDs, classes } = data;
  const channels: 1 | 3 = cfg.inputChannels ?? trainDs.channels;
  const inputSize = cfg.inputSize ?? trainDs.imageSize?.[0] ?? 224;
  const augment = cfg.augment ?? (trainDs.kind === 'files' ? 'rrc-flip' : 'crop-flip');
  cfg = { ...cfg, inputSize, inputChannels: channels, augment };
  const preprocess = opts.resume
    ? await readJson<PreprocessSpec>(join(opts.out, 'preprocess.json'), '--resume')
    : await makePreprocess(cfg, trainDs, inputSize, channels);
  const steps = stepsPerEpoch(trainDs.length, cfg.batchSize);
  const totalSteps = Math.min(cfg.epochs * steps, cfg.maxSteps ?? Infinity);
  const base = {
    cfg,
    out: opts.out,
    opts,
    emit,
    backend,
    optimizer: new EdgeDmpAdam(cfg.lr, 0.9, 0.999, 1e-8),
    preprocess,
    trainDs,
    valDs,
    classes,
    steps,
    totalSteps,
    epochs: Math.ceil(totalSteps / steps),
    warmup: Math.round(cfg.warmupEpochs * steps),
    batchOpts: { preprocess, augment, batchSize: cfg.batchSize, seed: cfg.seed },
  };
  const { model, state } = opts.resume ? await resumedRun(base) : await newRun(base);
  const [H, W] = preprocess.inputSize;
  emit({
    type: 'message',
    text: `${cfg.model} ${cfg.variant}: ${trainDs.length} train / ${valDs.length} val images, ${classes.length} classes, input ${H}x${W}x${channels}, ${steps} steps/epoch, ${totalSteps} steps`,
  });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return { ...base, model, vars, state };
}
