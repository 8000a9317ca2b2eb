/** Shared dataset types: every loader (CIFAR, IDX, folder trees) returns an `ImageDataset`. */
import type { DataError } from '@edge-dmp/core';

/** One decoded image, HWC uint8. */
export interface RawImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels: 1 | 3;
}

/** How a dataset's images are read when decoding on demand (folder trees). */
export interface ReadOptions {
  /** Decode straight to this size (sharp `cover`: resize the short side, centre-crop). */
  size?: [number, number];
  /** Decode as grayscale (1) or RGB (3). */
  channels?: 1 | 3;
}

/**
 * A labelled image collection. `array` datasets (CIFAR, IDX) hold fixed-size images in memory;
 * `files` datasets (folder trees) decode on demand so memory stays bounded by the batches in flight.
 */
export interface ImageDataset {
  /** Where it came from, for messages, e.g. `cifar10:/data/cifar (train)`. */
  readonly source: string;
  readonly kind: 'array' | 'files';
  readonly classes: string[];
  /** One label per image, known without decoding. */
  readonly labels: Int32Array;
  readonly length: number;
  /** Native size of every image (array datasets); undefined when sizes vary (folders). */
  readonly imageSize?: [number, number];
  /** Native channels. */
  readonly channels: 1 | 3;
  /**
   * Reads images by index. A `files` dataset returns `null` for an image it cannot decode and
   * reports it through the loader's `onWarning` (it is skipped, not fatal).
   */
  read(indices: number[], opts?: ReadOptions): Promise<(RawImage | null)[]>;
  /** Source file of an image, when there is one (folder datasets). */
  fileOf?(index: number): string;
}

/** A training split and a validation split sharing one class list. */
export interface DatasetSplits {
  /** The spec it was parsed from, e.g. `cifar10:/data/cifar`. */
  spec: string;
  /** `cifar10`, `cifar100`, `idx`, `fashion-mnist` or `folder`. */
  format: DataFormat;
  classes: string[];
  train: ImageDataset;
  val: ImageDataset;
}

export type DataFormat = 'cifar10' | 'cifar100' | 'idx' | 'fashion-mnist' | 'folder';

/** Options common to the loaders. */
export interface LoadOptions {
  /** Called with each non-fatal problem (a bad image in a folder tree, a stray file). */
  onWarning?: (err: DataError) => void;
  /** CIFAR-100 label set (default `fine`). */
  cifar100Labels?: 'fine' | 'coarse';
  /** Folder trees without train/ and val/: fraction of each class held out for validation (default 0.1). */
  valFraction?: number;
  /** Seed of the folder split (default 0). */
  seed?: number;
  /** Load only the training split (or only val) to save time and memory. */
  splits?: 'both' | 'train' | 'val';
}
