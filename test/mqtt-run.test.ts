/**
 * `edge-dmp run --mqtt ... --serial ...` end to end: ffmpeg testsrc frames through a real .tflite
 * in the TFLite runtime, results to a real mosquitto and a socat pty at once; MQTT commands drive
 * the real pipeline; status ends `stopped` when the run ends.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { connect } from 'mqtt';
import { ReadlineParser, SerialPort } from 'serialport';
import { subscribeResults } from '../host/subscribe.js';
import type { CommandReply, ResultPayload } from '../device/payload.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';
import { cleanup, range, startMosquitto, tempDir, until, type Mosquitto } from './helpers/mqtt-harness.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'edge-dmp.js');
const dir = tempDir('run');
const procs: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
let broker: Mosquitto | undefined;
after(async () => {
  for (const c of closers) await c();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await broker?.stop('SIGKILL');
  cleanup(dir, ...(broker ? [broker.dir] : []));
});

test('run --mqtt --serial: results on both, commands reach the pipeline, status stopped at the end', async () => {
  const bytes = tinyModel({ kind: 'colour', size: [16, 16] });
  writeFileSync(join(dir, 'tiny.tflite'), bytes);
  writeFileSync(join(dir, 'labels.txt'), `${COLOUR_LABELS.join('\n')}\n`);
  broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;

  const results: ResultPayload[] = [];
  const sub = subscribeResults({ url, deviceId: 'e2e' }, (r) => results.push(r));
  closers.push(() => sub.close());
  await sub.ready;
  const raw: Record<string, string[]> = {};
  const c = connect(url);
  closers.push(() => c.endAsync(true));
  c.on('message', (t, p) => (raw[t] ??= []).push(p.toString()));
  await new Promise<void>((r) =>
    c.on('connect', () => c.subscribe(['edge-dmp/e2e/#', 'homeassistant/#'], { qos: 1 }, () => r())),
  );

  const dev = join(dir, 'tty-dev');
  const mcuPath = join(dir, 'tty-mcu');
  const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,link=${mcuPath}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(socat);
  // socat's "ready" line, not just the links: bytes written during its terminal setup can be discarded.
  let socatLog = '';
  socat.stderr?.on('data', (d: Buffer) => (socatLog += d.toString()));
  await until(
    'ptys',
    () => existsSync(dev) && existsSync(mcuPath) && socatLog.includes('starting data transfer loop'),
  );
  const mcu = new SerialPort({ path: mcuPath, baudRate: 115200 });
  closers.push(() => new Promise<void>((r) => (mcu.isOpen ? mcu.close(() => r()) : r())));
  const lines: string[] = [];
  mcu.pipe(new ReadlineParser({ delimiter: '\n' })).on('data', (l: string) => lines.push(l));

  const N = 30;
  const args = [
    'run',
    ...['--model', join(dir, 'tiny.tflite'), '--labels', join(dir, 'labels.txt')],
    ...['--source', 'testsrc:?pattern=smptebars', '--width', '32', '--height', '32', '--fps', '10'],
    ...['--max-frames', String(N), '--stats-interval', '0.5', '--json'],
    ...['--mqtt', url, '--device-id', 'e2e', '--outbox', join(dir, 'outbox'), '--ha-discovery'],
    ...['--serial', `${dev}:115200`, '--serial-format', 'compact'],
  ];
  const run = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(run);
  let err = '';
  run.stderr!.on('data', (d) => (err += d));
  const stdout: string[] = [];
  createInterface({ input: run.stdout! }).on('line', (l) => stdout.push(l));
  const exit = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));

  await until(`first result (${err})`, () => results.length > 0, 60_000);
  const replies = (name: string) =>
    (raw[`edge-dmp/e2e/cmd/${name}/reply`] ?? []).map((s) => JSON.parse(s) as CommandReply);
  for (const [name, payload] of [
    ['set-fps', '{"fps":20}'],
    ['pause', ''],
    ['resume', ''],
    ['set-fps', 'oops'],
  ]) {
    const before = replies(name).length;
    await c.publishAsync(`edge-dmp/e2e/cmd/${name}`, payload, { qos: 1 });
    await until(`reply to ${name}`, () => replies(name).length > before);
  }
  assert.deepEqual(
    replies('set-fps').map((r) => [r.ok, r.error?.code ?? null]),
    [
      [true, null],
      [false, 'E_CMD_MALFORMED'],
    ],
  );
  assert.deepEqual(replies('pause')[0].result, { paused: true });
  assert.deepEqual(replies('resume')[0].result, { paused: false });

  assert.equal(await exit, 0, err);
  await until('all results', () => results.length === N);
  assert.deepEqual(
    results.map((r) => r.seq),
    range(N),
  );
  const sha = createHash('sha256').update(bytes).digest('hex');
  for (const r of results) {
    assert.ok(COLOUR_LABELS.includes(r.label), r.label);
    assert.equal(r.model.sha256, sha);
    assert.equal(r.topK.length, 3);
  }
  // stdout JSON lines and the serial lines carry the same classifications, in the same order.
  const printed = stdout.map((l) => JSON.parse(l)).filter((o) => o.ok);
  assert.deepEqual(
    printed.map((o) => o.frameId),
    results.map((r) => r.frameId),
  );
  await until('serial lines', () => lines.length === N);
  assert.deepEqual(
    lines,
    results.map((r) => `${r.label},${r.score.toFixed(4)},${r.seq}`),
  );
  await until('status stopped', () => raw['edge-dmp/e2e/status']?.at(-1) === 'stopped');
  assert.equal(raw['edge-dmp/e2e/status'][0], 'online');
  const metrics = (raw['edge-dmp/e2e/metrics'] ?? []).map((s) => JSON.parse(s));
  assert.ok(metrics.length >= 1, 'metrics published every 0.5 s');
  assert.equal(metrics.at(-1).model.sha256, sha);
  assert.equal(
    JSON.parse(raw['homeassistant/sensor/e2e/label/config'][0]).state_topic,
    'edge-dmp/e2e/results',
  );
});
