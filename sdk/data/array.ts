/** In-memory datasets of fixed-size images (CIFAR, IDX): `read` returns views, no copies. */
import { DataError } from '@edge-dmp/core';
import type { ImageDataset, RawImage } from './types.js';

/**
 * Wraps N HWC uint8 images laid out back to back as an `ImageDataset`.
 * @example
 * const ds = arrayDataset('mine', pixels, labels, [28, 28], 1, ['a', 'b']);
 */
export function arrayDataset(
  source: string,
  pixels: Uint8Array,
  labels: Int32Array,
  size: [number, number],
  channels: 1 | 3,
  classes: string[],
): ImageDataset {
  const per = size[0] * size[1] * channels;
  if (pixels.length !== labels.length * per) {
    throw new DataError({
      field: source,
      expected: `${labels.length} images of ${per} bytes`,
      received: `${pixels.length} bytes`,
    });
  }
  return {
    source,
    kind: 'array',
    classes,
    labels,
    length: labels.length,
    imageSize: size,
    channels,
    read(indices: number[]): Promise<(RawImage | null)[]> {
      return Promise.resolve(
        indices.map((i) => ({
          data: pixels.subarray(i * per, (i + 1) * per),
          height: size[0],
          width: size[1],
          channels,
        })),
      );
    },
  };
}

/** Throws DataError unless every label is in 0..classes-1. */
export function checkLabels(file: string, labels: Int32Array, classes: number): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw new DataError(
        { field: file, expected: `labels in 0..${classes - 1}`, received: labels[i] },
        `${file}: label ${labels[i]} of record ${i} is out of range (expected 0..${classes - 1})`,
      );
    }
  }
}
