/**
 * The loop of one training run, in named steps: one optimizer step, one epoch, the end-of-epoch
 * evaluation and saves, and the run's summary. Every random draw comes from (seed, step).
 */
import * as tf from '@tensorflow/tfjs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashSeed, withSeededRandom, type PreprocessSpec } from '@edge-dmp/core';
import type { BackendName } from '../backend.js';
import { saveModel } from '../models/io.js';
import { countParams } from '../models/stats.js';
import { trainBatches, type BatchOptions } from '../data/pipeline.js';
import type { ImageDataset } from '../data/types.js';
import { saveCheckpoint, type LoopState } from './checkpoint.js';
import { evaluate } from './evaluate.js';
import { confusionSvg, curveSvg } from './plots.js';
import type { EpochMetrics, ProgressListener } from './progress.js';
import type { EdgeDmpAdam } from './adam.js';
import { learningRate, type TrainConfig } from './recipe.js';
import { preciseBatchNorm, type RunSummary, type TrainOptions } from './trainer.js';

const STEP = 0x57e9;
const PRECISE_BN = 0x9b4e;
/** Epoch index offset for the batches of the precise-BN pass (a shuffle of its own, never trained on). */
const PRECISE_BN_EPOCH = 1 << 20;

/** A training run in progress (made by openTraining in setup.ts). */
export interface RunContext {
  cfg: TrainConfig;
  out: string;
  opts: TrainOptions;
  emit: ProgressListener;
  backend: BackendName;
  model: tf.LayersModel;
  /** The model's trainable variables, read once (the same list every step). */
  vars: tf.Variable[];
  optimizer: EdgeDmpAdam;
  state: LoopState;
  preprocess: PreprocessSpec;
  trainDs: ImageDataset;
  valDs: ImageDataset;
  classes: string[];
  steps: number;
  totalSteps: number;
  epochs: number;
  warmup: number;
  batchOpts: BatchOptions;
}

interface Batch {
  x: Float32Array;
  y: Int32Array;
  size: number;
}

/** One optimizer step on a batch; adds its loss and hits to the epoch's running totals. */
async function trainStep(ctx: RunContext, b: Batch, lr: number): Promise<void> {
  const { cfg, model, optimizer, state, vars } = ctx;
  const [H, W] = ctx.preprocess.inputSize;
  optimizer.learningRate = lr;
  if (b.size === 0) return;
  let preds: tf.Tensor | undefined;
  const lossT = withSeededRandom(hashSeed(cfg.seed, state.globalStep, STEP), () =>
    tf.tidy(() => {
      const x = tf.tensor4d(b.x, [b.size, H, W, ctx.preprocess.channels]);
      const onehot = tf.oneHot(tf.tensor1d(b.y, 'int32'), ctx.classes.length);
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
  const lossV = (await lossT.data())[0];
  const p = await preds!.data();
  tf.dispose([lossT, preds!]);
  let c = 0;
  for (let i = 0; i < b.size; i++) if (p[i] === b.y[i]) c++;
  state.partial.lossSum += lossV * b.size;
  state.partial.correct += c;
  state.partial.seen += b.size;
}

/** The steps of one epoch (from `state.step` on); returns the last lr and whether it was aborted. */
export async function trainEpoch(ctx: RunContext): Promise<{ lr: number; aborted: boolean }> {
  const { cfg, state, totalSteps } = ctx;
  const epoch = state.epoch;
  const epochSteps = Math.min(ctx.steps, totalSteps - epoch * ctx.steps);
  const epochStart = performance.now() - state.partial.seconds * 1000;
  let lr = learningRate(state.globalStep, totalSteps, cfg.lr, ctx.warmup);
  for await (const b of trainBatches(ctx.trainDs, ctx.batchOpts, epoch, state.step, epochSteps)) {
    lr = learningRate(state.globalStep, totalSteps, cfg.lr, ctx.warmup);
    await trainStep(ctx, b as Batch, lr);
    state.step++;
    state.globalStep++;
    const seconds = (performance.now() - epochStart) / 1000;
    state.partial.seconds = seconds;
    const speed = state.partial.seen / Math.max(seconds, 1e-9);
    ctx.emit({
      type: 'step',
      epoch: epoch + 1,
      epochs: ctx.epochs,
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
    if (ctx.opts.signal?.aborted) return { lr, aborted: state.step < epochSteps };
  }
  return { lr, aborted: false };
}

/** After an epoch: precise BN, evaluation, metrics line, last/best models, checkpoint. */
export async function endEpoch(ctx: RunContext, lr: number): Promise<void> {
  const { cfg, model, state, out } = ctx;
  const epoch = state.epoch;
  const trainSeconds = state.partial.seconds;
  const [H, W] = ctx.preprocess.inputSize;
  if (cfg.preciseBn > 0) {
    const n = Math.min(cfg.preciseBn, ctx.steps);
    await preciseBatchNorm(model, trainBatches(ctx.trainDs, ctx.batchOpts, PRECISE_BN_EPOCH + epoch, 0, n), {
      shape: [H, W, ctx.preprocess.channels],
      seed: hashSeed(cfg.seed, epoch, PRECISE_BN),
    });
  }
  const ev = await evaluate(model, ctx.valDs, ctx.preprocess, {
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
  ctx.emit({ type: 'epoch', ...m });
  await saveModel(model, join(out, 'last'));
  if (best) {
    state.bestTop1 = ev.top1;
    state.bestEpoch = epoch + 1;
    await saveModel(model, join(out, 'best'));
  }
  state.epoch++;
  state.step = 0;
  state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
  await saveCheckpoint(out, model, ctx.optimizer, state);
}

/** The finished run: final evaluation, summary.json, curve and confusion plots, last checkpoint. */
export async function finishRun(ctx: RunContext): Promise<RunSummary> {
  const { cfg, model, state, out } = ctx;
  const ev = await evaluate(model, ctx.valDs, ctx.preprocess, { batchSize: cfg.evalBatchSize });
  const params = countParams(model);
  const history = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EpochMetrics);
  const summary: RunSummary = {
    val: ev,
    best: { epoch: state.bestEpoch, top1: state.bestTop1 },
    backend: ctx.backend,
    steps: state.globalStep,
    epochs: state.epoch,
    trainImages: ctx.trainDs.length,
    valImages: ctx.valDs.length,
    params: {
      trainable: params.trainable,
      nonTrainable: params.nonTrainable,
      total: params.trainable + params.nonTrainable,
    },
    seconds: history.reduce((a, h) => a + h.seconds, 0),
    config: cfg,
  };
  await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const curve = history.map((h) => ({ epoch: h.epoch, loss: h.loss, top1: h.top1, valTop1: h.valTop1 }));
  await writeFile(join(out, 'curve.svg'), curveSvg(curve, `${cfg.model} ${cfg.variant} on ${cfg.data}`));
  await writeFile(join(out, 'confusion.svg'), confusionSvg(ev.confusion, ctx.classes));
  if (!state.done) {
    state.done = true;
    await saveCheckpoint(out, model, ctx.optimizer, state);
  }
  ctx.emit({
    type: 'message',
    text: `done: val top1 ${(ev.top1 * 100).toFixed(2)}% top5 ${(ev.top5 * 100).toFixed(2)}% on ${ev.count} images; best epoch ${state.bestEpoch}; run in ${out}`,
  });
  return summary;
}
