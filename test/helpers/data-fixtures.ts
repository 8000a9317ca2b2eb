/** Writers for dataset fixtures in the real byte layouts (CIFAR binary, IDX) and real images (sharp). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';

/** A deterministic pixel value for image i, row y, col x, channel c. */
export const pix = (i: number, y: number, x: number, c: number) => (i * 7 + y * 3 + x * 5 + c * 11) & 255;

/** CIFAR record bytes: label bytes then R, G, B planes (32x32 row-major each). */
export function cifarRecords(labels: number[][], start = 0): Uint8Array {
  const lb = labels[0]?.length ?? 1;
  const rec = lb + 3072;
  const out = new Uint8Array(labels.length * rec);
  labels.forEach((l, r) => {
    const o = r * rec;
    l.forEach((v, k) => (out[o + k] = v));
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) out[o + lb + c * 1024 + y * 32 + x] = pix(start + r, y, x, c);
  });
  return out;
}

/** Writes a CIFAR-10 binary directory with `perBatch` records per data batch and `test` in the test batch. */
export function writeCifar10(dir: string, perBatch = 4, test = 3, meta = true): void {
  mkdirSync(dir, { recursive: true });
  let i = 0;
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: perBatch }, (_, k) => [(i + k) % 10]);
    writeFileSync(join(dir, `data_batch_${b}.bin`), cifarRecords(labels, i));
    i += perBatch;
  }
  writeFileSync(
    join(dir, 'test_batch.bin'),
    cifarRecords(
      Array.from({ length: test }, (_, k) => [k % 10]),
      1000,
    ),
  );
  if (meta) writeFileSync(join(dir, 'batches.meta.txt'), 'a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n');
}

/** Writes a CIFAR-100 binary directory (records: coarse, fine, pixels). */
export function writeCifar100(dir: string, train: number[][], test: number[][]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.bin'), cifarRecords(train));
  writeFileSync(join(dir, 'test.bin'), cifarRecords(test, 500));
}

/** IDX bytes: 0, 0, 0x08, ndims, big-endian dims, data. */
export function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  const v = new DataView(head.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/** Writes an MNIST-style IDX directory of h x w images (gzipped when `gz`). */
export function writeIdx(dir: string, train: number, test: number, gz: boolean, h = 28, w = 28): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  for (const [prefix, n, start] of [
    ['train', train, 0],
    ['t10k', test, 100],
  ] as const) {
    const img = new Uint8Array(n * h * w);
    for (let i = 0; i < n; i++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) img[(i * h + y) * w + x] = pix(start + i, y, x, 0);
    write(`${prefix}-images-idx3-ubyte`, idxBytes([n, h, w], img));
    write(
      `${prefix}-labels-idx1-ubyte`,
      idxBytes(
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 10),
      ),
    );
  }
}

/** Writes a solid-colour image file with sharp (format from the extension). */
export async function writeImage(
  file: string,
  w: number,
  h: number,
  rgb: [number, number, number],
  gray = false,
) {
  let img = sharp({
    create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  });
  if (gray) img = img.toColourspace('b-w');
  if (file.endsWith('.png')) await img.png().toFile(file);
  else await img.jpeg({ quality: 95 }).toFile(file);
}

/**
 * A generated 4-class task in IDX layout: a bright quadrant (top-left, top-right, bottom-left,
 * bottom-right) on noise. Easy for a tiny CNN, impossible by chance (25%).
 */
export function writeQuadrantTask(dir: string, train: number, val: number, size = 16): void {
  mkdirSync(dir, { recursive: true });
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const [prefix, n] of [
    ['train', train],
    ['t10k', val],
  ] as const) {
    const img = new Uint8Array(n * size * size);
    const lab = new Uint8Array(n);
    const h = size / 2;
    for (let i = 0; i < n; i++) {
      const c = i % 4;
      lab[i] = c;
      const o = i * size * size;
      for (let p = 0; p < size * size; p++) img[o + p] = Math.floor(rnd() * 60);
      const oy = c < 2 ? 0 : h;
      const ox = c % 2 ? h : 0;
      for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) img[o + (oy + y) * size + ox + x] += 150;
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes([n, size, size], img));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes([n], lab));
  }
  writeFileSync(join(dir, 'labels.txt'), 'top-left\ntop-right\nbottom-left\nbottom-right\n');
}
