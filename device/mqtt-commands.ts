/**
 * MQTT commands (`<prefix>/cmd/<name>`): the command table, and who may use it: commands can be
 * off, limited to a list, or required to be signed (device/command-auth.ts). Error replies are
 * bounded in size whatever came in. Used by device/mqtt-reporter.ts; topics and payloads: docs/mqtt.md.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError, EdgeDmpError } from '@edge-dmp/core';
import { CommandVerifier } from './command-auth.js';
import type { MqttReporter } from './mqtt-reporter.js';
import { checkThreshold, PAYLOAD_VERSION, type CommandReply } from './payload.js';
import type { PipelineStats } from './types.js';

/** What the commands act on; the pipeline implements it. Missing methods answer E_CMD_UNSUPPORTED. */
export interface DeviceControl {
  pause?(): void | Promise<void>;
  resume?(): void | Promise<void>;
  setFps?(fps: number): void | Promise<void>;
  /** Called after set-threshold changed the reporter's policy, for pipelines that also filter. */
  setThreshold?(threshold: number): void | Promise<void>;
  /** Fresh stats for snapshot-metrics; otherwise the last ones given to metrics(). */
  stats?(): PipelineStats;
}

/** Which commands the device obeys, and from whom. */
export interface CommandPolicy {
  /** false: commands are off (nothing is subscribed on `<prefix>/cmd/#`). Default true. */
  enabled?: boolean;
  /** Only these commands run; others are answered E_CMD_FORBIDDEN. Default: all of MQTT_COMMANDS. */
  allow?: string[];
  /** Ed25519 public keys (KeyObject or PEM): when given, every command must be signed by one (device/command-auth.ts). */
  keys?: (KeyObject | string)[];
  /** Clock window for signed commands' timestamps (default 60000 ms). */
  maxSkewMs?: number;
}

/** Command payloads larger than this are refused unread; replies are kept well below it too. */
export const MAX_COMMAND_BYTES = 64 * 1024;
export const CMD_NAME = /^[\w-]{1,64}$/;

/** A value for an error reply, cut to a few hundred characters (a 10 MB command gets a small reply). */
function clip(v: unknown, max = 200): unknown {
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return s.length > max ? `${s.slice(0, max)}... (${s.length} characters)` : v;
}

/** A command handler: validated args in, JSON result out; throws EdgeDmpError for bad input. */
type CommandFn = (r: MqttReporter, args: Record<string, unknown>) => unknown | Promise<unknown>;

function numberArg(args: Record<string, unknown>, key: string): unknown {
  return args[key] ?? args.value;
}

function needs(r: MqttReporter, method: keyof DeviceControl) {
  const c = r.control;
  const fn = c?.[method];
  if (!c || typeof fn !== 'function') {
    throw new EdgeDmpError('E_CMD_UNSUPPORTED', {
      field: 'cmd',
      expected: `a pipeline that supports ${method}()`,
      received: c ? 'control without it' : 'no pipeline attached',
    });
  }
  return fn.bind(c) as (...a: unknown[]) => unknown;
}

/** The command table: `<prefix>/cmd/<name>`. */
const COMMANDS: Record<string, CommandFn> = {
  'set-threshold': async (r, a) => {
    const t = checkThreshold(numberArg(a, 'threshold'), 'threshold');
    r.policy.threshold = t;
    await r.control?.setThreshold?.(t);
    return { threshold: t, policy: r.policy.name };
  },
  'set-fps': async (r, a) => {
    const fps = numberArg(a, 'fps');
    if (typeof fps !== 'number' || !Number.isFinite(fps) || fps <= 0 || fps > 1000) {
      throw new ConfigError({ field: 'fps', expected: 'a number in (0, 1000]', received: fps });
    }
    await needs(r, 'setFps')(fps);
    return { fps };
  },
  pause: async (r) => {
    await needs(r, 'pause')();
    return { paused: true };
  },
  resume: async (r) => {
    await needs(r, 'resume')();
    return { paused: false };
  },
  'snapshot-metrics': (r) => r.snapshotMetrics(),
};

/** The command names, for docs and discovery. */
export const MQTT_COMMANDS = Object.keys(COMMANDS);

/** The command policy, resolved once: on/off, the allow list, the signature verifier. */
export interface CommandGate {
  enabled: boolean;
  allow: Set<string> | null;
  verifier: CommandVerifier | null;
}

/** Checks a CommandPolicy (ConfigError naming the field) and resolves it. */
export function commandGate(cp: CommandPolicy = {}): CommandGate {
  const unknown = (cp.allow ?? []).find((n) => !MQTT_COMMANDS.includes(n));
  if (unknown !== undefined) {
    throw new ConfigError({
      field: 'commands.allow',
      expected: MQTT_COMMANDS.join(' | '),
      received: unknown,
    });
  }
  let keys: KeyObject[];
  try {
    keys = (cp.keys ?? []).map((k) => (typeof k === 'string' ? createPublicKey(k) : k));
  } catch (e) {
    throw new ConfigError({
      field: 'commands.keys',
      expected: 'Ed25519 public keys (PEM)',
      received: (e as Error).message,
    });
  }
  return {
    enabled: cp.enabled !== false,
    allow: cp.allow ? new Set(cp.allow) : null,
    verifier: keys.length ? new CommandVerifier(keys, cp.maxSkewMs) : null,
  };
}

/** Size, allow list and signature checks, then the arguments (throws EdgeDmpError E_CMD_*). */
export function commandArgs(
  gate: CommandGate,
  topic: string,
  name: string,
  payload: Buffer,
): Record<string, unknown> {
  if (payload.length > MAX_COMMAND_BYTES) {
    throw new EdgeDmpError('E_CMD_TOO_LARGE', {
      field: 'payload',
      expected: `at most ${MAX_COMMAND_BYTES} bytes`,
      received: `${payload.length} bytes`,
    });
  }
  if (gate.allow && !gate.allow.has(name)) {
    throw new EdgeDmpError('E_CMD_FORBIDDEN', {
      field: 'cmd',
      expected: `one of the allowed commands: ${[...gate.allow].join(' | ') || 'none'}`,
      received: name,
    });
  }
  if (!gate.verifier) return parseCommandArgs(payload);
  return parseCommandArgs(Buffer.from(gate.verifier.verify(topic, parseCommandArgs(payload))));
}

/** Runs one command and builds its reply; errors become a bounded error reply, never a throw. */
export async function runCommand(
  r: MqttReporter,
  name: string,
  args: () => Record<string, unknown>,
): Promise<CommandReply> {
  let id: string | number | null = null;
  try {
    const a = args();
    if (typeof a.id === 'string' || typeof a.id === 'number') id = clip(a.id, 64) as string | number;
    const fn = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!fn) {
      throw new EdgeDmpError('E_CMD_UNKNOWN', {
        field: 'cmd',
        expected: MQTT_COMMANDS.join(' | '),
        received: name,
      });
    }
    return { v: PAYLOAD_VERSION, cmd: name, id, ok: true, result: await fn(r, a) };
  } catch (e) {
    const err =
      e instanceof EdgeDmpError
        ? e
        : new EdgeDmpError('E_CMD_FAILED', {
            field: 'cmd',
            expected: 'a command that succeeds',
            received: String(e),
          });
    return {
      v: PAYLOAD_VERSION,
      cmd: name,
      id,
      ok: false,
      error: {
        code: err.code,
        field: err.field,
        expected: clip(err.expected, 300) as string,
        received: clip(err.received),
        message: clip(err.message, 500) as string,
      },
    };
  }
}

/** Command payloads: empty, a JSON number (the value), or a JSON object. Anything else is malformed. */
export function parseCommandArgs(payload: Buffer): Record<string, unknown> {
  const text = payload.toString('utf8').trim();
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new EdgeDmpError('E_CMD_MALFORMED', {
      field: 'payload',
      expected: 'JSON (object or number)',
      received: text,
    });
  }
  if (typeof v === 'number') return { value: v };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new EdgeDmpError('E_CMD_MALFORMED', {
      field: 'payload',
      expected: 'a JSON object or number',
      received: v,
    });
  }
  return v as Record<string, unknown>;
}
