/**
 * The offline device runtime: the compiled @edge-dmp/core + runtime + device packages (npm pack)
 * installed with their npm dependencies for the board's platform on the host (npm's
 * `--os`/`--cpu`/`--libc` pick sharp's and serialport's prebuilt binaries), packed as one tarball.
 * Nothing is fetched on the board, and no tfjs package or TypeScript loader goes there.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '@edge-dmp/core';
import { DeployError } from './errors.js';
import { sha256File } from './upload.js';

const run = promisify(execFile);

/**
 * The board's packages: the compiled device side and what it needs (sharp, mqtt, serialport come
 * as their dependencies); no training stack, no TypeScript loader.
 */
export const DEVICE_PACKAGES = ['@edge-dmp/core', '@edge-dmp/runtime', '@edge-dmp/device'];
/** The CLI inside an unpacked runtime (what `<prefix>/bin/edge-dmp` runs). */
export const RUNTIME_CLI = 'node_modules/@edge-dmp/device/bin/edge-dmp.js';

const require = createRequire(import.meta.url);
/** Where a package is installed (a workspace folder in a checkout, node_modules elsewhere). */
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

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

async function versionOf(dir: string): Promise<string> {
  return (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

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
  const dirs = DEVICE_PACKAGES.map(packageDir);
  for (const [i, d] of dirs.entries()) {
    if (!existsSync(join(d, 'dist', 'index.js')))
      throw new DeployError('E_RUNTIME', {
        field: DEVICE_PACKAGES[i],
        expected: 'a compiled package (npm run build in a checkout)',
        received: `no dist/ in ${d}`,
      });
  }
  const device = JSON.parse(await readFile(join(dirs[2], 'package.json'), 'utf8')) as {
    version: string;
    engines?: { node?: string };
  };
  const version = o.version ?? device.version;
  const stage = await mkdtemp(join(tmpdir(), 'edge-dmp-runtime-'));
  try {
    // npm pack of each package (what a registry install would unpack), then one install of the three.
    const packs = join(stage, 'packs');
    await mkdir(packs);
    const tarballs: string[] = [];
    for (const d of dirs) {
      const { stdout } = await run('npm', ['pack', d, '--json', '--pack-destination', packs], {
        maxBuffer: 1 << 24,
      });
      tarballs.push(join(packs, (JSON.parse(stdout) as { filename: string }[])[0].filename));
    }
    const dependencies: Record<string, string> = {};
    for (const [i, d] of dirs.entries()) dependencies[DEVICE_PACKAGES[i]] = await versionOf(d);
    const manifest: RuntimeManifest = {
      version,
      platform,
      arch: o.arch,
      libc,
      node: device.engines?.node ?? '>=20',
      dependencies,
    };
    await writeFile(
      join(stage, 'package.json'),
      `${JSON.stringify({ name: '@edge-dmp/device-runtime', version, private: true, type: 'module' }, null, 2)}\n`,
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
          ...tarballs,
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
    await rm(packs, { recursive: true, force: true });
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
