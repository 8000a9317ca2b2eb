import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FASHION_MNIST_CLASSES, loadData, loadIdx, parseIdx } from '../sdk/data/index.js';
import { DataError } from '../core/errors.js';
import { idxBytes, pix, writeIdx } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-idx-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

for (const gz of [false, true]) {
  test(`IDX ${gz ? 'gzipped' : 'raw'}: images, labels and digit classes`, async () => {
    const dir = join(tmp, gz ? 'gz' : 'raw');
    writeIdx(dir, 12, 5, gz);
    const d = await loadData(`idx:${dir}`);
    assert.equal(d.format, 'idx');
    assert.deepEqual(d.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(d.train.length, 12);
    assert.equal(d.val.length, 5);
    assert.equal(d.train.channels, 1);
    assert.deepEqual(d.train.imageSize, [28, 28]);
    assert.deepEqual(Array.from(d.val.labels), [0, 1, 2, 3, 4]);
    const [img] = await d.train.read([11]);
    assert.equal(img!.data[4 * 28 + 9], pix(11, 4, 9, 0));
    const [v] = await d.val.read([3]);
    assert.equal(v!.data[27 * 28 + 27], pix(103, 27, 27, 0));
  });
}

test('fashion-mnist: spec, class names, labels.txt override', async () => {
  const dir = join(tmp, 'fm');
  writeIdx(dir, 3, 2, true, 8, 6);
  const d = await loadData(`fashion-mnist:${dir}`);
  assert.deepEqual(d.classes, FASHION_MNIST_CLASSES);
  assert.deepEqual(d.train.imageSize, [8, 6]);
  writeFileSync(join(dir, 'labels.txt'), Array.from({ length: 12 }, (_, i) => `c${i}`).join('\n'));
  const o = await loadIdx(dir, true);
  assert.equal(o.classes.length, 12);
  assert.equal(o.classes[11], 'c11');
});

test('the real Fashion-MNIST package files load: 60000 + 10000 images of 28x28', async () => {
  const d = await loadData('fashion-mnist');
  assert.equal(d.train.length, 60000);
  assert.equal(d.val.length, 10000);
  const counts = new Array(10).fill(0);
  for (const l of d.train.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(6000));
});

function expectData(fn: () => unknown, file: string, what: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.equal(e.field, file);
    assert.match(e.message, what);
    return true;
  });
}

test('IDX malformed: magic, type, truncation, corrupt gzip', () => {
  const good = idxBytes([2, 3, 3], new Uint8Array(18));
  expectData(
    () => parseIdx('f', good.subarray(0, good.length - 2)),
    'f',
    /header says \[2, 3, 3\] = 18 bytes but the file has 16/,
  );
  const badMagic = good.slice();
  badMagic[0] = 1;
  expectData(() => parseIdx('f', badMagic), 'f', /IDX header starting 0x00 0x00/);
  const badType = good.slice();
  badType[2] = 0x0d;
  expectData(() => parseIdx('f', badType), 'f', /unsigned byte.*0xd/);
  const gz = gzipSync(good);
  expectData(
    () => parseIdx('f.gz', gz.subarray(0, gz.length - 10)),
    'f.gz',
    /gzip data is corrupt or truncated/,
  );
  expectData(() => parseIdx('f', good.subarray(0, 6)), 'f', /header with 3 dimensions/);
  assert.deepEqual(parseIdx('f', gzipSync(good)).dims, [2, 3, 3]);
});

test('IDX dataset errors: count mismatch, label out of range, missing file, wrong rank', async () => {
  const dir = join(tmp, 'bad');
  writeIdx(dir, 4, 2, false);
  const lbl = join(dir, 'train-labels-idx1-ubyte');
  writeFileSync(lbl, idxBytes([3], Uint8Array.from([1, 2, 3])));
  await assert.rejects(
    loadIdx(dir, false),
    (e: unknown) => e instanceof DataError && e.field === lbl && /4 labels/.test(e.message),
  );
  writeFileSync(lbl, idxBytes([4], Uint8Array.from([1, 2, 10, 3])));
  await assert.rejects(
    loadIdx(dir, false),
    (e: unknown) =>
      e instanceof DataError && e.field === lbl && /label 10 of record 2 is out of range/.test(e.message),
  );
  writeFileSync(lbl, idxBytes([2, 2], Uint8Array.from([1, 2, 3, 4])));
  await assert.rejects(
    loadIdx(dir, false),
    (e: unknown) => e instanceof DataError && /1 dimension/.test(e.message),
  );
  writeIdx(dir, 4, 2, false);
  const img = join(dir, 't10k-images-idx3-ubyte');
  writeFileSync(img + '.bak', readFileSync(img));
  rmSync(img);
  await assert.rejects(
    loadIdx(dir, false),
    (e: unknown) => e instanceof DataError && e.field === img && /t10k-images-idx3-ubyte.gz/.test(e.message),
  );
});
