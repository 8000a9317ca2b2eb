/**
 * The dashboard server: one HTTP listener serving a static page that talks to the broker itself,
 * over MQTT-over-WebSocket, with mqtt.js's browser build. Everything the page loads comes from this
 * server (the Content-Security-Policy says so to the browser): the page's TypeScript, compiled once
 * at start with esbuild (no build step for the user), the stylesheet, mqtt.js from node_modules, and
 * /config.json (broker URL, topic prefix, credentials).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { transformSync } from 'esbuild';
import { ConfigError, EdgeDmpError } from '@edge-dmp/core';

export interface DashboardOptions {
  /** Broker URL as the browser will reach it: ws://host:port or wss://host:port (path allowed). */
  mqttUrl: string;
  /** Root of the device topics (default `edge-dmp`): devices publish `<prefix>/<deviceId>/...`. */
  prefix?: string;
  /** Handed to the page for its CONNECT; the page's users can read them. */
  username?: string;
  password?: string;
  /** HTTP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Listen address (default 127.0.0.1; 0.0.0.0 to serve phones on the LAN). */
  host?: string;
}

export interface Dashboard {
  /** http://host:port/ */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface Asset {
  type: string;
  body: Buffer;
}

/**
 * The page's sources (index.html, style.css, *.ts): beside this file when it runs from source, and
 * two levels up when it runs compiled from the package's dist/dashboard/ (tsc copies no HTML/CSS).
 */
const PAGE = [
  join(import.meta.dirname, 'page'),
  join(import.meta.dirname, '..', '..', 'dashboard', 'page'),
].find((d) => existsSync(join(d, 'index.html')));
/** The page's modules, compiled from page/<name>.ts. */
const MODULES = ['app', 'fleet', 'view'];

function pageFile(name: string): Buffer {
  if (!PAGE) {
    throw new EdgeDmpError('E_DASHBOARD_PAGE', {
      field: 'host/dashboard/page',
      expected: `index.html, style.css and the page's .ts files under ${join(import.meta.dirname, 'page')}`,
      received: 'no such folder (an install without host/dashboard/page?)',
    });
  }
  return readFileSync(join(PAGE, name));
}

function compile(name: string): Buffer {
  const src = pageFile(`${name}.ts`).toString('utf8');
  const out = transformSync(src, { loader: 'ts', format: 'esm', target: 'es2020', sourcefile: `${name}.ts` });
  return Buffer.from(out.code);
}

function mqttBrowserBuild(): Buffer {
  const pkg = createRequire(import.meta.url).resolve('mqtt/package.json');
  return readFileSync(join(dirname(pkg), 'dist', 'mqtt.min.js'));
}

/** Checks the options; returns the broker URL's origin for the page's connect-src. */
function checkOptions(o: DashboardOptions): string {
  let u: URL;
  try {
    u = new URL(o.mqttUrl);
  } catch {
    throw new ConfigError({ field: 'mqtt', expected: 'a ws:// or wss:// broker URL', received: o.mqttUrl });
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new ConfigError({
      field: 'mqtt',
      expected: 'a ws:// or wss:// broker URL (a browser cannot open a plain MQTT connection)',
      received: o.mqttUrl,
    });
  }
  const prefix = o.prefix ?? 'edge-dmp';
  if (!prefix || /[#+\0]/.test(prefix) || prefix.endsWith('/') || prefix.startsWith('/')) {
    throw new ConfigError({
      field: 'prefix',
      expected: 'an MQTT topic without wildcards or leading/trailing "/"',
      received: prefix,
    });
  }
  const port = o.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError({ field: 'port', expected: 'an integer port in [0, 65535]', received: o.port });
  }
  return u.origin;
}

/**
 * Starts the dashboard.
 * @example
 * const d = await startDashboard({ mqttUrl: 'ws://127.0.0.1:9001', port: 8080 });
 * console.log(`open ${d.url}`);
 * await d.close();
 */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const brokerOrigin = checkOptions(o);
  const host = o.host ?? '127.0.0.1';
  const config = {
    url: o.mqttUrl,
    prefix: o.prefix ?? 'edge-dmp',
    username: o.username,
    password: o.password,
  };
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: pageFile('index.html') }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: pageFile('style.css') }],
    ['/vendor/mqtt.min.js', { type: 'text/javascript; charset=utf-8', body: mqttBrowserBuild() }],
    ['/config.json', { type: 'application/json', body: Buffer.from(JSON.stringify(config)) }],
    ...MODULES.map((m): [string, Asset] => [
      `/${m}.js`,
      { type: 'text/javascript; charset=utf-8', body: compile(m) },
    ]),
  ]);
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${brokerOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': csp,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const server = createServer(handle);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new ConfigError({
          field: 'port',
          expected: 'a free port',
          received: `${host}:${o.port ?? 8080} (${e.code ?? e.message})`,
        }),
      ),
    );
    server.listen(o.port ?? 8080, host, () => resolve((server.address() as AddressInfo).port));
  });
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
