import {
  DEFAULT_PREFIX,
  deployBoard,
  type BoardTarget,
  eventPrinter,
  expandDeviceIds,
  readHosts,
  rollout,
  summaryTable,
  type BoardOutcome,
  describeTarball,
  fixedRuntime,
  runtimeCache,
  deployOta,
  statusMqtt,
  statusSsh,
  DEVICE_FLAGS,
  defaultKnownHostsPath,
} from '@edge-dmp/host';
import { ConfigError, num, parseFlags, type Command } from '@edge-dmp/core';
import { readBundle } from '@edge-dmp/converter';
import { readFile } from 'node:fs/promises';
import { connectionFromFlags, MQTT_CONNECTION_FLAGS } from '@edge-dmp/device';

const { prefix: _topicPrefix, ...CONN } = MQTT_CONNECTION_FLAGS;

const FLAGS = {
  device: { type: 'string' },
  host: { type: 'string', multiple: true },
  hosts: { type: 'string' },
  bundle: { type: 'string' },
  identity: { type: 'string' },
  'host-key': { type: 'string' },
  'known-hosts': { type: 'string' },
  prefix: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  via: { type: 'string' },
  ...CONN,
  'device-id': { type: 'string', multiple: true },
  'topic-prefix': { type: 'string' },
  canary: { type: 'string' },
  'wave-size': { type: 'string' },
  'max-failures': { type: 'string' },
  'public-key': { type: 'string' },
  'agent-config': { type: 'string' },
  runtime: { type: 'string' },
  'runtime-cache': { type: 'string' },
  'device-root': { type: 'string' },
  timeout: { type: 'string' },
} as const;

const USAGE = [
  'edge-dmp deploy --bundle model.edmp --device jetson|rpi5|rpi4|zero2|auto --host user@host[:port] [--host ...]',
  '    [--hosts <file>] [--identity <key>] [--host-key SHA256:...] [--known-hosts <file>] [--prefix /opt/edge-dmp] [--public-key edmp.pub] [--agent-config base.json]',
  '    [--runtime <tgz>] [--runtime-cache <dir>] [--dry-run] [--json] [--timeout <s>]',
  '    [--canary N] [--wave-size N] [--max-failures N]',
  'edge-dmp deploy --via mqtt --mqtt <url> --device-id <id|pattern|@group-file> [--device-id ...] --bundle model.edmp',
  '    [--topic-prefix edge-dmp/<id>] [--username u] [--password p | env EDGE_DMP_MQTT_PASSWORD] [--ca pem] [--cert pem --key pem]',
  '    [--canary N] [--wave-size N] [--max-failures N] [--json]',
  'docs/deploy.md',
].join('\n');

type V = Record<string, string | boolean | string[] | undefined>;

const int = (v: V, flag: string) => (v[flag] === undefined ? undefined : num(`--${flag}`, v[flag] as string));

function need(v: V, flag: string, expected: string): string {
  if (typeof v[flag] !== 'string' || !v[flag])
    throw new ConfigError({ field: `--${flag}`, expected, received: v[flag] });
  return v[flag] as string;
}

async function sshTargets(v: V): Promise<BoardTarget[]> {
  const fromFile = v.hosts ? readHosts(v.hosts as string) : [];
  const fromFlags = ((v.host as string[] | undefined) ?? []).map((host) => ({ host }));
  const ids = (v['device-id'] as string[] | undefined) ?? [];
  if (ids.length && ids.length !== fromFlags.length)
    throw new ConfigError({
      field: '--device-id',
      expected: `one per --host (${fromFlags.length}) over SSH`,
      received: ids,
    });
  ids.forEach((id, i) => ((fromFlags[i] as BoardTarget).deviceId = id));
  const all = [...fromFile, ...fromFlags].map((t) => ({
    prefix: (v.prefix as string | undefined) ?? DEFAULT_PREFIX,
    identity: v.identity as string | undefined,
    hostKey: v['host-key'] as string | undefined,
    knownHosts: (v['known-hosts'] as string | undefined) ?? defaultKnownHostsPath(),
    deviceRoot: v['device-root'] as string | undefined,
    ...t,
  }));
  if (!all.length)
    throw new ConfigError({
      field: '--host',
      expected: 'user@host[:port] (or --hosts <file>, or --via mqtt)',
      received: undefined,
    });
  return all;
}

const command: Command = {
  summary:
    'Install the runtime and agent on boards and deliver a bundle, over SSH or MQTT; one board or a staged fleet rollout.',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, FLAGS);
    const bundle = need(v, 'bundle', 'a .edmp bundle');
    // Bad input fails here, before any board is touched.
    try {
      await readFile(bundle, { flag: 'r' }).then((b) => b.length || Promise.reject(new Error('empty')));
    } catch (e) {
      throw new ConfigError({
        field: '--bundle',
        expected: 'a readable .edmp file',
        received: `${bundle} (${(e as Error).message})`,
      });
    }
    // A bundle that is not one (corrupt, truncated) is one typed error here, not one per board.
    await readBundle(bundle);
    if (v.via !== 'mqtt' && v.device !== undefined && !(DEVICE_FLAGS as readonly string[]).includes(v.device))
      throw new ConfigError({ field: '--device', expected: DEVICE_FLAGS.join(' | '), received: v.device });
    const print = eventPrinter({ json: !!v.json, out: process.stdout });
    const waves = {
      canary: int(v, 'canary'),
      waveSize: int(v, 'wave-size'),
      maxFailures: int(v, 'max-failures'),
    };
    const timeoutMs = v.timeout === undefined ? undefined : num('--timeout', v.timeout) * 1000;
    const onWave = (w: { wave: number; waves: number; boards: string[] }) =>
      v.json
        ? console.log(JSON.stringify({ event: 'wave', ...w }))
        : console.log(`wave ${w.wave}/${w.waves}: ${w.boards.join(', ')}`);
    let result;
    if (v.via !== undefined && v.via !== 'mqtt' && v.via !== 'ssh')
      throw new ConfigError({ field: '--via', expected: 'ssh | mqtt', received: v.via });
    if (v.via === 'mqtt') {
      const conn = connectionFromFlags(v as Record<string, string | undefined>);
      if (!conn)
        throw new ConfigError({
          field: '--mqtt',
          expected: 'the broker URL the devices report to',
          received: undefined,
        });
      const given = (v['device-id'] as string[] | undefined) ?? [];
      if (!given.length)
        throw new ConfigError({
          field: '--device-id',
          expected: 'a device id, a pattern such as cam-*, or @group-file',
          received: undefined,
        });
      // Patterns match the devices the broker knows (their retained deploy/status records).
      const known = given.some((g) => g.includes('*') || g.startsWith('@'))
        ? (await statusMqtt(conn, ['*'])).map((s) => s.board)
        : [];
      const ids = expandDeviceIds(given, known);
      if (v['dry-run']) {
        for (const id of ids)
          console.log(
            v.json
              ? JSON.stringify({ event: 'plan', host: `mqtt:${id}`, dryRun: true, bundle })
              : `mqtt:${id}: would offer ${bundle}`,
          );
        return 0;
      }
      result = await rollout(
        ids,
        (id) =>
          deployOta({
            conn,
            deviceId: id,
            topicPrefix: ids.length === 1 ? (v['topic-prefix'] as string | undefined) : undefined,
            bundle,
            timeoutMs,
            onEvent: print,
          }),
        { ...waves, onWave: ids.length > 1 ? onWave : undefined },
      );
      const now = new Map((await statusMqtt(conn, ids)).map((s) => [s.board, s]));
      for (const o of result.outcomes) {
        const s = now.get(o.board);
        o.running = o.ok
          ? `${o.model}@${o.version}`
          : s?.version
            ? `${s.model ?? '?'}@${s.version} (${s.state})`
            : (s?.state ?? 'unknown');
      }
    } else {
      const device = need(v, 'device', 'jetson | rpi5 | rpi4 | zero2 | auto');
      const targets = await sshTargets(v);
      const runtime = v.runtime
        ? fixedRuntime(await describeTarball(v.runtime as string))
        : runtimeCache(v['runtime-cache'] as string | undefined);
      const agentConfig = v['agent-config']
        ? (JSON.parse(await readFile(v['agent-config'] as string, 'utf8')) as Record<string, unknown>)
        : undefined;
      // Boards are named by host, plus the prefix where several share one host.
      const label = (t: BoardTarget) =>
        targets.filter((x) => x.host === t.host).length > 1 ? `${t.host} ${t.prefix}` : t.host;
      const byLabel = new Map(targets.map((t) => [label(t), t]));
      result = await rollout(
        [...byLabel.keys()],
        (k) =>
          deployBoard(byLabel.get(k)!, {
            bundle,
            device,
            runtime,
            dryRun: !!v['dry-run'],
            agentConfig,
            publicKey: v['public-key'] as string | undefined,
            timeoutMs,
            onEvent: print,
          }),
        { ...waves, onWave: targets.length > 1 ? onWave : undefined },
      );
      // Who runs what: boards that did not take the update are asked what they run now.
      await Promise.all(
        result.outcomes.map(async (o) => {
          if (o.ok && o.state !== 'planned') return void (o.running = `${o.model}@${o.version}`);
          const s = await statusSsh(byLabel.get(o.board)!);
          o.running = s.model ? `${s.model}@${s.version}` : s.state;
        }),
      );
    }
    report(result.outcomes, !!v.json, result.halted ? result.haltReason : undefined);
    return result.failures === 0 ? 0 : 1;
  },
};

function report(outcomes: BoardOutcome[], json: boolean, haltReason?: string): void {
  if (json) {
    console.log(JSON.stringify({ event: 'summary', boards: outcomes, halted: haltReason ?? null }));
    return;
  }
  // One healthy board: its verdict line said it all.
  if (outcomes.length === 1 && outcomes[0].ok) return;
  console.log(
    summaryTable(
      outcomes.map((o) => ({
        ...o,
        running: o.running ?? (o.ok && o.model ? `${o.model}@${o.version}` : undefined),
      })),
    ),
  );
  if (haltReason) console.log(`rollout halted: ${haltReason}`);
}
export default command;
