/**
 * Batches: shuffle order per epoch, decode (folders) or view (arrays), augment, normalise into one
 * Float32Array per batch. Every random choice comes from (seed, epoch, batch), so a run resumed
 * at any step sees exactly the batches an uninterrupted run would.
 */
import { type PreprocessSpec, type ResizeMode, Rng, hashSeed } from '@edge-dmp/core';
import { augmentRegion, sampleInto, type AugmentName } from './augment.js';
import type { ImageDataset, RawImage } from './types.js';

const SHUFFLE = 0x5f1;
const AUGMENT = 0xa06;
const STATS = 0x57a;
const SAMPLE = 0x5a3;

/** One batch in NHWC float32, ready for `tf.tensor4d(x, [size, H, W, C])`. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  size: number;
}

export interface BatchOptions {
  preprocess: PreprocessSpec;
  augment: AugmentName;
  batchSize: number;
  seed: number;
}

/**
 * The order in which an epoch visits the dataset (a seeded permutation).
 * @example
 * const order = epochOrder(50000, 42, 0);
 */
export function epochOrder(length: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(length);
  for (let i = 0; i < length; i++) order[i] = i;
  new Rng(hashSeed(seed, epoch, SHUFFLE)).shuffle(order);
  return order;
}

/**
 * Training steps per epoch: whole batches only (a last partial batch would give BatchNorm a tiny,
 * noisy batch), but at least one step when the dataset is smaller than a batch.
 * @example
 * stepsPerEpoch(50000, 64); // 781
 */
export function stepsPerEpoch(length: number, batchSize: number): number {
  return Math.max(1, Math.floor(length / batchSize));
}

/** Size to decode folder images at for training: a margin over the input for random resized crops. */
function decodeSize(spec: PreprocessSpec, augment: AugmentName): [number, number] {
  if (augment === 'none') return spec.inputSize;
  return [Math.round(spec.inputSize[0] * 1.143), Math.round(spec.inputSize[1] * 1.143)];
}

async function readImages(ds: ImageDataset, indices: number[], spec: PreprocessSpec, augment: AugmentName) {
  return ds.kind === 'files'
    ? ds.read(indices, { size: decodeSize(spec, augment), channels: spec.channels })
    : ds.read(indices);
}

/** Fills a batch from decoded images (null = skipped bad image). */
function assemble(
  ds: ImageDataset,
  indices: number[],
  images: (RawImage | null)[],
  spec: PreprocessSpec,
  augment: AugmentName,
  rng: Rng | undefined,
): Batch {
  const [H, W] = spec.inputSize;
  const per = H * W * spec.channels;
  const ok = images.filter((i) => i !== null).length;
  const x = new Float32Array(ok * per);
  const y = new Int32Array(ok);
  let n = 0;
  for (let k = 0; k < indices.length; k++) {
    const img = images[k];
    if (!img) continue;
    const region = rng
      ? augmentRegion(augment, img, rng)
      : { x: 0, y: 0, w: img.width, h: img.height, flip: false, outside: 'clamp' as const };
    sampleInto(img, region, spec, x, n * per);
    y[n] = ds.labels[indices[k]];
    n++;
  }
  return { x, y, size: n };
}

/**
 * Training batches of one epoch, from batch `fromStep` on, with one batch decoded ahead so sharp
 * (thread pool) overlaps with the training step.
 * @example
 * for await (const b of trainBatches(ds, { preprocess, augment: 'crop-flip', batchSize: 64, seed: 1 }, 0)) { ... }
 */
export async function* trainBatches(
  ds: ImageDataset,
  opts: BatchOptions,
  epoch: number,
  fromStep = 0,
  steps = stepsPerEpoch(ds.length, opts.batchSize),
): AsyncGenerator<Batch> {
  const order = epochOrder(ds.length, opts.seed, epoch);
  const bs = Math.min(opts.batchSize, ds.length);
  const make = async (step: number): Promise<Batch> => {
    const indices = Array.from(order.subarray(step * bs, (step + 1) * bs));
    const images = await readImages(ds, indices, opts.preprocess, opts.augment);
    const rng = new Rng(hashSeed(opts.seed, epoch, step, AUGMENT));
    return assemble(ds, indices, images, opts.preprocess, opts.augment, rng);
  };
  let next = fromStep < steps ? make(fromStep) : undefined;
  for (let s = fromStep; s < steps && next; s++) {
    const cur = await next;
    next = s + 1 < steps ? make(s + 1) : undefined;
    yield cur;
  }
}

/**
 * Evaluation batches in dataset order, no augmentation (folders decode straight to the input size
 * with a centre crop, the preprocess spec's `center-crop`).
 * @example
 * for await (const b of evalBatches(val, preprocess, 128)) { ... }
 */
export async function* evalBatches(
  ds: ImageDataset,
  spec: PreprocessSpec,
  batchSize: number,
  limit = ds.length,
): AsyncGenerator<Batch> {
  const n = Math.min(limit, ds.length);
  const make = async (start: number): Promise<Batch> => {
    const indices = Array.from({ length: Math.min(batchSize, n - start) }, (_, k) => start + k);
    const images = await readImages(ds, indices, spec, 'none');
    return assemble(ds, indices, images, spec, 'none', undefined);
  };
  let next = n > 0 ? make(0) : undefined;
  for (let s = 0; s < n && next; s += batchSize) {
    const cur = await next;
    next = s + batchSize < n ? make(s + batchSize) : undefined;
    yield cur;
  }
}

/** The resize mode a dataset's images get at inference (what the device must do too). */
export function resizeModeFor(ds: ImageDataset): ResizeMode {
  return ds.kind === 'files' ? 'center-crop' : 'stretch';
}

/**
 * Per-channel mean and std of pixel/255 over up to `maxImages` images (a seeded sample), in the
 * requested channel count, for the normalisation recorded in preprocess.json.
 * @example
 * const { mean, std } = await channelStats(train, 3, 5000, 42); // CIFAR-10: mean ~[0.49, 0.48, 0.45]
 */
export async function channelStats(
  ds: ImageDataset,
  channels: 1 | 3,
  maxImages: number,
  seed: number,
): Promise<{ mean: number[]; std: number[] }> {
  const n = Math.min(maxImages, ds.length);
  const order = Array.from(
    new Rng(hashSeed(seed, STATS)).shuffle(Array.from({ length: ds.length }, (_, i) => i)),
  ).slice(0, n);
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  let count = 0;
  const size: [number, number] = ds.imageSize ?? [64, 64];
  const spec: PreprocessSpec = {
    inputSize: size,
    channels,
    scale: 1 / 255,
    mean: new Array<number>(channels).fill(0),
    std: new Array<number>(channels).fill(1),
    resize: 'stretch',
    layout: 'NHWC',
    channelOrder: 'rgb',
  };
  for (let s = 0; s < n; s += 256) {
    const idx = order.slice(s, s + 256);
    const images = ds.kind === 'files' ? await ds.read(idx, { size, channels }) : await ds.read(idx);
    const b = assemble(ds, idx, images, spec, 'none', undefined);
    for (let i = 0; i < b.x.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        const v = b.x[i + c];
        sum[c] += v;
        sq[c] += v * v;
      }
    }
    count += b.x.length / channels;
  }
  if (count === 0) return { mean: spec.mean, std: spec.std };
  const mean = Array.from(sum, (v) => v / count);
  const std = Array.from(sq, (v, c) => Math.sqrt(Math.max(v / count - mean[c] * mean[c], 1e-12)));
  return {
    mean: mean.map((v) => Number(v.toFixed(6))),
    std: std.map((v) => Number(Math.max(v, 1e-3).toFixed(6))),
  };
}

/**
 * A seeded sample of `count` preprocessed images as one NHWC Float32Array (no augmentation), e.g.
 * representative inputs for int8 calibration (`--calib folder:<dir>`).
 * @example
 * const { x, size } = await sampleInputs((await loadData('folder:/data/calib')).train, preprocess, 100, 0);
 */
export async function sampleInputs(
  ds: ImageDataset,
  spec: PreprocessSpec,
  count: number,
  seed: number,
): Promise<Batch> {
  const n = Math.min(count, ds.length);
  const order = Array.from(
    new Rng(hashSeed(seed, SAMPLE)).shuffle(Array.from({ length: ds.length }, (_, i) => i)),
  ).slice(0, n);
  const images = await readImages(ds, order, spec, 'none');
  return assemble(ds, order, images, spec, 'none', undefined);
}
