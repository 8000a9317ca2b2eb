import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCifar10, loadCifar100, loadData } from '../sdk/data/index.js';
import { DataError } from '../core/errors.js';
import { cifarRecords, pix, writeCifar10, writeCifar100 } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-cifar-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('CIFAR-10 binary: planes become HWC, five batches concatenate, meta gives class names', async () => {
  const dir = join(tmp, 'c10');
  writeCifar10(dir, 4, 3);
  const d = await loadData(`cifar10:${dir}`);
  assert.equal(d.format, 'cifar10');
  assert.deepEqual(d.classes, ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
  assert.equal(d.train.length, 20);
  assert.equal(d.val.length, 3);
  assert.deepEqual(d.train.imageSize, [32, 32]);
  assert.deepEqual(
    Array.from(d.train.labels),
    Array.from({ length: 20 }, (_, i) => i % 10),
  );
  const [img] = await d.train.read([13]);
  assert.ok(img);
  assert.equal(img.channels, 3);
  // pixel (y=5, x=7) of record 13, all three channels
  const o = (5 * 32 + 7) * 3;
  assert.deepEqual(Array.from(img.data.subarray(o, o + 3)), [
    pix(13, 5, 7, 0),
    pix(13, 5, 7, 1),
    pix(13, 5, 7, 2),
  ]);
  const [v] = await d.val.read([2]);
  assert.equal(v!.data[(31 * 32 + 31) * 3 + 2], pix(1002, 31, 31, 2));
});

test('CIFAR-10 without batches.meta.txt uses the standard names', async () => {
  const dir = join(tmp, 'c10-nometa');
  writeCifar10(dir, 1, 1, false);
  const d = await loadCifar10(dir);
  assert.equal(d.classes[0], 'airplane');
  assert.equal(d.classes[9], 'truck');
});

test('CIFAR-100: fine labels by default, coarse on request', async () => {
  const dir = join(tmp, 'c100');
  writeCifar100(
    dir,
    [
      [3, 77],
      [19, 99],
      [0, 0],
    ],
    [[5, 42]],
  );
  const fine = await loadCifar100(dir);
  assert.equal(fine.classes.length, 100);
  assert.deepEqual(Array.from(fine.train.labels), [77, 99, 0]);
  assert.deepEqual(Array.from(fine.val.labels), [42]);
  const coarse = await loadData(`cifar100:${dir}`, { cifar100Labels: 'coarse' });
  assert.equal(coarse.classes.length, 20);
  assert.deepEqual(Array.from(coarse.train.labels), [3, 19, 0]);
  const [img] = await coarse.train.read([1]);
  assert.equal(img!.data[(2 * 32 + 3) * 3 + 1], pix(1, 2, 3, 1));
});

async function rejects(p: Promise<unknown>, file: string, what: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.equal(e.code, 'E_DATA');
    assert.ok(e.field.endsWith(file), `field ${e.field} should name ${file}`);
    assert.match(e.message, what);
    return true;
  });
}

test('CIFAR malformed inputs are DataErrors naming the file', async () => {
  const dir = join(tmp, 'bad');
  writeCifar10(dir, 2, 2);
  // truncated: one byte short
  const good = cifarRecords([[1], [2]]);
  writeFileSync(join(dir, 'data_batch_3.bin'), good.subarray(0, good.length - 1));
  await rejects(loadCifar10(dir), 'data_batch_3.bin', /not a whole number of 3073-byte/);
  // label out of range
  writeFileSync(join(dir, 'data_batch_3.bin'), cifarRecords([[1], [10]]));
  await rejects(loadCifar10(dir), 'data_batch_3.bin', /label 10 of record 1 is out of range/);
  // missing file
  writeFileSync(join(dir, 'data_batch_3.bin'), good);
  unlinkSync(join(dir, 'test_batch.bin'));
  await rejects(loadCifar10(dir), 'test_batch.bin', /cannot read/);
  // meta with the wrong number of names
  writeCifar10(dir, 2, 2);
  writeFileSync(join(dir, 'batches.meta.txt'), 'a\nb\n');
  await rejects(loadCifar10(dir), 'batches.meta.txt', /10 class names/);
  // empty file
  writeCifar10(dir, 2, 2);
  writeFileSync(join(dir, 'test_batch.bin'), new Uint8Array(0));
  await rejects(loadCifar10(dir), 'test_batch.bin', /not a whole number/);
  // CIFAR-100 fine label out of range, and a CIFAR-10 file given as CIFAR-100 (3073-byte records)
  const c100 = join(tmp, 'bad100');
  writeCifar100(c100, [[1, 100]], [[1, 1]]);
  await rejects(loadCifar100(c100), 'train.bin', /label 100 of record 0/);
  writeFileSync(join(c100, 'train.bin'), cifarRecords([[1], [2]]));
  await rejects(loadCifar100(c100), 'train.bin', /3074-byte/);
  writeCifar100(c100, [[20, 1]], [[1, 1]]);
  await rejects(loadCifar100(c100, { cifar100Labels: 'coarse' }), 'train.bin', /expected 0\.\.19/);
});
