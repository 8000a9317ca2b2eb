/**
 * IDX files (MNIST, Fashion-MNIST), gzipped or not. Header: two zero bytes, a type byte
 * (0x08 = unsigned byte), the number of dimensions, then each dimension as a big-endian uint32.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '@edge-dmp/core';
import { arrayDataset, checkLabels } from './array.js';
import type { DatasetSplits, ImageDataset, LoadOptions } from './types.js';

/** Where Debian's `dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses an IDX buffer (gunzipping it first when it starts with the gzip magic).
 * @example
 * const { dims, data } = parseIdx('train-labels-idx1-ubyte', buf); // dims [60000]
 */
export function parseIdx(file: string, raw: Uint8Array): IdxArray {
  let buf = raw;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DataError(
        { field: file, expected: 'a complete gzip stream', received: (e as Error).message },
        `${file}: gzip data is corrupt or truncated (${(e as Error).message})`,
      );
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new DataError({
      field: file,
      expected: 'an IDX header starting 0x00 0x00',
      received: Array.from(buf.subarray(0, 4)),
    });
  }
  if (buf[2] !== 0x08) {
    throw new DataError({
      field: file,
      expected: 'IDX type 0x08 (unsigned byte)',
      received: `0x${buf[2].toString(16)}`,
    });
  }
  const nd = buf[3];
  if (nd < 1 || buf.length < 4 + 4 * nd) {
    throw new DataError({
      field: file,
      expected: `an IDX header with ${nd} dimensions`,
      received: `${buf.length} bytes`,
    });
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * nd;
  if (buf.length - start !== count) {
    throw new DataError(
      {
        field: file,
        expected: `${count} data bytes for dims [${dims.join(', ')}]`,
        received: `${buf.length - start} bytes`,
      },
      `${file}: header says [${dims.join(', ')}] = ${count} bytes but the file has ${buf.length - start} (truncated or wrong file)`,
    );
  }
  return { dims, data: buf.subarray(start) };
}

/** Finds `name` or `name.gz` in `dir`. */
function locate(dir: string, name: string): string {
  for (const f of [join(dir, name), join(dir, `${name}.gz`)]) if (existsSync(f)) return f;
  throw new DataError({ field: join(dir, name), expected: `${name} or ${name}.gz`, received: 'missing' });
}

async function loadPair(dir: string, prefix: string, classes: number, source: string, names: string[]) {
  const imgFile = locate(dir, `${prefix}-images-idx3-ubyte`);
  const lblFile = locate(dir, `${prefix}-labels-idx1-ubyte`);
  const img = parseIdx(imgFile, await readFile(imgFile));
  const lbl = parseIdx(lblFile, await readFile(lblFile));
  if (img.dims.length !== 3) {
    throw new DataError({ field: imgFile, expected: '3 dimensions (count, rows, cols)', received: img.dims });
  }
  if (lbl.dims.length !== 1) {
    throw new DataError({ field: lblFile, expected: '1 dimension (count)', received: lbl.dims });
  }
  if (img.dims[0] !== lbl.dims[0]) {
    throw new DataError({
      field: lblFile,
      expected: `${img.dims[0]} labels (one per image in ${imgFile})`,
      received: lbl.dims[0],
    });
  }
  const labels = Int32Array.from(lbl.data);
  checkLabels(lblFile, labels, classes);
  return arrayDataset(source, img.data, labels, [img.dims[1], img.dims[2]], 1, names);
}

/**
 * Loads an IDX dataset directory: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each optionally `.gz`). Classes come from
 * `labels.txt` when present, else the ten Fashion-MNIST names (`fashion`) or digits.
 * @example
 * const { train, val } = await loadIdx('/usr/share/datasets/fashion-mnist', true);
 */
export async function loadIdx(dir: string, fashion: boolean, opts: LoadOptions = {}): Promise<DatasetSplits> {
  const format = fashion ? 'fashion-mnist' : 'idx';
  let classes = fashion ? FASHION_MNIST_CLASSES : Array.from({ length: 10 }, (_, i) => String(i));
  const labelsTxt = join(dir, 'labels.txt');
  if (existsSync(labelsTxt)) {
    classes = (await readFile(labelsTxt, 'utf8'))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (classes.length < 2)
      throw new DataError({ field: labelsTxt, expected: 'at least 2 class names', received: classes.length });
  }
  const want = opts.splits ?? 'both';
  const empty = arrayDataset('', new Uint8Array(0), new Int32Array(0), [28, 28], 1, classes);
  let train: ImageDataset = empty;
  let val: ImageDataset = empty;
  if (want !== 'val')
    train = await loadPair(dir, 'train', classes.length, `${format}:${dir} (train)`, classes);
  if (want !== 'train') val = await loadPair(dir, 't10k', classes.length, `${format}:${dir} (val)`, classes);
  return { spec: `${format}:${dir}`, format, classes, train, val };
}
