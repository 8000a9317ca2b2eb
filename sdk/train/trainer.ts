/**
 * The training loop behind `edge-dmp train`: a hand-written loop (not `model.fit`) so the lr can
 * change every step, a checkpoint can be cut at any step (Ctrl-C), and every random draw comes
 * from (seed, step): a resumed run equals an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend, type BackendName } from '../backend.js';
import { ConfigError, DataError } from '@edge-dmp/core';
import { registerFastKernels } from '../kernels/index.js';
import { createModel, resolveModelOptions } from '../models/registry.js';
import { saveModel } from '../models/io.js';
import { countParams } from '../models/stats.js';
import type { PreprocessSpec } from '@edge-dmp/core';
import { loadData } from '../data/spec.js';
import { channelStats, resizeModeFor, stepsPerEpoch, trainBatches } from '../data/pipeline.js';
import { hashSeed, withSeededRandom } from '@edge-dmp/core';
import type { DatasetSplits, ImageDataset } from '../data/types.js';
import { loadCheckpoint, saveCheckpoint, type LoopState } from './checkpoint.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { confusionSvg, curveSvg } from './plots.js';
import type { EpochMetrics, ProgressListener } from './progress.js';
import { EdgeDmpAdam } from './adam.js';
import { BatchNorm } from '../norm-layers.js';
import { learningRate, resolveTrainConfig, type TrainConfig } from './recipe.js';

const INIT = 0x1a17;
const STEP = 0x57e9;
const PRECISE_BN = 0x9b4e;
/** Epoch index offset for the batches of the precise-BN pass (a shuffle of its own, never trained on). */
const PRECISE_BN_EPOCH = 1 << 20;
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export interface TrainOptions {
  /** The run directory. */
  out: string;
  /** Continue the run in `out` from its checkpoint (its config.json wins over `config`). */
  resume?: boolean;
  onProgress?: ProgressListener;
  /** Aborting (Ctrl-C) saves a checkpoint after the current step and returns. */
  signal?: AbortSignal;
}

export interface RunSummary {
  val: Evaluation;
  best: { epoch: number; top1: number };
  backend: BackendName;
  steps: number;
  epochs: number;
  trainImages: number;
  valImages: number;
  params: { trainable: number; nonTrainable: number; total: number };
  seconds: number;
  config: TrainConfig;
}

export interface TrainResult {
  out: string;
  backend: BackendName;
  interrupted: boolean;
  state: LoopState;
  summary?: RunSummary;
}

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

/**
 * Trains a zoo model per `config` into the run directory `opts.out` (see CONTRIBUTING.md for its
 * layout). Returns when the run is done, reached `maxSteps`, or was aborted (checkpoint saved).
 * @example
 * const r = await train({ data: 'fashion-mnist', model: 'efficientnet-b0', variant: 'dmp', epochs: 1 },
 *   { out: 'runs/fm', onProgress: consoleProgress() });
 * console.log(r.summary?.val.top1);
 */
export async function train(
  config: Partial<TrainConfig> & { data: string },
  opts: TrainOptions,
): Promise<TrainResult> {
  const out = opts.out;
  const emit: ProgressListener = opts.onProgress ?? (() => {});
  let cfg: TrainConfig;
  if (opts.resume) {
    cfg = resolveTrainConfig(await readJson<TrainConfig>(join(out, 'config.json'), '--resume'));
  } else {
    cfg = resolveTrainConfig(config);
    if (existsSync(join(out, 'config.json'))) {
      throw new ConfigError({
        field: '--out',
        expected: 'a new run directory (or --resume to continue this one)',
        received: out,
      });
    }
  }

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

  let preprocess: PreprocessSpec;
  const optimizer = new EdgeDmpAdam(cfg.lr, 0.9, 0.999, 1e-8);
  let model: tf.LayersModel;
  let state: LoopState;
  if (opts.resume) {
    preprocess = await readJson<PreprocessSpec>(join(out, 'preprocess.json'), '--resume');
    ({ model, state } = await loadCheckpoint(out, optimizer));
    emit({
      type: 'message',
      text: `resuming at epoch ${state.epoch + 1} step ${state.step} (global step ${state.globalStep})`,
    });
  } else {
    preprocess = await makePreprocess(cfg, trainDs, inputSize, channels);
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    await writeFile(join(out, 'labels.txt'), `${classes.join('\n')}\n`);
    await writeFile(join(out, 'preprocess.json'), `${JSON.stringify(preprocess, null, 2)}\n`);
    await writeFile(join(out, 'metrics.jsonl'), '');
    model = withSeededRandom(hashSeed(cfg.seed, INIT), () =>
      createModel({
        model: cfg.model,
        variant: cfg.variant as never,
        classes: classes.length,
        inputSize,
        inputChannels: channels,
        dropout: cfg.dropout,
        dropConnect: cfg.dropConnect,
        widthMult: cfg.widthMult,
        depthMult: cfg.depthMult,
      }),
    );
    state = {
      epoch: 0,
      step: 0,
      globalStep: 0,
      bestTop1: -1,
      bestEpoch: 0,
      partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
      done: false,
    };
  }

  const steps = stepsPerEpoch(trainDs.length, cfg.batchSize);
  const totalSteps = Math.min(cfg.epochs * steps, cfg.maxSteps ?? Infinity);
  const epochs = Math.ceil(totalSteps / steps);
  const warmup = Math.round(cfg.warmupEpochs * steps);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const batchOpts = { preprocess, augment, batchSize: cfg.batchSize, seed: cfg.seed };
  const [H, W] = preprocess.inputSize;
  const k = classes.length;
  emit({
    type: 'message',
    text: `${cfg.model} ${cfg.variant}: ${trainDs.length} train / ${valDs.length} val images, ${k} classes, input ${H}x${W}x${channels}, ${steps} steps/epoch, ${totalSteps} steps`,
  });

  // Truncate metrics to the epochs the checkpoint already covers (a crash may have left one more line).
  if (opts.resume) {
    const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean);
    const keep = lines.filter((l) => (JSON.parse(l) as EpochMetrics).epoch <= state.epoch);
    await writeFile(join(out, 'metrics.jsonl'), keep.map((l) => `${l}\n`).join(''));
  }

  let interrupted = false;
  while (!state.done && state.epoch < epochs && !interrupted) {
    const epoch = state.epoch;
    const epochSteps = Math.min(steps, totalSteps - epoch * steps);
    const epochStart = performance.now() - state.partial.seconds * 1000;
    let lr = learningRate(state.globalStep, totalSteps, cfg.lr, warmup);
    for await (const b of trainBatches(trainDs, batchOpts, epoch, state.step, epochSteps)) {
      const g = state.globalStep;
      lr = learningRate(g, totalSteps, cfg.lr, warmup);
      optimizer.learningRate = lr;
      let preds: tf.Tensor | undefined;
      const lossT =
        b.size === 0
          ? undefined
          : withSeededRandom(hashSeed(cfg.seed, g, STEP), () =>
              tf.tidy(() => {
                const x = tf.tensor4d(b.x, [b.size, H, W, channels]);
                const onehot = tf.oneHot(tf.tensor1d(b.y, 'int32'), k);
                return optimizer.minimize(
                  () => {
                    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
                    preds = tf.keep(logits.argMax(1));
                    let loss = tf.losses.softmaxCrossEntropy(
                      onehot,
                      logits,
                      undefined,
                      cfg.labelSmoothing,
                    ) as tf.Scalar;
                    if (cfg.weightDecay > 0) {
                      // PyTorch Adam's weight_decay: grad += wd * w, i.e. loss += wd/2 * |w|^2.
                      loss = loss.add(tf.addN(vars.map((v) => v.square().sum())).mul(cfg.weightDecay / 2));
                    }
                    return loss;
                  },
                  true,
                  vars,
                ) as tf.Scalar;
              }),
            );
      if (lossT && preds) {
        const lossV = (await lossT.data())[0];
        const p = await preds.data();
        tf.dispose([lossT, preds]);
        let c = 0;
        for (let i = 0; i < b.size; i++) if (p[i] === b.y[i]) c++;
        state.partial.lossSum += lossV * b.size;
        state.partial.correct += c;
        state.partial.seen += b.size;
      }
      state.step++;
      state.globalStep++;
      const seconds = (performance.now() - epochStart) / 1000;
      state.partial.seconds = seconds;
      const speed = state.partial.seen / Math.max(seconds, 1e-9);
      emit({
        type: 'step',
        epoch: epoch + 1,
        epochs,
        step: state.step,
        steps: epochSteps,
        globalStep: state.globalStep,
        totalSteps,
        loss: state.partial.lossSum / Math.max(1, state.partial.seen),
        acc: state.partial.correct / Math.max(1, state.partial.seen),
        lr,
        imgPerSec: speed,
        etaSec: ((totalSteps - state.globalStep) * cfg.batchSize) / Math.max(speed, 1e-9),
      });
      // Let signal handlers (Ctrl-C) run: tfjs steps resolve without ever yielding to the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      if (opts.signal?.aborted) {
        interrupted = true;
        break;
      }
    }
    if (interrupted && state.step < epochSteps) {
      await saveCheckpoint(out, model, optimizer, state);
      emit({
        type: 'message',
        text: `interrupted: checkpoint saved at epoch ${epoch + 1} step ${state.step}; continue with --resume`,
      });
      break;
    }
    interrupted = false;
    const trainSeconds = state.partial.seconds;
    if (cfg.preciseBn > 0) {
      await preciseBatchNorm(
        model,
        trainBatches(trainDs, batchOpts, PRECISE_BN_EPOCH + epoch, 0, Math.min(cfg.preciseBn, steps)),
        {
          shape: [H, W, channels],
          seed: hashSeed(cfg.seed, epoch, PRECISE_BN),
        },
      );
    }
    const ev = await evaluate(model, valDs, preprocess, {
      batchSize: cfg.evalBatchSize,
      limit: cfg.valLimit,
    });
    const best = ev.top1 > state.bestTop1;
    const m: EpochMetrics = {
      epoch: epoch + 1,
      step: state.globalStep,
      loss: state.partial.lossSum / Math.max(1, state.partial.seen),
      top1: state.partial.correct / Math.max(1, state.partial.seen),
      valLoss: ev.loss,
      valTop1: ev.top1,
      valTop5: ev.top5,
      valCount: ev.count,
      lr,
      imgPerSec: state.partial.seen / Math.max(trainSeconds, 1e-9),
      seconds: trainSeconds,
      best,
    };
    await appendFile(join(out, 'metrics.jsonl'), `${JSON.stringify(m)}\n`);
    emit({ type: 'epoch', ...m });
    await saveModel(model, join(out, 'last'));
    if (best) {
      state.bestTop1 = ev.top1;
      state.bestEpoch = epoch + 1;
      await saveModel(model, join(out, 'best'));
    }
    state.epoch++;
    state.step = 0;
    state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    await saveCheckpoint(out, model, optimizer, state);
    if (opts.signal?.aborted) {
      interrupted = true;
      emit({
        type: 'message',
        text: `interrupted: checkpoint saved after epoch ${epoch + 1}; continue with --resume`,
      });
    }
  }

  let summary: RunSummary | undefined;
  if (!interrupted) {
    const ev = await evaluate(model, valDs, preprocess, { batchSize: cfg.evalBatchSize });
    const params = countParams(model);
    const metricsLines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean);
    const history = metricsLines.map((l) => JSON.parse(l) as EpochMetrics);
    summary = {
      val: ev,
      best: { epoch: state.bestEpoch, top1: state.bestTop1 },
      backend,
      steps: state.globalStep,
      epochs: state.epoch,
      trainImages: trainDs.length,
      valImages: valDs.length,
      params: {
        trainable: params.trainable,
        nonTrainable: params.nonTrainable,
        total: params.trainable + params.nonTrainable,
      },
      seconds: history.reduce((a, h) => a + h.seconds, 0),
      config: cfg,
    };
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(
      join(out, 'curve.svg'),
      curveSvg(
        history.map((h) => ({ epoch: h.epoch, loss: h.loss, top1: h.top1, valTop1: h.valTop1 })),
        `${cfg.model} ${cfg.variant} on ${cfg.data}`,
      ),
    );
    await writeFile(join(out, 'confusion.svg'), confusionSvg(ev.confusion, classes));
    if (!state.done) {
      state.done = true;
      await saveCheckpoint(out, model, optimizer, state);
    }
    emit({
      type: 'message',
      text: `done: val top1 ${(ev.top1 * 100).toFixed(2)}% top5 ${(ev.top5 * 100).toFixed(2)}% on ${ev.count} images; best epoch ${state.bestEpoch}; run in ${out}`,
    });
  }
  optimizer.dispose();
  model.dispose();
  return { out, backend, interrupted, state, summary };
}

/**
 * "Precise BN": sets every BatchNorm's running mean/variance to the exact average of its batch
 * statistics over the given batches (forward passes in training mode, no weight update), by
 * stepping each layer's momentum through k/(k+1).
 */
export async function preciseBatchNorm(
  model: tf.LayersModel,
  batches: AsyncIterable<{ x: Float32Array; y: Int32Array | number[]; size: number }>,
  o: { shape: [number, number, number]; seed: number },
): Promise<void> {
  // Our BatchNorm exposes its momentum; a stock tfjs one (older saved model) keeps it private.
  const bns = model.layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
  if (bns.length === 0) return;
  const saved = bns.map((l) => l.momentum);
  let k = 0;
  try {
    for await (const b of batches) {
      if (b.size === 0) continue;
      for (const l of bns) l.momentum = k / (k + 1);
      withSeededRandom(o.seed + k, () =>
        tf.tidy(() => {
          model.apply(tf.tensor4d(b.x, [b.size, ...o.shape]), { training: true });
        }),
      );
      k++;
    }
  } finally {
    bns.forEach((l, i) => (l.momentum = saved[i]));
  }
}
