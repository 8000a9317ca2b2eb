/**
 * Deploy size benchmark (not a test): the offline device-runtime tarball per board platform, built
 * on this machine (npm's --os/--cpu/--libc selection of prebuilt binaries), packed and unpacked,
 * with what the native parts weigh, and what a first deploy and a model-only update send over the
 * link (runtime + bundle vs bundle).
 *
 *   npm run bench:deploy-size            # table
 *   npm run bench:deploy-size -- --json  # one JSON line per platform
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateKeyPair, writeBundle } from '../converter/index.js';
import { buildRuntimeTarball, type RuntimeArch } from '../host/deploy/runtime-tarball.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from '../test/helpers/device-models.js';
import { build } from '../test/helpers/packages.js';

const json = process.argv.includes('--json');
const PLATFORMS: RuntimeArch[] = ['arm64', 'arm', 'x64'];
const mb = (n: number) => (n / 1e6).toFixed(2);

function du(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

build(); // the tarballs carry the compiled packages
const out = mkdtempSync(join(tmpdir(), 'edge-dmp-bench-deploy-'));
try {
  const load0 = loadavg()[0];
  const keys = await generateKeyPair(join(out, 'keys'));
  const bundle = join(out, 'tiny.edmp');
  await writeBundle(
    bundle,
    {
      tflite: tinyModel({ kind: 'colour', size: [32, 32] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version: '1.0.0', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([32, 32], 3),
      quantization: 'fp32',
    },
    { signKey: keys.privateKeyPath },
  );
  const bundleBytes = statSync(bundle).size;
  const rows = [];
  for (const arch of PLATFORMS) {
    const t0 = performance.now();
    const t = await buildRuntimeTarball({ arch, libc: 'glibc', out: join(out, arch) });
    const buildS = (performance.now() - t0) / 1000;
    const x = join(out, `${arch}-x`);
    execFileSync('mkdir', ['-p', x]);
    execFileSync('tar', ['-xzf', t.path, '-C', x]);
    const nm = join(x, 'node_modules');
    const part = (p: string) => {
      try {
        return du(join(nm, p));
      } catch {
        return 0;
      }
    };
    const row = {
      platform: `linux-${arch}-glibc`,
      tarballBytes: t.bytes,
      unpackedBytes: t.unpackedBytes,
      sharpLibvipsBytes: part('@img'),
      tfliteWasmBytes: part('@edge-dmp/runtime/wasm'),
      edgeDmpBytes: part('@edge-dmp'),
      serialportBytes: part('@serialport'),
      firstDeployBytes: t.bytes + bundleBytes,
      updateBytes: bundleBytes,
      buildS,
    };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
  }
  if (!json) {
    console.log(
      `edge-dmp deploy sizes (${cpus().length} cores, load average ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end)`,
    );
    console.log(
      'platform              tarball MB  unpacked MB  sharp+libvips  tflite wasm  @edge-dmp  serialport  first deploy MB  update kB  build s',
    );
    for (const r of rows)
      console.log(
        `${r.platform.padEnd(20)}  ${mb(r.tarballBytes).padStart(10)}  ${mb(r.unpackedBytes).padStart(11)}  ${mb(r.sharpLibvipsBytes).padStart(13)}  ${mb(r.tfliteWasmBytes).padStart(11)}  ${mb(r.edgeDmpBytes).padStart(9)}  ${mb(r.serialportBytes).padStart(10)}  ${mb(r.firstDeployBytes).padStart(15)}  ${(r.updateBytes / 1e3).toFixed(1).padStart(9)}  ${r.buildS.toFixed(1).padStart(7)}`,
      );
    console.log(
      `bundle: tiny-colour .edmp ${bundleBytes} bytes (a real model's bundle: npm run bench:bundle)`,
    );
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
