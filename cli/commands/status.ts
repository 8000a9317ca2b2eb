import {
  DEFAULT_PREFIX,
  defaultKnownHostsPath,
  readHosts,
  statusMqtt,
  statusSsh,
  type BoardStatus,
} from '@edge-dmp/host';
import { ConfigError, parseFlags, type Command } from '@edge-dmp/core';
import { connectionFromFlags, MQTT_CONNECTION_FLAGS } from '@edge-dmp/device';

const { prefix: _topicPrefix, ...CONN } = MQTT_CONNECTION_FLAGS;

/** Status rows as an aligned table. */
export function statusTable(rows: BoardStatus[]): string {
  const head = ['board', 'model', 'version', 'state', 'runtime', 'last error'];
  const body = rows.map((r) => [
    r.board,
    r.model ?? '-',
    r.version ?? '-',
    r.state + (r.online === false ? ' (offline)' : ''),
    r.runtime ?? '-',
    r.lastError ?? '',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body]
    .map((c) =>
      c
        .map((x, i) => (i === c.length - 1 ? x : x.padEnd(w[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const command: Command = {
  summary: 'Which model and version each board runs, its deploy state and last error (over SSH or MQTT).',
  usage: [
    'edge-dmp status --host user@host[:port] [--host ...] [--hosts <file>] [--identity <key>] [--host-key SHA256:...] [--known-hosts <file>] [--prefix /opt/edge-dmp] [--json]',
    'edge-dmp status --via mqtt --mqtt <url> [--device-id <id|pattern>]... [--username u --password p --ca pem ...] [--json]',
  ].join('\n'),
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      host: { type: 'string', multiple: true },
      hosts: { type: 'string' },
      identity: { type: 'string' },
      'host-key': { type: 'string' },
      'known-hosts': { type: 'string' },
      prefix: { type: 'string' },
      via: { type: 'string' },
      ...CONN,
      'device-id': { type: 'string', multiple: true },
      json: { type: 'boolean' },
    });
    let rows: BoardStatus[];
    if (v.via === 'mqtt') {
      const conn = connectionFromFlags(v as Record<string, string | undefined>);
      if (!conn) throw new ConfigError({ field: '--mqtt', expected: 'the broker URL', received: undefined });
      rows = await statusMqtt(conn, v['device-id'] ?? ['*']);
    } else {
      const targets = [...(v.hosts ? readHosts(v.hosts) : []), ...(v.host ?? []).map((host) => ({ host }))];
      if (!targets.length)
        throw new ConfigError({
          field: '--host',
          expected: 'user@host[:port], --hosts <file> or --via mqtt',
          received: undefined,
        });
      rows = await Promise.all(
        targets.map((t) =>
          statusSsh({
            prefix: v.prefix ?? DEFAULT_PREFIX,
            identity: v.identity,
            hostKey: v['host-key'],
            knownHosts: v['known-hosts'] ?? defaultKnownHostsPath(),
            ...t,
          }),
        ),
      );
    }
    if (v.json) for (const r of rows) console.log(JSON.stringify(r));
    else console.log(statusTable(rows));
    return rows.every((r) => r.state !== 'unreachable') ? 0 : 1;
  },
};
export default command;
