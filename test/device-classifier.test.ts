/**
 * createClassifier / classify(frame) with real .tflite models (written by the project's writer)
 * through the real TFLite WASM runtime, on real images encoded by sharp and raw frames converted
 * by real ffmpeg.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createClassifier, type RawFormat } from '../device/index.js';
import { ConfigError } from '../core/errors.js';
import { defaultPreprocess, type PreprocessSpec } from '../core/preprocess.js';
import { writeBundle } from '../converter/bundle.js';
import { COLOUR_LABELS, GRAY_LABELS, expectedScores, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-classifier-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const solid = (r: number, g: number, b: number, width = 40, height = 30) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } });

test('classifies JPEG, PNG and WebP buffers, a file path and a sharp instance', async () => {
  const c = await createClassifier({ model: tinyModel({ kind: 'colour' }), labels: COLOUR_LABELS, topK: 2 });
  const png = await solid(20, 40, 220).png().toBuffer();
  const jpeg = await solid(20, 40, 220).jpeg({ quality: 95 }).toBuffer();
  const webp = await solid(20, 40, 220).webp({ lossless: true }).toBuffer();
  const path = join(dir, 'blue.png');
  writeFileSync(path, png);
  const want = expectedScores('colour', [20 / 255, 40 / 255, 220 / 255]);
  for (const frame of [png, jpeg, webp, path, solid(20, 40, 220)]) {
    const r = await c.classify(frame);
    assert.equal(r.ok, true);
    assert.equal(r.label, 'blue');
    assert.equal(r.topK.length, 2);
    assert.deepEqual(
      r.topK.map((t) => t.label),
      ['blue', 'green'],
    );
    // JPEG is lossy: allow a little colour drift; lossless inputs match the closed form closely.
    assert.ok(Math.abs(r.score - want[2]) < 2e-3, `score ${r.score} vs ${want[2]}`);
    assert.ok(r.timings.decodeMs >= 0 && r.timings.preprocessMs >= 0 && r.timings.inferMs >= 0);
    assert.match(r.model.sha256, /^[0-9a-f]{64}$/);
  }
  const r1 = await c.classify(png);
  const r2 = await c.classify(png, { frameId: 42, ts: 1234 });
  assert.ok(r1.frameId > 0);
  assert.equal(r2.frameId, 42);
  assert.equal(r2.ts, 1234);
  c.dispose();
});

test('every raw frame format gives the same answer as RGB (yuyv/nv12 made by ffmpeg)', async () => {
  const c = await createClassifier({
    model: tinyModel({ kind: 'colour', size: [8, 8] }),
    labels: COLOUR_LABELS,
  });
  const width = 32;
  const height = 24;
  // A gradient so chroma subsampling and channel order both matter.
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      rgb[o] = 230 - x * 4;
      rgb[o + 1] = 30 + y * 3;
      rgb[o + 2] = 60 + x * 2;
    }
  }
  const ffmpeg = (pixFmt: string) => {
    const r = spawnSync(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${width}x${height}`,
        '-i',
        'pipe:0',
      ].concat(['-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1']),
      { input: rgb },
    );
    assert.equal(r.status, 0, r.stderr.toString());
    return r.stdout;
  };
  const bgr = Buffer.alloc(rgb.length);
  const rgba = Buffer.alloc(width * height * 4);
  const gray = Buffer.alloc(width * height);
  for (let i = 0; i < width * height; i++) {
    bgr[i * 3] = rgb[i * 3 + 2];
    bgr[i * 3 + 1] = rgb[i * 3 + 1];
    bgr[i * 3 + 2] = rgb[i * 3];
    rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
    gray[i] = 90;
  }
  const base = await c.scores({ data: rgb, width, height, format: 'rgb' });
  const frames: [RawFormat, Buffer, number][] = [
    ['bgr', bgr, 1e-6],
    ['rgba', rgba, 1e-6],
    // YUV round trips lose a few levels per channel: a few tenths of a percent in score.
    ['yuyv', ffmpeg('yuyv422'), 0.02],
    ['nv12', ffmpeg('nv12'), 0.02],
  ];
  for (const [format, data, tol] of frames) {
    const s = await c.scores({ data, width, height, format });
    for (let k = 0; k < 3; k++)
      assert.ok(Math.abs(s[k] - base[k]) <= tol, `${format} class ${k}: ${s[k]} vs ${base[k]}`);
    const r = await c.classify({ data, width, height, format });
    assert.equal(r.label, 'red', format);
  }
  // A flat gray frame: all channels equal, so the three classes tie at 1/3.
  const g = await c.scores({ data: gray, width, height, format: 'gray' });
  for (const v of g) assert.ok(Math.abs(v - 1 / 3) < 1e-5);
  c.dispose();
});

test('preprocessing: scale/mean/std, channel order and resize modes produce the exact input tensor', async () => {
  const model = tinyModel({ kind: 'colour', size: [4, 4] });
  const spec: PreprocessSpec = {
    inputSize: [4, 4],
    channels: 3,
    scale: 1 / 255,
    mean: [0.5, 0.25, 0],
    std: [0.5, 0.25, 2],
    resize: 'stretch',
    layout: 'NHWC',
    channelOrder: 'bgr',
  };
  const c = await createClassifier({ model, labels: COLOUR_LABELS, preprocessing: spec });
  const x = (await c.preprocess(await solid(255, 102, 51).png().toBuffer())) as Float32Array;
  assert.ok(x instanceof Float32Array);
  assert.equal(x.length, 4 * 4 * 3);
  // bgr order: first value is blue 51/255=0.2 -> (0.2-0.5)/0.5 = -0.6; green 0.4 -> 0.6; red 1 -> 0.5.
  assert.ok(
    Math.abs(x[0] - -0.6) < 1e-6 && Math.abs(x[1] - 0.6) < 1e-6 && Math.abs(x[2] - 0.5) < 1e-6,
    `${x.slice(0, 3)}`,
  );
  c.dispose();

  // A 8x4 image: left half red, right half blue. Stretch keeps both halves; center-crop keeps the
  // middle 4x4 (2 red columns, 2 blue); letterbox pads top and bottom with black.
  const px = Buffer.alloc(8 * 4 * 3);
  for (let y = 0; y < 4; y++) for (let xx = 0; xx < 8; xx++) px[(y * 8 + xx) * 3 + (xx < 4 ? 0 : 2)] = 255;
  const img = await sharp(px, { raw: { width: 8, height: 4, channels: 3 } })
    .png()
    .toBuffer();
  const rows = async (resize: PreprocessSpec['resize']) => {
    const k = await createClassifier({
      model,
      labels: COLOUR_LABELS,
      preprocessing: { ...defaultPreprocess([4, 4], 3), resize },
    });
    const t = (await k.preprocess(img)) as Float32Array;
    k.dispose();
    const black = [0, 1, 2, 3].map((r) =>
      [0, 1, 2, 3].every((col) => t[(r * 4 + col) * 3] + t[(r * 4 + col) * 3 + 2] < 0.05),
    );
    return { t, black };
  };
  const letter = await rows('letterbox');
  assert.deepEqual(letter.black, [true, false, false, true]);
  const crop = await rows('center-crop');
  assert.deepEqual(crop.black, [false, false, false, false]);
  assert.ok(crop.t[0] > 0.9 && crop.t[3 * 3 + 2] > 0.9, 'crop: red on the left, blue on the right');
  const stretch = await rows('stretch');
  assert.deepEqual(stretch.black, [false, false, false, false]);
});

test('int8 and uint8 models: inputs quantized with the tensor scale/zero point, outputs dequantized', async () => {
  const img = await solid(200, 30, 10).png().toBuffer();
  const want = expectedScores('colour', [200 / 255, 30 / 255, 10 / 255]);
  for (const io of ['int8', 'uint8'] as const) {
    const c = await createClassifier({ model: tinyModel({ kind: 'colour', io }), labels: COLOUR_LABELS });
    assert.equal(c.input.dtype, io);
    const x = await c.preprocess(img);
    assert.ok(io === 'int8' ? x instanceof Int8Array : x instanceof Uint8Array);
    // scale 1/255: q = pixel + zeroPoint exactly.
    assert.equal(x[0], 200 + (io === 'int8' ? -128 : 0));
    assert.equal(x[1], 30 + (io === 'int8' ? -128 : 0));
    const r = await c.classify(img);
    assert.equal(r.label, 'red');
    // Output step 1/256.
    assert.ok(Math.abs(r.score - want[0]) <= 1 / 256, `${io}: ${r.score} vs ${want[0]}`);
    c.dispose();
  }
});

test('grayscale [1,H,W] input, logits output with auto softmax, and BYO defaults from the model', async () => {
  const labels = join(dir, 'labels.txt');
  writeFileSync(labels, 'bright\r\ndark\n\n');
  const model = join(dir, 'gray.tflite');
  writeFileSync(model, tinyModel({ kind: 'gray', size: [28, 28], softmax: false }));
  const c = await createClassifier({ model, labels });
  assert.deepEqual(c.input.shape, [1, 28, 28]);
  assert.deepEqual(c.preprocessing.inputSize, [28, 28]);
  assert.equal(c.preprocessing.channels, 1);
  assert.deepEqual(c.labels, GRAY_LABELS);
  assert.equal(c.model.name, 'gray');
  const v = 51; // gray 51/255 = 0.2 -> logits (-3, 3)
  const r = await c.classify({ data: Buffer.alloc(28 * 28, v), width: 28, height: 28, format: 'gray' });
  const want = expectedScores('gray', [v / 255]);
  assert.equal(r.label, 'dark');
  assert.ok(Math.abs(r.score - want[1]) < 1e-5, `${r.score} vs ${want[1]}`);
  assert.ok(Math.abs(r.topK[0].score + r.topK[1].score - 1) < 1e-6);
  const raw = await createClassifier({ model, labels, outputActivation: 'none' });
  const logits = await raw.scores({ data: Buffer.alloc(28 * 28, v), width: 28, height: 28, format: 'gray' });
  assert.ok(Math.abs(logits[0] - -3) < 1e-4 && Math.abs(logits[1] - 3) < 1e-4, `${logits}`);
  c.dispose();
  raw.dispose();
});

test('bundles: model, labels, preprocessing and identity come from the .edmp', async () => {
  const path = join(dir, 'colour.edmp');
  await writeBundle(path, {
    tflite: tinyModel({ kind: 'colour', size: [8, 8] }),
    labels: COLOUR_LABELS,
    model: { name: 'tiny-colour', version: '1.2.0', variant: 'test', architecture: 'mean-fc' },
    preprocess: defaultPreprocess([8, 8], 3),
    quantization: 'fp32',
  });
  const c = await createClassifier({ bundle: path, topK: 1 });
  const r = await c.classify(await solid(10, 240, 10).jpeg().toBuffer());
  assert.equal(r.label, 'green');
  assert.equal(r.topK.length, 1);
  assert.equal(r.model.name, 'tiny-colour');
  assert.equal(r.model.version, '1.2.0');
  assert.match(r.model.sha256, /^[0-9a-f]{64}$/);
  c.dispose();
});

test('configuration errors name the field, the expectation and what came', async () => {
  const model = tinyModel({ kind: 'colour', size: [8, 8] });
  const cases: [Parameters<typeof createClassifier>[0], string, RegExp][] = [
    [{ model, labels: ['a', 'b'] }, 'labels', /3 labels/],
    [{ model }, 'labels', /labels/],
    [
      { model, labels: COLOUR_LABELS, preprocessing: defaultPreprocess([16, 16], 3) },
      'preprocessing.inputSize',
      /\[1,16,16,3\]/,
    ],
    [
      { model, labels: COLOUR_LABELS, preprocessing: { ...defaultPreprocess([8, 8], 3), mean: [0, 0] } },
      'preprocessing.mean',
      /3 finite/,
    ],
    [{ model, labels: COLOUR_LABELS, topK: 0 }, 'topK', /positive integer/],
    [{ bundle: 'x.edmp', model, labels: COLOUR_LABELS }, 'bundle', /not both/],
    [{ model: join(dir, 'missing.tflite'), labels: COLOUR_LABELS }, 'model', /readable/],
  ];
  for (const [opts, field, re] of cases) {
    await assert.rejects(createClassifier(opts), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${field}: ${e}`);
      assert.equal(e.field, field);
      assert.match(e.message, re);
      return true;
    });
  }
});
