/**
 * The runtime's own profiler (`loadTfliteModel(bytes, { profile: true })`, `profile()`): delegate
 * partitions, the builtin ops outside XNNPACK and XNNPACK's operators, on real files in the real
 * runtime; off by default.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { lowerModel } from '../converter/lower.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel, parseProfileSummary } from '../runtime/tflite-runtime.js';
import { ChannelDuplicate } from '../sdk/layers.js';

before(async () => {
  await tf.setBackend('cpu');
});

/** conv -> GATHER (a tile-order duplicate, not delegated) -> conv: two partitions around one GATHER. */
function gatherBetweenConvs(): Uint8Array {
  const input = tf.input({ shape: [8, 8, 3] });
  let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  y = new ChannelDuplicate({ t: 2, order: 'tile' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 4, kernelSize: 1 }).apply(y) as tf.SymbolicTensor;
  return writeTflite(lowerModel(tf.model({ inputs: input, outputs: y }), { duplicate: 'gather' }));
}

describe('runtime profiler', () => {
  it('counts partitions and the ops outside the delegate, with per-op times', async () => {
    const rt = await loadTfliteModel(gatherBetweenConvs(), { profile: true });
    try {
      const x = new Float32Array(8 * 8 * 3).fill(0.5);
      for (let i = 0; i < 3; i++) rt.infer([x]);
      const p = rt.profile();
      assert.deepEqual(p.outside, { GATHER: 1 });
      assert.equal(p.partitions, 2);
      assert.equal(p.nodes.length, 3);
      assert.ok(p.nodes.every((n) => n.avgMs >= 0 && n.name.length > 0));
      assert.ok(
        Object.keys(p.delegated).some((k) => /Convolution \(NHWC, F32\)/.test(k)),
        Object.keys(p.delegated).join(),
      );
    } finally {
      rt.dispose();
    }
  });

  it('is off by default: profile() is empty', async () => {
    const rt = await loadTfliteModel(gatherBetweenConvs());
    try {
      rt.infer([new Float32Array(8 * 8 * 3)]);
      assert.deepEqual(rt.profile(), { nodes: [], partitions: 0, outside: {}, delegated: {} });
    } finally {
      rt.dispose();
    }
  });

  it('parses the summary text: the interpreter table, then the delegate table', () => {
    const row = (type: string, ms: string, name: string) =>
      `\t ${type}\t 0.1\t ${ms}\t 1%\t 1%\t 0.000\t 2\t[${name}]:0`;
    const text = [
      '============================== Run Order ==============================',
      '\t [node type]\t [first]\t [avg ms]\t [%]\t [cdf%]\t [mem KB]\t [times called]\t [Name]',
      row('TfLiteXNNPackDelegate', '1.5', 'a, b'),
      row('RESHAPE', '0.010', 'r'),
      row('TfLiteXNNPackDelegate', '0.5', 'c'),
      '============================== Top by Computation Time ==============================',
      row('TfLiteXNNPackDelegate', '1.5', 'a, b'),
      'Delegate internal: ',
      '============================== Run Order ==============================',
      '\t DelegateOpInvoke\t 0.1\t 0.75\t 1%\t 1%\t 0.000\t 2\tDelegate/Max Pooling (NHWC, S8):3',
      '\t DelegateOpInvoke\t 0.1\t 0.25\t 1%\t 1%\t 0.000\t 2\tDelegate/Max Pooling (NHWC, S8):7',
    ].join('\n');
    const p = parseProfileSummary(text);
    assert.equal(p.partitions, 2);
    assert.deepEqual(p.outside, { RESHAPE: 1 });
    assert.equal(p.nodes.length, 3);
    assert.deepEqual(p.delegated, { 'Max Pooling (NHWC, S8)': 1 });
  });
});
