/**
 * Flags shared by the commands that talk MQTT or serial (`run`, `watch`): connection, security,
 * reporting. One table, so `run` and `watch` spell them the same way.
 */
import { hostname } from 'node:os';
import { ConfigError, checkOutputPath, num, numIn } from '@edge-dmp/core';
import type { MqttConnectionOptions } from '../mqtt-options.js';
import type { FsyncPolicy } from '../outbox.js';
import { PUBLISH_POLICIES, type PublishPolicyName, type PublishPolicyOptions } from '../payload.js';
import type { SerialFormat } from '../serial-reporter.js';
import { MQTT_COMMANDS, type CommandPolicy } from '../mqtt-commands.js';
import type { ReporterFactory } from './reporters.js';

/** Connection and TLS flags (parseArgs options). */
export const MQTT_CONNECTION_FLAGS = {
  mqtt: { type: 'string' },
  prefix: { type: 'string' },
  username: { type: 'string' },
  /** Also read from EDGE_DMP_MQTT_PASSWORD, which keeps it out of `ps`. */
  password: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

/**
 * `--ha-discovery` takes an optional value: parseArgs cannot express that, so a bare flag (last,
 * or followed by another flag) gets the default prefix `homeassistant` inserted.
 * @example normalizeOptionalFlags(['--ha-discovery', '--mqtt', 'mqtt://h']) // [..., 'homeassistant', ...]
 */
export function normalizeOptionalFlags(argv: string[]): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    out.push(a);
    if (a === '--ha-discovery' && (i === argv.length - 1 || argv[i + 1].startsWith('--')))
      out.push('homeassistant');
  });
  return out;
}

/** Connection options from flags; undefined without --mqtt. */
export function connectionFromFlags(v: Values): MqttConnectionOptions | undefined {
  const url = v.mqtt as string | undefined;
  if (!url) return undefined;
  const tls =
    v.ca || v.cert || v.key
      ? {
          ca: v.ca as string | undefined,
          cert: v.cert as string | undefined,
          key: v.key as string | undefined,
        }
      : undefined;
  return {
    url,
    username: v.username as string | undefined,
    password: (v.password as string | undefined) ?? process.env.EDGE_DMP_MQTT_PASSWORD,
    tls,
  };
}

function oneOf<T extends string>(
  flag: string,
  v: string | boolean | undefined,
  allowed: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T))
    throw new ConfigError({ field: flag, expected: allowed.join(' | '), received: v });
  return v as T;
}

/** `/dev/ttyUSB0:9600` -> path and baud (the suffix is a baud rate only when it is all digits). */
export function parseSerialSpec(spec: string): { path: string; baudRate?: number } {
  const m = /^(.*):([^:/]*)$/.exec(spec);
  // by-path names contain colons ("...-usb-0:2:1.0-port0"): only digits, or a word that can only
  // have been meant as a baud rate ("notbaud", "fast"), are read as one.
  if (!m || (!/^\d+$/.test(m[2]) && !/^[A-Za-z]*$/.test(m[2]))) return { path: spec };
  const baud = Number(m[2]);
  if (!/^\d+$/.test(m[2]) || baud < 50 || baud > 4_000_000) {
    throw new ConfigError({
      field: '--serial',
      expected: '<path>[:baud] with baud an integer in 50..4000000, e.g. /dev/ttyUSB0:115200',
      received: spec,
    });
  }
  return { path: m[1], baudRate: Number(m[2]) };
}

/** Publish-policy flags, shared by --mqtt and --serial. */
const POLICY_FLAGS = {
  policy: { type: 'string' },
  threshold: { type: 'string' },
  'every-n': { type: 'string' },
  'device-id': { type: 'string' },
} as const;

/** `--threshold` alone implies `--policy threshold`, `--every-n` alone `--policy every-nth`. */
function policyFromFlags(v: Values): PublishPolicyOptions {
  const threshold = v.threshold === undefined ? undefined : num('--threshold', v.threshold as string);
  const everyN = v['every-n'] === undefined ? undefined : num('--every-n', v['every-n'] as string);
  const implied = threshold !== undefined ? 'threshold' : everyN !== undefined ? 'every-nth' : undefined;
  const policy = oneOf<PublishPolicyName>('--policy', v.policy, PUBLISH_POLICIES) ?? implied;
  return { policy, threshold, everyN };
}

/** `--commands all|off|<name,...>` and `--command-key <pem>` -> CommandPolicy. */
async function commandPolicyFromFlags(v: Values): Promise<CommandPolicy> {
  const c = (v.commands as string | undefined) ?? 'all';
  const policy: CommandPolicy =
    c === 'all' ? {} : c === 'off' ? { enabled: false } : { allow: c.split(',').map((x) => x.trim()) };
  const bad = policy.allow?.find((n) => !MQTT_COMMANDS.includes(n));
  if (bad !== undefined) {
    throw new ConfigError({
      field: '--commands',
      expected: `all, off or a list of ${MQTT_COMMANDS.join(',')}`,
      received: c,
    });
  }
  if (typeof v['command-key'] === 'string') {
    const { loadPublicKey } = await import('@edge-dmp/core');
    policy.keys = [await loadPublicKey(v['command-key'], '--command-key')];
  }
  return policy;
}

const deviceIdFrom = (v: Values) => (v['device-id'] as string | undefined) ?? hostname();

/**
 * `edge-dmp run --mqtt <url>`: results, status, metrics and commands over MQTT (docs/mqtt.md).
 * The reporter module is imported on use, so runs without --mqtt do not load mqtt.js.
 */
export const MQTT_REPORTER: ReporterFactory = {
  usage: [
    '  --mqtt <url>                 report to an MQTT broker (mqtt://, mqtts://, ws://, wss://); docs/mqtt.md',
    '    [--device-id <id>] [--prefix <topic>] [--qos 0|1|2] [--outbox <dir>] [--outbox-max N]',
    '    [--fsync always|interval|never] [--username <u>] [--password <p> | env EDGE_DMP_MQTT_PASSWORD]',
    '    [--ca <pem>] [--cert <pem> --key <pem>] [--ha-discovery [prefix]]',
    '    [--policy every|label-change|threshold|every-nth] [--threshold 0.5] [--every-n 10]',
    '    [--commands all|off|<name,name>] [--command-key <edmp.pub>] (commands must be signed by it:',
    '    edge-dmp sign-command; docs/security.md)',
  ].join('\n'),
  options: {
    ...MQTT_CONNECTION_FLAGS,
    ...POLICY_FLAGS,
    qos: { type: 'string' },
    outbox: { type: 'string' },
    'outbox-max': { type: 'string' },
    fsync: { type: 'string' },
    'ha-discovery': { type: 'string' },
    commands: { type: 'string' },
    'command-key': { type: 'string' },
  },
  async create(url, ctx) {
    const v = ctx.values;
    const conn = connectionFromFlags({ ...v, mqtt: url })!;
    const qos = v.qos === undefined ? 1 : num('--qos', v.qos as string);
    if (![0, 1, 2].includes(qos))
      throw new ConfigError({ field: '--qos', expected: '0, 1 or 2', received: v.qos });
    const max =
      v['outbox-max'] === undefined
        ? undefined
        : numIn('--outbox-max', v['outbox-max'] as string, 'positive integer');
    if (typeof v.outbox === 'string') checkOutputPath('--outbox', v.outbox, 'dir');
    const { MqttReporter } = await import('../mqtt-reporter.js');
    return new MqttReporter({
      ...conn,
      deviceId: deviceIdFrom(v),
      prefix: v.prefix as string | undefined,
      qos: qos as 0 | 1 | 2,
      policy: policyFromFlags(v),
      outboxDir: v.outbox as string | undefined,
      outbox: {
        maxEntries: max,
        fsync: oneOf<FsyncPolicy>('--fsync', v.fsync, ['always', 'interval', 'never']),
      },
      haDiscovery: v['ha-discovery'] as string | undefined,
      model: ctx.model,
      control: ctx.control,
      commands: await commandPolicyFromFlags(v),
    });
  },
};

/** `edge-dmp run --serial <path>[:baud]`: one line per result to a serial port. */
export const SERIAL_REPORTER: ReporterFactory = {
  usage: [
    '  --serial <path>[:baud]       one line per result to a serial port (default 115200 baud)',
    '    [--serial-format json|compact] [--serial-trigger] (a line from the port requests the newest result)',
  ].join('\n'),
  options: {
    ...POLICY_FLAGS,
    'serial-format': { type: 'string' },
    'serial-trigger': { type: 'boolean' },
  },
  async create(spec, ctx) {
    const v = ctx.values;
    const { SerialReporter } = await import('../serial-reporter.js');
    return new SerialReporter({
      ...parseSerialSpec(spec),
      deviceId: deviceIdFrom(v),
      format: oneOf<SerialFormat>('--serial-format', v['serial-format'], ['json', 'compact']),
      trigger: v['serial-trigger'] === true,
      policy: policyFromFlags(v),
    });
  },
};
