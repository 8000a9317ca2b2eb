/**
 * TFLite's int8 quantization spec (converter/int8-spec.ts): every int8 file the converter writes for
 * the zoo conforms; a crafted violation of each rule is refused by the writer with a
 * QuantizationSpecError naming the op and tensor; the old FULLY_CONNECTED bias (10 scales for a
 * per-tensor weight), written anyway, is refused by Arm NN too (a strict consumer).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { calibrate } from '../converter/convert.js';
import { checkInt8Spec, QuantizationSpecError } from '../converter/int8-spec.js';
import { lowerModel } from '../converter/lower.js';
import { quantizeGraph } from '../converter/quantize.js';
import type { Graph } from '../core/tflite/graph.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { withSeededRandom } from '../core/random.js';
import { createModel } from '../sdk/models/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'int8-spec-'));
let base: Graph;

/** A deep copy, so each test breaks its own graph. */
const copy = (g: Graph): Graph => structuredClone(g);

before(async () => {
  await tf.setBackend('cpu');
  const input = tf.input({ shape: [8, 8, 3] });
  let y = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input);
  y = tf.layers.globalAveragePooling2d({}).apply(y);
  y = tf.layers.reshape({ targetShape: [1, 1, 8] }).apply(y);
  y = tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'sigmoid' }).apply(y);
  y = tf.layers.flatten().apply(y);
  y = tf.layers.dense({ units: 10 }).apply(y) as tf.SymbolicTensor;
  const m = withSeededRandom(4, () => tf.model({ inputs: input, outputs: y as tf.SymbolicTensor }));
  const g = lowerModel(m);
  const x = tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', 2);
  base = quantizeGraph(g, 'int8', { ranges: await calibrate(g, x) });
  x.dispose();
});

after(() => rmSync(dir, { recursive: true, force: true }));

function opOf(g: Graph, name: string) {
  const op = g.ops.find((o) => o.op === name);
  assert.ok(op, name);
  return op;
}

function refused(g: Graph, field: RegExp): void {
  assert.throws(
    () => writeTflite(g),
    (e: unknown) => e instanceof QuantizationSpecError && e.code === 'E_QUANT_SPEC' && field.test(e.field),
  );
}

describe('int8 quantization spec', () => {
  it('every zoo model in int8 conforms (FULLY_CONNECTED bias: one scale = input x weight scale)', async () => {
    for (const [model, variant] of [
      ['efficientnet-b0', 'baseline'],
      ['efficientnet-b0', 'dmp'],
      ['mobilenetv2', 'dmp'],
      ['efficientnet-lite0', 'dmp'],
    ] as const) {
      const m = withSeededRandom(3, () =>
        createModel({ model, variant, classes: 10, inputSize: 32, widthMult: 0.25, depthMult: 0.34 }),
      );
      const g = lowerModel(m);
      const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5);
      const q = quantizeGraph(g, 'int8', { ranges: await calibrate(g, x) });
      x.dispose();
      m.dispose();
      checkInt8Spec(q);
      const fc = opOf(q, 'FULLY_CONNECTED');
      const [xin, w, b] = fc.inputs.map((i) => q.tensors[i]);
      assert.equal(w.quant?.scale.length, 1, `${model} ${variant}: per-tensor FC weight`);
      assert.equal(b.quant?.scale.length, 1, `${model} ${variant}: per-tensor FC bias`);
      assert.ok(
        Math.abs((b.quant?.scale[0] ?? 0) - (xin.quant?.scale[0] ?? 0) * (w.quant?.scale[0] ?? 0)) < 1e-12,
      );
    }
    assert.ok(writeTflite(base).length > 0);
  });

  it('refuses a FULLY_CONNECTED bias with a scale per unit on a per-tensor weight; Arm NN refuses it too', () => {
    const g = copy(base);
    const fc = opOf(g, 'FULLY_CONNECTED');
    const b = g.tensors[fc.inputs[2]];
    const s = b.quant?.scale[0] as number;
    b.quant = {
      scale: new Array<number>(10).fill(s),
      zeroPoint: new Array<number>(10).fill(0),
      dimension: 0,
    };
    refused(g, /^op FULLY_CONNECTED bias/);
    // Written anyway (checkSpec: false), a strict consumer rejects the file.
    const file = join(dir, 'bad-fc.tflite');
    writeFileSync(file, writeTflite(g, { checkSpec: false }));
    writeFileSync(join(dir, 'x.bin'), Buffer.alloc(8 * 8 * 3 * 4));
    writeFileSync(
      join(dir, 'jobs.json'),
      JSON.stringify([{ model: file, input: join(dir, 'x.bin'), output: join(dir, 'y.bin') }]),
    );
    const out = execFileSync(
      '/usr/bin/python3',
      [join(import.meta.dirname, 'helpers', 'armnn_run.py'), join(dir, 'jobs.json')],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const r = JSON.parse(out.trim()) as { ok: boolean; error?: string };
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /per-axis quantization scales/);
  });

  it('refuses a wrong bias scale, asymmetric or -128 weights, per-axis on the wrong axis', () => {
    let g = copy(base);
    let conv = opOf(g, 'CONV_2D');
    const bias = g.tensors[conv.inputs[2]];
    bias.quant = {
      ...(bias.quant as NonNullable<typeof bias.quant>),
      scale: bias.quant!.scale.map((v) => v * 2),
    };
    refused(g, /^op CONV_2D bias scale \[0\]/);

    g = copy(base);
    conv = opOf(g, 'CONV_2D');
    const w = g.tensors[conv.inputs[1]];
    w.quant = { ...(w.quant as NonNullable<typeof w.quant>), zeroPoint: w.quant!.zeroPoint.map(() => 3) };
    refused(g, /^op CONV_2D weights/);

    g = copy(base);
    conv = opOf(g, 'CONV_2D');
    const w2 = g.tensors[conv.inputs[1]];
    const d = new Int8Array(w2.data!.slice().buffer);
    d[0] = -128;
    w2.data = new Uint8Array(d.buffer);
    refused(g, /^op CONV_2D weights/);

    g = copy(base);
    conv = opOf(g, 'CONV_2D');
    g.tensors[conv.inputs[1]].quant!.dimension = 3;
    refused(g, /^op CONV_2D weights/);
  });

  it('refuses a per-axis activation, a LOGISTIC output off 1/256, a RESHAPE that changes the scale', () => {
    let g = copy(base);
    const out = g.tensors[opOf(g, 'CONV_2D').outputs[0]];
    out.quant = { scale: [0.1, 0.2], zeroPoint: [0, 0], dimension: 3 };
    refused(g, /^op CONV_2D output/);

    g = copy(base);
    g.tensors[opOf(g, 'LOGISTIC').outputs[0]].quant = { scale: [1 / 255], zeroPoint: [-128] };
    refused(g, /^op LOGISTIC output/);

    g = copy(base);
    const r = g.tensors[opOf(g, 'RESHAPE').outputs[0]];
    r.quant = { scale: [r.quant!.scale[0] * 1.5], zeroPoint: r.quant!.zeroPoint };
    refused(g, /^op RESHAPE output/);
  });
});
