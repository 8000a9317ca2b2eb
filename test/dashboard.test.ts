/**
 * `edge-dmp dashboard` in Debian's headless Chromium (puppeteer-core, system binary): two real
 * `edge-dmp run` device processes report to a real mosquitto (devices over TCP, the page over its
 * WebSocket listener); the page shows both cards with their live labels, sends pause/resume and
 * set-threshold and shows the replies, shows a deploy state, and turns a SIGKILLed device's card
 * offline (last will); the dev broker, credentials and wss. The server alone: dashboard-server.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import type { Browser, Page } from 'puppeteer-core';
import { startDashboard } from '../host/dashboard/server.js';
import { startBroker } from '../host/broker.js';
import type { ResultPayload } from '../device/payload.js';
import {
  launchChromium,
  spawnDashboard,
  spawnRunDevice,
  startFleetBroker,
  stopProcess,
  tinyBundle,
  type DashboardProcess,
  type FleetBroker,
  type RunDevice,
} from './helpers/dashboard-harness.js';
import { accessibility, keepNames, readCard } from './helpers/dashboard-page.js';
import { cleanup, freePort, startMosquitto, tempDir, until } from './helpers/mqtt-harness.js';

const dir = tempDir('dashboard');
const OUT = join(import.meta.dirname, '..', 'bench', 'out');
let broker: FleetBroker;
let watcher: MqttClient;
let dash: DashboardProcess;
let browser: Browser;
let page: Page;
const devices: RunDevice[] = [];
/** Results per device as a plain subscriber sees them, to compare the page against. */
const seen = new Map<string, ResultPayload[]>();
const requests: string[] = [];
/** [device id, testsrc pattern, the label the mean-colour model gives it]: still patterns, so every
 * frame gets that label (`testsrc` moves and is now and then `green`). */
const FLEET = [
  ['cam-green', 'smptebars', 'green'],
  ['cam-red', 'rgbtestsrc', 'red'],
] as const;

before(async () => {
  const bundle = await tinyBundle(dir);
  broker = await startFleetBroker();
  watcher = connect(broker.tcpUrl, { protocolVersion: 4 });
  watcher.on('message', (topic, p) => {
    const m = /^edge-dmp\/([^/]+)\/results$/.exec(topic);
    if (m) (seen.get(m[1]) ?? seen.set(m[1], []).get(m[1])!).push(JSON.parse(p.toString()));
  });
  await new Promise<void>((r) =>
    watcher.on('connect', () => watcher.subscribe('edge-dmp/+/results', { qos: 1 }, () => r())),
  );
  for (const [id, pattern] of FLEET) {
    devices.push(spawnRunDevice({ bundle, id, pattern, url: broker.tcpUrl, dir }));
  }
  dash = await spawnDashboard(broker.wsUrl);
  browser = await launchChromium();
  page = await browser.newPage();
  await keepNames(page);
  // Phone width: the page must work at 390 CSS px.
  await page.setViewport({ width: 390, height: 1400, deviceScaleFactor: 1 });
  page.on('request', (r) => requests.push(r.url()));
});

after(async () => {
  await browser?.close();
  for (const d of devices) await stopProcess(d.proc);
  if (dash) await stopProcess(dash.proc, 'SIGTERM');
  await watcher?.endAsync(true);
  await broker?.mosquitto.stop('SIGKILL');
  cleanup(dir, ...(broker ? [broker.mosquitto.dir] : []));
});

const count = (id: string) => seen.get(id)?.length ?? 0;
const card = (id: string, p: Page = page) => readCard(p, id);

/**
 * Every visible text element meets WCAG AA contrast (4.5:1) against the background it is drawn on;
 * every input has a label and every button a name.
 */
async function checkAccessible(): Promise<void> {
  const found = await accessibility(page);
  assert.ok(found.ratios.length >= 20, `${found.ratios.length} text elements checked`);
  const low = found.ratios.filter((r) => r.ratio < 4.5);
  assert.deepEqual(low, [], 'text below 4.5:1 contrast');
  assert.equal(found.unlabelled, 0);
  assert.equal(found.nameless, 0);
}

test('the page shows one card per device with its live label, model and metrics', async () => {
  await page.goto(dash.url, { waitUntil: 'load' });
  for (const [id, , label] of FLEET) {
    const c = await until(
      `card ${id} with 3 results and fps > 0 (${devices.map((d) => d.stderr()).join('')})`,
      async () => {
        const c = await card(id);
        return c && c.timeline >= 3 && Number(c.fps) > 0 ? c : null;
      },
      45_000,
    );
    assert.equal(c.status, 'online');
    assert.equal(c.label, label);
    // The label on the card is the one the device published with that seq.
    assert.equal(seen.get(id)?.find((r) => r.seq === c.seq)?.label, label);
    assert.equal(c.model, 'model: tiny-colour 0.3.0');
    assert.match(c.age, /^\d+ s ago$/);
    assert.match(c.p95, /^\d+\.\d ms$/);
    assert.equal(c.sparkPoints, c.timeline);
  }
  // Live: more results arrive while the page is open.
  const before = (await card('cam-green'))!.seq;
  await until('a newer result on the card', async () => (await card('cam-green'))!.seq > before);
  // Everything the page loaded came from the dashboard itself (no CDN); the broker is a WebSocket.
  const origin = new URL(dash.url).origin;
  assert.deepEqual(
    requests.filter((u) => !u.startsWith(origin)),
    [],
  );
  assert.ok(requests.some((u) => u.endsWith('/vendor/mqtt.min.js')));
  // Phone width: nothing wider than the screen.
  const [scrollW, innerW] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
  assert.ok(scrollW <= innerW, `page ${scrollW}px wide at ${innerW}px`);
});

test('pause from the page pauses that device and shows the reply; resume, a refused threshold and set-fps too', async () => {
  await page.click('article[data-device="cam-green"] button[data-cmd="pause"]');
  await until('pause reply', async () => (await card('cam-green'))!.replies.length >= 1);
  let c = (await card('cam-green'))!;
  assert.equal(c.replies[0], 'pause #1: ok {"paused":true}');
  assert.equal(c.paused, true);
  // cam-red keeps publishing; cam-green publishes at most the one result already in flight.
  const paused = count('cam-green');
  const red = count('cam-red');
  await until('4 more cam-red results', () => count('cam-red') >= red + 4, 20_000);
  assert.ok(count('cam-green') <= paused + 1, `cam-green went on: ${paused} -> ${count('cam-green')}`);

  await page.click('article[data-device="cam-green"] button[data-cmd="resume"]');
  await until('resume reply', async () => (await card('cam-green'))!.replies.length >= 2);
  c = (await card('cam-green'))!;
  assert.equal(c.replies[1], 'resume #2: ok {"paused":false}');
  assert.equal(c.paused, false);
  const resumed = count('cam-green');
  await until('cam-green results again', () => count('cam-green') >= resumed + 2, 20_000);

  // A threshold outside [0, 1]: the device refuses it, the card says why.
  const input = 'article[data-device="cam-green"] form[data-cmd="set-threshold"] input';
  await page.$eval(input, (e) => ((e as HTMLInputElement).value = '2'));
  await page.$eval('article[data-device="cam-green"] form[data-cmd="set-threshold"]', (f) =>
    (f as HTMLFormElement).requestSubmit(),
  );
  await until('threshold reply', async () => (await card('cam-green'))!.replies.length >= 3);
  c = (await card('cam-green'))!;
  assert.match(c.replies[2], /^set-threshold #3: refused E_CONFIG: threshold: expected/);
  assert.match(c.error ?? '', /^last error \(command set-threshold\): E_CONFIG/);

  const fps = 'article[data-device="cam-green"] form[data-cmd="set-fps"]';
  await page.$eval(`${fps} input`, (e) => ((e as HTMLInputElement).value = '2'));
  await page.click(`${fps} button[type="submit"]`);
  await until('set-fps reply', async () => (await card('cam-green'))!.replies.length >= 4);
  assert.equal((await card('cam-green'))!.replies[3], 'set-fps #4: ok {"fps":2}');
});

test('a retained deploy state shows on the card, with the rollback reason as the last error', async () => {
  const deploy = {
    state: 'rolled-back',
    version: '0.4.0',
    model: 'tiny-colour',
    sha256: 'cd'.repeat(32),
    reason: 'health check failed: no result in 30 s',
    previous: '0.3.0',
    ts: new Date().toISOString(),
  };
  await watcher.publishAsync('edge-dmp/cam-red/deploy', JSON.stringify(deploy), { qos: 1, retain: true });
  const c = await until('deploy on card', async () =>
    (await card('cam-red'))!.deploy ? card('cam-red') : null,
  );
  assert.equal(c!.deploy, 'deploy: rolled-back tiny-colour 0.4.0 (previous 0.3.0)');
  assert.equal(c!.error, 'last error (deploy rolled-back): health check failed: no result in 30 s');
  // Retained: a page opened now sees it too.
  const fresh = await browser.newPage();
  await keepNames(fresh);
  await fresh.goto(dash.url);
  await fresh.waitForFunction(() =>
    document.querySelector('article[data-device="cam-red"] [data-state="rolled-back"]'),
  );
  await fresh.close();
});

test('killing a device process turns its card offline (last will); a screenshot is saved', async () => {
  const red = devices.find((d) => d.id === 'cam-red')!;
  const onlineBg = (await card('cam-red'))!.background;
  await stopProcess(red.proc, 'SIGKILL');
  const c = await until('cam-red offline', async () => {
    const c = await card('cam-red');
    return c?.dataStatus === 'offline' ? c : null;
  });
  assert.equal(c.status, 'offline');
  assert.notEqual(c.background, onlineBg, 'the card is greyed');
  assert.equal((await card('cam-green'))!.status, 'online');

  // Kept after the run (bench/out/ is git-ignored) so a person can look at what the test saw.
  mkdirSync(OUT, { recursive: true });
  const shot = join(OUT, 'dashboard.test.png');
  await checkAccessible();
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.equal(png.readUInt32BE(16), 390, 'width in the IHDR chunk');
  assert.ok(statSync(shot).size > 20_000, `screenshot ${statSync(shot).size} bytes`);
});

/** A fresh page on `url`; resolves once its connection line says `state`. */
async function openPage(url: string, state: 'online' | 'error'): Promise<Page> {
  const p = await browser.newPage();
  await keepNames(p);
  await p.goto(url);
  await p.waitForFunction((s) => document.getElementById('conn')?.dataset.state === s, {}, state);
  return p;
}

test('the dev broker (aedes, as `edge-dmp broker --ws-port`) serves the page too', async () => {
  const dev = await startBroker({ port: 0, wsPort: 0 });
  const d = await startDashboard({ mqttUrl: `ws://127.0.0.1:${dev.wsPort}`, port: 0 });
  const c = connect(`mqtt://127.0.0.1:${dev.port}`, { protocolVersion: 4 });
  try {
    await c.publishAsync('edge-dmp/dev1/status', 'stopped', { qos: 1, retain: true });
    const p = await openPage(d.url, 'online');
    const shown = await until('dev1 card', () => card('dev1', p));
    assert.equal(shown.status, 'stopped');
    assert.equal(shown.dataStatus, 'stopped');
    await p.close();
  } finally {
    await c.endAsync(true);
    await d.close();
    await dev.close();
  }
});

test('credentials: --username/--password reach the page; a wrong password is shown, no card', async () => {
  const authDir = tempDir('dash-auth');
  execFileSync('mosquitto_passwd', ['-c', '-b', join(authDir, 'passwd'), 'dash', 'pw-ok']);
  const secured = await startFleetBroker({
    dir: authDir,
    anonymous: false,
    global: [`password_file ${join(authDir, 'passwd')}`],
  });
  const c = connect(secured.tcpUrl, { protocolVersion: 4, username: 'dash', password: 'pw-ok' });
  const good = await spawnDashboard(secured.wsUrl, ['--username', 'dash', '--password', 'pw-ok']);
  const bad = await startDashboard({ mqttUrl: secured.wsUrl, port: 0, username: 'dash', password: 'nope' });
  try {
    await c.publishAsync('edge-dmp/auth-cam/status', 'online', { qos: 1, retain: true });
    const ok = await openPage(good.url, 'online');
    assert.equal((await until('auth-cam card', () => card('auth-cam', ok))).status, 'online');
    await ok.close();
    const refused = await openPage(bad.url, 'error');
    const line = await refused.$eval('#conn', (e) => e.textContent ?? '');
    assert.match(line, /Not authorized|Bad username or password/, line);
    assert.equal(await card('auth-cam', refused), null);
    await refused.close();
  } finally {
    await c.endAsync(true);
    await stopProcess(good.proc, 'SIGTERM');
    await bad.close();
    await secured.mosquitto.stop('SIGKILL');
    cleanup(authDir);
  }
});

test('wss: the page reaches mosquitto over its TLS WebSocket listener (Chromium trusts exactly that key)', async () => {
  const tlsDir = tempDir('dash-wss');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', join(tlsDir, 'broker.key'), '-out', join(tlsDir, 'broker.crt'), '-days', '2'],
      ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  const cert = new X509Certificate(readFileSync(join(tlsDir, 'broker.crt')));
  const spki = createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const wssPort = await freePort();
  const tls = await startMosquitto({
    dir: tlsDir,
    listener: [
      ...[`listener ${wssPort} 127.0.0.1`, 'protocol websockets'],
      ...[`certfile ${join(tlsDir, 'broker.crt')}`, `keyfile ${join(tlsDir, 'broker.key')}`],
    ],
  });
  const c = connect(`mqtt://127.0.0.1:${tls.port}`, { protocolVersion: 4 });
  const d = await startDashboard({ mqttUrl: `wss://127.0.0.1:${wssPort}`, port: 0 });
  // A self-signed broker certificate, trusted by its key's hash only: the TLS handshake is real.
  const pinned = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]);
  try {
    await c.publishAsync('edge-dmp/tls-cam/status', 'online', { qos: 1, retain: true });
    const p = await pinned.newPage();
    await keepNames(p);
    await p.goto(d.url);
    await p.waitForFunction(() => document.getElementById('conn')?.dataset.state === 'online');
    assert.equal(await p.$eval('#conn', (e) => e.textContent), `connected to wss://127.0.0.1:${wssPort}`);
    assert.equal((await until('tls-cam card', () => card('tls-cam', p))).status, 'online');
  } finally {
    await pinned.close();
    await c.endAsync(true);
    await d.close();
    await tls.stop('SIGKILL');
    cleanup(tlsDir);
  }
});
