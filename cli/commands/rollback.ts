import { DEFAULT_PREFIX, rollbackMqtt, rollbackRequest, rollbackSsh, type BoardStatus } from '@edge-dmp/host';
import { ConfigError, parseFlags, type Command } from '@edge-dmp/core';
import { connectionFromFlags, MQTT_CONNECTION_FLAGS } from '@edge-dmp/device';

const { prefix: _topicPrefix, key: _tlsKey, ...CONN } = MQTT_CONNECTION_FLAGS;

const command: Command = {
  summary: "Ask a board to go back to its previous model (a request signed with the operator's Ed25519 key).",
  usage: [
    'edge-dmp rollback --sign-key edmp.key --host user@host[:port] [--identity <key>] [--prefix /opt/edge-dmp] --device-id <id> [--json]',
    'edge-dmp rollback --sign-key edmp.key --via mqtt --mqtt <url> --device-id <id> [--topic-prefix edge-dmp/<id>] [--tls-key pem ...] [--json]',
  ].join('\n'),
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      host: { type: 'string' },
      identity: { type: 'string' },
      prefix: { type: 'string' },
      via: { type: 'string' },
      ...CONN,
      'tls-key': { type: 'string' },
      'sign-key': { type: 'string' },
      'device-id': { type: 'string' },
      'topic-prefix': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!v['sign-key'])
      throw new ConfigError({
        field: '--sign-key',
        expected: 'the Ed25519 private key whose public key is in agent.json',
        received: undefined,
      });
    if (!v['device-id'])
      throw new ConfigError({
        field: '--device-id',
        expected: "the board's agent.json deviceId (or * for any)",
        received: undefined,
      });
    const req = await rollbackRequest(v['sign-key'], v['device-id']);
    let s: BoardStatus;
    if (v.via === 'mqtt') {
      const conn = connectionFromFlags({ ...v, key: v['tls-key'] } as unknown as Record<
        string,
        string | undefined
      >);
      if (!conn) throw new ConfigError({ field: '--mqtt', expected: 'the broker URL', received: undefined });
      s = await rollbackMqtt(conn, v['device-id'], req, v['topic-prefix']);
    } else {
      if (!v.host)
        throw new ConfigError({
          field: '--host',
          expected: 'user@host[:port] or --via mqtt',
          received: undefined,
        });
      s = await rollbackSsh({ host: v.host, identity: v.identity, prefix: v.prefix ?? DEFAULT_PREFIX }, req);
    }
    console.log(
      v.json
        ? JSON.stringify(s)
        : `${s.board}: ${s.state}, now ${s.model}@${s.version}${s.lastError ? ` (${s.lastError})` : ''}`,
    );
    return 0;
  },
};
export default command;
