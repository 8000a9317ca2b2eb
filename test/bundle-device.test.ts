/**
 * Bundles with real .tflite models (the project's writer) through the real TFLite runtime:
 * loadBundle -> createClassifier({ bundle }) -> checkGolden, and the golden check catching a
 * preprocessing spec that does not match the model.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertModel, generateKeyPair, writeBundle, type GoldenInput } from '../converter/index.js';
import { checkGolden, createClassifier, loadBundle } from '../device/index.js';
import { defaultPreprocess, selectBackend } from '../sdk/index.js';
import { COLOUR_LABELS, GRAY_LABELS, expectedScores, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-bundle-device-'));
let keys: Awaited<ReturnType<typeof generateKeyPair>>;
before(async () => {
  keys = await generateKeyPair(join(dir, 'keys'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** 8x8 RGB pixels with a dominant channel and some texture. */
function colourPixels(dominant: number): Uint8Array {
  const px = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) {
    for (let c = 0; c < 3; c++) px[i * 3 + c] = c === dominant ? 180 + (i % 60) : (i * 7 + c * 13) % 90;
  }
  return px;
}
const meanRgb01 = (px: Uint8Array) =>
  [0, 1, 2].map((c) => px.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / 64 / 255);

const golden: GoldenInput[] = [0, 1, 2].map((d) => {
  const px = colourPixels(d);
  const s = expectedScores('colour', meanRgb01(px));
  return { pixels: { data: px, width: 8, height: 8, channels: 3 }, label: COLOUR_LABELS[d], score: s[d] };
});

describe('bundles with a real .tflite', () => {
  it('signed colour bundle: loads with its key, classifies, and passes its golden check with closed-form scores', async () => {
    const path = join(dir, 'colour.edmp');
    const tflite = tinyModel({ kind: 'colour', size: [8, 8] });
    await writeBundle(
      path,
      {
        tflite,
        labels: COLOUR_LABELS,
        model: { name: 'tiny-colour', version: '3.0.0', variant: 'test', architecture: 'mean-fc' },
        preprocess: defaultPreprocess([8, 8], 3),
        quantization: 'fp32',
        golden,
      },
      { signKey: keys.privateKeyPath },
    );
    const b = await loadBundle(path, { pubkey: keys.publicKeyPath });
    assert.equal(b.signatureVerified, true);
    const c = await createClassifier({ bundle: path, topK: 3 });
    try {
      assert.deepEqual(c.model, b.identity);
      const r = await checkGolden(c, b, { throwOnFailure: true });
      assert.deepEqual([r.ok, r.total, r.passed], [true, 3, 3]);
      r.results.forEach((x, i) => {
        assert.equal(x.got?.label, COLOUR_LABELS[i]);
        assert.ok(Math.abs(x.got!.score - golden[i].score!) < 1e-4, `${x.got!.score} vs ${golden[i].score}`);
      });
    } finally {
      c.dispose();
    }
  });

  it('a bundle whose preprocessing does not match the model fails its golden check', async () => {
    const path = join(dir, 'bgr.edmp');
    // The converter recorded the golden answers with RGB input; this manifest says BGR.
    await writeBundle(path, {
      tflite: tinyModel({ kind: 'colour', size: [8, 8] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', variant: 'test', architecture: 'mean-fc' },
      preprocess: { ...defaultPreprocess([8, 8], 3), channelOrder: 'bgr' },
      quantization: 'fp32',
      golden,
    });
    const b = await loadBundle(path);
    const c = await createClassifier({ bundle: path });
    try {
      const r = await checkGolden(c, b);
      assert.equal(r.ok, false);
      assert.equal(r.passed, 1); // green is green either way
      assert.deepEqual(
        r.results.map((x) => [x.expected.label, x.got?.label]),
        [
          ['red', 'blue'],
          ['green', 'green'],
          ['blue', 'red'],
        ],
      );
      await assert.rejects(checkGolden(c, b, { throwOnFailure: true }), /golden\/000\.png/);
    } finally {
      c.dispose();
    }
  });

  it('gray [1,H,W] model with uint8 input: golden gray samples round-trip through PNG exactly', async () => {
    const path = join(dir, 'gray.edmp');
    const bright = Uint8Array.from({ length: 64 }, (_, i) => 200 + (i % 50));
    const dark = Uint8Array.from({ length: 64 }, (_, i) => (i * 3) % 60);
    await writeBundle(path, {
      tflite: tinyModel({ kind: 'gray', size: [8, 8], io: 'uint8' }),
      labels: GRAY_LABELS,
      model: { name: 'tiny-gray', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([8, 8], 1),
      inputShape: [1, 8, 8],
      inputDtype: 'uint8',
      inputQuantization: { scale: 1 / 255, zeroPoint: 0 },
      outputDtype: 'uint8',
      outputQuantization: { scale: 1 / 256, zeroPoint: 0 },
      quantization: 'int8',
      golden: [
        { pixels: { data: bright, width: 8, height: 8, channels: 1 }, label: 'bright' },
        { pixels: { data: dark, width: 8, height: 8, channels: 1 }, label: 'dark' },
      ],
    });
    const b = await loadBundle(path);
    assert.deepEqual(b.manifest.input.shape, [1, 8, 8]);
    const c = await createClassifier({ bundle: path });
    try {
      const r = await checkGolden(c, b);
      assert.deepEqual([r.ok, r.passed], [true, 2], JSON.stringify(r.results));
    } finally {
      c.dispose();
    }
  });

  it('a model converted by convertModel: bundle with its report card, verify, device scores match tfjs', async () => {
    await selectBackend('wasm');
    // Zoo layer types (conv without bias + BN + swish, global pooling, dense), random weights.
    const input = tf.input({ shape: [8, 8, 3] });
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    const conv = tf.layers.conv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(3),
    });
    let h = conv.apply(input) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = tf.layers.activation({ activation: 'swish' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, kernelInitializer: init(13) }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    // Solid colours, then checkerboards in one channel over gray.
    const pixels = [0, 1, 2, 3, 4, 5].map((d) =>
      Uint8Array.from({ length: 192 }, (_, i) => {
        const p = Math.floor(i / 3);
        if (i % 3 !== d % 3) return d < 3 ? 10 : 128;
        return d < 3 ? 240 : (((p >> 3) + (p & 7)) & 1) * 255;
      }),
    );
    const x = tf.tensor4d(Float32Array.from(pixels.flatMap((p) => Array.from(p, (v) => v / 255))), [
      pixels.length,
      8,
      8,
      3,
    ]);
    const logits = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const { tflite, report } = await convertModel(model, { quantize: 'fp32', eval: { x } });
    x.dispose();
    assert.equal(report.passed, true);
    assert.equal(report.top1Agreement, 1);
    const labels = ['a', 'b', 'c'];
    const top1 = logits.map((l) => l.indexOf(Math.max(...l)));
    assert.deepEqual(top1, [0, 1, 2, 2, 2, 2]); // three different golden answers
    const path = join(dir, 'converted.edmp');
    await writeBundle(
      path,
      {
        tflite,
        labels,
        model: { name: 'conv-swish', variant: 'baseline', architecture: 'conv-bn-swish-gap-dense' },
        preprocess: defaultPreprocess([8, 8], 3),
        quantization: 'fp32',
        params: model.countParams(),
        reportCard: report as unknown as Record<string, unknown>,
        provenance: { trainingRun: null, dataset: 'synthetic' },
        golden: pixels.map((data, i) => ({
          pixels: { data, width: 8, height: 8, channels: 3 },
          label: labels[top1[i]],
        })),
      },
      { signKey: keys.privateKeyPath },
    );
    const v = spawnSync(
      process.execPath,
      ['bin/edge-dmp.js', 'verify', path, '--pubkey', keys.publicKeyPath],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(v.status, 0, v.stderr);
    const b = await loadBundle(path, { pubkey: keys.publicKeyPath });
    assert.deepEqual(b.manifest.reportCard, JSON.parse(JSON.stringify(report)));
    assert.equal(b.manifest.stats.params, model.countParams());
    const c = await createClassifier({ bundle: path, outputActivation: 'none' });
    try {
      const g = await checkGolden(c, b);
      assert.deepEqual([g.ok, g.passed], [true, pixels.length], JSON.stringify(g.results));
      // The device path (PNG -> sharp -> preprocess -> TFLite) gives the tfjs logits.
      g.results.forEach((r, i) =>
        assert.ok(
          Math.abs(r.got!.score - logits[i][top1[i]]) < 1e-4,
          `${r.got!.score} vs ${logits[i][top1[i]]}`,
        ),
      );
    } finally {
      c.dispose();
      model.dispose();
    }
  });
});
