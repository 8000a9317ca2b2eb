/**
 * Commands only from those allowed, against a real mosquitto (issue 16, finding 5): retained
 * commands are ignored and cleared, commands can be off, limited to a list or required to be
 * signed (Ed25519, timestamp + nonce: replays and stale or re-targeted commands are refused),
 * error replies stay small for a 10 MB command, and subscribers survive a forged seq.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { generateKeyPair } from '../converter/bundle.js';
import { signCommand } from '../device/command-auth.js';
import { MqttReporter, type MqttReporterOptions } from '../device/mqtt-reporter.js';
import { resultPayload, type CommandReply } from '../device/payload.js';
import { subscribeResults } from '../host/subscribe.js';
import {
  cleanup,
  fakeResult,
  range,
  sleep,
  startMosquitto,
  tempDir,
  until,
  type Mosquitto,
} from './helpers/mqtt-harness.js';

let broker: Mosquitto;
let url: string;
let client: MqttClient;
const dir = tempDir('cmdauth');
let keys: { privateKeyPath: string; publicKeyPath: string };
let otherKey: string;
const replies: Record<string, { reply: CommandReply; bytes: number }[]> = {};
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  broker = await startMosquitto();
  url = `mqtt://127.0.0.1:${broker.port}`;
  keys = await generateKeyPair(join(dir, 'keys'));
  otherKey = (await generateKeyPair(join(dir, 'other'))).privateKeyPath;
  client = connect(url);
  client.on('message', (topic, p) => {
    if (!topic.endsWith('/reply')) return;
    (replies[topic] ??= []).push({ reply: JSON.parse(p.toString()), bytes: p.length });
  });
  await new Promise<void>((r) =>
    client.on('connect', () => client.subscribe('edge-dmp/+/cmd/+/reply', { qos: 1 }, () => r())),
  );
});
after(async () => {
  for (const c of closers.reverse()) await c();
  await client.endAsync(true);
  await broker.stop();
  cleanup(dir, broker.dir);
});

/** A reporter with a recording control. */
async function device(id: string, extra: Partial<MqttReporterOptions> = {}) {
  const calls: string[] = [];
  const r = new MqttReporter({
    url,
    deviceId: id,
    outboxDir: join(dir, `outbox-${id}-${Math.random().toString(16).slice(2)}`),
    reconnectPeriodMs: 100,
    control: {
      pause: () => void calls.push('pause'),
      resume: () => void calls.push('resume'),
      setFps: (n) => void calls.push(`fps ${n}`),
    },
    ...extra,
  });
  closers.push(() => r.close());
  await r.waitConnected(10_000);
  return { r, calls };
}
const replyOf = async (id: string, name: string, n = 1) => {
  const t = `edge-dmp/${id}/cmd/${name}/reply`;
  await until(`${n} replies on ${t}`, () => (replies[t]?.length ?? 0) >= n);
  return replies[t][n - 1];
};
const send = (topic: string, payload: string | Buffer, retain = false) =>
  client.publishAsync(topic, payload, { qos: 1, retain });

/**
 * A TCP relay to the broker that holds what a client sends after its first packet (CONNECT) for
 * `ms`: the device's SUBSCRIBE then reaches the broker well after its CONNACK came back, the
 * window that a loaded machine opens by chance.
 */
async function slowUplink(ms: number): Promise<{ url: string; close: () => void }> {
  const server = createServer((down) => {
    const up = netConnect(broker.port, '127.0.0.1');
    let first = true;
    down.on('data', (d) => {
      if (first) up.write(d);
      else setTimeout(() => up.write(d), ms);
      first = false;
    });
    up.on('data', (d) => down.write(d));
    const end = () => (up.destroy(), down.destroy());
    up.on('error', end).on('close', end);
    down.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

test('waitConnected means subscribed: a command sent right after it is answered, even on a slow uplink', async () => {
  const relay = await slowUplink(300);
  try {
    for (let i = 0; i < 3; i++) {
      const { r } = await device(`fresh${i}`, { url: relay.url });
      await send(`edge-dmp/fresh${i}/cmd/snapshot-metrics`, '');
      assert.equal((await replyOf(`fresh${i}`, 'snapshot-metrics')).reply.ok, true);
      await r.close();
    }
  } finally {
    relay.close();
  }
});

test('a retained pause is ignored and cleared: it does not pause the device now or after a restart', async () => {
  await send('edge-dmp/ret1/cmd/pause', '', false);
  await send('edge-dmp/ret1/cmd/pause', '{}', true);
  const ignored: string[] = [];
  const { r, calls } = await device('ret1');
  r.on('ignored', (t, why) => ignored.push(`${t} ${why}`));
  await until('retained command cleared', async () => {
    // A fresh subscriber sees no retained message on the topic any more.
    const probe = connect(url);
    const got: string[] = [];
    probe.on('message', (_t, p) => got.push(p.toString()));
    await new Promise<void>((res) =>
      probe.on('connect', () => probe.subscribe('edge-dmp/ret1/cmd/pause', { qos: 1 }, () => res())),
    );
    await sleep(200);
    await probe.endAsync(true);
    return got.length === 0;
  });
  await r.close();
  const again = await device('ret1');
  await sleep(300);
  assert.deepEqual([...calls, ...again.calls], []);
  // A live (non-retained) pause still works.
  await send('edge-dmp/ret1/cmd/pause', '');
  await until('live pause', () => again.calls.length === 1);
  assert.deepEqual(again.calls, ['pause']);
});

test('commands off: nothing is obeyed or answered; an allow list answers E_CMD_FORBIDDEN', async () => {
  const off = await device('off1', { commands: { enabled: false } });
  await send('edge-dmp/off1/cmd/pause', '');
  const listed = await device('list1', { commands: { allow: ['snapshot-metrics'] } });
  await send('edge-dmp/list1/cmd/pause', '');
  const forbidden = await replyOf('list1', 'pause');
  assert.equal(forbidden.reply.ok, false);
  assert.equal(forbidden.reply.error?.code, 'E_CMD_FORBIDDEN');
  await send('edge-dmp/list1/cmd/snapshot-metrics', '');
  assert.equal((await replyOf('list1', 'snapshot-metrics')).reply.ok, true);
  await sleep(300);
  assert.deepEqual(off.calls, []);
  assert.deepEqual(listed.calls, []);
  assert.equal(replies['edge-dmp/off1/cmd/pause/reply'], undefined);
});

test('signed commands: unsigned, other key, other device, stale and replayed are refused; a signed one runs', async () => {
  const pem = readFileSync(keys.publicKeyPath, 'utf8');
  const { calls } = await device('sig1', { commands: { keys: [pem] } });
  const topic = 'edge-dmp/sig1/cmd/set-fps';
  const key = readFileSync(keys.privateKeyPath, 'utf8');
  const cases: Array<[string, string, string]> = [
    ['unsigned', '{"fps":5}', 'E_CMD_UNSIGNED'],
    [
      'other key',
      signCommand({ topic, args: { fps: 5 }, key: readFileSync(otherKey, 'utf8') }),
      'E_CMD_BAD_SIGNATURE',
    ],
    [
      'other device',
      signCommand({ topic: 'edge-dmp/sig2/cmd/set-fps', args: { fps: 5 }, key }),
      'E_CMD_BAD_SIGNATURE',
    ],
    ['stale', signCommand({ topic, args: { fps: 5 }, key, ts: Date.now() - 120_000 }), 'E_CMD_STALE'],
  ];
  let n = 0;
  for (const [what, payload, code] of cases) {
    await send(topic, payload);
    const { reply } = await replyOf('sig1', 'set-fps', ++n);
    assert.equal(reply.error?.code, code, what);
  }
  assert.deepEqual(calls, []);
  // Signed with the CLI (the same keygen keys), it runs once; the same payload again is a replay.
  // Async: a synchronous child would stall this process's event loop, where the device's MQTT
  // client lives, for the seconds the CLI takes on a loaded machine (a keepalive check that fires
  // then reconnects the device and the next command is lost; seen once in CI).
  const signed = (
    await promisify(execFile)(
      process.execPath,
      [
        'bin/edge-dmp.js',
        'sign-command',
        '--key',
        keys.privateKeyPath,
        '--topic',
        topic,
        '--args',
        '{"fps":5}',
      ],
      { encoding: 'utf8' },
    )
  ).stdout.trim();
  await send(topic, signed);
  assert.equal((await replyOf('sig1', 'set-fps', ++n)).reply.ok, true);
  await send(topic, signed);
  const replay = (await replyOf('sig1', 'set-fps', n + 1)).reply;
  assert.equal(replay.error?.code, 'E_CMD_REPLAY');
  assert.deepEqual(calls, ['fps 5']);
});

test('a 10 MB command gets a small error reply', async () => {
  await device('big1');
  await send('edge-dmp/big1/cmd/set-fps', Buffer.alloc(10 * 2 ** 20, 'x'));
  const { reply, bytes } = await replyOf('big1', 'set-fps');
  assert.equal(reply.error?.code, 'E_CMD_TOO_LARGE');
  assert.ok(bytes < 2048, `reply of ${bytes} bytes`);
  // Malformed JSON just under the size limit: still a small reply.
  await send('edge-dmp/big1/cmd/set-fps', Buffer.alloc(60_000, '{'));
  const second = await replyOf('big1', 'set-fps', 2);
  assert.equal(second.reply.error?.code, 'E_CMD_MALFORMED');
  assert.ok(second.bytes < 2048, `reply of ${second.bytes} bytes`);
});

test('a forged result with seq 999999999 (same epoch) and a device whose seq restarted do not blind a subscriber', async () => {
  const got: string[] = [];
  const sub = subscribeResults({ url, deviceId: 'fs1', reorderMs: 100 }, (r) =>
    got.push(`${r.epoch}:${r.seq}`),
  );
  closers.push(() => sub.close());
  await sub.ready;
  const a = await device('fs1');
  for (const i of range(5)) a.r.report(fakeResult(i));
  await until('first 5', () => got.length === 5);
  await send(
    'edge-dmp/fs1/results',
    JSON.stringify(resultPayload('fs1', 999_999_999, fakeResult(0), a.r.epoch)),
  );
  await until('forged one delivered', () => got.length === 6);
  for (const i of range(5, 6)) a.r.report(fakeResult(i));
  await until('genuine 6..10 after the forgery', () => got.length === 11, 10_000);
  await a.r.close();
  // The device comes back with an empty outbox: seq restarts at 1 in a new epoch.
  const b = await device('fs1');
  assert.notEqual(b.r.epoch, a.r.epoch);
  for (const i of range(3)) b.r.report(fakeResult(i));
  await until('3 results of the new epoch', () => got.length === 14, 10_000);
  const genuine = (e: string) =>
    got.filter((g) => g.startsWith(`${e}:`) && !g.endsWith(':999999999')).map((g) => Number(g.split(':')[1]));
  assert.deepEqual(genuine(a.r.epoch), range(10));
  assert.deepEqual(genuine(b.r.epoch), range(3));
  assert.equal(sub.stats.duplicates, 0);
});
