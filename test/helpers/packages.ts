/**
 * Packs the workspaces (after `npm run build`) and installs a chosen set of tarballs into an empty
 * folder with npm, as a board or a user would: shared by the device-install test and bench.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Builds dist/ and the carried wasm (scripts/build.mjs; incremental). */
export function build(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
}

/** `npm pack` of the given workspaces ('.' = the root `edge-dmp` package) into `dest`; returns tarball paths. */
export function pack(workspaces: string[], dest: string): string[] {
  mkdirSync(dest, { recursive: true });
  const args = ['pack', '--json', '--pack-destination', dest];
  const ws = workspaces.filter((w) => w !== '.');
  const out: string[] = [];
  if (ws.length) {
    const r = execFileSync(NPM, [...args, ...ws.flatMap((w) => ['--workspace', w])], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    out.push(...(JSON.parse(r) as { filename: string }[]).map((p) => join(dest, p.filename)));
  }
  if (workspaces.includes('.')) {
    const r = execFileSync(NPM, args, { cwd: ROOT, encoding: 'utf8' });
    out.push(...(JSON.parse(r) as { filename: string }[]).map((p) => join(dest, p.filename)));
  }
  return out;
}

/** Installs tarballs into an empty project at `dir` (from npm's cache where it can). */
export function installInto(dir: string, tarballs: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'board', private: true }) + '\n');
  const r = spawnSync(
    NPM,
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  if (r.status !== 0) throw new Error(`npm install failed (${r.status}): ${r.stderr}`);
}

/** Bytes on disk under `dir` (files only; symlinks not followed). */
export function duBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, f.name);
    if (f.isDirectory()) n += duBytes(p);
    else if (f.isFile()) n += statSync(p).size;
  }
  return n;
}

/** The environment for running an installed (compiled) package: no source condition, no tsx. */
export function installedEnv(): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: '', EDGE_DMP_SOURCE: '0' };
}
