/**
 * `<prefix>/agent.json`: what the agent runs and how it judges updates. Validated field by field
 * into typed ConfigErrors that name the JSON path, so a bad file says exactly what to fix.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '@edge-dmp/core';

export interface HealthRules {
  /** Frames the new model must classify before it is declared healthy. */
  frames: number;
  /** Largest share of those frames that may fail (0..1). */
  maxErrorRate: number;
  /** Largest p95 of per-frame latency (decode + preprocess + infer), ms. */
  maxP95Ms: number;
  /** The N frames must arrive within this time after the switch, ms. */
  timeoutMs: number;
  /** K agent starts within T ms while an update is unconfirmed = a crash loop -> rollback. */
  crashLoop: { restarts: number; windowMs: number };
}

export interface AgentMqttConfig {
  url: string;
  /** Topic prefix; default `edge-dmp/<deviceId>`. */
  prefix?: string;
  username?: string;
  /** Or env EDGE_DMP_MQTT_PASSWORD. */
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  qos?: 0 | 1 | 2;
  outboxMax?: number;
  fsync?: 'always' | 'interval' | 'never';
}

export interface AgentConfig {
  deviceId: string;
  /** A profile name from device/agent/profiles.ts; `auto` = detected. */
  profile: string;
  /** Frame source URI; default: the profile's. */
  source?: string;
  fps?: number;
  width?: number;
  height?: number;
  /** Runtime threads; default: the profile's. */
  threads?: number;
  /** Ed25519 public keys (PEM text or paths, relative to agent.json) trusted to sign bundles. */
  publicKeys: string[];
  allowUnsigned: boolean;
  mqtt?: AgentMqttConfig;
  serial?: { path: string; baudRate?: number; format?: 'json' | 'compact' };
  /** Results as JSON lines on stdout too. */
  stdout: boolean;
  health: HealthRules;
  /** A bundle installed on first start when the store is empty. */
  bundle?: string;
  /** The directory agent.json was read from (relative paths resolve against it). */
  dir: string;
}

export const DEFAULT_HEALTH: HealthRules = {
  frames: 20,
  maxErrorRate: 0.1,
  maxP95Ms: 2000,
  timeoutMs: 120_000,
  crashLoop: { restarts: 3, windowMs: 600_000 },
};

type Json = Record<string, unknown>;

const fail = (field: string, expected: string, received: unknown): never => {
  throw new ConfigError({ field: `agent.json ${field}`, expected, received });
};

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Field checkers by kind: each returns the value or throws naming the field. */
const KINDS = {
  string: (f: string, v: unknown) => (typeof v === 'string' && v ? v : fail(f, 'a non-empty string', v)),
  bool: (f: string, v: unknown) => (typeof v === 'boolean' ? v : fail(f, 'true or false', v)),
  positive: (f: string, v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(f, 'a positive number', v),
  count: (f: string, v: unknown) =>
    Number.isInteger(v) && (v as number) > 0 ? (v as number) : fail(f, 'a positive integer', v),
  rate: (f: string, v: unknown) =>
    typeof v === 'number' && v >= 0 && v <= 1 ? v : fail(f, 'a number in [0, 1]', v),
};

function opt<K extends keyof typeof KINDS>(
  o: Json,
  key: string,
  kind: K,
  path: string,
): ReturnType<(typeof KINDS)[K]> | undefined {
  return o[key] === undefined
    ? undefined
    : (KINDS[kind](`${path}${key}`, o[key]) as ReturnType<(typeof KINDS)[K]>);
}

function only(o: Json, allowed: string[], path: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length) fail(`${path}${extra[0]}`, `one of ${allowed.join(', ')}`, extra[0]);
}

function parseHealth(v: unknown): HealthRules {
  if (v === undefined) return { ...DEFAULT_HEALTH, crashLoop: { ...DEFAULT_HEALTH.crashLoop } };
  if (!isObj(v)) return fail('health', 'an object', v);
  only(v, ['frames', 'maxErrorRate', 'maxP95Ms', 'timeoutMs', 'crashLoop'], 'health.');
  let crashLoop = { ...DEFAULT_HEALTH.crashLoop };
  if (v.crashLoop !== undefined) {
    if (!isObj(v.crashLoop)) fail('health.crashLoop', 'an object {restarts, windowMs}', v.crashLoop);
    const c = v.crashLoop as Json;
    only(c, ['restarts', 'windowMs'], 'health.crashLoop.');
    crashLoop = {
      restarts: opt(c, 'restarts', 'count', 'health.crashLoop.') ?? crashLoop.restarts,
      windowMs: opt(c, 'windowMs', 'positive', 'health.crashLoop.') ?? crashLoop.windowMs,
    };
  }
  return {
    frames: opt(v, 'frames', 'count', 'health.') ?? DEFAULT_HEALTH.frames,
    maxErrorRate: opt(v, 'maxErrorRate', 'rate', 'health.') ?? DEFAULT_HEALTH.maxErrorRate,
    maxP95Ms: opt(v, 'maxP95Ms', 'positive', 'health.') ?? DEFAULT_HEALTH.maxP95Ms,
    timeoutMs: opt(v, 'timeoutMs', 'positive', 'health.') ?? DEFAULT_HEALTH.timeoutMs,
    crashLoop,
  };
}

function parseMqtt(v: unknown): AgentMqttConfig | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) return fail('mqtt', 'an object with url', v);
  only(
    v,
    ['url', 'prefix', 'username', 'password', 'ca', 'cert', 'key', 'qos', 'outboxMax', 'fsync'],
    'mqtt.',
  );
  const qos = v.qos;
  if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) fail('mqtt.qos', '0, 1 or 2', qos);
  const fsync = v.fsync;
  if (fsync !== undefined && !['always', 'interval', 'never'].includes(fsync as string))
    fail('mqtt.fsync', 'always | interval | never', fsync);
  const s = (k: string) => opt(v, k, 'string', 'mqtt.');
  return {
    url: KINDS.string('mqtt.url', v.url),
    prefix: s('prefix'),
    username: s('username'),
    password: s('password'),
    ca: s('ca'),
    cert: s('cert'),
    key: s('key'),
    qos: qos as AgentMqttConfig['qos'],
    outboxMax: opt(v, 'outboxMax', 'count', 'mqtt.'),
    fsync: fsync as AgentMqttConfig['fsync'],
  };
}

const TOP_KEYS = [
  'deviceId',
  'profile',
  'source',
  'fps',
  'width',
  'height',
  'threads',
  'publicKeys',
  'allowUnsigned',
  'mqtt',
  'serial',
  'stdout',
  'health',
  'bundle',
];

/**
 * Validates a parsed agent.json; `dir` is where relative paths resolve.
 * @example const cfg = parseAgentConfig({ deviceId: 'cam1', publicKeys: ['edmp.pub'] }, '/opt/edge-dmp');
 */
export function parseAgentConfig(raw: unknown, dir: string): AgentConfig {
  if (!isObj(raw)) return fail('(top level)', 'a JSON object', raw);
  only(raw, TOP_KEYS, '');
  const deviceId = KINDS.string('deviceId', raw.deviceId);
  if (/[/+#\s]/.test(deviceId)) fail('deviceId', 'an id without "/", "+", "#" or spaces', deviceId);
  const keys = raw.publicKeys ?? [];
  if (!Array.isArray(keys)) fail('publicKeys', 'an array of PEM keys or key paths', keys);
  const allowUnsigned = opt(raw, 'allowUnsigned', 'bool', '') ?? false;
  const publicKeys = (keys as unknown[]).map((k, i) => KINDS.string(`publicKeys[${i}]`, k));
  if (!publicKeys.length && !allowUnsigned)
    fail('publicKeys', 'at least one public key (or "allowUnsigned": true)', keys);
  let serial: AgentConfig['serial'];
  if (raw.serial !== undefined) {
    if (!isObj(raw.serial)) fail('serial', 'an object {path, baudRate?, format?}', raw.serial);
    const s = raw.serial as Json;
    only(s, ['path', 'baudRate', 'format'], 'serial.');
    if (s.format !== undefined && s.format !== 'json' && s.format !== 'compact')
      fail('serial.format', 'json | compact', s.format);
    serial = {
      path: KINDS.string('serial.path', s.path),
      baudRate: opt(s, 'baudRate', 'count', 'serial.'),
      format: s.format as 'json' | 'compact' | undefined,
    };
  }
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(dir, p));
  return {
    deviceId,
    profile: opt(raw, 'profile', 'string', '') ?? 'auto',
    source: opt(raw, 'source', 'string', ''),
    fps: opt(raw, 'fps', 'positive', ''),
    width: opt(raw, 'width', 'count', ''),
    height: opt(raw, 'height', 'count', ''),
    threads: opt(raw, 'threads', 'count', ''),
    publicKeys: publicKeys.map((k) => (k.includes('-----BEGIN') ? k : abs(k)!)),
    allowUnsigned,
    mqtt: parseMqtt(raw.mqtt),
    serial,
    stdout: opt(raw, 'stdout', 'bool', '') ?? false,
    health: parseHealth(raw.health),
    bundle: abs(opt(raw, 'bundle', 'string', '')),
    dir,
  };
}

/**
 * Reads and validates agent.json.
 * @example const cfg = await loadAgentConfig('/opt/edge-dmp/agent.json');
 */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError({
      field: '--config',
      expected: 'a readable agent.json',
      received: (e as Error).message,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError({ field: path, expected: 'JSON', received: (e as Error).message });
  }
  return parseAgentConfig(raw, dirname(resolve(path)));
}

/** `<prefix>/agent.json`. */
export const configPathOf = (prefix: string) => join(prefix, 'agent.json');
