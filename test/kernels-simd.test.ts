import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { binaryModule, compileSimd } from '../scripts/build-simd.js';
import { ROW_KERNELS } from '../sdk/kernels/simd/source.js';
import { SIMD_WASM_BASE64 } from '../sdk/kernels/simd/binary.js';
import * as tf from '@tensorflow/tfjs';
import { registerFastKernels, selectBackend } from '../sdk/index.js';

// The committed SIMD module is the compilation of its generator (wabt's wat2wasm, npm package), and exports
// every kernel the TypeScript side calls.

test('sdk/kernels/simd/binary.ts is up to date with source.ts', async () => {
  const fresh = binaryModule(await compileSimd());
  const committed = readFileSync(new URL('../sdk/kernels/simd/binary.ts', import.meta.url), 'utf8');
  assert.equal(committed, fresh, 'run: node --import tsx scripts/build-simd.ts');
});

test('the SIMD module validates and exports every kernel', () => {
  const bytes = Uint8Array.from(Buffer.from(SIMD_WASM_BASE64, 'base64'));
  const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean; Module: any } })
    .WebAssembly;
  assert.ok(wasm.validate(bytes));
  const exports = (wasm.Module.exports(new wasm.Module(bytes)) as { name: string; kind: string }[])
    .map((e) => e.name)
    .sort();
  const expected = [...ROW_KERNELS.map((k) => k.name), 'matmul_nt', 'matmul_tn'].sort();
  assert.deepEqual(exports, expected);
  const imports = wasm.Module.imports(new wasm.Module(bytes)) as {
    module: string;
    name: string;
    kind: string;
  }[];
  assert.deepEqual(imports, [{ module: 'env', name: 'memory', kind: 'memory' }]);
});

test('registerFastKernels waits for the wasm backend to be loaded (its import would replace our kernels)', async () => {
  assert.deepEqual(registerFastKernels('wasm'), []);
  await selectBackend('wasm');
  const names = registerFastKernels('wasm');
  assert.ok(names.includes('Conv2DBackpropFilter'));
  assert.notEqual(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
});
