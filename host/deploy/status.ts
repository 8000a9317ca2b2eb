/**
 * `edge-dmp status` and `edge-dmp rollback`, over SSH (the agent's control socket through
 * `edge-dmp agent ctl`) or MQTT (the retained `deploy` records; a signed request on `ota/rollback`).
 */
import { loadPrivateKey, keyIdOf } from '@edge-dmp/core';
import { signRequest, type SignedRequest, type MqttConnectionOptions } from '@edge-dmp/device';
import { ctl } from './agent-service.js';
import { DEFAULT_PREFIX, parseCtlLine, type BoardTarget } from './deploy.js';
import { DeployError } from './errors.js';
import { idPattern } from './hosts.js';
import { connectMqtt, otaTopics, type DeployRecord } from './mqtt-ota.js';
import { currentRuntime } from './runtime-install.js';
import { SshTransport } from './ssh.js';
import { sh, type Transport } from './transport.js';

export interface BoardStatus {
  board: string;
  model: string | null;
  version: string | null;
  /** Update state (`healthy`, `rolled-back`, ..., `idle`), or `unreachable`. */
  state: string;
  lastError: string | null;
  runtime?: string | null;
  online?: boolean;
}

interface SlotJson {
  version?: string;
  model?: string;
}

async function withSsh<T>(
  target: BoardTarget,
  fn: (t: Transport) => Promise<T>,
  transport?: Transport,
): Promise<T> {
  const t =
    transport ??
    (await SshTransport.connect(target.host, {
      identity: target.identity,
      hostKeySha256: target.hostKey,
      knownHosts: target.knownHosts,
    }));
  try {
    return await fn(t);
  } finally {
    if (!transport) await t.close();
  }
}

/**
 * Status of one board over SSH; an unreachable board is a row, not a throw.
 * @example const s = await statusSsh({ host: 'root@jetson.local' });
 */
export async function statusSsh(target: BoardTarget, transport?: Transport): Promise<BoardStatus> {
  const prefix = target.prefix ?? DEFAULT_PREFIX;
  try {
    return await withSsh(
      target,
      async (t) => {
        const r = await ctl(t, prefix, 'status');
        const runtime = (await currentRuntime(t, prefix)) ?? null;
        let j: Record<string, unknown> = {};
        try {
          j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
        } catch {
          // Fall through: the agent is down; the store's state.json still says what happened.
        }
        const s = (j.status ?? j) as {
          state?: string;
          current?: SlotJson | null;
          update?: { reason?: string } | null;
        };
        if (r.code !== 0 || !s.state) {
          const rec = await t
            .readFile(`${prefix}/store/state.json`)
            .then((b) => (b ? (JSON.parse(b.toString()) as DeployRecord) : undefined))
            .catch(() => undefined);
          return {
            board: t.name,
            model: rec?.model ?? null,
            version: rec?.version ?? null,
            state: rec ? `${rec.state} (agent down)` : 'not installed',
            lastError: rec?.reason ?? (r.stderr.trim() || null),
            runtime,
          };
        }
        return {
          board: t.name,
          model: s.current?.model ?? null,
          version: s.current?.version ?? null,
          state: s.state,
          lastError: s.update?.reason ?? null,
          runtime,
        };
      },
      transport,
    );
  } catch (e) {
    return {
      board: target.host,
      model: null,
      version: null,
      state: 'unreachable',
      lastError: (e as Error).message,
    };
  }
}

/**
 * Status of devices over MQTT from their retained `deploy` and `status` topics: every device under
 * `edge-dmp/+` matching one of `patterns` (ids or `*` patterns).
 * @example const rows = await statusMqtt({ url: 'mqtt://broker:1883' }, ['cam-*']);
 */
export async function statusMqtt(
  conn: MqttConnectionOptions,
  patterns: string[],
  root = 'edge-dmp',
  quietMs = 400,
): Promise<BoardStatus[]> {
  const c = await connectMqtt(conn, `edge-dmp-status-${process.pid}`);
  const rows = new Map<string, BoardStatus>();
  const res = patterns.map(idPattern);
  let last = Date.now();
  c.on('message', (topic, payload) => {
    const m = new RegExp(`^${root}/([^/]+)/(deploy|status)$`).exec(topic);
    if (!m || !res.some((r) => r.test(m[1])) || !payload.length) return;
    last = Date.now();
    const row = rows.get(m[1]) ?? { board: m[1], model: null, version: null, state: 'idle', lastError: null };
    if (m[2] === 'status') row.online = payload.toString() === 'online';
    else {
      try {
        const d = JSON.parse(payload.toString()) as DeployRecord;
        // A refused or failed update names the bundle it refused; the board still runs `previous`.
        // (An operator rollback names no bundle: sha256 null, version = what runs now.)
        const kept = (d.state === 'refused' || d.state === 'rolled-back') && d.sha256;
        Object.assign(row, {
          model: d.model ?? null,
          version: (kept ? d.previous : d.version) ?? null,
          state: d.state,
          lastError: d.reason ?? null,
        });
      } catch {
        row.lastError = 'unreadable deploy record';
      }
    }
    rows.set(m[1], row);
  });
  await c.subscribeAsync([`${root}/+/deploy`, `${root}/+/status`], { qos: 1 });
  // Retained messages arrive right after SUBACK; stop once the broker has been quiet for a moment.
  while (Date.now() - last < quietMs) await new Promise((r) => setTimeout(r, 50));
  await c.endAsync();
  return [...rows.values()].sort((a, b) => a.board.localeCompare(b.board));
}

/**
 * A signed rollback request for `deviceId` (`*` = any board), from an Ed25519 private key.
 * @example const req = await rollbackRequest('keys/edmp.key', 'cam1');
 */
export async function rollbackRequest(keyFile: string, deviceId: string): Promise<SignedRequest> {
  const key = await loadPrivateKey(keyFile, '--key');
  const { createPublicKey } = await import('node:crypto');
  return signRequest({ action: 'rollback', deviceId }, key, keyIdOf(createPublicKey(key)));
}

/**
 * Asks one board over SSH to go back to its previous model; resolves with its new state.
 * @example await rollbackSsh({ host: 'root@jetson.local' }, req);
 */
export async function rollbackSsh(
  target: BoardTarget,
  req: SignedRequest,
  transport?: Transport,
): Promise<BoardStatus> {
  const prefix = target.prefix ?? DEFAULT_PREFIX;
  return withSsh(
    target,
    async (t) => {
      const r = await t.exec(
        `${sh(`${prefix}/bin/edge-dmp`)} agent ctl --prefix ${sh(prefix)} rollback --request -`,
        { stdin: `${JSON.stringify(req)}\n` },
      );
      const lines = r.stdout.trim().split('\n').map(parseCtlLine).filter(Boolean);
      const last = lines.pop();
      if (r.code !== 0 || !last || last.state === 'refused')
        throw new DeployError('E_DEPLOY', {
          field: 'rollback',
          expected: 'the board back on its previous model',
          received: last?.reason ?? (r.stderr.trim() || `exit ${r.code}`),
        });
      return {
        board: t.name,
        model: last.model ?? null,
        version: last.version ?? null,
        state: last.state ?? '?',
        lastError: last.reason ?? null,
      };
    },
    transport,
  );
}

/**
 * The same over MQTT: publishes the request on `<T>/ota/rollback` and waits for a new deploy record.
 * @example await rollbackMqtt({ url: 'mqtt://broker:1883' }, 'cam1', req);
 */
export async function rollbackMqtt(
  conn: MqttConnectionOptions,
  deviceId: string,
  req: SignedRequest,
  topicPrefix?: string,
  timeoutMs = 60_000,
): Promise<BoardStatus> {
  const T = otaTopics(topicPrefix ?? `edge-dmp/${deviceId}`);
  const c = await connectMqtt(conn, `edge-dmp-rollback-${deviceId}-${process.pid}`.slice(0, 64));
  try {
    const nonce = (JSON.parse(req.payload) as { nonce: string }).nonce;
    return await new Promise<BoardStatus>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new DeployError('E_OTA', {
              field: '--device-id',
              expected: `a rollback answer from ${deviceId} within ${timeoutMs} ms`,
              received: 'nothing',
            }),
          ),
        timeoutMs,
      );
      c.on('message', (_topic, payload, packet) => {
        if (packet.retain) return;
        let d: DeployRecord;
        try {
          d = JSON.parse(payload.toString()) as DeployRecord;
        } catch {
          return;
        }
        if (d.state !== 'rolled-back' && d.state !== 'refused') return;
        if (d.reason && !d.reason.includes(nonce) && d.state === 'rolled-back') return;
        clearTimeout(timer);
        if (d.state === 'refused')
          reject(
            new DeployError('E_DEPLOY', {
              field: 'rollback',
              expected: 'the board back on its previous model',
              received: d.reason,
            }),
          );
        else
          resolve({
            board: deviceId,
            model: d.model ?? null,
            version: d.version ?? null,
            state: d.state,
            lastError: d.reason ?? null,
          });
      });
      void c
        .subscribeAsync(T.deploy, { qos: 1 })
        .then(() => c.publishAsync(T.rollback, JSON.stringify(req), { qos: 1 }));
    });
  } finally {
    await c.endAsync();
  }
}
