/**
 * The serial reporter over a real socat pty pair: JSON and compact lines, trigger mode, and an
 * unplug (socat killed, the ptys vanish) followed by a replug on the same path.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Ajv } from 'ajv';
import { ReadlineParser, SerialPort } from 'serialport';
import { SerialReporter } from '../device/serial-reporter.js';
import { cleanup, fakeResult, range, tempDir, until } from './helpers/mqtt-harness.js';

const dir = tempDir('serial');
const procs: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers) await c();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  cleanup(dir);
});

/** A pty pair: `<name>-dev` for the reporter, `<name>-mcu` for the "microcontroller". */
async function ptyPair(name: string) {
  const dev = join(dir, `${name}-dev`);
  const mcu = join(dir, `${name}-mcu`);
  const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,link=${mcu}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(p);
  // Wait for socat's own "ready" line, not just the links: bytes written while it is still setting
  // the terminals up (raw, echo off) can be discarded.
  let log = '';
  p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  await until(
    'socat ptys',
    () => existsSync(dev) && existsSync(mcu) && log.includes('starting data transfer loop'),
  );
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    dev,
    mcu,
    unplug: async () => {
      p.kill('SIGTERM');
      await exited;
    },
  };
}

/** The microcontroller end: collects lines, can send lines. */
async function mcu(path: string) {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  port.on('error', () => undefined);
  const lines: string[] = [];
  port.pipe(new ReadlineParser({ delimiter: '\n' })).on('data', (l: string) => lines.push(l));
  const close = () => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r()));
  closers.push(close);
  return { lines, send: (l: string) => port.write(`${l}\n`), close };
}

function reporter(o: ConstructorParameters<typeof SerialReporter>[0]) {
  const r = new SerialReporter({ reopenMs: 100, ...o });
  closers.unshift(() => r.close());
  return r;
}

test('JSON lines are the result payload (schema-valid), seq 1..n', async () => {
  const pair = await ptyPair('json');
  const m = await mcu(pair.mcu);
  const r = reporter({ path: pair.dev, deviceId: 'uart1' });
  await until('open', () => r.connected);
  for (const i of range(3)) r.report(fakeResult(i));
  r.report({ ok: false, frameId: 4, ts: 0, code: 'E_FRAME_CORRUPT', reason: 'bad' }); // not written
  await until('3 lines', () => m.lines.length === 3);
  const ajv = new Ajv({ strict: false });
  const schema = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'schemas', 'result.schema.json'), 'utf8'),
  );
  const payloads = m.lines.map((l) => JSON.parse(l));
  for (const p of payloads) assert.ok(ajv.validate(schema, p), ajv.errorsText());
  assert.deepEqual(
    payloads.map((p) => [p.seq, p.deviceId, p.frameId, p.label]),
    range(3).map((i) => [i, 'uart1', i, fakeResult(i).label]),
  );
  assert.equal(r.stats().written, 3);
});

test('compact format label,score,seq with a publish policy', async () => {
  const pair = await ptyPair('compact');
  const m = await mcu(pair.mcu);
  const r = reporter({ path: pair.dev, format: 'compact', policy: { policy: 'label-change' } });
  await until('open', () => r.connected);
  r.report(fakeResult(1, 'cat', 0.91234));
  r.report(fakeResult(2, 'cat', 0.95));
  r.report(fakeResult(3, 'dog,hound', 0.5));
  await until('2 lines', () => m.lines.length === 2);
  assert.deepEqual(m.lines, ['cat,0.9123,1', 'dog hound,0.5000,2']);
  assert.equal(r.stats().filtered, 1);
});

test('trigger mode: each line from the port is answered with one classification', async () => {
  const pair = await ptyPair('trigger');
  const m = await mcu(pair.mcu);
  const r = reporter({ path: pair.dev, format: 'compact', trigger: true });
  await until('open', () => r.connected);
  m.send('?');
  await until('answer 1', () => m.lines.length === 1);
  assert.equal(m.lines[0], '!E_NO_RESULT,0,1');
  r.report(fakeResult(1, 'ship', 0.75));
  r.report(fakeResult(2, 'truck', 0.625)); // not written by itself: only requests are answered
  m.send('classify');
  await until('answer 2', () => m.lines.length === 2);
  assert.deepEqual(m.lines, ['!E_NO_RESULT,0,1', 'truck,0.6250,2']);

  // With onTrigger the request itself produces the classification (e.g. grab a frame now).
  const pair2 = await ptyPair('trigger2');
  const m2 = await mcu(pair2.mcu);
  const asked: string[] = [];
  const r2 = reporter({
    path: pair2.dev,
    trigger: true,
    onTrigger: async (line) => {
      asked.push(line);
      return fakeResult(asked.length, 'cat', 0.5);
    },
  });
  await until('open', () => r2.connected);
  m2.send('a\r');
  m2.send('b');
  await until('2 answers', () => m2.lines.length === 2);
  assert.deepEqual(asked, ['a', 'b']);
  assert.deepEqual(
    m2.lines.map((l) => JSON.parse(l).seq),
    [1, 2],
  );
});

test('unplug (socat killed) and replug: no crash, queued lines delivered after reopen', async () => {
  const pair = await ptyPair('unplug');
  const m = await mcu(pair.mcu);
  const closes: string[] = [];
  let opens = 0;
  const r = reporter({ path: pair.dev, format: 'compact' });
  r.on('close', (why) => closes.push(why));
  r.on('open', () => opens++);
  await until('open', () => opens === 1);
  r.report(fakeResult(1, 'cat', 0.5));
  await until('line 1', () => m.lines.length === 1);

  await pair.unplug();
  await m.close();
  await until('reporter noticed the unplug', () => closes.length === 1 && !r.connected);
  r.report(fakeResult(2, 'dog', 0.25));
  r.report(fakeResult(3, 'ship', 0.125));
  assert.equal(r.stats().queued, 2);
  await new Promise((res) => setTimeout(res, 350)); // a few failed reopen attempts (the path is gone)
  assert.equal(opens, 1);

  const again = await ptyPair('unplug');
  const m2 = await mcu(again.mcu);
  await until('reopened', () => opens === 2);
  r.report(fakeResult(4, 'truck', 1));
  await until('3 lines after replug', () => m2.lines.length === 3);
  assert.deepEqual(m2.lines, ['dog,0.2500,2', 'ship,0.1250,3', 'truck,1.0000,4']);
  assert.deepEqual(m.lines, ['cat,0.5000,1']);
  assert.equal(r.stats().queued, 0);
});

test('bad options are typed errors', () => {
  assert.throws(() => new SerialReporter({ path: '' }), { code: 'E_CONFIG', field: 'path' });
  assert.throws(() => new SerialReporter({ path: '/dev/null', baudRate: 12.5 }), { field: 'baudRate' });
  assert.throws(() => new SerialReporter({ path: '/dev/null', format: 'xml' as never }), {
    field: 'format',
    expected: 'json | compact',
  });
});
