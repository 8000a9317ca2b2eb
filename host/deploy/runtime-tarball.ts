/**
 * The offline device runtime: the board-side sources plus their npm dependencies installed for the
 * board's platform on the host (npm's `--os`/`--cpu`/`--libc` pick sharp's, serialport's and
 * esbuild's prebuilt binaries), packed as one tarball. Nothing is fetched on the board.
 *
 * Today it stages the repo's own board-side folders; once the device package exists the lead points
 * `SOURCE_DIRS`/`DEVICE_DEPS` at it (one place).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '@edge-dmp/core';
import { DeployError } from './errors.js';
import { sha256File } from './upload.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..');

/** Board-side folders copied into the runtime (sources run through tsx, as `bin/edge-dmp.js` does). */
export const SOURCE_DIRS = ['bin', 'cli', 'device', 'sdk', 'converter', 'core', 'runtime'];
/** npm packages the board needs, at the versions this checkout has installed. */
export const DEVICE_DEPS = [
  'sharp',
  'mqtt',
  'serialport',
  'fflate',
  'flatbuffers',
  '@tensorflow/tfjs-tflite',
  'tsx',
];

export type RuntimeArch = 'arm64' | 'arm' | 'x64';
export type RuntimeLibc = 'glibc' | 'musl';

/** `uname -m` -> npm's cpu name. */
export const UNAME_TO_ARCH: Record<string, RuntimeArch> = {
  aarch64: 'arm64',
  arm64: 'arm64',
  armv7l: 'arm',
  armv6l: 'arm',
  x86_64: 'x64',
};

export interface RuntimeTarballOptions {
  platform?: 'linux';
  arch: RuntimeArch;
  libc?: RuntimeLibc;
  /** Output folder (the tarball's name is derived) or a `.tgz` path. */
  out: string;
  /** Default: this package's version. */
  version?: string;
}

export interface RuntimeTarball {
  path: string;
  sha256: string;
  bytes: number;
  /** Unpacked size. */
  unpackedBytes: number;
  version: string;
  platform: string;
  arch: RuntimeArch;
  libc: RuntimeLibc;
}

/** What `RUNTIME.json` inside the tarball says. */
export interface RuntimeManifest {
  version: string;
  platform: string;
  arch: RuntimeArch;
  libc: RuntimeLibc;
  node: string;
  dependencies: Record<string, string>;
}

async function installedVersion(pkg: string): Promise<string> {
  return (
    JSON.parse(await readFile(join(REPO, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/** Source files only: no tests, no declaration maps. */
const keep = (src: string) => !/\.(test\.ts|map)$/.test(src);

async function duBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  }
  return n;
}

/** Paths under node_modules the board never loads: tfjs-tflite's browser bundles, source maps, types, other platforms' serialport builds. */
async function prune(stage: string, arch: RuntimeArch): Promise<void> {
  const nm = join(stage, 'node_modules');
  await rm(join(nm, '@tensorflow', 'tfjs-tflite', 'dist'), { recursive: true, force: true });
  await rm(join(nm, '@types'), { recursive: true, force: true });
  const prebuilds = join(nm, '@serialport', 'bindings-cpp', 'prebuilds');
  for (const d of await readdir(prebuilds).catch(() => [] as string[]))
    if (d !== `linux-${arch}`) await rm(join(prebuilds, d), { recursive: true, force: true });
  for (const e of await readdir(nm, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith('.map')) await rm(join(e.parentPath, e.name));
}

/**
 * Builds the offline runtime tarball for one board platform.
 * @example const t = await buildRuntimeTarball({ platform: 'linux', arch: 'arm64', libc: 'glibc', out: 'dist/' });
 */
export async function buildRuntimeTarball(o: RuntimeTarballOptions): Promise<RuntimeTarball> {
  const platform = o.platform ?? 'linux';
  const libc = o.libc ?? 'glibc';
  if (!Object.values(UNAME_TO_ARCH).includes(o.arch))
    throw new ConfigError({ field: 'arch', expected: 'arm64, arm or x64', received: o.arch });
  const root = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
    version: string;
    engines?: { node?: string };
  };
  const version = o.version ?? root.version;
  const dependencies: Record<string, string> = {};
  for (const d of DEVICE_DEPS) dependencies[d] = await installedVersion(d);
  const stage = await mkdtemp(join(tmpdir(), 'edge-dmp-runtime-'));
  try {
    for (const d of SOURCE_DIRS) {
      if (await stat(join(REPO, d)).catch(() => undefined))
        await cp(join(REPO, d), join(stage, d), { recursive: true, filter: keep });
    }
    const manifest: RuntimeManifest = {
      version,
      platform,
      arch: o.arch,
      libc,
      node: root.engines?.node ?? '>=20',
      dependencies,
    };
    await writeFile(
      join(stage, 'package.json'),
      `${JSON.stringify({ name: '@edge-dmp/device-runtime', version, private: true, type: 'module', dependencies }, null, 2)}\n`,
    );
    await writeFile(join(stage, 'RUNTIME.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      // --ignore-scripts: nothing compiles (prebuilt binaries only); --legacy-peer-deps: tfjs-tflite's
      // peer tfjs-core is not needed by the wasm runtime; --prefer-offline: the npm cache first.
      await run(
        'npm',
        [
          'install',
          '--os',
          platform,
          '--cpu',
          o.arch,
          '--libc',
          libc,
          '--omit=dev',
          '--ignore-scripts',
          '--legacy-peer-deps',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--no-package-lock',
        ],
        { cwd: stage, maxBuffer: 1 << 24 },
      );
    } catch (e) {
      throw new DeployError('E_RUNTIME', {
        field: 'npm install',
        expected: `the device dependencies for ${platform}-${o.arch}-${libc} from the npm registry or cache`,
        received: ((e as { stderr?: string }).stderr ?? String(e)).slice(-400),
      });
    }
    await prune(stage, o.arch);
    const unpackedBytes = await duBytes(stage);
    const path = o.out.endsWith('.tgz')
      ? o.out
      : join(o.out, `edge-dmp-runtime-${version}-${platform}-${o.arch}-${libc}.tgz`);
    await mkdir(dirname(path), { recursive: true });
    // Sorted names, fixed owner and mtime: the same inputs give the same bytes, so the hash is an identity.
    await run(
      'tar',
      [
        '--sort=name',
        '--mtime=@0',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '-czf',
        resolve(path),
        '-C',
        stage,
        '.',
      ],
      { maxBuffer: 1 << 24 },
    );
    return {
      path,
      sha256: await sha256File(path),
      bytes: (await stat(path)).size,
      unpackedBytes,
      version,
      platform,
      arch: o.arch,
      libc,
    };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
