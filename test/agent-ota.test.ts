/**
 * The board's half of MQTT OTA against a real mosquitto, with a minimal host written here from the
 * contract (docs/deploy-contract.md): a retained offer, chunks only on `need`. The first chunk comes
 * tampered once (refused, asked again), and the broker is restarted mid-transfer: the agent resumes
 * with what it holds and ends healthy on the new model.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import {
  makeBundle,
  makeKeys,
  spawnAgent,
  watchDevice,
  writeConfig,
  type AgentProc,
} from './helpers/agent-fixtures.js';
import { startMosquitto, tempDir, until, type Mosquitto } from './helpers/mqtt-harness.js';

const dir = tempDir('agent-ota');
const prefix = join(dir, 'board');
const ID = 'agent-ota';
const T = `edge-dmp/${ID}`;
const CHUNK = 128;
let broker: Mosquitto;
let agent: AgentProc;
let v2: Uint8Array;
let v3: Uint8Array;

before(async () => {
  const keys = await makeKeys(join(dir, 'keys'));
  const v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: keys.privateKeyPath });
  v2 = readFileSync(await makeBundle(join(dir, 'v2.edmp'), { version: '2.0.0', key: keys.privateKeyPath }));
  v3 = readFileSync(await makeBundle(join(dir, 'v3.edmp'), { version: '3.0.0', key: keys.privateKeyPath }));
  broker = await startMosquitto();
  writeConfig(prefix, {
    deviceId: ID,
    profile: 'generic',
    source: 'testsrc:',
    fps: 10,
    width: 32,
    height: 32,
    publicKeys: [keys.publicKeyPath],
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    health: { frames: 5, timeoutMs: 30_000 },
    bundle: v1,
  });
  agent = spawnAgent(prefix);
  await agent.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'v1 healthy');
});

after(async () => {
  await agent?.kill('SIGKILL');
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let hosts = 0;

/** The host side, as the contract has it; `answer` decides which asked offsets get a chunk. */
function host(port: number, answer: (offset: number) => 'send' | 'tamper' | 'skip', bundle = v2) {
  const v2 = bundle;
  const id = createHash('sha256').update(v2).digest('hex');
  const needs: { offsets: number[]; have: number }[] = [];
  const deploys: Record<string, unknown>[] = [];
  let sentBytes = 0;
  const c: MqttClient = connect(`mqtt://127.0.0.1:${port}`, {
    clientId: `ota-host-${++hosts}`,
    reconnectPeriod: 200,
  });
  const offer = JSON.stringify({
    id,
    name: 'v2.edmp',
    total: v2.length,
    sha256: id,
    chunkSize: CHUNK,
    ts: Date.now(),
  });
  c.on('connect', () => {
    c.subscribe([`${T}/ota/need`, `${T}/deploy`], { qos: 1 });
    c.publish(`${T}/ota/offer`, offer, { qos: 1, retain: true });
  });
  c.on('message', (topic, payload) => {
    if (topic.endsWith('/deploy'))
      return void (payload.length && deploys.push(JSON.parse(payload.toString())));
    const need = JSON.parse(payload.toString()) as { id: string; offsets: number[]; have: number };
    if (need.id !== id) return;
    needs.push(need);
    for (const offset of need.offsets) {
      const what = answer(offset);
      if (what === 'skip') continue;
      const bytes = v2.subarray(offset, offset + CHUNK);
      const hash = createHash('sha256').update(bytes).digest('hex');
      const data = Buffer.from(bytes);
      if (what === 'tamper') data[0] ^= 0x55;
      sentBytes += data.length;
      c.publish(
        `${T}/ota/chunk`,
        JSON.stringify({
          id,
          offset,
          size: bytes.length,
          total: v2.length,
          hash,
          data: data.toString('base64'),
        }),
        { qos: 1 },
      );
    }
  });
  return {
    id,
    needs,
    deploys,
    sent: () => sentBytes,
    close: () => new Promise<void>((r) => c.end(true, {}, () => r())),
  };
}

describe('edge-dmp agent: MQTT OTA (board side)', () => {
  it('refuses a tampered chunk, resumes after a broker restart, installs and ends healthy on 2.0.0', async () => {
    const chunks = Math.ceil(v2.length / CHUNK);
    assert.ok(chunks > 16, `${chunks} chunks`);
    let phase: 'first' | 'cut' | 'rest' = 'first';
    let tampered = false;
    let firstAnswered = 0;
    const h = host(broker.port, (off) => {
      if (off === 0 && !tampered) {
        tampered = true;
        return 'tamper';
      }
      if (phase === 'first' && firstAnswered < 8) {
        firstAnswered++;
        return 'send';
      }
      return phase === 'rest' ? 'send' : 'skip';
    });
    try {
      await agent.waitFor((e) => e.event === 'ota' && e.refused === 1, 'tampered chunk refused');
      const refused = agent.events.find((e) => e.event === 'ota' && e.refused === 1)!;
      assert.match(String(refused.reason), /^chunk at 0: sha256 [0-9a-f]{12} does not match its hash/);
      await until('8 chunks held', () => {
        try {
          return (
            JSON.parse(readFileSync(join(prefix, 'inbox', `${h.id}.have.json`), 'utf8')).offsets.length >= 8
          );
        } catch {
          return false;
        }
      });
      phase = 'cut';
      await broker.stop();
      // Nothing arrives while the broker is down: this is what the agent holds at the cut.
      const heldAtCut = JSON.parse(readFileSync(join(prefix, 'inbox', `${h.id}.have.json`), 'utf8'))
        .offsets as number[];
      const needsBefore = h.needs.length;
      broker = await startMosquitto({ port: broker.port });
      phase = 'rest';
      const w = await watchDevice(broker.port, ID);
      try {
        const after = await until('a need after the restart', () => h.needs[needsBefore]);
        assert.ok(heldAtCut.length >= 8);
        assert.equal(after.have, heldAtCut.length * CHUNK);
        assert.ok(
          after.offsets.every((o) => !heldAtCut.includes(o)),
          'asks only for what it lacks',
        );
        const verdict = await until(
          'healthy on the deploy topic',
          () => h.deploys.find((d) => d.sha256 === h.id && d.state === 'healthy'),
          60_000,
        );
        assert.equal(verdict.version, '2.0.0');
        assert.match(readlinkSync(join(prefix, 'store', 'current')), /^models\/2\.0\.0-/);
        const n = w.results.length;
        await until('2.0.0 results', () => w.results.slice(n).some((r) => r.version === '2.0.0'));
        // Resumed, not restarted: at most the tampered chunk and one window in flight sent twice.
        assert.ok(h.sent() <= v2.length + 17 * CHUNK, `sent ${h.sent()} of ${v2.length}`);
      } finally {
        await w.close();
      }
    } finally {
      await h.close();
    }
  });

  it('an agent SIGKILLed mid-transfer resumes from inbox/<id>.have.json after its restart', async () => {
    let open = 8;
    const h = host(broker.port, () => (open-- > 0 ? 'send' : 'skip'), v3);
    const haveFile = join(prefix, 'inbox', `${h.id}.have.json`);
    const held = () => {
      try {
        return JSON.parse(readFileSync(haveFile, 'utf8')).offsets as number[];
      } catch {
        return [];
      }
    };
    try {
      await until('8 chunks held', () => held().length >= 8);
      assert.equal((await agent.kill('SIGKILL')).signal, 'SIGKILL');
      const before = held();
      open = Infinity;
      const needsBefore = h.needs.length;
      agent = spawnAgent(prefix);
      const resumed = await agent.waitFor((e) => e.event === 'ota' && e.resumed === true, 'resumed transfer');
      assert.equal(resumed.have, before.length * CHUNK);
      const first = await until('a need from the restarted agent', () => h.needs[needsBefore]);
      assert.ok(
        first.offsets.every((o) => !before.includes(o)),
        'asks only for what it lacks',
      );
      const verdict = await until(
        'healthy 3.0.0',
        () => h.deploys.find((d) => d.sha256 === h.id && d.state === 'healthy'),
        60_000,
      );
      assert.equal(verdict.version, '3.0.0');
      assert.match(readlinkSync(join(prefix, 'store', 'current')), /^models\/3\.0\.0-/);
      assert.ok(h.sent() <= v3.length + 16 * CHUNK, `sent ${h.sent()} of ${v3.length}`);
    } finally {
      await h.close();
    }
  });
});
