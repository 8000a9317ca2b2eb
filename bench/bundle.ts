/**
 * Bundle benchmark (not a test): time to build+sign, read, verify and device-load a `.edmp`, and
 * the bundle size against the `.tflite`, for model-sized payloads: ~2.4 MB (a DMP int8 model) and
 * ~16 MB (a B0 fp32 model). The payload stands in for weights: int8 values / float32 numbers from a
 * normal distribution, which compress about as little as real weights do.
 *
 *   npm run bench:bundle            # table
 *   npm run bench:bundle -- --json  # one JSON line per size
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateKeyPair, readBundle, verifyBundle, writeBundle } from '../converter/index.js';
import { loadBundle } from '../device/index.js';
import { defaultPreprocess } from '../core/preprocess.js';

function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (s * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function payload(kind: 'int8' | 'fp32', bytes: number): Uint8Array {
  const g = gaussian(42);
  if (kind === 'int8')
    return Int8Array.from({ length: bytes }, () =>
      Math.max(-127, Math.min(127, Math.round(g() * 30))),
    ) as unknown as Uint8Array;
  const f = Float32Array.from({ length: bytes / 4 }, () => g() * 0.05);
  return new Uint8Array(f.buffer);
}

async function time<T>(fn: () => Promise<T>, reps: number): Promise<[T, number]> {
  let out!: T;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) out = await fn();
  return [out, (performance.now() - t0) / reps];
}

const json = process.argv.includes('--json');
const dir = mkdtempSync(join(tmpdir(), 'edmp-bench-'));
try {
  const keys = await generateKeyPair(join(dir, 'keys'));
  const cases: Array<[string, 'int8' | 'fp32', number]> = [
    ['dmp-int8 (2.4 MB)', 'int8', 2_400_000],
    ['b0-fp32 (16 MB)', 'fp32', 16_000_000],
  ];
  if (!json)
    console.log('case                 tflite B   bundle B   build+sign ms  read ms  verify ms  load ms');
  for (const [name, kind, bytes] of cases) {
    const tflite = new Uint8Array(payload(kind, bytes).buffer);
    const path = join(dir, `${kind}.edmp`);
    const contents = {
      tflite,
      labels: Array.from({ length: 10 }, (_, i) => `class${i}`),
      model: { name, variant: 'dmp', architecture: 'efficientnet-b0' },
      preprocess: defaultPreprocess([224, 224], 3),
      quantization: kind,
    } as const;
    const [built, buildMs] = await time(
      () => writeBundle(path, contents, { signKey: keys.privateKeyPath }),
      3,
    );
    const [, readMs] = await time(() => readBundle(path), 3);
    const [report, verifyMs] = await time(() => verifyBundle(path, keys.publicKeyPath), 3);
    const [, loadMs] = await time(() => loadBundle(path, { pubkey: keys.publicKeyPath }), 3);
    if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.problems)}`);
    const row = {
      case: name,
      tfliteBytes: tflite.length,
      bundleBytes: built.bytes.length,
      buildMs,
      readMs,
      verifyMs,
      loadMs,
    };
    if (json) console.log(JSON.stringify(row));
    else
      console.log(
        `${name.padEnd(20)} ${String(row.tfliteBytes).padStart(9)} ${String(row.bundleBytes).padStart(10)} ` +
          `${buildMs.toFixed(0).padStart(14)} ${readMs.toFixed(0).padStart(8)} ${verifyMs.toFixed(0).padStart(10)} ${loadMs.toFixed(0).padStart(8)}`,
      );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
