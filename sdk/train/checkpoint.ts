/**
 * Checkpoints for `--resume`: model + Adam state + loop position, written to `checkpoint.tmp/` and
 * renamed into place, so a crash mid-write leaves the previous checkpoint intact.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@edge-dmp/core';
import { loadModel, saveModel } from '../models/io.js';
import type { EdgeDmpAdam } from './adam.js';

/** Where the loop stands; enough to continue exactly. */
export interface LoopState {
  /** 0-based epoch to continue in. */
  epoch: number;
  /** 0-based step within that epoch to continue at. */
  step: number;
  globalStep: number;
  bestTop1: number;
  bestEpoch: number;
  /** Running sums of the epoch in progress, so its metrics line equals an uninterrupted run's. */
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
  /** True once every step has run and the summary is written. */
  done: boolean;
}

interface TensorMeta {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

async function tensorsToFiles(dir: string, base: string, named: { name: string; tensor: tf.Tensor }[]) {
  const meta: TensorMeta[] = [];
  const parts: Uint8Array[] = [];
  for (const { name, tensor } of named) {
    const data = await tensor.data();
    meta.push({ name, shape: tensor.shape, dtype: tensor.dtype as 'float32' | 'int32' });
    parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
  }
  await writeFile(join(dir, `${base}.json`), JSON.stringify(meta));
  await writeFile(join(dir, `${base}.bin`), Buffer.concat(parts));
}

async function filesToTensors(dir: string, base: string): Promise<{ name: string; tensor: tf.Tensor }[]> {
  const meta = JSON.parse(await readFile(join(dir, `${base}.json`), 'utf8')) as TensorMeta[];
  const bin = await readFile(join(dir, `${base}.bin`));
  let o = 0;
  return meta.map((m) => {
    const n = m.shape.reduce((a, b) => a * b, 1);
    const bytes = bin.subarray(o, o + n * 4);
    o += n * 4;
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const values = m.dtype === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
    return { name: m.name, tensor: tf.tensor(values, m.shape, m.dtype) };
  });
}

/**
 * Writes `out/checkpoint/` atomically (tmp dir + rename).
 * @example
 * await saveCheckpoint('runs/x', model, optimizer, state);
 */
export async function saveCheckpoint(
  out: string,
  model: tf.LayersModel,
  optimizer: EdgeDmpAdam,
  state: LoopState,
): Promise<void> {
  const dir = join(out, 'checkpoint');
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveModel(model, join(tmp, 'model'));
  // The bias-correction powers are saved exactly: resume stays bit-identical.
  await tensorsToFiles(tmp, 'optimizer', [
    ...(await optimizer.getWeights()),
    { name: 'accBeta1', tensor: optimizer.accBeta1 },
    { name: 'accBeta2', tensor: optimizer.accBeta2 },
  ]);
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  await rm(old, { recursive: true, force: true });
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/**
 * Reads a checkpoint back: the model, the loop state, and restores Adam's state into `optimizer`.
 * @example
 * const { model, state } = await loadCheckpoint('runs/x', optimizer);
 */
export async function loadCheckpoint(
  out: string,
  optimizer: EdgeDmpAdam,
): Promise<{ model: tf.LayersModel; state: LoopState }> {
  const dir = [join(out, 'checkpoint'), join(out, 'checkpoint.old')].find((d) =>
    existsSync(join(d, 'state.json')),
  );
  if (!dir) {
    throw new ConfigError({
      field: '--resume',
      expected: `a run directory with a checkpoint (${join(out, 'checkpoint')})`,
      received: 'none',
    });
  }
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as LoopState;
  const model = await loadModel(join(dir, 'model'));
  const named = await filesToTensors(dir, 'optimizer');
  const acc = named.splice(named.length - 2, 2);
  if (named.length > 1) await optimizer.setWeights(named);
  tf.dispose(named.map((n) => n.tensor));
  optimizer.accBeta1.assign(acc[0].tensor as tf.Scalar);
  optimizer.accBeta2.assign(acc[1].tensor as tf.Scalar);
  tf.dispose(acc.map((n) => n.tensor));
  return { model, state };
}
