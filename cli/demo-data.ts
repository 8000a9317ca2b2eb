/** The demo's generated image set: four pattern classes a small network separates in a few epochs. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '@edge-dmp/core';

/** The generated classes: simple patterns a small network separates in a few epochs. */
export const DEMO_CLASSES = ['disc', 'horizontal', 'vertical', 'checker'] as const;

/** One RGB image of a class, with random colours, phase and noise. */
export function demoImage(cls: (typeof DEMO_CLASSES)[number], size: number, rand: () => number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const fg = [rand(), rand(), rand()].map((v) => 128 + v * 127);
  const bg = [rand(), rand(), rand()].map((v) => v * 100);
  const period = 4 + Math.floor(rand() * 4);
  const phase = Math.floor(rand() * period);
  const cx = size * (0.35 + 0.3 * rand());
  const cy = size * (0.35 + 0.3 * rand());
  const r = size * (0.2 + 0.15 * rand());
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const on =
        cls === 'disc'
          ? (x - cx) ** 2 + (y - cy) ** 2 < r * r
          : cls === 'horizontal'
            ? Math.floor((y + phase) / (period / 2)) % 2 === 0
            : cls === 'vertical'
              ? Math.floor((x + phase) / (period / 2)) % 2 === 0
              : (Math.floor((x + phase) / period) + Math.floor((y + phase) / period)) % 2 === 0;
      for (let c = 0; c < 3; c++) {
        const v = (on ? fg[c] : bg[c]) + (rand() - 0.5) * 40;
        px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return px;
}

/**
 * Writes a class-per-folder PNG tree (`train/<class>/*.png`, `val/<class>/*.png`).
 * @example await writeDemoImages('runs/demo/data', { perClass: 64, size: 32, seed: 0 });
 */
export async function writeDemoImages(dir: string, o: { perClass: number; size: number; seed: number }) {
  // The project's seeded stream, so the demo is the same on every machine.
  const r = new Rng(o.seed);
  const rand = () => r.next();
  for (const split of ['train', 'val'] as const) {
    const n = split === 'train' ? o.perClass : Math.max(4, Math.round(o.perClass / 4));
    for (const cls of DEMO_CLASSES) {
      const d = join(dir, split, cls);
      await mkdir(d, { recursive: true });
      for (let i = 0; i < n; i++) {
        const raw = demoImage(cls, o.size, rand);
        const png = await sharp(raw, { raw: { width: o.size, height: o.size, channels: 3 } })
          .png()
          .toBuffer();
        await writeFile(join(d, `${String(i).padStart(3, '0')}.png`), png);
      }
    }
  }
}
