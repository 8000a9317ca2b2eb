/** Data specs: `cifar10:<dir>`, `cifar100:<dir>`, `idx:<dir>`, `fashion-mnist[:<dir>]`, `folder:<dir>`. */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '@edge-dmp/core';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { FASHION_MNIST_DIR, loadIdx } from './idx.js';
import { loadFolder } from './folder.js';
import type { DataFormat, DatasetSplits, LoadOptions } from './types.js';

export interface DataSpec {
  format: DataFormat;
  dir: string;
}

/** Loader per format: a table, not a chain of ifs. */
const LOADERS: Record<DataFormat, (dir: string, opts: LoadOptions) => Promise<DatasetSplits>> = {
  cifar10: loadCifar10,
  cifar100: loadCifar100,
  idx: (dir, opts) => loadIdx(dir, false, opts),
  'fashion-mnist': (dir, opts) => loadIdx(dir, true, opts),
  folder: loadFolder,
};

/** Default directories for formats whose data ships as a Debian package. */
const DEFAULT_DIRS: Partial<Record<DataFormat, string>> = { 'fashion-mnist': FASHION_MNIST_DIR };

/**
 * Parses a data spec string (field name for errors: `--data` unless given).
 * @example
 * parseDataSpec('cifar10:/data/cifar'); // { format: 'cifar10', dir: '/data/cifar' }
 * parseDataSpec('fashion-mnist'); // { format: 'fashion-mnist', dir: '/usr/share/datasets/fashion-mnist' }
 */
export function parseDataSpec(spec: string, field = '--data'): DataSpec {
  const m = /^([a-z0-9-]+)(?::(.*))?$/s.exec(spec ?? '');
  const format = m?.[1] as DataFormat | undefined;
  if (!m || !format || !(format in LOADERS)) {
    throw new ConfigError({
      field,
      expected: `<format>:<dir> with format one of ${Object.keys(LOADERS).join(', ')}`,
      received: spec,
    });
  }
  const dir = m[2] || DEFAULT_DIRS[format];
  if (!dir)
    throw new ConfigError({
      field,
      expected: `${format}:<dir> (a directory after the colon)`,
      received: spec,
    });
  return { format, dir };
}

/**
 * The spec with its directory made absolute against `base` (a spec without a directory, such as
 * `fashion-mnist`, is returned as it is): run directories store these, so they work from any cwd.
 * @example absoluteDataSpec('folder:data/x', '/home/me'); // 'folder:/home/me/data/x'
 */
export function absoluteDataSpec(spec: string, base: string): string {
  const m = /^([a-z0-9-]+):(.+)$/s.exec(spec);
  if (!m || isAbsolute(m[2])) return spec;
  return `${m[1]}:${resolve(base, m[2])}`;
}

/**
 * Parses and loads a data spec into train/val splits.
 * @example
 * const data = await loadData('folder:/data/imagenet10', { onWarning: (e) => console.warn(e.message) });
 */
export async function loadData(
  spec: string,
  opts: LoadOptions = {},
  field = '--data',
): Promise<DatasetSplits> {
  const { format, dir } = parseDataSpec(spec, field);
  return LOADERS[format](dir, opts);
}
