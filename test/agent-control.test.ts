/**
 * The control socket outlives its clients: a client that leaves before its answer (what
 * `edge-dmp agent ctl install` without --wait does after `accepted`) must not take the agent down
 * when the agent goes on writing state events to it (CI once saw EPIPE re-emitted by readline kill
 * the agent). The agent is a small stand-in with the three methods the socket calls: the unit seam
 * beside the real agent's tests (agent-update, agent-kill9), which drive the same socket end to end.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Agent } from '@edge-dmp/device';
import { ctlRequest, serveControl } from '../device/agent/control.js';
import { tempDir } from './helpers/mqtt-harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Emits a burst of state events after the client is gone, then ends healthy. */
class StandInAgent extends EventEmitter {
  installs = 0;
  constructor(readonly prefix: string) {
    super();
  }
  async status() {
    return { installs: this.installs };
  }
  async install(path: string) {
    this.installs++;
    // Right away (before the socket has seen the client's FIN) and again later.
    for (let i = 0; i < 50; i++) this.emit('state', { state: 'receiving', version: path, i });
    await sleep(30);
    for (let i = 0; i < 200; i++) this.emit('state', { state: 'receiving', version: path, i });
    await sleep(10);
    for (let i = 0; i < 200; i++) this.emit('state', { state: 'verified', version: path, i });
    return { state: 'healthy', version: path };
  }
}

const prefix = tempDir('agent-control');
const agent = new StandInAgent(prefix);
const server = await serveControl(agent as unknown as Agent);
after(() => server.close());

describe('agent control socket', () => {
  it('keeps serving when install clients leave right after `accepted`', async () => {
    // What would kill a real agent process: an error nobody handles.
    const uncaught: string[] = [];
    const onUncaught = (e: Error) => uncaught.push(e.message);
    process.on('uncaughtException', onUncaught);
    for (let round = 0; round < 20; round++) {
      const sock = createConnection(`${prefix}/agent.sock`);
      await new Promise<void>((r) => sock.once('connect', () => r()));
      const line = `${JSON.stringify({ op: 'install', path: `b${round}.edmp` })}\n`;
      if (round % 2 === 0) {
        // Gone as soon as the request is out: the agent's writes race the close.
        sock.end(line);
        sock.destroy();
      } else {
        sock.write(line);
        const first = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
        assert.match(first, /"event":"accepted"/);
        sock.destroy();
      }
    }
    await sleep(200); // every install has written its events into closed sockets by now
    process.off('uncaughtException', onUncaught);
    assert.deepEqual(uncaught, []);
    const lines = [];
    for await (const l of ctlRequest(prefix, { op: 'status' })) lines.push(l);
    assert.deepEqual(lines, [{ ok: true, status: { installs: 20 } }]);
  });

  it('answers a bad line and an unknown op with typed errors, then serves the next request', async () => {
    const sock = createConnection(`${prefix}/agent.sock`);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const got: Record<string, unknown>[] = [];
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) got.push(JSON.parse(p) as Record<string, unknown>);
    });
    sock.write('{not json\n{"op":"reboot"}\n{"op":"status"}\n');
    for (let i = 0; i < 100 && got.length < 3; i++) await sleep(10);
    sock.destroy();
    assert.equal(got.length, 3, JSON.stringify(got));
    const errs = got.filter((g) => g.ok === false).map((g) => g.error as { field: string; code: string });
    assert.deepEqual(errs.map((e) => e.field).sort(), ['line', 'op']);
    assert.ok(
      errs.every((e) => e.code === 'E_AGENT_BAD_REQUEST'),
      JSON.stringify(errs),
    );
    assert.ok(got.some((g) => g.ok === true && 'status' in g));
  });
});
