/**
 * CIFAR-10 / CIFAR-100 in their binary distributions. A record is the label byte(s) followed by
 * 3072 pixel bytes: the 1024 red values, then green, then blue, each a 32x32 row-major plane.
 * We convert to HWC once at load so the rest of the pipeline sees one layout.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '@edge-dmp/core';
import { arrayDataset, checkLabels } from './array.js';
import type { DatasetSplits, ImageDataset, LoadOptions } from './types.js';

const PIXELS = 32 * 32 * 3;

/** Class names of CIFAR-10, used when `batches.meta.txt` is absent. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

interface Parsed {
  pixels: Uint8Array;
  labels: Int32Array;
}

/** Parses one binary file whose records carry `labelBytes` label bytes; `labelIndex` picks which. */
function parseRecords(file: string, buf: Uint8Array, labelBytes: number, labelIndex: number): Parsed {
  const rec = labelBytes + PIXELS;
  if (buf.length === 0 || buf.length % rec !== 0) {
    throw new DataError(
      {
        field: file,
        expected: `a multiple of ${rec} bytes (records of ${labelBytes} label + 3072 pixel bytes)`,
        received: `${buf.length} bytes`,
      },
      `${file}: ${buf.length} bytes is not a whole number of ${rec}-byte CIFAR records (truncated or not a CIFAR binary file)`,
    );
  }
  const n = buf.length / rec;
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * rec;
    labels[i] = buf[o + labelIndex];
    const src = o + labelBytes;
    const dst = i * PIXELS;
    for (let p = 0; p < 1024; p++) {
      pixels[dst + p * 3] = buf[src + p];
      pixels[dst + p * 3 + 1] = buf[src + 1024 + p];
      pixels[dst + p * 3 + 2] = buf[src + 2048 + p];
    }
  }
  return { pixels, labels };
}

async function readRequired(dir: string, name: string): Promise<Uint8Array> {
  const file = join(dir, name);
  try {
    return await readFile(file);
  } catch (e) {
    throw new DataError(
      {
        field: file,
        expected: 'a readable CIFAR binary file',
        received: (e as NodeJS.ErrnoException).code ?? String(e),
      },
      `${file}: cannot read (${(e as Error).message})`,
    );
  }
}

async function readNames(file: string, count: number): Promise<string[] | undefined> {
  if (!existsSync(file)) return undefined;
  const names = (await readFile(file, 'utf8'))
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== count) {
    throw new DataError({
      field: file,
      expected: `${count} class names, one per line`,
      received: `${names.length} names`,
    });
  }
  return names;
}

function concat(parts: Parsed[]): Parsed {
  const n = parts.reduce((s, p) => s + p.labels.length, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    pixels.set(p.pixels, o * PIXELS);
    labels.set(p.labels, o);
    o += p.labels.length;
  }
  return { pixels, labels };
}

async function loadFiles(
  dir: string,
  names: string[],
  labelBytes: number,
  labelIndex: number,
  classes: number,
): Promise<Parsed> {
  const parts: Parsed[] = [];
  for (const name of names) {
    const buf = await readRequired(dir, name);
    const p = parseRecords(join(dir, name), buf, labelBytes, labelIndex);
    checkLabels(join(dir, name), p.labels, classes);
    parts.push(p);
  }
  return parts.length === 1 ? parts[0] : concat(parts);
}

/**
 * Loads CIFAR-10 binary: `data_batch_1.bin`..`data_batch_5.bin` (train), `test_batch.bin` (val),
 * class names from `batches.meta.txt`.
 * @example
 * const { train, val, classes } = await loadCifar10('/data/cifar-10-batches-bin');
 */
export async function loadCifar10(dir: string, opts: LoadOptions = {}): Promise<DatasetSplits> {
  const classes = (await readNames(join(dir, 'batches.meta.txt'), 10)) ?? CIFAR10_CLASSES;
  const want = opts.splits ?? 'both';
  const empty = arrayDataset('', new Uint8Array(0), new Int32Array(0), [32, 32], 3, classes);
  let train: ImageDataset = empty;
  let val: ImageDataset = empty;
  if (want !== 'val') {
    const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
    const p = await loadFiles(dir, names, 1, 0, 10);
    train = arrayDataset(`cifar10:${dir} (train)`, p.pixels, p.labels, [32, 32], 3, classes);
  }
  if (want !== 'train') {
    const p = await loadFiles(dir, ['test_batch.bin'], 1, 0, 10);
    val = arrayDataset(`cifar10:${dir} (val)`, p.pixels, p.labels, [32, 32], 3, classes);
  }
  return { spec: `cifar10:${dir}`, format: 'cifar10', classes, train, val };
}

/**
 * Loads CIFAR-100 binary: `train.bin`, `test.bin` (records: coarse label, fine label, pixels).
 * Fine labels (100 classes) by default; `cifar100Labels: 'coarse'` gives the 20 superclasses.
 * @example
 * const { train } = await loadCifar100('/data/cifar-100-binary', { cifar100Labels: 'coarse' });
 */
export async function loadCifar100(dir: string, opts: LoadOptions = {}): Promise<DatasetSplits> {
  const coarse = opts.cifar100Labels === 'coarse';
  const count = coarse ? 20 : 100;
  const classes =
    (await readNames(join(dir, coarse ? 'coarse_label_names.txt' : 'fine_label_names.txt'), count)) ??
    Array.from({ length: count }, (_, i) => `${coarse ? 'coarse' : 'class'}${i}`);
  const want = opts.splits ?? 'both';
  const empty = arrayDataset('', new Uint8Array(0), new Int32Array(0), [32, 32], 3, classes);
  let train: ImageDataset = empty;
  let val: ImageDataset = empty;
  const labelIndex = coarse ? 0 : 1;
  if (want !== 'val') {
    const p = await loadFiles(dir, ['train.bin'], 2, labelIndex, count);
    train = arrayDataset(`cifar100:${dir} (train)`, p.pixels, p.labels, [32, 32], 3, classes);
  }
  if (want !== 'train') {
    const p = await loadFiles(dir, ['test.bin'], 2, labelIndex, count);
    val = arrayDataset(`cifar100:${dir} (val)`, p.pixels, p.labels, [32, 32], 3, classes);
  }
  return { spec: `cifar100:${dir}`, format: 'cifar100', classes, train, val };
}
