/**
 * The dashboard's model of the fleet: MQTT messages in, one view record per device out. Pure (no
 * DOM, no MQTT), so the browser page and the Node tests run the same code. A message that does not
 * parse becomes the device's `lastError`; it never throws, so one bad publisher cannot stop the page.
 */
import type { CommandReply, DeviceStatus, MetricsPayload, ResultPayload } from '@edge-dmp/device';

/**
 * States of the retained `<prefix>/<deviceId>/deploy` topic (published by the agent): the update
 * state machine, plus `idle` before any update.
 */
export const DEPLOY_STATES = [
  'idle',
  'received',
  'verified',
  'staged',
  'switched',
  'healthy',
  'rolled-back',
  'refused',
] as const;
export type DeployState = (typeof DEPLOY_STATES)[number];

/**
 * What the agent publishes, retained, on `<prefix>/<deviceId>/deploy`. Version, model and hash are
 * null until the bundle has been read (e.g. in `received`); `ts` is an ISO time or epoch ms.
 */
export interface DeployPayload {
  state: DeployState;
  version: string | null;
  model: string | null;
  sha256: string | null;
  reason?: string;
  previous?: string | null;
  ts: string | number;
}

export interface TimelineEntry {
  seq: number;
  /** The device's frame time (epoch ms), with seq the identity of a result. */
  ts: number;
  label: string;
  score: number;
  latencyMs: number;
  /** Page clock (ms) when it arrived: board clocks may be off, the page's is one clock for all. */
  at: number;
}

export interface ReplyEntry {
  cmd: string;
  id: string | number | null;
  ok: boolean;
  /** One line for the panel: the result JSON, or `CODE: message`. */
  text: string;
  at: number;
}

export interface DeviceView {
  id: string;
  status: DeviceStatus | 'unknown';
  model: { name: string; version: string; sha256: string } | null;
  metrics: Pick<MetricsPayload, 'fps' | 'latencyMs' | 'dropped' | 'errors' | 'cpuTempC' | 'ts'> | null;
  /** Newest first is the timeline's last entry. */
  timeline: TimelineEntry[];
  deploy: DeployPayload | null;
  /** Newest last. */
  replies: ReplyEntry[];
  /** The newest failure seen: a refused command, a failed deploy, a payload that did not parse. */
  lastError: { source: string; message: string; at: number } | null;
  /** From pause/resume replies; null until one is seen. */
  paused: boolean | null;
}

export interface Fleet {
  prefix: string;
  devices: Map<string, DeviceView>;
  /** Results/metrics/replies kept per device. */
  limits: { timeline: number; replies: number };
}

/**
 * The topic filters the page subscribes to under `prefix` (default `edge-dmp`).
 * @example fleetTopics('edge-dmp')[0] // 'edge-dmp/+/status'
 */
export function fleetTopics(prefix: string): string[] {
  return ['status', 'results', 'metrics', 'deploy', 'cmd/+/reply'].map((t) => `${prefix}/+/${t}`);
}

/**
 * A new, empty fleet.
 * @example const fleet = createFleet('edge-dmp'); applyMessage(fleet, 'edge-dmp/cam1/status', 'online', Date.now());
 */
export function createFleet(prefix = 'edge-dmp', limits = { timeline: 60, replies: 6 }): Fleet {
  return { prefix, devices: new Map(), limits };
}

function device(fleet: Fleet, id: string): DeviceView {
  let d = fleet.devices.get(id);
  if (!d) {
    d = {
      id,
      status: 'unknown',
      model: null,
      metrics: null,
      timeline: [],
      deploy: null,
      replies: [],
      lastError: null,
      paused: null,
    };
    fleet.devices.set(id, d);
  }
  return d;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Thrown inside a handler; turned into `lastError` by applyMessage. */
class PayloadProblem extends Error {}

function need(ok: boolean, what: string, got: unknown): void {
  if (!ok) throw new PayloadProblem(`${what} expected, got ${JSON.stringify(got)?.slice(0, 80)}`);
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PayloadProblem(`JSON expected, got ${JSON.stringify(text.slice(0, 40))}`);
  }
}

function modelOf(v: unknown): DeviceView['model'] {
  need(isObj(v) && isStr(v.name) && isStr(v.version) && isStr(v.sha256), 'model {name, version, sha256}', v);
  const m = v as Obj;
  return { name: m.name as string, version: m.version as string, sha256: m.sha256 as string };
}

function push<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

type Handler = (fleet: Fleet, d: DeviceView, text: string, now: number, rest: string[]) => void;

/** One handler per topic kind: `<prefix>/<deviceId>/<kind>[/...]`. */
const HANDLERS: Record<string, Handler> = {
  status(_f, d, text) {
    const s = text.trim();
    need(s === 'online' || s === 'offline' || s === 'stopped', 'status online | offline | stopped', s);
    d.status = s as DeviceStatus;
  },
  results(f, d, text, now) {
    const r = json(text) as ResultPayload;
    need(
      isObj(r) && Number.isInteger(r.seq) && isStr(r.label) && isNum(r.score),
      'result {seq, label, score}',
      r,
    );
    // A result re-sent after a lost PUBACK is the same payload again: same seq, same frame time.
    // (seq alone is not enough: a device whose outbox was deleted starts over at seq 1.)
    const ts = isNum(r.ts) ? r.ts : 0;
    if (d.timeline.some((e) => e.seq === r.seq && e.ts === ts)) return;
    d.model = modelOf(r.model);
    const latency = isObj(r.latencyMs) && isNum(r.latencyMs.total) ? r.latencyMs.total : 0;
    push(
      d.timeline,
      { seq: r.seq, ts, label: r.label, score: r.score, latencyMs: latency, at: now },
      f.limits.timeline,
    );
    // Results only come from a running device; a retained "offline" can be older than the process.
    if (d.status !== 'online') d.status = 'online';
  },
  metrics(_f, d, text) {
    const m = json(text) as MetricsPayload;
    need(
      isObj(m) && isNum(m.fps) && isObj(m.latencyMs) && isNum(m.latencyMs.p50) && isNum(m.latencyMs.p95),
      'metrics {fps, latencyMs: {p50, p95}}',
      m,
    );
    d.metrics = {
      fps: m.fps,
      latencyMs: { p50: m.latencyMs.p50, p95: m.latencyMs.p95 },
      dropped: isNum(m.dropped) ? m.dropped : 0,
      errors: isNum(m.errors) ? m.errors : 0,
      cpuTempC: isNum(m.cpuTempC) ? m.cpuTempC : null,
      ts: isNum(m.ts) ? m.ts : 0,
    };
    if (m.model !== null && m.model !== undefined) d.model = modelOf(m.model);
  },
  deploy(_f, d, text, now) {
    // An empty retained message clears the topic.
    if (text === '') return void (d.deploy = null);
    const p = json(text) as DeployPayload;
    need(
      isObj(p) && DEPLOY_STATES.includes(p.state),
      `deploy state ${DEPLOY_STATES.join(' | ')}`,
      isObj(p) ? p.state : p,
    );
    const strOrNull = (v: unknown) => v === undefined || v === null || isStr(v);
    need(
      strOrNull(p.version) && strOrNull(p.model) && strOrNull(p.sha256) && strOrNull(p.previous),
      'deploy {version, model, sha256, previous} as strings or null',
      p,
    );
    d.deploy = {
      state: p.state,
      version: p.version ?? null,
      model: p.model ?? null,
      sha256: p.sha256 ?? null,
      reason: isStr(p.reason) ? p.reason : undefined,
      previous: p.previous ?? null,
      ts: isNum(p.ts) || isStr(p.ts) ? p.ts : 0,
    };
    if ((p.state === 'rolled-back' || p.state === 'refused') && p.reason) {
      d.lastError = { source: `deploy ${p.state}`, message: p.reason, at: now };
    }
  },
  cmd(f, d, text, now, rest) {
    // rest = [<name>, 'reply']
    const r = json(text) as CommandReply;
    need(isObj(r) && typeof r.ok === 'boolean', 'reply {cmd, id, ok}', r);
    const cmd = isStr(r.cmd) ? r.cmd : rest[0];
    const line = r.ok
      ? JSON.stringify(r.result ?? null)
      : `${r.error?.code ?? 'E_?'}: ${r.error?.message ?? 'failed'}`;
    push(d.replies, { cmd, id: r.id ?? null, ok: r.ok, text: line, at: now }, f.limits.replies);
    if (!r.ok) d.lastError = { source: `command ${cmd}`, message: line, at: now };
    else if (isObj(r.result) && typeof r.result.paused === 'boolean') d.paused = r.result.paused;
  },
};

/**
 * Applies one MQTT message; returns the device id it changed, or null for a topic outside the
 * dashboard's layout. A payload that does not parse is recorded as that device's `lastError`.
 * @example
 * const id = applyMessage(fleet, 'edge-dmp/cam1/results', '{"seq":1,"label":"cat",...}', Date.now());
 * render(fleet.devices.get(id));
 */
export function applyMessage(fleet: Fleet, topic: string, payload: string, now: number): string | null {
  const head = `${fleet.prefix}/`;
  if (!topic.startsWith(head)) return null;
  const [id, kind, ...rest] = topic.slice(head.length).split('/');
  const handler = Object.hasOwn(HANDLERS, kind) ? HANDLERS[kind] : undefined;
  if (!id || !handler) return null;
  if (kind === 'cmd' && (rest.length !== 2 || rest[1] !== 'reply')) return null;
  const d = device(fleet, id);
  try {
    handler(fleet, d, payload, now, rest);
  } catch (e) {
    // Anything a payload can make a handler throw is that payload's problem, not the page's.
    const message = e instanceof PayloadProblem ? e.message : `unreadable: ${(e as Error).message}`;
    d.lastError = { source: `${kind} payload`, message, at: now };
  }
  return id;
}

/**
 * `3 s`, `4 min`, `2 h`: an age in ms, for "time since last result".
 * @example ago(125_000) // '2 min'
 */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/**
 * Smallest and largest result latency in the timeline, for the sparkline's scale and caption.
 * @example latencyRange(fleet.devices.get('cam1')!) // { min: 1.2, max: 9.8 }
 */
export function latencyRange(d: DeviceView): { min: number; max: number } | null {
  if (d.timeline.length === 0) return null;
  const xs = d.timeline.map((e) => e.latencyMs);
  return { min: Math.min(...xs), max: Math.max(...xs) };
}
