/**
 * Reading a training run directory back (what `edge-dmp eval` and `edge-dmp convert` start from).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, type PreprocessSpec } from '@edge-dmp/core';
import { loadModel } from '../models/io.js';

/** The parts of config.json that later stages need to reload the same data. */
export interface RunDataConfig {
  data: string;
  seed?: number;
  valFraction?: number;
  cifar100Labels?: 'fine' | 'coarse';
}

export interface OpenedRun {
  dir: string;
  /** Which saved model: `best` (by val top-1) or `last`. */
  which: 'best' | 'last';
  preprocess: PreprocessSpec;
  labels: string[];
  config: RunDataConfig;
  /** Loads the chosen model (custom layers included). */
  loadModel(): Promise<tf.LayersModel>;
}

async function readRunFile(dir: string, name: string): Promise<string> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch (e) {
    throw new ConfigError({
      field: '--run',
      expected: `a run directory with ${name}`,
      received: (e as Error).message,
    });
  }
}

/**
 * Opens a run written by `edge-dmp train`: its preprocessing spec, labels, data config and model.
 * @param which `best` or `last`; default `best` when the run has one, else `last`.
 * @example
 * const run = await openRun('runs/x');
 * const model = await run.loadModel();
 */
/**
 * Runs written before data paths were stored absolute hold cwd-relative specs: keep one that
 * resolves from here, otherwise read it relative to the run directory's parent folders.
 */
function legacyDataSpec(spec: string, runDir: string): string {
  const m = /^([a-z0-9-]+):(.+)$/s.exec(spec ?? '');
  if (!m || isAbsolute(m[2]) || existsSync(m[2])) return spec;
  for (let base = resolve(runDir); ; base = dirname(base)) {
    if (existsSync(join(base, m[2]))) return `${m[1]}:${join(base, m[2])}`;
    if (dirname(base) === base) return spec;
  }
}

export async function openRun(dir: string | undefined, which?: string): Promise<OpenedRun> {
  if (!dir)
    throw new ConfigError({
      field: '--run',
      expected: 'a run directory written by edge-dmp train',
      received: dir,
    });
  const w = which ?? (existsSync(join(dir, 'best', 'model.json')) ? 'best' : 'last');
  if (w !== 'best' && w !== 'last')
    throw new ConfigError({ field: '--model', expected: 'best | last', received: w });
  const preprocess = JSON.parse(await readRunFile(dir, 'preprocess.json')) as PreprocessSpec;
  const labels = (await readRunFile(dir, 'labels.txt')).split('\n').filter(Boolean);
  const config = JSON.parse(await readRunFile(dir, 'config.json')) as RunDataConfig;
  config.data = legacyDataSpec(config.data, dir);
  return { dir, which: w, preprocess, labels, config, loadModel: () => loadModel(join(dir, w)) };
}
