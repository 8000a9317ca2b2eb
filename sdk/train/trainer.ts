/**
 * The training loop behind `edge-dmp train`: a hand-written loop (not `model.fit`) so the lr can
 * change every step, a checkpoint can be cut at any step (Ctrl-C), and every random draw comes
 * from (seed, step): a resumed run equals an uninterrupted one. The steps live in setup.ts
 * (open a run) and loop.ts (step, epoch, end of epoch, summary).
 */
import * as tf from '@tensorflow/tfjs';
import { withSeededRandom } from '@edge-dmp/core';
import type { BackendName } from '../backend.js';
import { saveCheckpoint, type LoopState } from './checkpoint.js';
import type { Evaluation } from './evaluate.js';
import type { ProgressListener } from './progress.js';
import { BatchNorm } from '../norm-layers.js';
import type { TrainConfig } from './recipe.js';
import { openTraining } from './setup.js';
import { endEpoch, finishRun, trainEpoch } from './loop.js';

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
  const ctx = await openTraining(config, opts);
  const { state, emit } = ctx;
  let interrupted = false;
  while (!state.done && state.epoch < ctx.epochs) {
    const { lr, aborted } = await trainEpoch(ctx);
    if (aborted) {
      await saveCheckpoint(ctx.out, ctx.model, ctx.optimizer, state);
      emit({
        type: 'message',
        text: `interrupted: checkpoint saved at epoch ${state.epoch + 1} step ${state.step}; continue with --resume`,
      });
      interrupted = true;
      break;
    }
    await endEpoch(ctx, lr);
    if (opts.signal?.aborted) {
      emit({
        type: 'message',
        text: `interrupted: checkpoint saved after epoch ${state.epoch}; continue with --resume`,
      });
      interrupted = true;
      break;
    }
  }
  const summary = interrupted ? undefined : await finishRun(ctx);
  ctx.optimizer.dispose();
  ctx.model.dispose();
  return { out: ctx.out, backend: ctx.backend, interrupted, state, summary };
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
