#!/usr/bin/env node
// `npm run build`: compiles every package to <pkg>/dist (JS + .d.ts) with tsc project references,
// and copies the TFLite WebAssembly builds the runtime loads into runtime/wasm (carried by
// @edge-dmp/runtime so a board installs no tfjs package).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const src = join(dirname(require.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');
const out = join(root, 'runtime', 'wasm');
mkdirSync(out, { recursive: true });
// The builds tflite-runtime.ts selects: plain, SIMD, SIMD + threads (with its worker).
const FILES = ['tflite_web_api_cc', 'tflite_web_api_cc_simd', 'tflite_web_api_cc_simd_threaded'];
for (const f of FILES)
  for (const ext of ['.js', '.wasm']) copyFileSync(join(src, f + ext), join(out, f + ext));
copyFileSync(
  join(src, 'tflite_web_api_cc_simd_threaded.worker.js'),
  join(out, 'tflite_web_api_cc_simd_threaded.worker.js'),
);
// The emscripten loaders are CommonJS; the package is ESM.
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
if (!existsSync(join(src, 'LICENSE')) && !existsSync(join(out, 'NOTICE'))) {
  writeFileSync(
    join(out, 'NOTICE'),
    'TFLite WebAssembly builds from @tensorflow/tfjs-tflite (Apache-2.0).\n',
  );
}
const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
