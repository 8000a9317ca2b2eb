/**
 * `npm run dashboard:screenshot`: the picture in docs/dashboard.md, made from a real fleet. Starts
 * the dev broker (aedes, TCP + WebSocket), three `edge-dmp run` devices on ffmpeg test patterns,
 * `edge-dmp dashboard`, and Debian's headless Chromium; publishes two deploy states as the agent
 * would, pauses one device from the page, kills another (its card goes offline through the last
 * will), then saves the page as docs/dashboard.png and prints what the page loaded.
 *
 *   npm run dashboard:screenshot [-- --out docs/dashboard.png --width 1280]
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'mqtt';
import { startBroker } from '../host/broker.js';
import {
  launchChromium,
  spawnDashboard,
  spawnRunDevice,
  stopProcess,
  tinyBundle,
  type RunDevice,
} from '../test/helpers/dashboard-harness.js';
import { cleanup, tempDir, until } from '../test/helpers/mqtt-harness.js';

const { values } = parseArgs({
  options: { out: { type: 'string' }, width: { type: 'string' } },
});
const out = values.out ?? join(import.meta.dirname, '..', 'docs', 'dashboard.png');
const width = Number(values.width ?? 1280);
const started = Date.now();
const load0 = loadavg()[0];

const dir = tempDir('dash-shot');
const broker = await startBroker({ port: 0, wsPort: 0 });
const tcp = `mqtt://127.0.0.1:${broker.port}`;
const ws = `ws://127.0.0.1:${broker.wsPort}`;
const devices: RunDevice[] = [];
const bundle = await tinyBundle(dir);
for (const [id, pattern] of [
  ['dock-cam', 'smptebars'],
  ['gate-cam', 'testsrc'],
  ['yard-cam', 'testsrc2'],
]) {
  devices.push(spawnRunDevice({ bundle, id, pattern, url: tcp, dir }));
}
const dash = await spawnDashboard(ws);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.evaluateOnNewDocument('globalThis.__name = (f) => f;');
  await page.setViewport({ width, height: 640, deviceScaleFactor: 1 });
  const loaded: [string, number][] = [];
  page.on('response', (r) => {
    void r.buffer().then(
      (b) => loaded.push([new URL(r.url()).pathname, b.length]),
      () => undefined,
    );
  });
  await page.goto(dash.url, { waitUntil: 'load' });
  const cards = () => page.$$eval('article.card', (cs) => cs.length);
  const timeline = (id: string) =>
    page.$eval(`article[data-device="${id}"] [data-field="timeline"]`, (e) => e.children.length);
  await until('three cards', async () => (await cards()) === 3, 60_000);
  for (const d of devices) await until(`${d.id} results`, async () => (await timeline(d.id)) >= 12, 60_000);

  // Deploy states as the agent publishes them (retained).
  const agent = connect(tcp, { protocolVersion: 4 });
  await new Promise<void>((r) => agent.once('connect', () => r()));
  const deploy = (id: string, body: Record<string, unknown>) =>
    agent.publishAsync(`edge-dmp/${id}/deploy`, JSON.stringify({ ts: new Date().toISOString(), ...body }), {
      qos: 1,
      retain: true,
    });
  await deploy('dock-cam', {
    state: 'healthy',
    version: '0.3.0',
    model: 'tiny-colour',
    sha256: 'ab'.repeat(32),
  });
  await deploy('yard-cam', {
    state: 'rolled-back',
    version: '0.4.0',
    model: 'tiny-colour',
    sha256: 'cd'.repeat(32),
    previous: '0.3.0',
    reason: 'health check failed: p95 latency 412 ms > 250 ms',
  });
  await agent.endAsync();

  await page.click('article[data-device="gate-cam"] button[data-cmd="pause"]');
  await page.waitForFunction(() =>
    document.querySelector('article[data-device="gate-cam"] [data-field="replies"] li'),
  );
  await stopProcess(devices[2].proc, 'SIGKILL');
  await page.waitForFunction(() =>
    document.querySelector('article[data-device="yard-cam"][data-status="offline"]'),
  );
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`dashboard:screenshot: ${out} (${width} px wide)`);
  console.log('what the page loaded (all from the dashboard; the broker over WebSocket):');
  for (const [path, bytes] of loaded) console.log(`  ${path.padEnd(22)} ${String(bytes).padStart(8)} bytes`);
  console.log(
    `load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
} finally {
  await browser.close();
  for (const d of devices) await stopProcess(d.proc);
  await stopProcess(dash.proc, 'SIGTERM');
  await broker.close();
  cleanup(dir);
}
