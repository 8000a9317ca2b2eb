/**
 * The durable outbox on a real file system: seq survives restarts and compaction, torn tails are
 * ignored, size/count/age bounds drop the oldest and the count survives restarts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Outbox } from '../device/outbox.js';
import { ackLine } from '../device/outbox-records.js';
import { cleanup, range, tempDir } from './helpers/mqtt-harness.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
function dir() {
  const d = tempDir('box');
  dirs.push(d);
  return d;
}
const body = (seq: number) => JSON.stringify({ seq });

test('pending entries and seq survive a reopen; acked ones are not replayed', () => {
  const d = dir();
  const a = new Outbox({ dir: d, fsync: 'always' });
  for (const _ of range(5)) a.append('t/results', body);
  a.ack(2);
  a.ack(4);
  a.ack(99); // unknown: ignored
  a.close();
  const b = new Outbox({ dir: d });
  assert.deepEqual(
    b.pending().map((e) => e.seq),
    [1, 3, 5],
  );
  assert.equal(b.pending()[1].body, '{"seq":3}');
  assert.equal(b.next(1)?.seq, 3);
  assert.equal(b.next(5), undefined);
  assert.equal(b.append('t/results', body).seq, 6);
  b.close();
});

test('seq stays monotonic after compaction empties the log', () => {
  const d = dir();
  const a = new Outbox({ dir: d, fsync: 'never' });
  for (const i of range(1500)) {
    a.append('t', body);
    a.ack(i);
  }
  // Compaction ran (the log holds a header and no finished entries any more) and kept the seq in state.json.
  assert.equal(readFileSync(join(d, 'log'), 'utf8').split('\n').length - 1, 1 + 1500 - 1001);
  assert.equal(JSON.parse(readFileSync(join(d, 'state.json'), 'utf8')).seq, 1001);
  a.close();
  const b = new Outbox({ dir: d });
  assert.deepEqual(b.stats(), { pending: 0, dropped: 0, bytes: 0, lastSeq: 1500, corrupt: 0, full: null });
  assert.equal(b.append('t', body).seq, 1501);
  b.close();
});

test('a torn last line (power cut mid-write) is ignored', () => {
  const d = dir();
  const a = new Outbox({ dir: d });
  a.append('t', body);
  a.append('t', body);
  a.close();
  appendFileSync(join(d, 'log'), '1234abcd {"seq":3,"t":1,"topic":"t","bo');
  appendFileSync(join(d, 'acks'), ackLine('a', 1) + 'a ');
  const warnings: string[] = [];
  const b = new Outbox({ dir: d, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [], 'a torn tail is expected after a power cut, not corruption');
  assert.deepEqual(
    b.pending().map((e) => e.seq),
    [2],
  );
  assert.equal(b.append('t', body).seq, 3);
  b.close();
});

test('count, size and age bounds drop the oldest; the dropped count is persisted', () => {
  const d = dir();
  let now = 1_000_000;
  const a = new Outbox({ dir: d, maxEntries: 3, now: () => now });
  for (const _ of range(5)) a.append('t', body);
  assert.deepEqual(
    a.pending().map((e) => e.seq),
    [3, 4, 5],
  );
  assert.equal(a.stats().dropped, 2);
  a.close();

  const b = new Outbox({ dir: d, maxAgeMs: 60_000, now: () => now });
  assert.equal(b.stats().dropped, 2);
  now += 30_000;
  b.append('t', body); // seq 6, younger
  now += 40_000; // 3..5 are now 70 s old, 6 is 40 s old
  assert.equal(b.expire(), 3);
  assert.deepEqual(
    b.pending().map((e) => e.seq),
    [6],
  );
  assert.equal(b.stats().dropped, 5);
  b.close();

  const c = new Outbox({ dir: d, maxBytes: 30, now: () => now });
  for (const _ of range(3)) c.append('t', body); // each body is 10 bytes: {"seq":N} with N=7..9
  c.append('t', (s) => JSON.stringify({ seq: s, pad: 'x' }));
  assert.deepEqual(
    c.pending().map((e) => e.seq),
    [9, 10],
  );
  assert.equal(c.stats().bytes, 9 + 20);
  assert.equal(c.stats().dropped, 8);
  c.close();
});

test('bad options are typed errors naming the option', () => {
  assert.throws(() => new Outbox({ dir: '' }), { code: 'E_CONFIG', field: 'outbox.dir' });
  assert.throws(() => new Outbox({ dir: dir(), maxEntries: 0 }), { field: 'outbox.maxEntries' });
  assert.throws(() => new Outbox({ dir: dir(), fsync: 'sometimes' as never }), {
    field: 'outbox.fsync',
    expected: 'always | interval | never',
  });
});

test('one process per outbox: a live owner is refused, a dead one (kill -9) or an unrelated pid is taken over', async () => {
  const d = dir();
  const a = new Outbox({ dir: d });
  assert.throws(() => new Outbox({ dir: d }), {
    field: 'outbox.dir',
    received: `${d} (already open in this process)`,
  });
  a.close();
  // A real second device process holding the outbox.
  const owner = spawn(
    process.execPath,
    [
      '--conditions=edge-dmp-source',
      '--import',
      'tsx',
      '-e',
      `import('./device/outbox.ts').then(({ Outbox }) => { new Outbox({ dir: ${JSON.stringify(d)} }); console.log('open'); setInterval(() => {}, 1000); })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((r) => owner.stdout.once('data', r));
  assert.throws(() => new Outbox({ dir: d }), {
    field: 'outbox.dir',
    received: `${d} (locked by pid ${owner.pid})`,
  });
  owner.kill('SIGKILL');
  await new Promise((r) => owner.once('exit', r));
  const b = new Outbox({ dir: d });
  assert.equal(JSON.parse(readFileSync(join(d, 'lock'), 'utf8')).pid, process.pid);
  b.close();
  // A live process that is not the one that wrote the lock: an old pid-only lock naming `sleep`,
  // and a lock whose start time is not that pid's (the pid was reused).
  const sleeper = spawn('sleep', ['30']);
  for (const text of [String(sleeper.pid), JSON.stringify({ pid: sleeper.pid, start: '1' })]) {
    writeFileSync(join(d, 'lock'), text);
    const c = new Outbox({ dir: d });
    assert.equal(JSON.parse(readFileSync(join(d, 'lock'), 'utf8')).pid, process.pid);
    c.close();
  }
  sleeper.kill('SIGKILL');
});
