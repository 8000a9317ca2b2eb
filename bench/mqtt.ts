/**
 * MQTT reporting benchmark (not a test): outbox append+ack cost per fsync policy, and results per
 * second from report() to PUBACK through a real mosquitto on loopback (QoS 0 and 1), plus how fast
 * a backlog left by an outage drains after reconnect.
 *
 *   npm run bench:mqtt            # table
 *   npm run bench:mqtt -- --json  # one JSON line per row
 */
import { performance } from 'node:perf_hooks';
import { Outbox, type FsyncPolicy } from '../device/outbox.js';
import { MqttReporter } from '../device/mqtt-reporter.js';
import {
  cleanup,
  fakeResult,
  freePort,
  startMosquitto,
  tempDir,
  until,
} from '../test/helpers/mqtt-harness.js';

const json = process.argv.includes('--json');
const rows: Record<string, unknown>[] = [];
const emit = (r: Record<string, unknown>) => {
  rows.push(r);
  if (json) console.log(JSON.stringify(r));
};
const BODY = JSON.stringify({ ...fakeResult(1), seq: 1 });

function outboxBench(fsync: FsyncPolicy, n: number) {
  const dir = tempDir('bench-box');
  const box = new Outbox({ dir, fsync });
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    box.append('t', () => BODY);
    box.ack(i);
  }
  const ms = performance.now() - t0;
  box.close();
  cleanup(dir);
  emit({ bench: 'outbox append+ack', fsync, n, usPerResult: Number(((ms * 1000) / n).toFixed(1)) });
}

async function e2e(qos: 0 | 1, n: number, backlog: boolean) {
  const port = await freePort();
  const dir = tempDir('bench-mqtt');
  let broker = backlog ? null : await startMosquitto({ port });
  const r = new MqttReporter({
    url: `mqtt://127.0.0.1:${port}`,
    deviceId: 'bench',
    outboxDir: dir,
    qos,
    reconnectPeriodMs: 50,
  });
  if (!backlog) await r.waitConnected(5000);
  let t0 = performance.now();
  for (let i = 1; i <= n; i++) r.report(fakeResult(i));
  if (backlog) {
    // The results waited in the outbox during the "outage"; time the drain from the broker's return.
    broker = await startMosquitto({ port });
    t0 = performance.now();
  }
  await until('drained', async () => r.snapshotMetrics().outbox.pending === 0, 120_000);
  const ms = performance.now() - t0;
  await r.close();
  await broker!.stop();
  cleanup(dir, broker!.dir);
  emit({
    bench: backlog ? 'backlog drain after outage' : 'report -> PUBACK',
    qos,
    n,
    resultsPerS: Math.round((n * 1000) / ms),
  });
}

for (const f of ['never', 'interval', 'always'] as FsyncPolicy[]) outboxBench(f, f === 'always' ? 500 : 5000);
await e2e(0, 5000, false);
await e2e(1, 5000, false);
await e2e(1, 5000, true);
if (!json) {
  for (const r of rows)
    console.log(
      Object.entries(r)
        .map(([k, v]) => `${k}=${v}`)
        .join('  '),
    );
}
