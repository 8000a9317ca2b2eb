/**
 * `edge-dmp dashboard` in Debian's headless Chromium (puppeteer-core, system binary): two real
 * `edge-dmp run` device processes report to a real mosquitto (devices over TCP, the page over its
 * WebSocket listener); the page shows both cards with their live labels, sends pause/resume and
 * set-threshold and shows the replies, shows a deploy state, and turns a SIGKILLed device's card
 * offline (last will). Plus the fleet model and the server on their own.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import type { Browser, Page } from 'puppeteer-core';
import { applyMessage, createFleet, fleetTopics } from '../host/dashboard/page/fleet.js';
import { startDashboard } from '../host/dashboard/server.js';
import { startBroker } from '../device/broker.js';
import type { ResultPayload } from '../device/payload.js';
import {
  BIN,
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

/**
 * tsx compiles this file with esbuild's keepNames, which wraps named functions in `__name(...)`;
 * functions handed to page.evaluate run in the page, which has no such helper.
 */
const keepNames = (p: Page) => p.evaluateOnNewDocument('globalThis.__name = (f) => f;');

/** What a card shows, read from the DOM. */
interface CardText {
  status: string;
  dataStatus: string;
  label: string;
  seq: number;
  model: string;
  fps: string;
  p95: string;
  timeline: number;
  sparkPoints: number;
  deploy: string | null;
  error: string | null;
  replies: string[];
  paused: boolean;
  background: string;
}

function card(id: string, p: Page = page): Promise<CardText | null> {
  return p.evaluate((id) => {
    const c = Array.from(document.querySelectorAll<HTMLElement>('article.card')).find(
      (e) => e.dataset.device === id,
    );
    if (!c) return null;
    const f = (n: string) => c.querySelector<HTMLElement>(`[data-field="${n}"]`)!;
    const shown = (n: string) => (f(n).hidden ? null : f(n).textContent);
    const points = f('spark').querySelector('polyline')!.getAttribute('points') ?? '';
    return {
      status: f('status').textContent ?? '',
      dataStatus: c.dataset.status ?? '',
      label: f('label').textContent ?? '',
      seq: Number(f('label').dataset.seq ?? 0),
      model: f('model').textContent ?? '',
      fps: f('fps').textContent ?? '',
      p95: f('p95').textContent ?? '',
      timeline: f('timeline').children.length,
      sparkPoints: points.split(' ').filter(Boolean).length,
      deploy: shown('deploy'),
      error: shown('error'),
      replies: Array.from(f('replies').children).map((li) => li.textContent ?? ''),
      paused: !f('paused').hidden,
      background: getComputedStyle(c).backgroundColor,
    };
  }, id);
}

const count = (id: string) => seen.get(id)?.length ?? 0;

/**
 * Every text element with a state colour meets WCAG AA contrast (4.5:1) against the background it
 * is drawn on; every input has a label and every button a name.
 */
async function checkAccessible(): Promise<void> {
  const found = await page.evaluate(() => {
    const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
    const lum = (c: number[]) => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (e: Element | null): number[] => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || c[3] > 0) return c;
      }
      return [255, 255, 255];
    };
    const sel =
      '.badge, .deploy, .error, .replies li, .model, .caption, .stats dt, .stats dd, .last span, #conn';
    const ratios = Array.from(document.querySelectorAll<HTMLElement>(sel))
      .filter((e) => !e.closest('[hidden]') && e.textContent)
      .map((e) => {
        const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
        return {
          what: `${e.className || e.id}: ${e.textContent}`,
          ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
        };
      });
    const unlabelled = Array.from(document.querySelectorAll('input')).filter(
      (i) => !i.closest('label'),
    ).length;
    const nameless = Array.from(document.querySelectorAll('button')).filter(
      (b) => !b.textContent?.trim(),
    ).length;
    return { ratios, unlabelled, nameless };
  });
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

test('pause from the page pauses that device and shows the reply; resume and a refused threshold too', async () => {
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
});

test('a retained deploy state shows on the card, with the rollback reason as the last error', async () => {
  const deploy = {
    state: 'rolled-back',
    version: '0.4.0',
    model: 'tiny-colour',
    sha256: 'cd'.repeat(32),
    reason: 'health check failed: no result in 30 s',
    previous: '0.3.0',
    ts: Date.now(),
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

test('fleet model: topics, dedupe by seq, malformed payloads become the device error', () => {
  const f = createFleet('edge-dmp');
  assert.deepEqual(fleetTopics('edge-dmp'), [
    'edge-dmp/+/status',
    'edge-dmp/+/results',
    'edge-dmp/+/metrics',
    'edge-dmp/+/deploy',
    'edge-dmp/+/cmd/+/reply',
  ]);
  const model = { name: 'm', version: '1', sha256: 'ab'.repeat(32) };
  const result = (seq: number, label: string) =>
    JSON.stringify({ seq, label, score: 0.9, latencyMs: { total: seq }, model });
  assert.equal(applyMessage(f, 'edge-dmp/a/status', 'offline', 1), 'a');
  assert.equal(applyMessage(f, 'edge-dmp/a/results', result(1, 'cat'), 2), 'a');
  applyMessage(f, 'edge-dmp/a/results', result(1, 'cat'), 3);
  applyMessage(f, 'edge-dmp/a/results', result(2, 'dog'), 4);
  const a = f.devices.get('a')!;
  assert.deepEqual(
    a.timeline.map((e) => [e.seq, e.label, e.latencyMs]),
    [
      [1, 'cat', 1],
      [2, 'dog', 2],
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
      /^deploy state received \| .* expected, got "exploded"/,
    ],
    ['edge-dmp/a/status', 'sleeping', /^status online \| offline \| stopped expected, got "sleeping"/],
    ['edge-dmp/a/cmd/pause/reply', '[]', /^reply \{cmd, id, ok\} expected/],
  ];
  for (const [topic, payload, want] of bad) {
    assert.equal(applyMessage(f, topic, payload, 9), 'a');
    assert.match(a.lastError?.message ?? '', want, topic);
  }
  assert.equal(a.timeline.length, 2, 'bad payloads change nothing else');
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
