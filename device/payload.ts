/**
 * Wire payloads (results, metrics, replies, topics) shared by the MQTT and serial reporters and the subscriber.
 * The JSON Schemas in `schemas/` describe exactly what these builders emit; bump PAYLOAD_VERSION
 * (and the schemas) on any incompatible change.
 */
import { ConfigError } from '@edge-dmp/core';
import type { ClassificationResult, ModelIdentity, PipelineStats, TopKEntry } from './types.js';

// Policies and the temperature probe live in their own files; re-exported for one import.
export * from './publish-policy.js';
export * from './cpu-temp.js';
import { readCpuTempC } from './cpu-temp.js';

/** Version field `v` of every JSON payload edge-dmp publishes. */
export const PAYLOAD_VERSION = 1;

/** What goes on `<prefix>/results`. */
export interface ResultPayload {
  v: number;
  deviceId: string;
  /** Per-device, strictly increasing, persisted across restarts; subscribers de-duplicate by it. */
  seq: number;
  /**
   * The device process's session id (random per start): subscribers de-duplicate by (epoch, seq),
   * so a device whose seq restarted, or a forged huge seq, cannot make them drop genuine results.
   */
  epoch?: string;
  /** Epoch ms when the frame was received. */
  ts: number;
  frameId: number;
  label: string;
  score: number;
  topK: TopKEntry[];
  latencyMs: { total: number; decode: number; preprocess: number; infer: number };
  model: ModelIdentity;
}

/** What goes on `<prefix>/metrics`. */
export interface MetricsPayload {
  v: number;
  deviceId: string;
  ts: number;
  fps: number;
  latencyMs: { p50: number; p95: number };
  frames: number;
  classified: number;
  dropped: number;
  errors: number;
  uptimeS: number;
  memory: { rssBytes: number; heapUsedBytes: number };
  /** Hottest readable thermal zone in degrees C; null where /sys/class/thermal is not readable. */
  cpuTempC: number | null;
  model: ModelIdentity | null;
  outbox: {
    pending: number;
    dropped: number;
    bytes: number;
    /** Corrupt records set aside (checksum or sequence), since the outbox was created. */
    corrupt?: number;
    /** `outbox full` while results are published live but not persisted, else null. */
    full?: string | null;
  };
  reporter: { published: number; filtered: number; failures: number };
}

/** Reply on `<prefix>/cmd/<name>/reply`. */
export interface CommandReply {
  v: number;
  cmd: string;
  /** Echo of the request's `id`, when it had one, so callers can match replies. */
  id: string | number | null;
  ok: boolean;
  result?: unknown;
  error?: { code: string; field: string; expected: string; received?: unknown; message: string };
}

/** Values of the retained `<prefix>/status` topic (plain text, as Home Assistant availability expects). */
export type DeviceStatus = 'online' | 'offline' | 'stopped';

/** The topics of one device under its prefix. */
export interface Topics {
  prefix: string;
  results: string;
  status: string;
  metrics: string;
  /** Subscription filter for all commands. */
  cmdFilter: string;
  cmd(name: string): string;
  reply(name: string): string;
}

const TOPIC_SAFE = /^[^#+\0]+$/;

/**
 * Topic layout of a device. `prefix` defaults to `edge-dmp/<deviceId>`.
 * @example topicsFor('cam1').results // 'edge-dmp/cam1/results'
 */
export function topicsFor(deviceId: string, prefix?: string): Topics {
  if (!deviceId || !TOPIC_SAFE.test(deviceId) || deviceId.includes('/')) {
    throw new ConfigError({
      field: 'deviceId',
      expected: 'a non-empty id without "/", "+", "#"',
      received: deviceId,
    });
  }
  const p = prefix ?? `edge-dmp/${deviceId}`;
  if (!p || !TOPIC_SAFE.test(p) || p.endsWith('/')) {
    throw new ConfigError({
      field: 'prefix',
      expected: 'an MQTT topic without wildcards or trailing "/"',
      received: p,
    });
  }
  return {
    prefix: p,
    results: `${p}/results`,
    status: `${p}/status`,
    metrics: `${p}/metrics`,
    cmdFilter: `${p}/cmd/+`,
    cmd: (name) => `${p}/cmd/${name}`,
    reply: (name) => `${p}/cmd/${name}/reply`,
  };
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * Builds the versioned result payload (scores rounded to 6 digits, times to 0.01 ms).
 * @example const p = resultPayload('cam1', 7, result); JSON.stringify(p);
 */
export function resultPayload(
  deviceId: string,
  seq: number,
  r: ClassificationResult,
  epoch?: string,
): ResultPayload {
  const t = r.timings;
  return {
    v: PAYLOAD_VERSION,
    deviceId,
    seq,
    ...(epoch ? { epoch } : {}),
    ts: r.ts,
    frameId: r.frameId,
    label: r.label,
    score: round(r.score, 6),
    topK: r.topK.map((e) => ({ label: e.label, score: round(e.score, 6) })),
    latencyMs: {
      total: round(t.decodeMs + t.preprocessMs + t.inferMs, 2),
      decode: round(t.decodeMs, 2),
      preprocess: round(t.preprocessMs, 2),
      infer: round(t.inferMs, 2),
    },
    model: { name: r.model.name, version: r.model.version, sha256: r.model.sha256 },
  };
}

/** Extra fields of the metrics payload that only the reporter knows. */
export interface MetricsExtras {
  model: ModelIdentity | null;
  outbox: MetricsPayload['outbox'];
  reporter: MetricsPayload['reporter'];
  cpuTempC?: number | null;
}

/**
 * Builds the metrics payload from pipeline stats plus reporter-side counters.
 * @example metricsPayload('cam1', stats, { model: null, outbox, reporter });
 */
export function metricsPayload(deviceId: string, s: PipelineStats, extra: MetricsExtras): MetricsPayload {
  const mem = process.memoryUsage();
  return {
    v: PAYLOAD_VERSION,
    deviceId,
    ts: Date.now(),
    fps: round(s.fps, 3),
    latencyMs: { p50: round(s.latencyMs.p50, 2), p95: round(s.latencyMs.p95, 2) },
    frames: s.frames,
    classified: s.classified,
    dropped: s.dropped,
    errors: s.errors,
    uptimeS: round(s.uptimeS, 1),
    memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
    cpuTempC: extra.cpuTempC === undefined ? readCpuTempC() : extra.cpuTempC,
    model: extra.model,
    outbox: extra.outbox,
    reporter: extra.reporter,
  };
}

// ---------------------------------------------------------------------------------------------
// Publish policies

/**
 * Parses and checks a result payload received from the wire; returns null when it is not one
 * (wrong version, missing fields), so subscribers can count and skip garbage.
 * @example const p = parseResultPayload(buf); if (p) console.log(p.seq, p.label);
 */
export function parseResultPayload(data: Buffer | string): ResultPayload | null {
  let p: unknown;
  try {
    p = JSON.parse(data.toString());
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null) return null;
  const o = p as Record<string, unknown>;
  const ok =
    o.v === PAYLOAD_VERSION &&
    typeof o.deviceId === 'string' &&
    Number.isSafeInteger(o.seq) &&
    (o.seq as number) >= 1 &&
    (o.epoch === undefined || (typeof o.epoch === 'string' && o.epoch.length <= 64)) &&
    typeof o.ts === 'number' &&
    typeof o.label === 'string' &&
    typeof o.score === 'number' &&
    Array.isArray(o.topK);
  return ok ? (o as unknown as ResultPayload) : null;
}
