/**
 * The page's entry point: reads /config.json, connects to the broker over MQTT-over-WebSocket with
 * mqtt.js's browser build (served by the dashboard as /vendor/mqtt.min.js, a global `mqtt`),
 * subscribes to the fleet's topics and redraws the cards of the devices a message touched.
 */
import type { MqttClient } from 'mqtt';
import { applyMessage, createFleet, fleetTopics } from './fleet.js';
import { renderAge, renderDevice } from './view.js';

/** What GET /config.json returns (see host/dashboard/server.ts). */
interface PageConfig {
  url: string;
  prefix: string;
  username?: string;
  password?: string;
}

declare const mqtt: { connect(url: string, opts: Record<string, unknown>): MqttClient };

const conn = document.getElementById('conn')!;
const root = document.getElementById('fleet')!;
const empty = document.getElementById('empty')!;

function setConn(state: string, text: string): void {
  conn.dataset.state = state;
  conn.textContent = text;
}

async function start(): Promise<void> {
  const cfg = (await (await fetch('config.json')).json()) as PageConfig;
  const fleet = createFleet(cfg.prefix);
  const client = mqtt.connect(cfg.url, {
    protocolVersion: 4,
    clientId: `edge-dmp-dashboard-${Math.random().toString(16).slice(2, 10)}`,
    username: cfg.username,
    password: cfg.password,
    reconnectPeriod: 2000,
    keepalive: 30,
  });
  let nextId = 1;
  const send = (deviceId: string, name: string, args: Record<string, number>) => {
    const id = nextId++;
    client.publish(`${cfg.prefix}/${deviceId}/cmd/${name}`, JSON.stringify({ id, ...args }), { qos: 1 });
    return id;
  };

  // Redraw at most ten times a second, whatever the message rate (a timer, not requestAnimationFrame,
  // so a page in a background tab still keeps its cards current).
  const dirty = new Set<string>();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const now = Date.now();
    for (const id of dirty) renderDevice(root, fleet.devices.get(id)!, send, now);
    dirty.clear();
    empty.hidden = fleet.devices.size > 0;
  };

  // The last refusal (e.g. "Not authorized") stays on screen while mqtt.js retries.
  let lastError = '';
  client.on('connect', () => {
    lastError = '';
    setConn('online', `connected to ${cfg.url}`);
    client.subscribe(fleetTopics(cfg.prefix), { qos: 1 });
  });
  client.on('reconnect', () =>
    setConn(lastError ? 'error' : 'connecting', `${lastError || `reconnecting to ${cfg.url}`}; retrying…`),
  );
  client.on('offline', () =>
    setConn(lastError ? 'error' : 'offline', lastError || `broker ${cfg.url} unreachable`),
  );
  client.on('error', (e) => {
    lastError = `broker ${cfg.url}: ${e.message}`;
    setConn('error', lastError);
  });
  client.on('message', (topic, payload) => {
    const id = applyMessage(fleet, topic, payload.toString(), Date.now());
    if (id === null) return;
    dirty.add(id);
    if (!scheduled) {
      scheduled = true;
      setTimeout(flush, 100);
    }
  });
  setInterval(() => {
    const now = Date.now();
    for (const card of Array.from(root.querySelectorAll<HTMLElement>('article.card'))) {
      const d = fleet.devices.get(card.dataset.device ?? '');
      if (d) renderAge(card, d, now);
    }
  }, 1000);
}

start().catch((e: Error) => setConn('error', `dashboard failed to start: ${e.message}`));
