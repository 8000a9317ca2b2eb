/**
 * MQTT OTA, host side (topics: docs/deploy-contract.md, docs/deploy.md). The host publishes a
 * retained offer and then only answers the agent's `need` messages with chunks, so whatever breaks
 * (a reconnect, a broker restart, an agent restart) the transfer continues from what the board holds.
 * It finishes on the agent's retained `deploy` record for this bundle's SHA-256.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { readBundle } from '@edge-dmp/core';
import { toClientOptions, toMqttError, type MqttConnectionOptions } from '@edge-dmp/device';
import { DeployError } from './errors.js';
import type { EventSink, Verdict } from './events.js';
import type { DeployResult } from './deploy.js';

export interface OtaOptions {
  conn: MqttConnectionOptions;
  deviceId: string;
  /** Device topic prefix (default `edge-dmp/<deviceId>`). */
  topicPrefix?: string;
  bundle: string;
  /** Default 64 KiB. */
  chunkSize?: number;
  /** Wait for the verdict at most this long (default 10 min). */
  timeoutMs?: number;
  onEvent?: EventSink;
}

export interface OtaOffer {
  id: string;
  name: string;
  total: number;
  sha256: string;
  chunkSize: number;
  ts: number;
}

export interface OtaNeed {
  id: string;
  offsets: number[];
  have?: number;
  refused?: number;
}

export interface DeployRecord {
  state: string;
  version?: string | null;
  model?: string | null;
  sha256?: string | null;
  reason?: string;
  previous?: string | null;
  ts?: string | number;
}

const FINAL: Record<string, Verdict> = {
  healthy: 'healthy',
  'rolled-back': 'rolled-back',
  refused: 'refused',
};

/** Topic names under a device prefix. */
export const otaTopics = (t: string) => ({
  offer: `${t}/ota/offer`,
  need: `${t}/ota/need`,
  chunk: `${t}/ota/chunk`,
  rollback: `${t}/ota/rollback`,
  deploy: `${t}/deploy`,
  status: `${t}/status`,
});

/** One chunk message for `bytes` at `offset`. */
export function chunkMessage(id: string, bytes: Uint8Array, offset: number, size: number): string {
  const data = bytes.subarray(offset, Math.min(offset + size, bytes.length));
  return JSON.stringify({
    id,
    offset,
    size: data.length,
    total: bytes.length,
    hash: createHash('sha256').update(data).digest('hex'),
    data: Buffer.from(data).toString('base64'),
  });
}

/** Connects, resolving on the first CONNACK (later drops reconnect by themselves). */
export function connectMqtt(conn: MqttConnectionOptions, clientId: string): Promise<MqttClient> {
  const opts = toClientOptions({ reconnectPeriodMs: 500, ...conn, clientId }, { clean: true });
  return new Promise((resolve, reject) => {
    const c = connect(conn.url, opts);
    const fail = (e: Error) => {
      c.end(true);
      const m = toMqttError(conn.url, e);
      if (m.code !== 'E_MQTT_CONNECT') return reject(m);
      reject(
        new DeployError(
          'E_OTA',
          { field: '--mqtt', expected: 'a reachable MQTT broker', received: conn.url },
          `mqtt ${conn.url}: ${e.message}`,
        ),
      );
    };
    c.once('connect', () => {
      c.off('error', fail);
      c.on('error', () => undefined);
      resolve(c);
    });
    c.once('error', fail);
  });
}

/**
 * Delivers a bundle to one device over MQTT and waits for its verdict.
 * @example const r = await deployOta({ conn: { url: 'mqtt://broker:1883' }, deviceId: 'cam1', bundle: 'model.edmp' });
 */
export async function deployOta(o: OtaOptions): Promise<DeployResult> {
  const bytes = new Uint8Array(await readFile(o.bundle));
  const bundle = await readBundle(bytes);
  const id = bundle.sha256;
  const T = otaTopics(o.topicPrefix ?? `edge-dmp/${o.deviceId}`);
  const chunkSize = o.chunkSize ?? 64 * 1024;
  const offer: OtaOffer = {
    id,
    name: basename(o.bundle),
    total: bytes.length,
    sha256: id,
    chunkSize,
    ts: Date.now(),
  };
  const host = `mqtt:${o.deviceId}`;
  const emit = o.onEvent ?? (() => undefined);
  const client = await connectMqtt(o.conn, `edge-dmp-deploy-${o.deviceId}-${process.pid}`.slice(0, 64));
  let bytesSent = 0;
  const started = Date.now();
  try {
    return await new Promise<DeployResult>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new DeployError('E_OTA', {
              field: '--device-id',
              expected: `a verdict from ${o.deviceId} within ${o.timeoutMs ?? 600_000} ms`,
              received: `${bytesSent} bytes sent`,
            }),
          ),
        o.timeoutMs ?? 600_000,
      );
      const publishOffer = () => client.publish(T.offer, JSON.stringify(offer), { qos: 1, retain: true });
      // mqtt.js resubscribes after a reconnect; the offer is republished because a restarted broker
      // without persistence has lost its retained messages.
      client.on('connect', () => publishOffer());
      client.subscribe([T.need, T.deploy], { qos: 1 }, (err) => {
        if (err)
          return reject(
            new DeployError('E_OTA', {
              field: '--mqtt',
              expected: 'subscribe allowed',
              received: err.message,
            }),
          );
        publishOffer();
      });
      client.on('message', (topic, payload, packet) => {
        let msg: unknown;
        try {
          msg = JSON.parse(payload.toString());
        } catch {
          return;
        }
        if (topic === T.need) {
          const need = msg as OtaNeed;
          if (need.id !== id || !Array.isArray(need.offsets)) return;
          for (const off of need.offsets) {
            if (!Number.isInteger(off) || off < 0 || off >= bytes.length || off % chunkSize) continue;
            const m = chunkMessage(id, bytes, off, chunkSize);
            bytesSent += Math.min(chunkSize, bytes.length - off);
            client.publish(T.chunk, m, { qos: 1 });
          }
          const have = need.have ?? 0;
          const rate = bytesSent / Math.max((Date.now() - started) / 1000, 1e-3);
          emit({
            event: 'upload',
            host,
            file: o.bundle,
            done: have,
            total: bytes.length,
            sent: bytesSent,
            bytesPerSec: rate,
            etaS: (bytes.length - have) / Math.max(rate, 1),
          });
          return;
        }
        const rec = msg as DeployRecord;
        if (topic !== T.deploy || rec.sha256 !== id || !rec.state) return;
        // A retained final record for this very bundle is the board's answer already: the agent
        // does not take an offer it has installed or refused before, so waiting would never end.
        if (packet.retain && !FINAL[rec.state]) return;
        emit({ event: 'state', host, state: rec.state, version: rec.version, reason: rec.reason });
        const verdict = FINAL[rec.state];
        if (!verdict) return;
        clearTimeout(timer);
        const ok = verdict === 'healthy';
        emit({
          event: 'verdict',
          host,
          ok,
          state: verdict,
          reason: rec.reason,
          version: rec.version,
          model: rec.model,
          bytesSent,
        });
        resolve({
          host,
          ok,
          state: verdict,
          reason: ok ? undefined : rec.reason,
          version: rec.version ?? bundle.manifest.model.version,
          model: rec.model ?? bundle.manifest.model.name,
          bytesSent,
        });
      });
    });
  } finally {
    // The offer is done either way: clear it so a board that connects later does not fetch it again.
    await new Promise<void>((r) => client.publish(T.offer, '', { qos: 1, retain: true }, () => r()));
    await client.endAsync();
  }
}
