/**
 * Install sizes and CLI cold start (issue: device install without the training stack).
 *   npm run bench:install-size
 * Packs the workspaces, installs (1) the board set @edge-dmp/core + runtime + device and (2) the
 * full `edge-dmp` package into empty folders from npm's cache, prints their node_modules sizes,
 * then times `edge-dmp classify` on one image: the compiled board CLI, the compiled full CLI, and
 * the full CLI from the TypeScript sources through tsx (median of 5 runs each, wall clock).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateKeyPair, writeBundle } from '../converter/bundle.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from '../test/helpers/device-models.js';
import { ROOT, build, duBytes, installInto, installedEnv, pack } from '../test/helpers/packages.js';

const RUNS = 5;
const dir = mkdtempSync(join(tmpdir(), 'edmp-bench-install-'));
const load0 = loadavg()[0];
try {
  build();
  const packs = join(dir, 'packs');
  const all = pack(['core', 'runtime', 'device', 'converter', 'sdk', 'host', '.'], packs);
  const boardSet = all.filter((t) => /edge-dmp-(core|runtime|device)-/.test(t));
  const board = join(dir, 'board');
  const full = join(dir, 'full');
  installInto(board, boardSet);
  installInto(full, all);
  const mb = (d: string) => duBytes(join(d, 'node_modules')) / 1e6;
  const tf = (d: string) =>
    existsSync(join(d, 'node_modules', '@tensorflow'))
      ? readdirSync(join(d, 'node_modules', '@tensorflow')).length
      : 0;

  const keys = await generateKeyPair(join(dir, 'keys'));
  const bundle = join(dir, 'b.edmp');
  const img = join(dir, 'red.png');
  await writeBundle(
    bundle,
    {
      tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny', version: '1.0.0', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([16, 16], 3),
      quantization: 'fp32',
    },
    { signKey: keys.privateKeyPath },
  );
  await sharp({ create: { width: 24, height: 24, channels: 3, background: '#e02020' } })
    .png()
    .toFile(img);
  const args = ['classify', '--bundle', bundle, '--pubkey', keys.publicKeyPath, img, '--json'];
  const time = (cmd: string, a: string[], env: NodeJS.ProcessEnv) => {
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = process.hrtime.bigint();
      const r = spawnSync(cmd, a, { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')}: ${r.stderr}`);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return ms.sort((x, y) => x - y)[RUNS >> 1];
  };
  const boardMs = time(join(board, 'node_modules', '.bin', 'edge-dmp'), args, installedEnv());
  const fullMs = time(join(full, 'node_modules', '.bin', 'edge-dmp'), args, installedEnv());
  const srcEnv = { ...process.env, EDGE_DMP_SOURCE: '1', NODE_OPTIONS: '--conditions=edge-dmp-source' };
  const tsxMs = time(process.execPath, [join(ROOT, 'bin', 'edge-dmp.js'), ...args], srcEnv);
  const version = execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim();

  console.log(
    `edge-dmp install bench: node ${process.version}, npm ${version}, ${process.platform}-${process.arch}; load average ${load0.toFixed(1)} at start`,
  );
  console.log(
    'install                         node_modules MB   @tensorflow pkgs   classify cold start (median of 5)',
  );
  console.log(
    `board: core + runtime + device  ${mb(board).toFixed(1).padStart(15)}   ${String(tf(board)).padStart(16)}   ${boardMs.toFixed(0).padStart(6)} ms (compiled)`,
  );
  console.log(
    `full: edge-dmp                  ${mb(full).toFixed(1).padStart(15)}   ${String(tf(full)).padStart(16)}   ${fullMs.toFixed(0).padStart(6)} ms (compiled)`,
  );
  console.log(
    `source checkout through tsx     ${'-'.padStart(15)}   ${'-'.padStart(16)}   ${tsxMs.toFixed(0).padStart(6)} ms (tsx)`,
  );
  console.log(
    `board / full size: ${(mb(board) / mb(full)).toFixed(2)}x; compiled / tsx cold start: ${(fullMs / tsxMs).toFixed(2)}x; target board <= 60 MB: ${mb(board) <= 60 ? 'met' : 'not met'}; load average ${loadavg()[0].toFixed(1)} at end`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
