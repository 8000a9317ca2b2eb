/**
 * Credentials and TLS against a real mosquitto whose CA, server and client certificates are made
 * by openssl here: good credentials work, a wrong password / wrong CA / missing client cert are
 * refused with typed errors, and TLS options never fall back to plaintext.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MqttReporter, type MqttReporterOptions } from '../device/mqtt-reporter.js';
import { subscribeResults } from '../host/subscribe.js';
import type { ResultPayload } from '../device/payload.js';
import {
  cleanup,
  fakeResult,
  freePort,
  startMosquitto,
  tempDir,
  until,
  type Mosquitto,
} from './helpers/mqtt-harness.js';

let dir: string;
let broker: Mosquitto;
let plain: string;
let tls: string;
const closers: (() => Promise<unknown>)[] = [];

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name: string): void {
  sh('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

function makeCert(name: string, ca: string, ext?: string): void {
  sh('openssl', ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  const extArgs = ext ? ['-extfile', ext] : [];
  sh('openssl', [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    ...extArgs,
  ]);
}

before(async () => {
  dir = tempDir('tls');
  makeCa('ca');
  makeCa('wrong-ca');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  makeCert('server', 'ca', 'san.ext');
  makeCert('cam1', 'ca');
  sh('mosquitto_passwd', ['-c', '-b', 'passwd', 'cam1', 's3cret']);
  const tlsPort = await freePort();
  broker = await startMosquitto({
    dir,
    anonymous: false,
    global: [`password_file ${join(dir, 'passwd')}`],
    listener: [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(dir, 'ca.crt')}`,
      `certfile ${join(dir, 'server.crt')}`,
      `keyfile ${join(dir, 'server.key')}`,
      'require_certificate true',
    ],
  });
  plain = `mqtt://127.0.0.1:${broker.port}`;
  tls = `mqtts://127.0.0.1:${tlsPort}`;
});

after(async () => {
  for (const c of closers) await c();
  await broker.stop('SIGKILL');
  cleanup(dir);
});

function reporter(o: Partial<MqttReporterOptions> & { url: string }) {
  const outboxDir = join(dir, `outbox-${closers.length}`);
  const r = new MqttReporter({
    deviceId: 'cam1',
    outboxDir,
    reconnectPeriodMs: 200,
    closeTimeoutMs: 500,
    ...o,
  });
  closers.push(() => r.close());
  return r;
}

const goodTls = () => ({ ca: join(dir, 'ca.crt'), cert: join(dir, 'cam1.crt'), key: join(dir, 'cam1.key') });

test('right username/password on plaintext: results delivered', async () => {
  const got: ResultPayload[] = [];
  const sub = subscribeResults({ url: plain, deviceId: 'cam1', username: 'cam1', password: 's3cret' }, (r) =>
    got.push(r),
  );
  closers.push(() => sub.close());
  await sub.ready;
  const r = reporter({ url: plain, username: 'cam1', password: 's3cret' });
  await r.waitConnected(5000);
  r.report(fakeResult(1));
  await until('delivered', () => got.length === 1);
  assert.equal(got[0].seq, 1);
});

test('wrong or missing password is refused with E_MQTT_AUTH', async () => {
  const bad = reporter({ url: plain, username: 'cam1', password: 'nope' });
  await assert.rejects(bad.waitConnected(5000), { code: 'E_MQTT_AUTH', field: 'username/password' });
  const none = reporter({ url: plain });
  await assert.rejects(none.waitConnected(5000), { code: 'E_MQTT_AUTH' });
  const sub = subscribeResults({ url: plain, username: 'cam1', password: 'nope' }, () => undefined);
  closers.push(() => sub.close());
  await assert.rejects(sub.ready, { code: 'E_MQTT_AUTH' });
  assert.equal(bad.connected || none.connected, false);
});

test('TLS with the right CA, client certificate and password: results delivered', async () => {
  const got: ResultPayload[] = [];
  const auth = { username: 'cam1', password: 's3cret', tls: goodTls() };
  const sub = subscribeResults({ url: tls, deviceId: 'cam1', ...auth }, (r) => got.push(r));
  closers.push(() => sub.close());
  await sub.ready;
  const r = reporter({ url: tls, ...auth, outboxDir: join(dir, 'outbox-tls') });
  await r.waitConnected(5000);
  r.report(fakeResult(1, 'ship', 0.875));
  await until('delivered over TLS', () => got.length === 1);
  assert.deepEqual([got[0].label, got[0].score], ['ship', 0.875]);
});

test('a broker certificate from another CA is refused with E_MQTT_TLS', async () => {
  const r = reporter({
    url: tls,
    username: 'cam1',
    password: 's3cret',
    tls: { ...goodTls(), ca: join(dir, 'wrong-ca.crt') },
  });
  const e = await r.waitConnected(5000).then(
    () => null,
    (err: Error) => err,
  );
  assert.ok(e && 'code' in e);
  assert.equal(e.code, 'E_MQTT_TLS');
  assert.match(e.message, /certificate|self.signed|unable to verify/i);
  assert.equal(r.connected, false);
});

test('a missing client certificate is refused where the broker requires one', async () => {
  const r = reporter({ url: tls, username: 'cam1', password: 's3cret', tls: { ca: join(dir, 'ca.crt') } });
  await assert.rejects(r.waitConnected(5000), (e: { code: string }) =>
    ['E_MQTT_TLS', 'E_MQTT_CONNECT'].includes(e.code),
  );
  assert.equal(r.connected, false);
});

test('no plaintext fallback', async () => {
  // TLS options with a plaintext URL are a configuration error, not a silent downgrade.
  assert.throws(() => reporter({ url: plain, tls: goodTls() }), {
    code: 'E_CONFIG',
    field: 'url',
    expected: 'mqtts:// or wss:// when TLS options are given (no plaintext fallback)',
  });
  assert.throws(() => subscribeResults({ url: plain, tls: goodTls() }, () => undefined), { field: 'url' });
  // A TLS client pointed at a plaintext port fails the handshake instead of speaking MQTT in clear.
  const r = reporter({
    url: plain.replace('mqtt:', 'mqtts:'),
    username: 'cam1',
    password: 's3cret',
    tls: goodTls(),
  });
  // (mosquitto resets the connection on a ClientHello, so the error is the reset, not a TLS alert)
  await assert.rejects(r.waitConnected(5000), (e: { code: string }) =>
    ['E_MQTT_TLS', 'E_MQTT_CONNECT'].includes(e.code),
  );
  assert.equal(r.connected, false);
  assert.throws(() => reporter({ url: tls, tls: { ca: join(dir, 'missing.crt') } }), {
    code: 'E_CONFIG',
    field: 'tls.ca',
  });
});
