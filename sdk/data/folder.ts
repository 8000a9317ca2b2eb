/**
 * Class-per-folder image trees (ImageNet10-style): `train/<class>/*` + `val/<class>/*`, or one
 * `<class>/*` tree split by seed. Only paths are kept in memory; images are decoded with sharp when
 * a batch asks for them, so memory is bounded by the batches in flight, not the tree size.
 */
import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { DataError, Rng, hashSeed } from '@edge-dmp/core';
import type { DatasetSplits, ImageDataset, LoadOptions, RawImage, ReadOptions } from './types.js';

/** Extensions treated as images; anything else is reported and skipped. */
export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.bmp',
]);

const VAL_DIRS = ['val', 'validation', 'test'];

interface Item {
  file: string;
  label: number;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new DataError(
      {
        field: dir,
        expected: 'a readable directory',
        received: (e as NodeJS.ErrnoException).code ?? String(e),
      },
      `${dir}: cannot read directory (${(e as Error).message})`,
    );
  }
  const out: string[] = [];
  for (const n of names.sort()) if (!n.startsWith('.') && (await isDir(join(dir, n)))) out.push(n);
  return out;
}

/** Lists `<root>/<class>/<file>` for the given classes, failing on empty classes. */
async function listTree(
  root: string,
  classes: string[],
  opts: LoadOptions,
  allowEmpty: boolean,
): Promise<Item[]> {
  const items: Item[] = [];
  for (let c = 0; c < classes.length; c++) {
    const dir = join(root, classes[c]);
    if (!existsSync(dir)) {
      if (allowEmpty) continue;
      throw new DataError({
        field: dir,
        expected: `a folder for class ${JSON.stringify(classes[c])}`,
        received: 'missing',
      });
    }
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
    let count = 0;
    for (const n of names) {
      const file = join(dir, n);
      if (!IMAGE_EXTENSIONS.has(extname(n).toLowerCase())) {
        if (!(await isDir(file))) {
          opts.onWarning?.(
            new DataError(
              {
                field: file,
                expected: `an image file (${[...IMAGE_EXTENSIONS].join(' ')})`,
                received: extname(n) || 'no extension',
              },
              `${file}: not an image file, skipped`,
            ),
          );
        }
        continue;
      }
      items.push({ file, label: c });
      count++;
    }
    if (count === 0 && !allowEmpty) {
      throw new DataError(
        { field: dir, expected: 'at least one image in every class folder', received: '0 images' },
        `${dir}: class ${JSON.stringify(classes[c])} has no images`,
      );
    }
  }
  return items;
}

/**
 * Decodes one file with sharp to HWC uint8 with the requested channels and size.
 * @example
 * const img = await decodeImage('cat.jpg', { size: [224, 224], channels: 3 });
 */
export async function decodeImage(file: string, opts: ReadOptions = {}): Promise<RawImage> {
  const channels = opts.channels ?? 3;
  let pipe = sharp(file, { failOn: 'error' }).rotate();
  if (opts.size) pipe = pipe.resize(opts.size[1], opts.size[0], { fit: 'cover', position: 'centre' });
  pipe = channels === 1 ? pipe.toColourspace('b-w') : pipe.toColourspace('srgb');
  const { data, info } = await pipe.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const px = info.width * info.height;
  let out: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels !== channels) {
    // sharp keeps 1 channel for some grayscale inputs and may keep alpha; normalise here.
    const conv = new Uint8Array(px * channels);
    for (let i = 0; i < px; i++) {
      if (channels === 3) {
        const g = info.channels >= 3 ? -1 : data[i * info.channels];
        for (let k = 0; k < 3; k++) conv[i * 3 + k] = g >= 0 ? g : data[i * info.channels + k];
      } else {
        conv[i] = data[i * info.channels];
      }
    }
    out = conv;
  }
  return { data: out, height: info.height, width: info.width, channels };
}

function folderDataset(source: string, items: Item[], classes: string[], opts: LoadOptions): ImageDataset {
  const labels = Int32Array.from(items.map((i) => i.label));
  const bad = new Set<number>();
  return {
    source,
    kind: 'files',
    classes,
    labels,
    length: items.length,
    channels: 3,
    fileOf: (i) => items[i].file,
    async read(indices: number[], ro: ReadOptions = {}): Promise<(RawImage | null)[]> {
      return Promise.all(
        indices.map(async (i) => {
          if (bad.has(i)) return null;
          try {
            return await decodeImage(items[i].file, ro);
          } catch (e) {
            bad.add(i);
            opts.onWarning?.(
              new DataError(
                { field: items[i].file, expected: 'a decodable image', received: (e as Error).message },
                `${items[i].file}: cannot decode (${(e as Error).message}), skipped`,
              ),
            );
            return null;
          }
        }),
      );
    },
  };
}

/**
 * Loads a class-per-folder tree. With `train/` and `val/` (or `validation/`, `test/`) subfolders
 * they are the splits; otherwise the class folders are split per class by `seed`, holding out
 * `valFraction` (default 0.1, at least one image of each class with 2 or more).
 * @example
 * const { train, val, classes } = await loadFolder('/data/imagenet10');
 */
export async function loadFolder(dir: string, opts: LoadOptions = {}): Promise<DatasetSplits> {
  if (!(await isDir(dir)))
    throw new DataError({
      field: dir,
      expected: 'a directory of class folders',
      received: 'missing or not a directory',
    });
  const valDir = VAL_DIRS.map((v) => join(dir, v)).find((p) => existsSync(p));
  let classes: string[];
  let trainItems: Item[];
  let valItems: Item[];
  if (existsSync(join(dir, 'train')) && valDir) {
    classes = await subdirs(join(dir, 'train'));
    if (classes.length < 2) {
      throw new DataError({
        field: join(dir, 'train'),
        expected: 'at least 2 class folders',
        received: classes.length,
      });
    }
    for (const c of await subdirs(valDir)) {
      if (!classes.includes(c)) {
        throw new DataError({
          field: join(valDir, c),
          expected: `a class that also exists in ${join(dir, 'train')}`,
          received: c,
        });
      }
    }
    trainItems = opts.splits === 'val' ? [] : await listTree(join(dir, 'train'), classes, opts, false);
    valItems = opts.splits === 'train' ? [] : await listTree(valDir, classes, opts, true);
    if (opts.splits !== 'train' && valItems.length === 0) {
      throw new DataError({ field: valDir, expected: 'at least one validation image', received: '0 images' });
    }
  } else {
    classes = await subdirs(dir);
    if (classes.length < 2)
      throw new DataError({ field: dir, expected: 'at least 2 class folders', received: classes.length });
    const all = await listTree(dir, classes, opts, false);
    const frac = opts.valFraction ?? 0.1;
    if (!(frac > 0 && frac < 1))
      throw new DataError({ field: 'valFraction', expected: 'a fraction in (0, 1)', received: frac });
    const rng = new Rng(hashSeed(opts.seed ?? 0, 0x5b117));
    trainItems = [];
    valItems = [];
    for (let c = 0; c < classes.length; c++) {
      const mine = all.filter((i) => i.label === c);
      rng.shuffle(mine);
      const nVal = mine.length >= 2 ? Math.max(1, Math.round(mine.length * frac)) : 0;
      valItems.push(...mine.slice(0, nVal));
      trainItems.push(...mine.slice(nVal));
    }
    // Stable order inside each split (by class then path) so the split alone carries the randomness.
    const byPath = (a: Item, b: Item) => a.label - b.label || (a.file < b.file ? -1 : 1);
    trainItems.sort(byPath);
    valItems.sort(byPath);
  }
  return {
    spec: `folder:${dir}`,
    format: 'folder',
    classes,
    train: folderDataset(`folder:${dir} (train)`, trainItems, classes, opts),
    val: folderDataset(`folder:${dir} (val)`, valItems, classes, opts),
  };
}
