/**
 * One runtime tarball per (version, arch, libc), built on first use and shared by every board of a
 * fleet; kept in a cache folder so the next deploy does not rebuild it.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DeployError } from './errors.js';
import type { BoardFacts } from './preflight.js';
import { buildRuntimeTarball, type RuntimeTarball } from './runtime-tarball.js';
import { sha256File } from './upload.js';

export type RuntimeProvider = (f: BoardFacts) => Promise<RuntimeTarball>;

/**
 * A provider that builds into `dir` (default `~/.cache/edge-dmp/runtime`) and memoises per platform.
 * @example const provide = runtimeCache(); const tarball = await provide(facts);
 */
export function runtimeCache(
  dir = join(homedir(), '.cache', 'edge-dmp', 'runtime'),
  version?: string,
): RuntimeProvider {
  const memo = new Map<string, Promise<RuntimeTarball>>();
  return (f) => {
    if (!f.arch)
      return Promise.reject(
        new DeployError('E_PREFLIGHT', {
          field: 'uname -m',
          expected: 'aarch64, armv7l/armv6l or x86_64',
          received: f.uname,
        }),
      );
    const key = `${f.arch}-${f.libc}`;
    let p = memo.get(key);
    if (!p) {
      p = (async () => {
        const built = await buildRuntimeTarball({
          arch: f.arch!,
          libc: f.libc,
          out: join(dir, key),
          version,
        });
        return built;
      })();
      memo.set(key, p);
    }
    return p;
  };
}

/** A provider handing out one prebuilt tarball (tests, `--runtime <tgz>`). */
export function fixedRuntime(t: RuntimeTarball): RuntimeProvider {
  return async (f) => {
    if (f.arch !== t.arch)
      throw new DeployError('E_PREFLIGHT', {
        field: '--runtime',
        expected: `a runtime for ${f.arch}`,
        received: `${t.arch} (${t.path})`,
      });
    return t;
  };
}

/** Describes an existing tarball file (its name carries version/platform/arch/libc). */
export async function describeTarball(path: string): Promise<RuntimeTarball> {
  const m = /edge-dmp-runtime-(.+)-(linux)-(arm64|arm|x64)-(glibc|musl)\.tgz$/.exec(path);
  if (!m)
    throw new DeployError('E_RUNTIME', {
      field: '--runtime',
      expected: 'edge-dmp-runtime-<version>-linux-<arch>-<libc>.tgz',
      received: path,
    });
  return {
    path,
    sha256: await sha256File(path),
    bytes: (await stat(path)).size,
    unpackedBytes: 0,
    version: m[1],
    platform: m[2],
    arch: m[3] as RuntimeTarball['arch'],
    libc: m[4] as RuntimeTarball['libc'],
  };
}
