/**
 * The mosquitto ACL of docs/security.md, taken from the doc itself and loaded into a real
 * mosquitto: only `operator` commands a device, a device cannot command or impersonate another,
 * and a read-only dashboard cannot forge results.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { MqttReporter } from '../device/mqtt-reporter.js';
import { resultPayload } from '../device/payload.js';
import {
  cleanup,
  fakeResult,
  sleep,
  startMosquitto,
  tempDir,
  until,
  type Mosquitto,
} from './helpers/mqtt-harness.js';

const dir = tempDir('acl');
let broker: Mosquitto;
let url: string;
const closers: (() => Promise<unknown>)[] = [];
const USERS = ['cam1', 'cam2', 'operator', 'dashboard'];

before(async () => {
  const doc = readFileSync('docs/security.md', 'utf8');
  const acl = /```\n(# \/etc\/mosquitto\/acl\n[\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(acl, 'docs/security.md has the ACL block');
  writeFileSync(join(dir, 'acl'), acl);
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '');
  for (const u of USERS) execFileSync('mosquitto_passwd', ['-b', passwd, u, `pw-${u}`]);
  broker = await startMosquitto({
    anonymous: false,
    global: [`password_file ${passwd}`, `acl_file ${join(dir, 'acl')}`],
  });
  url = `mqtt://127.0.0.1:${broker.port}`;
});
after(async () => {
  for (const c of closers.reverse()) await c();
  await broker.stop();
  cleanup(dir, broker.dir);
});

async function as(user: string): Promise<MqttClient> {
  const c = connect(url, { username: user, password: `pw-${user}`, reconnectPeriod: 0 });
  closers.push(() => c.endAsync(true));
  await new Promise<void>((res, rej) => {
    c.once('connect', () => res());
    c.once('error', rej);
  });
  return c;
}

test('the documented ACL: operator commands cam1; cam2 and the dashboard cannot command or forge', async () => {
  const calls: string[] = [];
  const cam1 = new MqttReporter({
    url,
    username: 'cam1',
    password: 'pw-cam1',
    deviceId: 'cam1',
    outboxDir: join(dir, 'outbox'),
    control: { pause: () => void calls.push('pause'), resume: () => void calls.push('resume') },
  });
  closers.push(() => cam1.close());
  await cam1.waitConnected(10_000);
  const dash = await as('dashboard');
  const seen: string[] = [];
  dash.on('message', (t, p) => seen.push(`${t} ${JSON.parse(p.toString()).frameId}`));
  await dash.subscribeAsync('edge-dmp/+/results', { qos: 1 });

  const cam2 = await as('cam2');
  await cam2.publishAsync('edge-dmp/cam1/cmd/pause', '', { qos: 1 });
  await cam2.publishAsync(
    'edge-dmp/cam1/results',
    JSON.stringify(resultPayload('cam1', 9, fakeResult(902))),
    { qos: 1 },
  );
  await dash.publishAsync('edge-dmp/cam1/cmd/resume', '', { qos: 1 });
  await dash.publishAsync(
    'edge-dmp/cam1/results',
    JSON.stringify(resultPayload('cam1', 8, fakeResult(901))),
    { qos: 1 },
  );
  const op = await as('operator');
  await op.publishAsync('edge-dmp/cam1/cmd/pause', '', { qos: 1 });
  await until('operator pause obeyed', () => calls.length >= 1);
  cam1.report(fakeResult(7));
  await until('the genuine result reaches the dashboard', () => seen.length >= 1);
  await sleep(300);
  assert.deepEqual(calls, ['pause']);
  assert.deepEqual(seen, ['edge-dmp/cam1/results 7']);
});
