/**
 * The offline runtime tarball, built on this x64 machine for other boards: the compiled device
 * packages (no tfjs, no TypeScript loader) with the target's prebuilt native binaries (sharp +
 * libvips, serialport), read from their ELF headers, and nothing built for this machine.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openSync, readSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildRuntimeTarball, type RuntimeArch } from '../host/deploy/runtime-tarball.js';
import { cleanup, tempDir } from './helpers/mqtt-harness.js';
import { build } from './helpers/packages.js';

// The tarball carries the compiled packages.
before(() => build());

/** ELF e_machine values. */
const MACHINE: Record<RuntimeArch, number> = { arm64: 0xb7, arm: 0x28, x64: 0x3e };

function elf(path: string): { cls: number; machine: number } | undefined {
  const b = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  if (b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return { cls: b[4], machine: b.readUInt16LE(18) };
}

function nativeFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && (/\.node$/.test(e.name) || /\.so(\.\d+)*$/.test(e.name)))
    .map((e) => join(e.parentPath, e.name));
}

const dirs: string[] = [];
after(() => cleanup(...dirs));

for (const [arch, cls] of [
  ['arm64', 2],
  ['arm', 1],
] as const) {
  describe(`runtime tarball for linux-${arch}`, () => {
    it(`holds the compiled device packages, ${arch} sharp, libvips and serialport binaries and no other machine's`, async () => {
      const out = tempDir(`rt-${arch}`);
      dirs.push(out);
      const t = await buildRuntimeTarball({ platform: 'linux', arch, libc: 'glibc', out });
      assert.match(t.path, new RegExp(`edge-dmp-runtime-.+-linux-${arch}-glibc\\.tgz$`));
      const x = join(out, 'x');
      execFileSync('mkdir', ['-p', x]);
      execFileSync('tar', ['-xzf', t.path, '-C', x]);
      const manifest = JSON.parse(readFileSync(join(x, 'RUNTIME.json'), 'utf8'));
      assert.equal(manifest.arch, arch);
      assert.equal(manifest.platform, 'linux');
      const files = nativeFiles(join(x, 'node_modules'));
      const rel = files.map((f) => f.slice(x.length + 1));
      const sharp = rel.filter(
        (f) => f.startsWith(`node_modules/@img/sharp-linux-${arch}/`) && f.endsWith('.node'),
      );
      const vips = rel.filter((f) => f.startsWith(`node_modules/@img/sharp-libvips-linux-${arch}/`));
      const serial = rel.filter((f) =>
        f.startsWith(`node_modules/@serialport/bindings-cpp/prebuilds/linux-${arch}/`),
      );
      assert.equal(sharp.length, 1, `sharp binary in ${rel.join(', ')}`);
      assert.ok(vips.length >= 1, 'libvips');
      assert.ok(serial.length >= 1, 'serialport');
      const nm = join(x, 'node_modules');
      assert.ok(existsSync(join(nm, '@edge-dmp', 'device', 'dist', 'cli', 'main.js')), 'compiled board CLI');
      assert.ok(existsSync(join(nm, '@edge-dmp', 'runtime', 'wasm', 'tflite_web_api_cc_simd.wasm')), 'wasm');
      for (const absent of ['@tensorflow', 'tsx', 'esbuild', 'typescript', 'aedes'])
        assert.equal(existsSync(join(nm, absent)), false, `${absent} in a board runtime`);
      // Every ELF file in the runtime is for the target: none for this x64 host slipped in.
      const wrong = files
        .map((f) => [f, elf(f)] as const)
        .filter(([, e]) => e && (e.machine !== MACHINE[arch] || e.cls !== cls));
      assert.deepEqual(
        wrong.map(([f, e]) => `${f}: 0x${e!.machine.toString(16)}`),
        [],
      );
      for (const f of [...sharp, ...serial]) assert.equal(elf(join(x, f))?.machine, MACHINE[arch], f);
      assert.ok(
        t.bytes > 1_000_000 && t.bytes < t.unpackedBytes,
        `${t.bytes} packed < ${t.unpackedBytes} unpacked`,
      );
    });
  });
}
