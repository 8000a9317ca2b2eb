/**
 * MQTT OTA through a real mosquitto to a real agent: the broker is restarted mid-transfer and the
 * transfer resumes from what the board holds (its next `need` after the restart starts past zero),
 * a tampered chunk is refused, and the board ends `healthy` on the new model; status and a signed
 * rollback over MQTT.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import { writeBundle } from '../converter/index.js';
import { defaultPreprocess } from '../core/preprocess.js';
import type { DeployEvent } from '../host/deploy/events.js';
import { deployOta } from '../host/deploy/mqtt-ota.js';
import { rollbackMqtt, rollbackRequest, statusMqtt } from '../host/deploy/status.js';
import {
  makeBundle,
  makeKeys,
  spawnAgent,
  writeConfig,
  type AgentProc,
  type Keys,
} from './helpers/agent-fixtures.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';
import { cleanup, startMosquitto, tempDir, until, type Mosquitto } from './helpers/mqtt-harness.js';

const ID = 'ota-1';
const T = `edge-dmp/${ID}`;
const dir = tempDir('deploy-ota');
const prefix = join(dir, 'board');
let keys: Keys;
let broker: Mosquitto;
let agent: AgentProc;
let big: string;
let spy: MqttClient;
const needs: { at: number; have: number; offsets: number[] }[] = [];

/** A signed v2 bundle padded (in its report card) to ~300 KB, so the transfer takes many windows. */
async function bigBundle(path: string, version: string): Promise<string> {
  await writeBundle(
    path,
    {
      tflite: tinyModel({ kind: 'colour', size: [32, 32] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version, variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([32, 32], 3),
      quantization: 'fp32',
      reportCard: { padding: randomBytes(225_000).toString('base64') },
    },
    { signKey: keys.privateKeyPath },
  );
  return path;
}

before(async () => {
  keys = await makeKeys(join(dir, 'keys'));
  broker = await startMosquitto();
  const v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: keys.privateKeyPath });
  big = await bigBundle(join(dir, 'v2.edmp'), '2.0.0');
  writeConfig(prefix, {
    deviceId: ID,
    profile: 'generic',
    source: 'testsrc:',
    fps: 5,
    width: 32,
    height: 32,
    publicKeys: [keys.publicKeyPath],
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    health: { frames: 3, timeoutMs: 30_000 },
    bundle: v1,
  });
  agent = spawnAgent(prefix);
  await agent.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'v1 healthy', 60_000);
});

after(async () => {
  await agent?.kill('SIGKILL');
  spy?.end(true);
  await broker?.stop();
  cleanup(dir);
});

function watchNeeds(port: number): MqttClient {
  const c = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 200, clientId: `spy-${process.pid}` });
  c.on('connect', () => c.subscribe(`${T}/ota/need`, { qos: 1 }));
  c.on('message', (_t, p) => {
    const n = JSON.parse(p.toString());
    needs.push({ at: Date.now(), have: n.have, offsets: n.offsets });
  });
  c.on('error', () => undefined);
  return c;
}

describe('edge-dmp deploy --via mqtt', () => {
  it('survives a broker restart mid-transfer, refuses a tampered chunk, and ends healthy on 2.0.0', async () => {
    spy = watchNeeds(broker.port);
    const bytes = readFileSync(big);
    const id = createHash('sha256').update(bytes).digest('hex');
    const chunkSize = 4096;
    let restartedAt = 0;
    let restarting: Promise<void> | undefined;
    let tampered = false;
    const events: DeployEvent[] = [];
    const onEvent = (e: DeployEvent) => {
      events.push(e);
      if (e.event !== 'upload') return;
      if (!tampered) {
        // Someone on the broker sends the last chunk (not asked for yet) with altered bytes but the original hash.
        tampered = true;
        const last = Math.floor((bytes.length - 1) / chunkSize) * chunkSize;
        const data = Buffer.from(bytes.subarray(last));
        const hash = createHash('sha256').update(data).digest('hex');
        data[0] ^= 0xff;
        spy.publish(
          `${T}/ota/chunk`,
          JSON.stringify({
            id,
            offset: last,
            size: data.length,
            total: bytes.length,
            hash,
            data: data.toString('base64'),
          }),
          { qos: 1 },
        );
      }
      if (!restarting && e.done >= bytes.length * 0.3) {
        restarting = (async () => {
          const port = broker.port;
          await broker.stop();
          restartedAt = Date.now();
          broker = await startMosquitto({ port });
        })();
      }
    };
    const r = await deployOta({
      conn: { url: `mqtt://127.0.0.1:${broker.port}`, reconnectPeriodMs: 200 },
      deviceId: ID,
      bundle: big,
      chunkSize,
      onEvent,
      timeoutMs: 120_000,
    });
    await restarting;
    assert.equal(r.state, 'healthy', r.reason);
    assert.ok(restartedAt > 0, 'the broker was restarted during the transfer');
    const after = needs.filter((n) => n.at > restartedAt);
    assert.ok(after.length > 0, 'the agent asked again after the restart');
    assert.ok(
      after[0].have >= bytes.length * 0.3 - 16 * chunkSize,
      `resumed at ${after[0].have} of ${bytes.length}`,
    );
    assert.ok(!after[0].offsets.includes(0), 'chunk 0 is not asked again');
    const refused = agent.events.filter((e) => e.event === 'ota' && typeof e.refused === 'number');
    assert.ok(refused.length >= 1, 'the tampered chunk was refused');
    assert.match(String(refused[0].reason), /hash|sha/i);
    // The board holds exactly the offered bytes: the installed slot's bundle hash is the offer's id.
    const healthy = agent.events.filter((e) => e.event === 'state' && e.state === 'healthy').pop();
    assert.equal(healthy?.sha256, id);
    assert.equal(healthy?.version, '2.0.0');
    const verdict = events.find((e) => e.event === 'verdict');
    assert.ok(verdict && verdict.event === 'verdict' && verdict.ok);
  });

  it('status over MQTT says what the board runs; a signed rollback over MQTT takes it back to 1.0.0', async () => {
    const conn = { url: `mqtt://127.0.0.1:${broker.port}` };
    const [s] = await statusMqtt(conn, ['ota-*']);
    assert.deepEqual([s.board, s.version, s.state, s.online], [ID, '2.0.0', 'healthy', true]);
    const back = await rollbackMqtt(conn, ID, await rollbackRequest(keys.privateKeyPath, ID));
    assert.deepEqual([back.state, back.version], ['rolled-back', '1.0.0']);
    await until('agent on 1.0.0', async () => (await statusMqtt(conn, [ID]))[0]?.version === '1.0.0');
  });
});
