/**
 * `createClassifier(...)` -> `classify(frame)`: decode (sharp), preprocess per the bundle's
 * PreprocessSpec, run the .tflite in the TFLite WASM runtime, dequantize, top-k.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ConfigError,
  EdgeDmpError,
  defaultPreprocess,
  type PreprocessSpec,
  type KeySource,
} from '@edge-dmp/core';
import { decodeFrame, DEFAULT_FRAME_LIMITS, FrameError, type Frame, type FrameLimits } from './frame.js';
import { checkInputMatches, resizePixels, toInputTensor, validatePreprocess } from './preprocess.js';
import { loadBundle, type LoadBundleOptions } from './bundle.js';
import { loadTfliteModel, type TensorSpec, type TfliteModel } from '@edge-dmp/runtime';
import type {
  ClassificationFailure,
  ClassificationResult,
  FrameOutcome,
  ModelIdentity,
  TopKEntry,
} from './types.js';

/** How raw model outputs become scores: 'auto' applies softmax unless they already are probabilities. */
export type OutputActivation = 'auto' | 'softmax' | 'none';

export interface ClassifierOptions {
  /** A `.edmp` bundle (path or bytes): model, labels, preprocessing and identity in one file. */
  bundle?: string | Uint8Array;
  /** With a bundle: trusted keys, signature requirement, version floor (see LoadBundleOptions). */
  trust?: Omit<LoadBundleOptions, 'pubkey' | 'limits'>;
  /** With a bundle: require an Ed25519 signature by this public key (PEM, path or KeyObject). */
  pubkey?: KeySource;
  /** Bring your own model: a `.tflite` path, its bytes, or a model already loaded with loadTfliteModel. */
  model?: string | Uint8Array | TfliteModel;
  /** Class names in output order, or the path of a labels.txt (one per line). Required with `model`. */
  labels?: string[] | string;
  /**
   * Defaults to the bundle's spec, or (BYO) x = pixel/255 at the model's input size, stretched.
   * Fields given here override those (e.g. `{ scale: 1 / 127.5, mean: [1, 1, 1] }`).
   */
  preprocessing?: Partial<PreprocessSpec>;
  /** Entries in `topK` (default 5, at most the number of labels). */
  topK?: number;
  /** Runtime threads (default 1: on small boards threads rarely pay). */
  threads?: number;
  /** Identity for BYO models (bundles carry their own). */
  name?: string;
  version?: string;
  limits?: Partial<FrameLimits>;
  outputActivation?: OutputActivation;
}

/** Per-call metadata: the pipeline passes its own frame ids and receive times. */
export interface FrameMeta {
  frameId?: number;
  ts?: number;
}

export interface Classifier {
  readonly labels: readonly string[];
  readonly preprocessing: PreprocessSpec;
  readonly model: ModelIdentity;
  readonly input: TensorSpec;
  readonly output: TensorSpec;
  /** Classifies one frame; throws FrameError for a bad frame. */
  classify(frame: Frame, meta?: FrameMeta): Promise<ClassificationResult>;
  /** Like classify, but a bad frame becomes a ClassificationFailure instead of a throw. */
  tryClassify(frame: Frame, meta?: FrameMeta): Promise<FrameOutcome>;
  /** The model input tensor for a frame (float or quantized), as classify would feed it. */
  preprocess(frame: Frame): Promise<Float32Array | Int8Array | Uint8Array>;
  /** Per-class scores (after dequantization and the output activation). */
  scores(frame: Frame): Promise<Float32Array>;
  dispose(): void;
}

async function readLabels(labels: string[] | string | undefined): Promise<string[]> {
  if (labels === undefined) {
    throw new ConfigError({
      field: 'labels',
      expected: 'an array of class names or a labels.txt path',
      received: labels,
    });
  }
  if (Array.isArray(labels)) return labels.map(String);
  let text: string;
  try {
    text = await readFile(labels, 'utf8');
  } catch (e) {
    throw new ConfigError({
      field: 'labels',
      expected: 'a readable labels.txt',
      received: (e as Error).message,
    });
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isTfliteModel(m: unknown): m is TfliteModel {
  return typeof m === 'object' && m !== null && typeof (m as TfliteModel).infer === 'function';
}

const DEQUANT_RANGE = new Set(['int8', 'uint8']);

/** Output typed array -> float scores, dequantized with the tensor's scale/zero point. */
function dequantize(raw: ArrayLike<number>, spec: TensorSpec): Float32Array {
  const out = new Float32Array(raw.length);
  const q = spec.quantization;
  if (DEQUANT_RANGE.has(spec.dtype) && q) {
    for (let i = 0; i < raw.length; i++) out[i] = (raw[i] - q.zeroPoint) * q.scale;
  } else {
    for (let i = 0; i < raw.length; i++) out[i] = raw[i];
  }
  return out;
}

function softmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  const out = new Float32Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += out[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) out[i] /= sum;
  return out;
}

/** True when scores already look like probabilities (within the output's quantization step). */
function isDistribution(x: Float32Array, spec: TensorSpec): boolean {
  const step = spec.quantization && DEQUANT_RANGE.has(spec.dtype) ? spec.quantization.scale : 0;
  let sum = 0;
  for (const v of x) {
    if (v < -step || v > 1 + step) return false;
    sum += v;
  }
  return Math.abs(sum - 1) <= 1e-3 + (x.length * step) / 2;
}

/**
 * Loads a model (bundle or BYO .tflite) and returns a classifier.
 *
 * @example
 * const c = await createClassifier({ bundle: 'model.edmp', topK: 3 });
 * const r = await c.classify(await readFile('cat.jpg'));
 * console.log(r.label, r.score, r.timings.inferMs);
 * c.dispose();
 * @example
 * const c = await createClassifier({ model: 'fmnist.tflite', labels: 'labels.txt',
 *   preprocessing: defaultPreprocess([28, 28], 1) });
 */
export async function createClassifier(opts: ClassifierOptions): Promise<Classifier> {
  if (opts.bundle !== undefined && opts.model !== undefined) {
    throw new ConfigError({
      field: 'bundle',
      expected: 'either bundle or model, not both',
      received: 'both',
    });
  }
  if (opts.bundle === undefined && opts.model === undefined) {
    throw new ConfigError({
      field: 'model',
      expected: 'a bundle path or a .tflite model',
      received: undefined,
    });
  }
  const topKWanted = opts.topK ?? 5;
  if (!Number.isInteger(topKWanted) || topKWanted < 1) {
    throw new ConfigError({ field: 'topK', expected: 'a positive integer', received: opts.topK });
  }
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError({ field: 'threads', expected: 'a positive integer', received: opts.threads });
  }
  const activation = opts.outputActivation ?? 'auto';
  if (!['auto', 'softmax', 'none'].includes(activation)) {
    throw new ConfigError({
      field: 'outputActivation',
      expected: 'auto | softmax | none',
      received: activation,
    });
  }
  const limits: FrameLimits = { ...DEFAULT_FRAME_LIMITS, ...opts.limits };

  let labels: string[];
  let spec: PreprocessSpec | undefined;
  let identity: ModelIdentity;
  let model: TfliteModel;
  let owned = true;
  if (opts.bundle !== undefined) {
    const b = await loadBundle(opts.bundle, { ...opts.trust, pubkey: opts.pubkey });
    labels = opts.labels !== undefined ? await readLabels(opts.labels) : b.labels;
    spec = b.preprocessing;
    identity = b.identity;
    model = await loadTfliteModel(b.modelBytes, { threads });
  } else {
    labels = await readLabels(opts.labels);
    const m = opts.model!;
    if (isTfliteModel(m)) {
      model = m;
      owned = false;
      identity = { name: opts.name ?? 'model', version: opts.version ?? 'unversioned', sha256: 'unknown' };
    } else {
      let bytes: Uint8Array;
      if (typeof m === 'string') {
        try {
          bytes = await readFile(m);
        } catch (e) {
          throw new ConfigError({
            field: 'model',
            expected: 'a readable .tflite file',
            received: (e as Error).message,
          });
        }
      } else {
        bytes = m;
      }
      identity = {
        name: opts.name ?? (typeof m === 'string' ? basename(m, extname(m)) : 'model'),
        version: opts.version ?? 'unversioned',
        sha256: sha256(bytes),
      };
      model = await loadTfliteModel(bytes, { threads });
    }
  }

  try {
    return buildClassifier(
      model,
      owned,
      labels,
      spec,
      opts.preprocessing,
      identity,
      topKWanted,
      activation,
      limits,
    );
  } catch (e) {
    if (owned) model.dispose();
    throw e;
  }
}

function buildClassifier(
  model: TfliteModel,
  owned: boolean,
  labels: string[],
  specIn: PreprocessSpec | undefined,
  override: Partial<PreprocessSpec> | undefined,
  identity: ModelIdentity,
  topKWanted: number,
  activation: OutputActivation,
  limits: FrameLimits,
): Classifier {
  if (model.inputs.length !== 1 || model.outputs.length < 1) {
    throw new ConfigError({
      field: 'model',
      expected: 'one image input and a scores output',
      received: `${model.inputs.length} inputs, ${model.outputs.length} outputs`,
    });
  }
  const input = model.inputs[0];
  const output = model.outputs[0];
  // BYO without a spec: x = pixel/255 at the model's own input size.
  const base =
    specIn ??
    defaultPreprocess(
      [input.shape[1], input.shape[2]],
      input.shape.length === 4 && input.shape[3] === 3 ? 3 : 1,
    );
  const spec: PreprocessSpec = { ...base, ...override };
  if (override?.channels !== undefined && override.channels !== base.channels) {
    // A new channel count needs per-channel mean/std of its own length.
    spec.mean = override.mean ?? new Array<number>(override.channels).fill(0);
    spec.std = override.std ?? new Array<number>(override.channels).fill(1);
  }
  // A single mean/std value applies to every channel.
  for (const k of ['mean', 'std'] as const) {
    if (spec[k]?.length === 1 && spec.channels === 3) spec[k] = [spec[k][0], spec[k][0], spec[k][0]];
  }
  validatePreprocess(spec);
  checkInputMatches(spec, input);
  const classes = output.shape.reduce((a, b) => a * b, 1);
  if (labels.length !== classes) {
    throw new ConfigError({
      field: 'labels',
      expected: `${classes} labels (model output [${output.shape.join(',')}])`,
      received: `${labels.length} labels`,
    });
  }
  const k = Math.min(topKWanted, labels.length);
  let nextId = 1;
  let disposed = false;

  const prepare = async (frame: Frame) => {
    const t0 = performance.now();
    const px = await decodeFrame(frame, limits);
    const t1 = performance.now();
    const hwc = await resizePixels(px, spec);
    const x = toInputTensor(hwc, spec, input);
    return { x, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
  };

  /** Raw (dequantized) outputs and scores; ranking uses the raw values, which float32 softmax can tie. */
  const run = (x: ArrayBufferView): { raw: Float32Array; scores: Float32Array } => {
    if (disposed)
      throw new ConfigError({
        field: 'classifier',
        expected: 'a classifier not yet disposed',
        received: 'disposed',
      });
    const raw = dequantize(model.infer([x])[0], output);
    if (activation === 'none') return { raw, scores: raw };
    if (activation === 'softmax' || !isDistribution(raw, output)) return { raw, scores: softmax(raw) };
    return { raw, scores: raw };
  };

  const classify = async (frame: Frame, meta: FrameMeta = {}): Promise<ClassificationResult> => {
    const ts = meta.ts ?? Date.now();
    const frameId = meta.frameId ?? nextId++;
    const { x, decodeMs, preprocessMs } = await prepare(frame);
    const t2 = performance.now();
    const { raw, scores: s } = run(x);
    const inferMs = performance.now() - t2;
    const order = Array.from(raw.keys()).sort((a, b) => raw[b] - raw[a] || a - b);
    const topK: TopKEntry[] = order.slice(0, k).map((i) => ({ label: labels[i], score: s[i] }));
    return {
      ok: true,
      label: topK[0].label,
      score: topK[0].score,
      topK,
      timings: { decodeMs, preprocessMs, inferMs },
      model: identity,
      frameId,
      ts,
    };
  };

  return {
    labels,
    preprocessing: spec,
    model: identity,
    input,
    output,
    classify,
    async tryClassify(frame, meta = {}) {
      const ts = meta.ts ?? Date.now();
      const frameId = meta.frameId ?? nextId++;
      try {
        return await classify(frame, { ts, frameId });
      } catch (e) {
        return toFailure(e, frameId, ts);
      }
    },
    async preprocess(frame) {
      return (await prepare(frame)).x;
    },
    async scores(frame) {
      return run((await prepare(frame)).x).scores;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (owned) model.dispose();
    },
  };
}

/**
 * Any error from classify -> a ClassificationFailure (frame errors keep their code).
 * @example const f = toFailure(err, 7, Date.now()); // { ok: false, code: 'E_FRAME_CORRUPT', ... }
 */
export function toFailure(e: unknown, frameId: number, ts: number): ClassificationFailure {
  if (e instanceof EdgeDmpError) return { ok: false, frameId, ts, code: e.code, reason: e.message };
  return { ok: false, frameId, ts, code: 'E_CLASSIFY', reason: e instanceof Error ? e.message : String(e) };
}

export { FrameError };
