/**
 * A full disk under the outbox (issue 16, finding 2), on a real 200 KB tmpfs mount: the outbox
 * stops persisting instead of throwing, says `outbox full` once, keeps entries in memory, starts
 * on the full disk, and persists everything pending when space returns; the MQTT reporter keeps
 * publishing every result live (real mosquitto) and reports `outbox full` in its metrics.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MqttReporter } from '../device/mqtt-reporter.js';
import { Outbox } from '../device/outbox.js';
import { subscribeResults } from '../host/subscribe.js';
import {
  cleanup,
  fakeResult,
  range,
  startMosquitto,
  tempDir,
  until,
  type Mosquitto,
} from './helpers/mqtt-harness.js';

const root = tempDir('enospc');
const mnt = join(root, 'mnt');
let broker: Mosquitto;

before(async () => {
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt]);
  broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
  execFileSync('umount', [mnt]);
  cleanup(root, broker?.dir);
});

/** Fills the mount with a filler file leaving about `leave` bytes free. */
function fill(name: string, leave: number): string {
  const free = () => {
    const s = statfsSync(mnt);
    return s.bavail * s.bsize;
  };
  const p = join(mnt, name);
  writeFileSync(p, Buffer.alloc(Math.max(0, free() - leave)));
  return p;
}
const body = (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(900) });

test('outbox on a full tmpfs: never throws, one "outbox full", starts full, drains when space returns', () => {
  const d = join(mnt, 'box');
  const filler = fill('filler', 24 * 1024);
  let now = 1_000_000;
  const warnings: string[] = [];
  const opts = {
    dir: d,
    fsync: 'never' as const,
    now: () => now,
    onWarning: (m: string) => warnings.push(m),
  };
  const a = new Outbox(opts);
  for (const _ of range(100)) a.append('t/results', body);
  assert.equal(a.stats().full, 'outbox full');
  assert.equal(a.stats().pending, 100, 'entries that could not be written stay in memory');
  assert.equal(warnings.filter((w) => /outbox full/.test(w)).length, 1, warnings.join('\n'));
  for (const s of range(50)) a.ack(s);
  assert.equal(a.stats().pending, 50);
  a.close();

  // A restart on the still-full disk starts (full), with what was persisted, and seqs move on.
  const b = new Outbox(opts);
  const persisted = b.stats().pending;
  assert.ok(persisted < 100, `persisted ${persisted}`);
  const next = b.append('t/results', body).seq;
  assert.ok(next > 100, `next seq ${next} after 100 used`);
  assert.equal(b.stats().full, 'outbox full');

  // Space returns: the next retry persists everything pending.
  rmSync(filler);
  now += 5000;
  assert.equal(b.stats().full, null);
  assert.match(warnings.join('\n'), /outbox full cleared/);
  const pending = b.pending().map((e) => e.seq);
  b.close();
  const c = new Outbox(opts);
  assert.deepEqual(
    c.pending().map((e) => e.seq),
    pending,
  );
  assert.equal(c.stats().full, null);
  c.close();
  rmSync(d, { recursive: true });
});

test('MQTT reporter on a full outbox disk: every result still published live, metrics say "outbox full"', async () => {
  const filler = fill('filler2', 8 * 1024);
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const got: number[] = [];
  const sub = subscribeResults({ url, deviceId: 'full1', reorderMs: 0 }, (r) => got.push(r.seq));
  await sub.ready;
  const warnings: string[] = [];
  const rep = new MqttReporter({
    url,
    deviceId: 'full1',
    outboxDir: join(mnt, 'rep'),
    outbox: { fsync: 'never', onWarning: (m) => warnings.push(m) },
  });
  await rep.waitConnected(10_000);
  for (const i of range(300)) rep.report(fakeResult(i));
  await until('300 results at the subscriber', () => got.length >= 300, 20_000);
  assert.deepEqual(got, range(300));
  const m = rep.snapshotMetrics();
  assert.equal(m.outbox.full, 'outbox full');
  assert.equal(warnings.filter((w) => /outbox full/.test(w)).length, 1);
  await rep.close();
  await sub.close();
  rmSync(filler);
});
