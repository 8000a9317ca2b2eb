/**
 * The version floor: the highest bundle version accepted on this device, per model (and signing
 * key), so that a validly signed but older bundle (a known-bad model, an old vulnerable one) cannot
 * be slipped back in. A tiny JSON file `{ "<key>": "<version>" }` written by rename.
 *
 * Reusable on its own: `readFloor(path)` and `acceptVersion(path, key, version)`; the CLI keeps it
 * in `~/.edge-dmp/version-floor.json` (EDGE_DMP_HOME overrides the folder) with key
 * `<signing key id>:<model name>`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/** A bundle older than the floor: code E_BUNDLE_DOWNGRADE. */
export class DowngradeError extends EdgeDmpError {
  constructor(detail: ErrorDetail, message?: string) {
    super('E_BUNDLE_DOWNGRADE', detail, message);
  }
}

/** Floors by key. */
export type Floor = Record<string, string>;

/**
 * Compares two dotted versions numerically (`1.10.0` > `1.9.2`); a pre-release (`1.0.0-rc1`) is
 * below its release; non-numeric parts compare as text.
 * @example compareVersions('2.0.0', '10.0.0'); // -1
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [main, pre] = v.split('-', 2);
    return { parts: main.split('.'), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
    const p = x.parts[i] ?? '0';
    const q = y.parts[i] ?? '0';
    const d = /^\d+$/.test(p) && /^\d+$/.test(q) ? Number(p) - Number(q) : p.localeCompare(q);
    if (d) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return Math.sign(x.pre.localeCompare(y.pre));
}

/**
 * Reads the floor file; a missing file is an empty floor, an unreadable one a ConfigError (the
 * device refuses to guess, since an empty floor would let any old bundle in).
 * @example const floor = readFloor('/var/lib/edge-dmp/version-floor.json');
 */
export function readFloor(path: string): Floor {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError({
      field: path,
      expected: 'a readable version floor file',
      received: (e as Error).message,
    });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    if (Object.values(v).some((x) => typeof x !== 'string')) throw new Error('non-string versions');
    return v as Floor;
  } catch (e) {
    throw new ConfigError(
      { field: path, expected: 'JSON {"<model>": "<version>"}', received: (e as Error).message },
      `${path}: the version floor is unreadable (${(e as Error).message}); fix or remove it knowingly`,
    );
  }
}

export interface AcceptOptions {
  /** Accept a version below the floor (the floor is then lowered to it). */
  allowDowngrade?: boolean;
  /** Only check, do not raise the floor (default false: an accepted higher version raises it). */
  dryRun?: boolean;
}

/**
 * Checks `version` against the floor for `key` and raises the floor to it when higher. Throws
 * DowngradeError when it is lower, unless `allowDowngrade`.
 * @example
 * acceptVersion(floorPath, `${keyId}:${manifest.model.name}`, manifest.model.version);
 * // -> { previous: '1.2.0', floor: '1.3.0' }
 */
export function acceptVersion(
  path: string,
  key: string,
  version: string,
  opts: AcceptOptions = {},
): { previous: string | null; floor: string } {
  const floor = readFloor(path);
  const previous = floor[key] ?? null;
  const cmp = previous === null ? 1 : compareVersions(version, previous);
  if (cmp < 0 && !opts.allowDowngrade) {
    throw new DowngradeError(
      {
        field: 'model.version',
        expected: `at least ${previous} (highest accepted on this device)`,
        received: version,
      },
      `bundle version ${version} is lower than ${previous}, the highest accepted on this device for ${key} (--allow-downgrade to accept it)`,
    );
  }
  if (cmp !== 0 && !opts.dryRun) {
    floor[key] = version;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(floor, null, 2)}\n`);
    renameSync(tmp, path);
  }
  return { previous, floor: cmp !== 0 && !opts.dryRun ? version : (previous ?? version) };
}
