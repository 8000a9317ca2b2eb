import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  createModel,
  countParams,
  countMacs,
  modelBlocks,
  modelBytes,
  summarize,
  listModels,
  ConfigError,
} from '../sdk/index.js';

await tf.setBackend('cpu');

function params(o: Parameters<typeof createModel>[0]) {
  const m = createModel(o);
  const p = countParams(m);
  m.dispose();
  return p.trainable;
}

test('Table 1 of the paper, to the unit (10-class head)', () => {
  const expected = { baseline: 4_020_358, maxpool: 3_114_374, duplicate: 3_104_134, dmp: 2_198_150 } as const;
  for (const [variant, n] of Object.entries(expected)) {
    assert.equal(
      params({ model: 'efficientnet-b0', variant: variant as keyof typeof expected, classes: 10 }),
      n,
      variant,
    );
  }
});

test('standard EfficientNet-B0 with 1000 classes has 5,288,548 trainable parameters', () => {
  assert.equal(params({ model: 'efficientnet-b0', classes: 1000 }), 5_288_548);
});

test('the other sizes match their published trainable counts (1000 classes)', () => {
  // Keras applications' trainable counts for B1..B7; torchvision's MobileNetV2 count; timm's
  // tf_efficientnet_lite0 (TensorFlow's EfficientNet-Lite0 weights) for Lite0.
  const published: Record<string, number> = {
    'efficientnet-b1': 7_794_184,
    'efficientnet-b2': 9_109_994,
    'efficientnet-b3': 12_233_232,
    'efficientnet-b4': 19_341_616,
    'efficientnet-b5': 30_389_784,
    mobilenetv2: 3_504_872,
    'efficientnet-lite0': 4_652_008,
  };
  for (const [model, n] of Object.entries(published)) {
    // Parameter counts do not depend on the input size: build small to stay fast.
    assert.equal(params({ model, inputSize: 32 }), n, model);
  }
});

test('the paper rule replaces 9 blocks in B0 and 10 in MobileNetV2', () => {
  const b0 = modelBlocks({ model: 'efficientnet-b0' });
  assert.equal(b0.length, 16);
  assert.equal(b0.filter((b) => b.replaceable).length, 9);
  for (const b of b0.filter((x) => x.replaceable)) {
    assert.equal(b.inFilters, b.outFilters);
    assert.equal(b.stride, 1);
  }
  assert.equal(modelBlocks({ model: 'mobilenetv2' }).filter((b) => b.replaceable).length, 10);
  const dmp = createModel({ model: 'efficientnet-b0', variant: 'dmp', classes: 10, inputSize: 32 });
  const cls = dmp.layers.map((l) => l.getClassName());
  assert.equal(cls.filter((c) => c === 'ChannelDuplicate').length, 9);
  assert.equal(cls.filter((c) => c === 'ChannelMaxPool').length, 9);
  assert.equal(summarize(dmp).replacedBlocks, 9);
  dmp.dispose();
});

test('removed parameters equal exactly the replaced 1x1 convs and their BatchNorms', () => {
  // Independent of Table 1: derive the difference from the block plan.
  const blocks = modelBlocks({ model: 'efficientnet-b0' }).filter((b) => b.replaceable);
  const expandConv = blocks.reduce(
    (a, b) => a + b.inFilters * b.inFilters * b.expand + 2 * b.inFilters * b.expand,
    0,
  );
  const projectConv = blocks.reduce(
    (a, b) => a + b.inFilters * b.expand * b.outFilters + 2 * b.outFilters,
    0,
  );
  const base = params({ model: 'efficientnet-b0', classes: 10, inputSize: 32 });
  assert.equal(
    base - params({ model: 'efficientnet-b0', variant: 'duplicate', classes: 10, inputSize: 32 }),
    expandConv,
  );
  assert.equal(
    base - params({ model: 'efficientnet-b0', variant: 'maxpool', classes: 10, inputSize: 32 }),
    projectConv,
  );
  assert.equal(
    base - params({ model: 'efficientnet-b0', variant: 'dmp', classes: 10, inputSize: 32 }),
    expandConv + projectConv,
  );
});

test('MACs: a plain-JS count from the block plan agrees, and scale with input area', () => {
  const m = createModel({ model: 'efficientnet-b0', classes: 10, inputSize: 224 });
  // Recount from the plan: stem, blocks (expand, depthwise, SE, project), head, classifier.
  let h = 112;
  let macs = h * h * 3 * 3 * 3 * 32;
  for (const b of modelBlocks({ model: 'efficientnet-b0' })) {
    const e = b.inFilters * b.expand;
    if (b.expand !== 1) macs += h * h * b.inFilters * e;
    const ho = Math.ceil(h / b.stride);
    macs += ho * ho * e * b.kernel * b.kernel;
    const se = Math.max(1, Math.floor(b.inFilters * 0.25));
    macs += e * se + se * e;
    macs += ho * ho * e * b.outFilters;
    h = ho;
  }
  macs += h * h * 320 * 1280 + 1280 * 10;
  assert.equal(countMacs(m), macs);
  m.dispose();
  const small = createModel({ model: 'efficientnet-b0', classes: 10, inputSize: 112 });
  const ratio = macs / countMacs(small);
  assert.ok(ratio > 3.5 && ratio < 4.1, `MACs ratio 224/112 = ${ratio}`);
  small.dispose();
});

test('bytes: fp16 is half of fp32 and int8 is smallest; DMP is ~55% of B0', () => {
  const b0 = createModel({ model: 'efficientnet-b0', classes: 10, inputSize: 32 });
  const dmp = createModel({ model: 'efficientnet-b0', variant: 'dmp', classes: 10, inputSize: 32 });
  const a = modelBytes(b0);
  const d = modelBytes(dmp);
  assert.equal(a.fp16 * 2, a.fp32);
  assert.ok(a.int8 < a.fp16);
  const r = d.fp32 / a.fp32;
  assert.ok(r > 0.5 && r < 0.6, `dmp/b0 bytes ${r}`);
  b0.dispose();
  dmp.dispose();
});

test('every registered model builds at small scale with logits of the right shape', () => {
  assert.ok(listModels().length >= 9);
  for (const e of listModels()) {
    for (const variant of ['baseline', 'dmp'] as const) {
      const m = createModel({
        model: e.name,
        variant,
        classes: 7,
        inputSize: 32,
        widthMult: 0.25,
        depthMult: 0.3,
      });
      assert.deepEqual(m.outputs[0].shape, [null, 7], e.name);
      m.dispose();
    }
  }
});

test('bad options are ConfigErrors naming the field', () => {
  const cases: [Parameters<typeof createModel>[0], string][] = [
    [{ model: 'efficientnet-b9' }, 'model'],
    [{ model: 'efficientnet-b0', variant: 'fast' as never }, 'variant'],
    [{ model: 'efficientnet-b0', classes: 0 }, 'classes'],
    [{ model: 'efficientnet-b0', classes: 2.5 }, 'classes'],
    [{ model: 'efficientnet-b0', inputChannels: 2 }, 'inputChannels'],
    [{ model: 'efficientnet-b0', widthMult: -1 }, 'widthMult'],
    [{ model: 'efficientnet-b0', depthMult: Number.NaN }, 'depthMult'],
    [{ model: 'efficientnet-b0', dropout: 1.5 }, 'dropout'],
    [{ model: 'efficientnet-b0', channelOrder: 'random' as never }, 'channelOrder'],
    [{ model: 'efficientnet-b0', inputSize: 4 }, 'inputSize'],
  ];
  for (const [o, field] of cases) {
    assert.throws(
      () => createModel(o),
      (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field),
      field,
    );
  }
});
