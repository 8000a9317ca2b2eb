/**
 * The control socket `<prefix>/agent.sock` (unix, JSON lines), what `edge-dmp agent ctl` and the
 * deploy tool (over SSH) talk to. Requests, one per line:
 *   {"op":"status"}                                  -> {"ok":true,"status":{...}}
 *   {"op":"install","path":"...","allowDowngrade"?}  -> {"event":"state",...} per state, then {"ok":..,"final":{...}}
 *   {"op":"rollback","request":{signed request}}     -> {"ok":..,"final":{...}}
 * A refused request is {"ok":false,"error":{code,field,message}}; the agent keeps serving.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EdgeDmpError } from '@edge-dmp/core';
import type { Agent, DeployState } from './agent.js';
import { AGENT_ERROR_CODES, AgentError } from './errors.js';

export const socketPathOf = (prefix: string) => join(prefix, 'agent.sock');

type Req = { op?: unknown; path?: unknown; request?: unknown; allowDowngrade?: unknown };
type Send = (o: Record<string, unknown>) => void;

const errorOf = (e: unknown) =>
  e instanceof EdgeDmpError
    ? { code: e.code, field: e.field, message: e.message }
    : { code: 'E_AGENT_INTERNAL', field: 'op', message: String(e) };

const finalOk = (s: DeployState) => s.state === 'healthy';

/** Control operations by name. */
const OPS: Record<string, (a: Agent, r: Req, send: Send) => Promise<void>> = {
  status: async (a, _r, send) => send({ ok: true, status: await a.status() }),
  install: async (a, r, send) => {
    if (typeof r.path !== 'string')
      throw new AgentError(AGENT_ERROR_CODES.badRequest, {
        field: 'path',
        expected: 'the bundle path on the board',
        received: r.path,
      });
    // Taken: `ctl install` without --wait returns here (receiving can take a while).
    send({ event: 'accepted', path: r.path });
    const onState = (s: DeployState) => send({ event: 'state', ...s });
    a.on('state', onState);
    try {
      const s = await a.install(r.path, { allowDowngrade: r.allowDowngrade as never });
      send({ ok: finalOk(s), final: s });
    } finally {
      a.off('state', onState);
    }
  },
  rollback: async (a, r, send) => {
    const s = await a.rollback(r.request as never);
    send({ ok: true, final: s });
  },
};

/**
 * Serves the control socket for an agent.
 * @example const server = await serveControl(agent); ... server.close();
 */
export async function serveControl(agent: Agent): Promise<Server> {
  const path = socketPathOf(agent.prefix);
  // A socket file left by a killed agent: nobody listens on it any more.
  if (existsSync(path)) unlinkSync(path);
  const server = createServer((sock: Socket) => {
    // A client may go before its answer (`ctl install` without --wait leaves after `accepted`):
    // later writes are dropped, and the socket's EPIPE, which readline re-emits on its interface,
    // is handled on both so it cannot take the agent down.
    const send: Send = (o) => {
      if (sock.writable) sock.write(`${JSON.stringify(o)}\n`, () => undefined);
    };
    const rl = createInterface({ input: sock });
    rl.on('error', () => undefined);
    rl.on('line', (line) => {
      void (async () => {
        let r: Req;
        try {
          r = JSON.parse(line) as Req;
        } catch {
          return send({
            ok: false,
            error: { code: AGENT_ERROR_CODES.badRequest, field: 'line', message: 'not JSON' },
          });
        }
        const op = typeof r.op === 'string' && Object.hasOwn(OPS, r.op) ? OPS[r.op] : undefined;
        try {
          if (!op)
            throw new AgentError(AGENT_ERROR_CODES.badRequest, {
              field: 'op',
              expected: Object.keys(OPS).join(' | '),
              received: r.op,
            });
          await op(agent, r, send);
        } catch (e) {
          send({ ok: false, error: errorOf(e) });
        }
      })();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/**
 * Sends one request and yields every line until the one with `ok` (the answer).
 * @example for await (const line of ctlRequest('/opt/edge-dmp', { op: 'status' })) console.log(line);
 */
export async function* ctlRequest(
  prefix: string,
  req: Record<string, unknown>,
): AsyncGenerator<Record<string, unknown>> {
  const sock = createConnection(socketPathOf(prefix));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (e) =>
      reject(
        new AgentError(AGENT_ERROR_CODES.badRequest, {
          field: '--prefix',
          expected: `a running agent listening on ${socketPathOf(prefix)}`,
          received: (e as Error).message,
        }),
      ),
    );
  });
  sock.write(`${JSON.stringify(req)}\n`);
  try {
    for await (const line of createInterface({ input: sock })) {
      const o = JSON.parse(line) as Record<string, unknown>;
      yield o;
      if ('ok' in o) return;
    }
  } finally {
    sock.destroy();
  }
}
