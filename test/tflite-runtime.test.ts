/**
 * The TFLite WASM runtime in plain Node: SIMD, plain and threaded builds give the same numbers on
 * a model written by our writer; int8 tensors carry their quantization; the runtime's own log
 * lines reach the thrown error; bad input is a typed error; 1000 load/dispose cycles keep the heap flat.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder, bytesOf, type Graph } from '../core/tflite/graph.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { readTflite } from '../core/tflite/reader.js';
import {
  TfliteRuntimeError,
  loadTfliteModel,
  runtimeAllocMark,
  runtimeHeapBytes,
  simdSupported,
} from '../runtime/tflite-runtime.js';
import { ConfigError } from '../core/errors.js';

/** y = x * sigmoid(x) (swish) on [1, 8]. */
function swishGraph(): Graph {
  const g = new GraphBuilder();
  const x = g.tensor({ name: 'x', shape: [1, 8], type: 'FLOAT32' });
  const s = g.tensor({ name: 's', shape: [1, 8], type: 'FLOAT32' });
  const y = g.tensor({ name: 'y', shape: [1, 8], type: 'FLOAT32' });
  g.op({ op: 'LOGISTIC', inputs: [x], outputs: [s] });
  g.op({
    op: 'MUL',
    inputs: [x, s],
    outputs: [y],
    options: { kind: 'MulOptions', values: { fused_activation_function: 0 } },
  });
  g.graph.inputs = [x];
  g.graph.outputs = [y];
  return g.graph;
}

/** int8 in -> DEQUANTIZE -> float -> QUANTIZE -> uint8 out, with chosen parameters. */
function quantGraph(): Graph {
  const g = new GraphBuilder();
  const x = g.tensor({ name: 'q_in', shape: [1, 4], type: 'INT8', quant: { scale: [0.5], zeroPoint: [-3] } });
  const f = g.tensor({ name: 'f', shape: [1, 4], type: 'FLOAT32' });
  const y = g.tensor({
    name: 'q_out',
    shape: [1, 4],
    type: 'UINT8',
    quant: { scale: [0.25], zeroPoint: [128] },
  });
  g.op({ op: 'DEQUANTIZE', inputs: [x], outputs: [f], version: 2 });
  g.op({ op: 'QUANTIZE', inputs: [f], outputs: [y] });
  g.graph.inputs = [x];
  g.graph.outputs = [y];
  return g.graph;
}

const X = Float32Array.from([-3, -1, -0.5, 0, 0.25, 1, 2, 4]);
const SWISH = Array.from(X, (v) => v / (1 + Math.exp(-v)));

describe('tflite runtime', () => {
  it('runs a written model and reads it back', async () => {
    const bytes = writeTflite(swishGraph());
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'TFL3');
    const back = readTflite(bytes);
    assert.equal(back.version, 3);
    assert.deepEqual(
      back.ops.map((o) => o.op),
      ['LOGISTIC', 'MUL'],
    );
    const m = await loadTfliteModel(bytes);
    assert.deepEqual(m.inputs, [{ name: 'x', shape: [1, 8], dtype: 'float32' }]);
    assert.deepEqual(m.outputs, [{ name: 'y', shape: [1, 8], dtype: 'float32' }]);
    const [y] = m.infer([X]);
    assert.ok(y instanceof Float32Array);
    y.forEach((v, i) => assert.ok(Math.abs(v - SWISH[i]) < 1e-6, `${v} vs ${SWISH[i]}`));
    m.dispose();
  });

  it('gives the same numbers on the SIMD, plain and threaded builds', async () => {
    const bytes = writeTflite(swishGraph());
    assert.equal(simdSupported(), true, 'Node 20 supports WebAssembly SIMD');
    const results: number[][] = [];
    for (const opts of [{ simd: true }, { simd: false }, { threads: 2 }]) {
      const m = await loadTfliteModel(bytes, opts);
      results.push(Array.from(m.infer([X])[0] as Float32Array));
      m.dispose();
    }
    // SIMD and scalar kernels may round the last bit differently.
    for (const r of results)
      r.forEach((v, i) => assert.ok(Math.abs(v - SWISH[i]) < 1e-6, `${v} vs ${SWISH[i]}`));
    assert.deepEqual(results[2], results[0], 'threaded SIMD = SIMD');
  });

  it('reports int8/uint8 tensors with their quantization and converts exactly', async () => {
    const m = await loadTfliteModel(writeTflite(quantGraph()));
    assert.deepEqual(m.inputs[0], {
      name: 'q_in',
      shape: [1, 4],
      dtype: 'int8',
      quantization: { scale: 0.5, zeroPoint: -3 },
    });
    assert.deepEqual(m.outputs[0], {
      name: 'q_out',
      shape: [1, 4],
      dtype: 'uint8',
      quantization: { scale: 0.25, zeroPoint: 128 },
    });
    const [y] = m.infer([Int8Array.from([-3, -1, 1, 5])]);
    // real = (q + 3) * 0.5 = [0, 1, 2, 4]; out = real / 0.25 + 128.
    assert.ok(y instanceof Uint8Array);
    assert.deepEqual(Array.from(y), [128, 132, 136, 144]);
    m.dispose();
  });

  it('puts the runtime log in the error for a model it refuses', async () => {
    const g = new GraphBuilder();
    const x = g.tensor({
      name: 'x',
      shape: [1, 4, 4, 2],
      type: 'INT8',
      quant: { scale: [0.1], zeroPoint: [0] },
    });
    // Per-channel weights whose quantized_dimension (7) is outside the tensor's 4 dims.
    const w = g.tensor({
      name: 'w',
      shape: [2, 1, 1, 2],
      type: 'INT8',
      data: bytesOf(Int8Array.from([1, 2, 3, 4])),
      quant: { scale: [0.1, 0.1], zeroPoint: [0, 0], dimension: 7 },
    });
    const b = g.tensor({ name: 'b', shape: [2], type: 'INT32', data: bytesOf(Int32Array.from([0, 0])) });
    const y = g.tensor({
      name: 'y',
      shape: [1, 4, 4, 2],
      type: 'INT8',
      quant: { scale: [0.1], zeroPoint: [0] },
    });
    g.op({
      op: 'CONV_2D',
      version: 3,
      inputs: [x, w, b],
      outputs: [y],
      options: {
        kind: 'Conv2DOptions',
        values: { padding: 0, stride_w: 1, stride_h: 1, fused_activation_function: 0 },
      },
    });
    g.graph.inputs = [x];
    g.graph.outputs = [y];
    // The writer's spec check refuses this graph too (QuantizationSpecError); skipped to reach the runtime.
    await assert.rejects(loadTfliteModel(writeTflite(g.graph, { checkSpec: false })), (e: unknown) => {
      assert.ok(e instanceof TfliteRuntimeError);
      assert.equal(e.code, 'E_TFLITE');
      assert.ok(e.log.length > 0, 'runtime log captured');
      assert.match(e.message, /quantized_dimension/);
      return true;
    });
  });

  it('refuses bytes that are not a model and inputs of the wrong type, naming them', async () => {
    await assert.rejects(
      loadTfliteModel(new Uint8Array(64)),
      (e: unknown) => e instanceof TfliteRuntimeError && e.field === 'model',
    );
    const m = await loadTfliteModel(writeTflite(swishGraph()));
    assert.throws(
      () => m.infer([new Int8Array(8)]),
      (e: unknown) => e instanceof ConfigError && /inputs\[0\] \(x\)/.test(e.field),
    );
    assert.throws(
      () => m.infer([new Float32Array(7)]),
      (e: unknown) => e instanceof ConfigError && /Float32Array of 8/.test(e.expected),
    );
    assert.throws(() => m.infer([]), ConfigError);
    m.dispose();
    assert.throws(() => m.infer([X]), ConfigError);
    await assert.rejects(loadTfliteModel(writeTflite(swishGraph()), { threads: 0 }), ConfigError);
  });

  it('keeps the WASM heap flat over 1000 load/dispose cycles', async () => {
    const bytes = writeTflite(swishGraph());
    // Warm up so the allocator reaches its steady state.
    for (let i = 0; i < 20; i++) (await loadTfliteModel(bytes)).dispose();
    const heap0 = await runtimeHeapBytes();
    const mark0 = await runtimeAllocMark();
    for (let i = 0; i < 1000; i++) {
      const m = await loadTfliteModel(bytes);
      m.infer([X]);
      m.dispose();
    }
    assert.ok(heap0 > 0);
    assert.equal(await runtimeHeapBytes(), heap0, 'memory did not grow');
    assert.equal(
      await runtimeAllocMark(),
      mark0,
      'a fresh 1 MiB block lands where it did before: nothing leaked',
    );
  });
});
