/**
 * The dashboard without a browser: the fleet model the page runs (topics, dedupe, malformed
 * payloads) and the HTTP server (what it serves, its CSP, typed errors for bad options and flags).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyMessage, createFleet, fleetTopics } from '../host/dashboard/page/fleet.js';
import { startDashboard } from '../host/dashboard/server.js';
import { BIN } from './helpers/dashboard-harness.js';

test('fleet model: topics, dedupe by seq + frame time, malformed payloads become the device error', () => {
  const f = createFleet('edge-dmp');
  assert.deepEqual(fleetTopics('edge-dmp'), [
    'edge-dmp/+/status',
    'edge-dmp/+/results',
    'edge-dmp/+/metrics',
    'edge-dmp/+/deploy',
    'edge-dmp/+/cmd/+/reply',
  ]);
  const model = { name: 'm', version: '1', sha256: 'ab'.repeat(32) };
  const result = (seq: number, label: string, ts = 1000 + seq) =>
    JSON.stringify({ seq, ts, label, score: 0.9, latencyMs: { total: seq }, model });
  assert.equal(applyMessage(f, 'edge-dmp/a/status', 'offline', 1), 'a');
  assert.equal(applyMessage(f, 'edge-dmp/a/results', result(1, 'cat'), 2), 'a');
  applyMessage(f, 'edge-dmp/a/results', result(1, 'cat'), 3);
  applyMessage(f, 'edge-dmp/a/results', result(2, 'dog'), 4);
  // A device whose outbox was deleted starts over at seq 1, with a new frame time: not a duplicate.
  applyMessage(f, 'edge-dmp/a/results', result(1, 'ship', 9000), 5);
  const a = f.devices.get('a')!;
  assert.deepEqual(
    a.timeline.map((e) => [e.seq, e.label, e.latencyMs]),
    [
      [1, 'cat', 1],
      [2, 'dog', 2],
      [1, 'ship', 1],
    ],
  );
  assert.equal(a.status, 'online', 'a result means the device runs, whatever an old retained status said');
  assert.equal(applyMessage(f, 'other/a/status', 'online', 5), null);
  assert.equal(applyMessage(f, 'edge-dmp/a/cmd/pause', '{}', 5), null, 'a command, not a reply');
  assert.equal(applyMessage(f, 'edge-dmp/a/bogus', '{}', 5), null);
  const bad: [string, string, RegExp][] = [
    ['edge-dmp/a/results', '{"seq":', /^JSON expected/],
    ['edge-dmp/a/metrics', '{"fps":"fast"}', /^metrics \{fps, latencyMs: \{p50, p95\}\} expected/],
    [
      'edge-dmp/a/deploy',
      '{"state":"exploded","version":"1","model":"m"}',
      /^deploy state idle \| received \| .* expected, got "exploded"/,
    ],
    ['edge-dmp/a/status', 'sleeping', /^status online \| offline \| stopped expected, got "sleeping"/],
    ['edge-dmp/a/cmd/pause/reply', '[]', /^reply \{cmd, id, ok\} expected/],
  ];
  for (const [topic, payload, want] of bad) {
    assert.equal(applyMessage(f, topic, payload, 9), 'a');
    assert.match(a.lastError?.message ?? '', want, topic);
  }
  assert.equal(a.timeline.length, 3, 'bad payloads change nothing else');
  // As the agent publishes it: nulls before the bundle is read, an ISO time.
  const received = {
    state: 'received',
    version: null,
    model: null,
    sha256: null,
    ts: '2026-12-02T00:00:00Z',
  };
  applyMessage(f, 'edge-dmp/a/deploy', JSON.stringify(received), 10);
  assert.deepEqual(a.deploy, { ...received, reason: undefined, previous: null });
  applyMessage(
    f,
    'edge-dmp/a/deploy',
    JSON.stringify({ state: 'healthy', version: '2', model: 'm', ts: 1 }),
    10,
  );
  assert.equal(a.deploy?.state, 'healthy');
  applyMessage(f, 'edge-dmp/a/deploy', '', 11);
  assert.equal(a.deploy, null, 'an empty retained message clears it');
});

test('server: serves only its own files, with a CSP that allows the broker; bad options are typed errors', async () => {
  const d = await startDashboard({ mqttUrl: 'wss://broker.lan:8884/mqtt', port: 0, prefix: 'site1' });
  try {
    const get = (p: string, init?: RequestInit) => fetch(new URL(p, d.url), init);
    const home = await get('/');
    assert.equal(home.status, 200);
    assert.match(
      home.headers.get('content-security-policy') ?? '',
      /connect-src 'self' wss:\/\/broker\.lan:8884;/,
    );
    assert.match(await home.text(), /<script src="vendor\/mqtt.min.js"><\/script>/);
    const vendor = await get('/vendor/mqtt.min.js');
    const lib = readFileSync(join(import.meta.dirname, '..', 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'));
    assert.equal((await vendor.arrayBuffer()).byteLength, lib.length);
    assert.deepEqual(await (await get('/config.json')).json(), {
      url: 'wss://broker.lan:8884/mqtt',
      prefix: 'site1',
    });
    const app = await (await get('/app.js')).text();
    assert.match(app, /from ".\/fleet.js"/, 'compiled TypeScript, imports kept');
    assert.doesNotMatch(app, /: PageConfig/, 'types stripped');
    assert.equal((await get('/../package.json')).status, 404);
    assert.equal((await get('/page/app.ts')).status, 404);
    assert.equal((await get('/', { method: 'POST' })).status, 405);
  } finally {
    await d.close();
  }
  await assert.rejects(startDashboard({ mqttUrl: 'mqtt://h:1883' }), { code: 'E_CONFIG', field: 'mqtt' });
  await assert.rejects(startDashboard({ mqttUrl: 'ws://h:1', prefix: 'a/#' }), {
    code: 'E_CONFIG',
    field: 'prefix',
  });
  const cli = await new Promise<{ code: number | null; stderr: string }>((r) =>
    execFile(process.execPath, [BIN, 'dashboard', '--mqtt', 'mqtt://h:1883'], (e, _o, stderr) =>
      r({ code: e ? (e.code as number) : 0, stderr }),
    ),
  );
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /\[E_CONFIG\] --mqtt: expected a ws:\/\/ or wss:\/\/ broker URL/);
});
