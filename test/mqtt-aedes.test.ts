/**
 * The aedes dev broker: restart mid-stream with exactly-once in-order delivery, WebSocket
 * subscribers, and the outbox size bound (drop-oldest, counted in metrics).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect } from 'mqtt';
import { startBroker } from '../host/broker.js';
import { resultPayload } from '../device/payload.js';
import { MqttReporter } from '../device/mqtt-reporter.js';
import { subscribeResults, type Subscription } from '../host/subscribe.js';
import { cleanup, fakeResult, freePort, range, sleep, tempDir, until } from './helpers/mqtt-harness.js';

const dirs: string[] = [];
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  cleanup(...dirs);
});

async function broker(o: Parameters<typeof startBroker>[0]) {
  const b = await startBroker(o);
  closers.push(() => b.close());
  return b;
}

function reporter(
  o: Partial<ConstructorParameters<typeof MqttReporter>[0]> & { url: string; deviceId: string },
) {
  const outboxDir = tempDir('outbox');
  dirs.push(outboxDir);
  const r = new MqttReporter({ outboxDir, reconnectPeriodMs: 100, closeTimeoutMs: 500, ...o });
  closers.push(() => r.close());
  return r;
}

function subscribe(o: Parameters<typeof subscribeResults>[0], got: number[]): Subscription {
  const s = subscribeResults({ reconnectPeriodMs: 100, ...o }, (r) => got.push(r.seq));
  closers.push(() => s.close());
  return s;
}

test('aedes dropped mid-stream and restarted with its sessions: seq 1..N exactly once, in order', async () => {
  const N = 120;
  const b1 = await broker({ port: 0 });
  const url = `mqtt://127.0.0.1:${b1.port}`;
  const got: number[] = [];
  const sub = subscribe({ url, deviceId: 'a1', clientId: 'a1-watch', persistent: true }, got);
  await sub.ready;
  const r = reporter({ url, deviceId: 'a1' });
  await r.waitConnected(5000);
  let frame = 0;
  const feed = setInterval(() => {
    if (frame < N) r.report(fakeResult(++frame));
  }, 5);
  closers.push(async () => clearInterval(feed));
  await until('30 delivered', () => got.length >= 30);
  // Every connection dropped at once, as in a crash; the session store (persistence) survives,
  // as it does for a broker with a disk-backed store.
  await b1.close();
  const downAt = got.length;
  await sleep(300);
  assert.equal(r.connected, false);
  const b2 = await broker({ port: b1.port, persistence: b1.persistence });
  await until(
    () => `all ${N} delivered (have ${got.length}: ${JSON.stringify(sub.stats)})`,
    () => got.length >= N,
    30_000,
  );
  assert.equal(await r.flush(10_000), true);
  assert.ok(downAt < N);
  assert.deepEqual(got, range(N));
  assert.equal(r.snapshotMetrics().outbox.pending, 0);
  assert.ok(b2.clients() >= 2);
});

test('WebSocket subscribers get what TCP publishers send', async () => {
  const b = await broker({ port: 0, wsPort: 0 });
  assert.ok(b.wsPort! > 0);
  const got: number[] = [];
  const sub = subscribe({ url: `ws://127.0.0.1:${b.wsPort}`, deviceId: '+' }, got);
  await sub.ready;
  const r = reporter({ url: `mqtt://127.0.0.1:${b.port}`, deviceId: 'ws1' });
  await r.waitConnected(5000);
  for (const i of range(5)) r.report(fakeResult(i));
  await until('5 over ws', () => got.length === 5);
  assert.deepEqual(got, range(5));
  assert.deepEqual(sub.stats.lastSeq, { ws1: 5 });
});

test('outbox bound while offline: oldest dropped, counted in metrics, the rest delivered in order', async () => {
  const port = await freePort();
  const r = reporter({ url: `mqtt://127.0.0.1:${port}`, deviceId: 'bound1', outbox: { maxEntries: 5 } });
  for (const i of range(8)) r.report(fakeResult(i));
  const m = r.snapshotMetrics();
  assert.deepEqual([m.outbox.pending, m.outbox.dropped], [5, 3]);
  const b = await broker({ port });
  const seen: number[] = [];
  b.aedes.on('publish', (packet, client) => {
    if (client && packet.topic === 'edge-dmp/bound1/results')
      seen.push(JSON.parse(packet.payload.toString()).seq);
  });
  // (waitConnected would fail on a refusal from before the broker was up)
  await until('connected', () => r.connected);
  assert.equal(await r.flush(5000), true);
  assert.deepEqual(seen, [4, 5, 6, 7, 8]);
  assert.deepEqual(r.snapshotMetrics().outbox, { pending: 0, dropped: 3, bytes: 0, corrupt: 0, full: null });
});

test('dev broker options are checked', async () => {
  await assert.rejects(startBroker({ port: 70000 }), { code: 'E_CONFIG', field: 'port' });
  const b = await broker({ port: 0 });
  await assert.rejects(startBroker({ port: b.port }), {
    code: 'E_CONFIG',
    field: 'port',
    expected: 'a free port',
  });
});

test('subscribeResults re-orders within reorderMs, drops duplicates, skips gaps that never fill', async () => {
  const b = await broker({ port: 0 });
  const url = `mqtt://127.0.0.1:${b.port}`;
  const got: number[] = [];
  const invalid: string[] = [];
  const sub = subscribeResults(
    { url, deviceId: 'ro1', reorderMs: 200, onInvalid: (t) => invalid.push(t) },
    (r) => got.push(r.seq),
  );
  closers.push(() => sub.close());
  await sub.ready;
  const c = connect(url);
  closers.push(() => c.endAsync(true));
  await new Promise<void>((r) => c.on('connect', () => r()));
  const body = (seq: number) => JSON.stringify({ ...resultPayload('ro1', seq, fakeResult(seq)) });
  for (const seq of [1, 3, 2, 2, 1, 5, 6])
    await c.publishAsync('edge-dmp/ro1/results', body(seq), { qos: 1 });
  await c.publishAsync('edge-dmp/ro1/results', '{"v":99}', { qos: 1 });
  await until('1..3 in order', () => got.length === 3);
  assert.deepEqual(got, [1, 2, 3]);
  // 4 never comes: after reorderMs, 5 and 6 go out and the gap is counted.
  await until('gap skipped', () => got.length === 5);
  assert.deepEqual(got, [1, 2, 3, 5, 6]);
  assert.deepEqual(
    { ...sub.stats, lastSeq: sub.stats.lastSeq.ro1 },
    { delivered: 5, duplicates: 2, gaps: 1, invalid: 1, late: 0, lastSeq: 6 },
  );
  assert.deepEqual(invalid, ['edge-dmp/ro1/results']);
});
