/**
 * `edge-dmp broker` and `edge-dmp watch` as real processes: a device reporter publishes into the
 * CLI broker, `watch --count` prints the results as JSON lines (stdout is not a TTY) and exits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { MqttReporter } from '../device/mqtt-reporter.js';
import { MQTT_REPORTER, normalizeOptionalFlags, parseSerialSpec } from '../device/cli/mqtt-flags.js';
import { cleanup, fakeResult, freePort, range, tempDir, until } from './helpers/mqtt-harness.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'edge-dmp.js');
const procs: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
const dirs: string[] = [];
after(async () => {
  for (const c of closers) await c();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  cleanup(...dirs);
});

function cli(args: string[]) {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  const lines: string[] = [];
  let err = '';
  createInterface({ input: p.stdout! }).on('line', (l) => lines.push(l));
  p.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  return { p, lines, exit, err: () => err };
}

test('edge-dmp broker + edge-dmp watch --count: JSON lines of seq 1..N, then exit 0', async () => {
  const port = await freePort();
  const wsPort = await freePort();
  const broker = cli(['broker', '--port', String(port), '--ws-port', String(wsPort)]);
  await until('broker listening', () => broker.lines.length > 0, 20_000);
  assert.equal(
    broker.lines[0],
    `edge-dmp broker: listening on mqtt://127.0.0.1:${port} ws://127.0.0.1:${wsPort}`,
  );

  const watch = cli(['watch', '--mqtt', `ws://127.0.0.1:${wsPort}`, '--device', 'cli1', '--count', '4']);
  const outboxDir = tempDir('outbox');
  dirs.push(outboxDir);
  const r = new MqttReporter({ url: `mqtt://127.0.0.1:${port}`, deviceId: 'cli1', outboxDir });
  closers.push(() => r.close());
  await r.waitConnected(10_000);
  // watch may still be starting: keep publishing until it has printed what it needs.
  let i = 0;
  await until(
    'watch exited',
    () => {
      if (i < 2000) r.report(fakeResult(++i));
      return watch.p.exitCode !== null;
    },
    30_000,
  );
  assert.equal(await watch.exit, 0, watch.err());
  const got = watch.lines.map((l) => JSON.parse(l));
  assert.equal(got.length, 4);
  const first = got[0].seq;
  assert.deepEqual(
    got.map((g) => g.seq),
    range(4, first),
  );
  assert.equal(got[0].deviceId, 'cli1');

  broker.p.kill('SIGTERM');
  assert.equal(await broker.exit, 0);
  assert.equal(broker.lines.at(-1), 'edge-dmp broker: stopped');
});

test('watch and broker reject bad flags with typed errors (exit 2)', async () => {
  const noUrl = cli(['watch']);
  assert.equal(await noUrl.exit, 2);
  assert.match(noUrl.err(), /--mqtt: expected a broker URL/);
  const badUrl = cli(['watch', '--mqtt', 'http://x']);
  assert.equal(await badUrl.exit, 2);
  assert.match(badUrl.err(), /E_CONFIG.*url: expected mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//);
  const badCount = cli(['watch', '--mqtt', 'mqtt://127.0.0.1:1', '--count', '0']);
  assert.equal(await badCount.exit, 2);
  assert.match(badCount.err(), /--count: expected an integer >= 1/);
  const badPort = cli(['broker', '--port', 'x']);
  assert.equal(await badPort.exit, 2);
  assert.match(badPort.err(), /--port: expected a number/);
});

test('flag helpers: optional --ha-discovery value, serial path:baud', () => {
  assert.deepEqual(normalizeOptionalFlags(['--ha-discovery', '--mqtt', 'u']), [
    '--ha-discovery',
    'homeassistant',
    '--mqtt',
    'u',
  ]);
  assert.deepEqual(normalizeOptionalFlags(['--ha-discovery', 'ha']), ['--ha-discovery', 'ha']);
  assert.deepEqual(normalizeOptionalFlags(['--ha-discovery']), ['--ha-discovery', 'homeassistant']);
  assert.deepEqual(parseSerialSpec('/dev/ttyUSB0:9600'), { path: '/dev/ttyUSB0', baudRate: 9600 });
  assert.deepEqual(parseSerialSpec('/dev/ttyACM0'), { path: '/dev/ttyACM0' });
});

test('watch on a TTY draws a live table (one row per device)', async () => {
  const port = await freePort();
  const broker = cli(['broker', '--port', String(port)]);
  await until('broker listening', () => broker.lines.length > 0, 20_000);
  // `script` gives watch a real pseudo-terminal as stdout.
  const cmd = `${process.execPath} ${BIN} watch --mqtt mqtt://127.0.0.1:${port} --count 6`;
  const tty = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(tty);
  let screen = '';
  tty.stdout!.on('data', (d) => (screen += d));
  const exit = new Promise<number | null>((r) => tty.once('exit', (c) => r(c)));
  const reporters = ['tty1', 'tty2'].map((id) => {
    const outboxDir = tempDir('outbox');
    dirs.push(outboxDir);
    const r = new MqttReporter({ url: `mqtt://127.0.0.1:${port}`, deviceId: id, outboxDir });
    closers.push(() => r.close());
    return r;
  });
  let i = 0;
  await until(
    'watch exited',
    () => {
      if (i < 2000) for (const r of reporters) r.report(fakeResult(++i, 'ship', 0.5));
      return tty.exitCode !== null;
    },
    30_000,
  );
  assert.equal(await exit, 0, screen);
  const last = screen.split('\x1b[H\x1b[2J').at(-1)!.replaceAll('\r', '');
  const rows = last.split('\n');
  assert.match(rows[0], /^device\s+seq\s+label\s+score\s+latency ms\s+age s/);
  assert.deepEqual(
    rows
      .slice(1, 3)
      .map((r) => r.split(/\s+/).slice(0, 1)[0])
      .sort(),
    ['tty1', 'tty2'],
  );
  assert.match(rows[1], /ship\s+0\.500\s+9\.5/);
  assert.match(last, /6 results, 0 duplicates dropped/);
  broker.p.kill('SIGTERM');
  assert.equal(await broker.exit, 0);
});

test('run --mqtt factory: flags become reporter options; bad values are typed errors', async () => {
  const port = await freePort();
  const outbox = tempDir('outbox');
  dirs.push(outbox);
  const control = { pause() {}, resume() {}, setFps() {}, stats: () => ({}) as never };
  const model = fakeResult(0).model;
  const make = (values: Record<string, string>) =>
    MQTT_REPORTER.create(`mqtt://127.0.0.1:${port}`, { values: { outbox, ...values }, model, control });
  const a = (await make({ 'device-id': 'f1', threshold: '0.7' })) as MqttReporter;
  assert.deepEqual([a.deviceId, a.policy.name, a.policy.threshold], ['f1', 'threshold', 0.7]);
  assert.equal(a.topics.results, 'edge-dmp/f1/results');
  await a.close();
  const b = (await make({ 'device-id': 'f2', 'every-n': '4', prefix: 'site/line1/f2' })) as MqttReporter;
  assert.deepEqual(
    [b.policy.name, b.policy.everyN, b.topics.status],
    ['every-nth', 4, 'site/line1/f2/status'],
  );
  await b.close();
  await assert.rejects(make({ qos: '3' }), { field: '--qos', expected: '0, 1 or 2' });
  await assert.rejects(make({ policy: 'often' }), { field: '--policy' });
  await assert.rejects(make({ fsync: 'maybe' }), { field: '--fsync' });
  await assert.rejects(make({ threshold: '2' }), { field: 'threshold', expected: 'a number in [0, 1]' });
});
