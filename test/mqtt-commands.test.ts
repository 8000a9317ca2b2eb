/**
 * Commands, publish policies and payload schemas over a real broker (the aedes dev broker):
 * every payload that goes over the wire is validated against schemas/*.schema.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import { connect, type MqttClient } from 'mqtt';
import { startBroker, type DevBroker } from '../host/broker.js';
import { MqttReporter } from '../device/mqtt-reporter.js';
import { createPublishPolicy, type CommandReply } from '../device/payload.js';
import { cleanup, fakeResult, range, tempDir, until } from './helpers/mqtt-harness.js';

const schemaDir = join(import.meta.dirname, '..', 'schemas');
const ajv = new Ajv({ allErrors: true, strict: false });
for (const f of ['result', 'metrics', 'cmd-reply']) {
  ajv.addSchema(JSON.parse(readFileSync(join(schemaDir, `${f}.schema.json`), 'utf8')), `${f}.schema.json`);
}
function valid(schema: string, v: unknown): void {
  const ok = ajv.validate(`${schema}.schema.json`, v);
  assert.ok(ok, `${schema}: ${ajv.errorsText()} in ${JSON.stringify(v)}`);
}

let broker: DevBroker;
let url: string;
let watcher: MqttClient;
const messages: { topic: string; body: string }[] = [];
const dirs: string[] = [];
const reporters: MqttReporter[] = [];

before(async () => {
  broker = await startBroker({ port: 0 });
  url = `mqtt://127.0.0.1:${broker.port}`;
  watcher = connect(url);
  watcher.on('message', (topic, p) => messages.push({ topic, body: p.toString() }));
  await new Promise<void>((r) =>
    watcher.on('connect', () => watcher.subscribe('edge-dmp/#', { qos: 1 }, () => r())),
  );
});
after(async () => {
  for (const r of reporters) await r.close();
  await watcher.endAsync(true);
  await broker.close();
  cleanup(...dirs);
});

function reporter(deviceId: string, extra: Partial<ConstructorParameters<typeof MqttReporter>[0]> = {}) {
  const outboxDir = tempDir('outbox');
  dirs.push(outboxDir);
  const r = new MqttReporter({ url, deviceId, outboxDir, reconnectPeriodMs: 100, ...extra });
  reporters.push(r);
  return r;
}

const on = (topic: string) =>
  messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.body) as unknown);

test('result and metrics payloads on the wire match the JSON schemas', async () => {
  const r = reporter('schema1', { model: fakeResult(0).model });
  await r.waitConnected(5000);
  for (const i of range(3)) r.report(fakeResult(i));
  r.report({ ok: false, frameId: 4, ts: Date.now(), code: 'E_FRAME_CORRUPT', reason: 'bad jpeg' });
  assert.equal(await r.flush(5000), true, 'all acknowledged');
  r.metrics({
    frames: 4,
    classified: 3,
    dropped: 1,
    errors: 1,
    fps: 9.5,
    latencyMs: { p50: 9.5, p95: 12.25 },
    uptimeS: 3.2,
  });
  await until(
    '3 results + metrics',
    () => on('edge-dmp/schema1/results').length === 3 && on('edge-dmp/schema1/metrics').length === 1,
  );
  const results = on('edge-dmp/schema1/results') as {
    seq: number;
    frameId: number;
    latencyMs: { total: number };
  }[];
  for (const p of results) valid('result', p);
  assert.deepEqual(
    results.map((p) => p.seq),
    [1, 2, 3],
  );
  assert.equal(results[0].latencyMs.total, 9.5); // 1.25 + 0.5 + 7.75
  const [m] = on('edge-dmp/schema1/metrics') as Record<string, any>[];
  valid('metrics', m);
  assert.equal(m.fps, 9.5);
  assert.deepEqual(m.latencyMs, { p50: 9.5, p95: 12.25 });
  assert.equal(m.errors, 1);
  assert.deepEqual(m.reporter, { published: 3, filtered: 0, failures: 1 });
  assert.deepEqual(m.outbox, { pending: 0, dropped: 0, bytes: 0, corrupt: 0, full: null });
  assert.equal(m.model.sha256, fakeResult(0).model.sha256);
  // The mqtt-subscribing client's own retained status.
  assert.equal(messages.find((x) => x.topic === 'edge-dmp/schema1/status')?.body, 'online');
});

test('publish policies: every, label-change, threshold, every-nth', () => {
  const labels = ['cat', 'cat', 'dog', 'dog', 'dog', 'cat', 'ship', 'ship'];
  const scores = [0.9, 0.2, 0.6, 0.95, 0.4, 0.7, 0.5, 0.81];
  const run = (o: Parameters<typeof createPublishPolicy>[0]) => {
    const p = createPublishPolicy(o);
    return labels.map((l, i) => p.accept(fakeResult(i, l, scores[i]))).flatMap((a, i) => (a ? [i] : []));
  };
  assert.deepEqual(run({ policy: 'every' }), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(run({ policy: 'label-change' }), [0, 2, 5, 6]);
  assert.deepEqual(run({ policy: 'threshold', threshold: 0.8 }), [0, 3, 7]);
  assert.deepEqual(run({ policy: 'every-nth', everyN: 3 }), [0, 3, 6]);
  assert.throws(
    () => createPublishPolicy({ policy: 'sometimes' as never }),
    /policy: expected every \| label-change/,
  );
  assert.throws(() => createPublishPolicy({ policy: 'every-nth', everyN: 0 }), {
    code: 'E_CONFIG',
    field: 'everyN',
  });
});

test('commands: replies on cmd/<name>/reply; malformed ones get error replies and the device keeps working', async () => {
  const control = { ops: [] as string[], pause() {}, resume() {}, setFps(_f: number) {} };
  control.pause = () => void control.ops.push('pause');
  control.resume = () => void control.ops.push('resume');
  control.setFps = (f) => void control.ops.push(`fps=${f}`);
  const r = reporter('cmd1', { policy: { policy: 'threshold', threshold: 0.5 }, control });
  await r.waitConnected(5000);
  const replies: CommandReply[] = [];
  r.on('command', (_n, reply) => replies.push(reply));
  const send = async (name: string, payload: string) => {
    const before = replies.length;
    await watcher.publishAsync(`edge-dmp/cmd1/cmd/${name}`, payload, { qos: 1 });
    await until(
      `reply to ${name}`,
      () => on(`edge-dmp/cmd1/cmd/${name}/reply`).length > 0 && replies.length > before,
    );
    const wire = on(`edge-dmp/cmd1/cmd/${name}/reply`).at(-1) as CommandReply;
    valid('cmd-reply', wire);
    return wire;
  };

  const cases: [string, string, string, string][] = [
    ['set-threshold', '{not json', 'E_CMD_MALFORMED', 'payload'],
    ['set-threshold', '[0.5]', 'E_CMD_MALFORMED', 'payload'],
    ['set-threshold', '"high"', 'E_CMD_MALFORMED', 'payload'],
    ['set-threshold', '1.5', 'E_CONFIG', 'threshold'],
    ['set-threshold', '{"threshold":"0.7"}', 'E_CONFIG', 'threshold'],
    ['set-fps', '{"fps":-2}', 'E_CONFIG', 'fps'],
    ['set-fps', '', 'E_CONFIG', 'fps'],
    ['reboot', '{}', 'E_CMD_UNKNOWN', 'cmd'],
  ];
  for (const [name, payload, code, field] of cases) {
    const rep = await send(name, payload);
    assert.equal(rep.ok, false, `${name} ${payload}`);
    assert.equal(rep.error?.code, code, `${name} ${payload}: ${rep.error?.message}`);
    assert.equal(rep.error?.field, field);
    messages.length = 0;
  }
  const unknown = await send('reboot', '{"id":"r1"}');
  assert.equal(unknown.id, 'r1');
  assert.match(unknown.error!.expected, /set-threshold \| set-fps \| pause \| resume \| snapshot-metrics/);

  const t = await send('set-threshold', '{"id":7,"threshold":0.8}');
  assert.deepEqual([t.ok, t.id, t.result], [true, 7, { threshold: 0.8, policy: 'threshold' }]);
  assert.equal(r.policy.threshold, 0.8);
  assert.deepEqual((await send('set-fps', '2.5')).result, { fps: 2.5 });
  assert.deepEqual((await send('pause', '')).result, { paused: true });
  assert.deepEqual((await send('resume', '{}')).result, { paused: false });
  assert.deepEqual(control.ops, ['fps=2.5', 'pause', 'resume']);
  const snap = await send('snapshot-metrics', '');
  assert.equal(snap.ok, true);
  valid('metrics', snap.result);

  // Still alive, and the new threshold applies: 0.79 is filtered, 0.8 and 0.99 go out.
  messages.length = 0;
  r.report(fakeResult(1, 'cat', 0.79));
  r.report(fakeResult(2, 'cat', 0.8));
  r.report(fakeResult(3, 'dog', 0.99));
  await until('2 results', () => on('edge-dmp/cmd1/results').length === 2);
  assert.deepEqual(
    on('edge-dmp/cmd1/results').map((p) => (p as { frameId: number }).frameId),
    [2, 3],
  );
});

test('commands that need a pipeline answer E_CMD_UNSUPPORTED without one', async () => {
  const r = reporter('cmd2');
  await r.waitConnected(5000);
  await watcher.publishAsync('edge-dmp/cmd2/cmd/pause', '', { qos: 1 });
  await until('reply', () => on('edge-dmp/cmd2/cmd/pause/reply').length === 1);
  const [rep] = on('edge-dmp/cmd2/cmd/pause/reply') as CommandReply[];
  assert.equal(rep.error?.code, 'E_CMD_UNSUPPORTED');
  assert.equal(rep.error?.expected, 'a pipeline that supports pause()');
});

test('Home Assistant discovery configs are retained under the discovery prefix', async () => {
  const r = reporter('ha1', { haDiscovery: 'homeassistant' });
  await r.waitConnected(5000);
  const got: Record<string, any> = {};
  const c = connect(url);
  c.on('message', (t, p) => (got[t] = JSON.parse(p.toString())));
  await new Promise<void>((res) => c.on('connect', () => c.subscribe('homeassistant/#', () => res())));
  await until('4 retained configs', () => Object.keys(got).length === 4);
  await c.endAsync(true);
  const label = got['homeassistant/sensor/ha1/label/config'];
  assert.equal(label.state_topic, 'edge-dmp/ha1/results');
  assert.equal(label.availability_topic, 'edge-dmp/ha1/status');
  assert.equal(label.value_template, '{{ value_json.label }}');
  assert.equal(got['homeassistant/sensor/ha1/fps/config'].state_topic, 'edge-dmp/ha1/metrics');
});

test('metricsIntervalMs publishes metrics on a timer without a pipeline', async () => {
  const r = reporter('tick1', { metricsIntervalMs: 100 });
  await r.waitConnected(5000);
  await until('2 metrics', () => on('edge-dmp/tick1/metrics').length >= 2);
  for (const m of on('edge-dmp/tick1/metrics')) valid('metrics', m);
  const [m] = on('edge-dmp/tick1/metrics') as Record<string, any>[];
  assert.deepEqual([m.frames, m.fps, m.model], [0, 0, null]);
  assert.ok(m.memory.rssBytes > 0);
});
