import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadData, loadFolder, trainBatches, evalBatches, sampleInputs } from '../sdk/data/index.js';
import { DataError } from '../core/errors.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { writeImage } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-folder-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const COLOURS: Record<string, [number, number, number]> = {
  blue: [20, 40, 220],
  green: [30, 200, 60],
  red: [230, 30, 20],
};

async function tree(root: string, perClass: number, ext = '.png') {
  for (const [name, rgb] of Object.entries(COLOURS)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) await writeImage(join(root, name, `${i}${ext}`), 20 + i * 3, 24, rgb);
  }
}

test('train/ + val/ trees: sorted classes, labels, decode to size with sharp (JPEG and PNG)', async () => {
  const root = join(tmp, 'tv');
  await tree(join(root, 'train'), 3, '.jpg');
  await tree(join(root, 'val'), 2, '.png');
  const warnings: DataError[] = [];
  const d = await loadData(`folder:${root}`, { onWarning: (e) => warnings.push(e) });
  assert.equal(d.format, 'folder');
  assert.deepEqual(d.classes, ['blue', 'green', 'red']);
  assert.equal(d.train.length, 9);
  assert.equal(d.val.length, 6);
  assert.deepEqual(Array.from(d.val.labels), [0, 0, 1, 1, 2, 2]);
  assert.equal(warnings.length, 0);
  const imgs = await d.train.read([0, 8], { size: [16, 12], channels: 3 });
  for (const [k, img] of imgs.entries()) {
    assert.ok(img);
    assert.equal(img.height, 16);
    assert.equal(img.width, 12);
    assert.equal(img.data.length, 16 * 12 * 3);
    const want = k === 0 ? COLOURS.blue : COLOURS.red;
    for (let c = 0; c < 3; c++)
      assert.ok(Math.abs(img.data[c] - want[c]) <= 6, `channel ${c}: ${img.data[c]} vs ${want[c]}`);
  }
  const [png] = await d.val.read([4], { size: [8, 8], channels: 3 });
  assert.deepEqual(Array.from(png!.data.subarray(0, 3)), COLOURS.red);
});

test('grayscale images become 3 channels or 1-channel input', async () => {
  const root = join(tmp, 'gray');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b'), { recursive: true });
  await writeImage(join(root, 'a', 'g.png'), 10, 10, [100, 100, 100], true);
  await writeImage(join(root, 'a', 'g2.png'), 10, 10, [50, 50, 50], true);
  await writeImage(join(root, 'b', 'c.png'), 10, 10, [200, 0, 0]);
  await writeImage(join(root, 'b', 'c2.png'), 10, 10, [200, 0, 0]);
  const d = await loadFolder(root, { valFraction: 0.5 });
  const all = [...d.train.labels, ...d.val.labels];
  assert.deepEqual(all.sort(), [0, 0, 1, 1]);
  const grayIdx = Array.from(d.train.labels).indexOf(0);
  const [rgb] = await d.train.read([grayIdx], { channels: 3 });
  assert.equal(rgb!.channels, 3);
  assert.equal(rgb!.data.length, 300);
  assert.equal(rgb!.data[0], rgb!.data[1]);
  assert.equal(rgb!.data[1], rgb!.data[2]);
  const [one] = await d.train.read([grayIdx], { channels: 1 });
  assert.equal(one!.data.length, 100);
  assert.equal(one!.data[0], rgb!.data[0]);
});

test('one tree: seeded per-class split, same seed same split, every class in val', async () => {
  const root = join(tmp, 'one');
  await tree(root, 10);
  const a = await loadFolder(root, { seed: 1, valFraction: 0.2 });
  const b = await loadFolder(root, { seed: 1, valFraction: 0.2 });
  const c = await loadFolder(root, { seed: 2, valFraction: 0.2 });
  const files = (d: typeof a) => Array.from({ length: d.val.length }, (_, i) => d.val.fileOf!(i));
  assert.equal(a.train.length, 24);
  assert.deepEqual(Array.from(a.val.labels), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(files(a), files(b));
  assert.notDeepEqual(files(a), files(c));
  const trainFiles = new Set(Array.from({ length: a.train.length }, (_, i) => a.train.fileOf!(i)));
  for (const f of files(a)) assert.ok(!trainFiles.has(f), `${f} in both splits`);
});

test('a bad image is reported and skipped, a stray file is reported, batches go on', async () => {
  const root = join(tmp, 'badimg');
  await tree(join(root, 'train'), 2);
  await tree(join(root, 'val'), 1);
  writeFileSync(join(root, 'train', 'green', 'broken.jpg'), Buffer.from('this is not a jpeg'));
  writeFileSync(join(root, 'train', 'red', 'notes.txt'), 'hello');
  const warnings: DataError[] = [];
  const d = await loadFolder(root, { onWarning: (e) => warnings.push(e) });
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].field.endsWith('notes.txt'));
  assert.match(warnings[0].message, /not an image file, skipped/);
  assert.equal(d.train.length, 7);
  const pre = defaultPreprocess([8, 8], 3);
  let seen = 0;
  const labels: number[] = [];
  for await (const b of trainBatches(
    d.train,
    { preprocess: pre, augment: 'rrc-flip', batchSize: 7, seed: 3 },
    0,
  )) {
    seen += b.size;
    assert.equal(b.x.length, b.size * 8 * 8 * 3);
    labels.push(...b.y);
  }
  assert.equal(seen, 6);
  assert.deepEqual(labels.sort(), [0, 0, 1, 1, 2, 2]);
  assert.equal(warnings.length, 2);
  assert.ok(warnings[1] instanceof DataError);
  assert.ok(warnings[1].field.endsWith('broken.jpg'));
  assert.match(warnings[1].message, /cannot decode/);
  // eval batches decode straight to the input size; the bad file is skipped there too
  let n = 0;
  for await (const b of evalBatches(d.train, pre, 4)) n += b.size;
  assert.equal(n, 6);
  assert.equal(warnings.length, 2, 'a known bad file is reported once');
});

test('folder errors: empty class, unknown val class, too few classes, missing dir', async () => {
  const root = join(tmp, 'errs');
  await tree(join(root, 'train'), 1);
  await tree(join(root, 'val'), 1);
  mkdirSync(join(root, 'train', 'empty'));
  await assert.rejects(
    loadFolder(root),
    (e: unknown) =>
      e instanceof DataError && e.field === join(root, 'train', 'empty') && /has no images/.test(e.message),
  );
  rmSync(join(root, 'train', 'empty'), { recursive: true });
  mkdirSync(join(root, 'val', 'purple'));
  await assert.rejects(
    loadFolder(root),
    (e: unknown) => e instanceof DataError && e.field === join(root, 'val', 'purple'),
  );
  const one = join(tmp, 'single');
  mkdirSync(join(one, 'only'), { recursive: true });
  await writeImage(join(one, 'only', 'x.png'), 4, 4, [1, 2, 3]);
  await assert.rejects(
    loadFolder(one),
    (e: unknown) => e instanceof DataError && /at least 2 class folders/.test(e.message),
  );
  await assert.rejects(
    loadFolder(join(tmp, 'nope')),
    (e: unknown) => e instanceof DataError && e.field === join(tmp, 'nope'),
  );
});

test('sampleInputs: a seeded, preprocessed calibration sample from a folder spec', async () => {
  const root = join(tmp, 'calib');
  await tree(root, 4);
  const d = await loadData(`folder:${root}`);
  const spec = { ...defaultPreprocess([6, 6], 3), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
  const a = await sampleInputs(d.train, spec, 5, 1);
  const b = await sampleInputs(d.train, spec, 5, 1);
  assert.equal(a.size, 5);
  assert.equal(a.x.length, 5 * 6 * 6 * 3);
  assert.deepEqual(a.x, b.x);
  // solid colours: every pixel of sample 0 equals its class colour, normalised
  const rgb = COLOURS[d.classes[a.y[0]]];
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(a.x[c] - (rgb[c] / 255 - 0.5) / 0.5) < 1e-5);
});
