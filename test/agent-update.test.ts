/**
 * `edge-dmp agent` as a real process on a temp prefix, reporting to a real mosquitto: a first bundle,
 * a switch to a new signed bundle (healthy), a golden-failing bundle (rolled back, the old model
 * keeps classifying), refusals (unsigned, wrong key, tampered, lower version) with their reasons,
 * a signed allow-downgrade, a signed operator rollback, and a graceful SIGTERM.
 */
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signRequest } from '../device/agent/requests.js';
import { keyIdOf } from '../converter/bundle.js';
import {
  ctl,
  seqGaps,
  makeBundle,
  makeKeys,
  spawnAgent,
  tamperedCopy,
  watchDevice,
  writeConfig,
  type AgentProc,
  type Keys,
  type Watcher,
} from './helpers/agent-fixtures.js';
import { startMosquitto, tempDir, until, type Mosquitto } from './helpers/mqtt-harness.js';

const dir = tempDir('agent-update');
const prefix = join(dir, 'board');
const ID = 'agent-update';
let keys: Keys;
let other: Keys;
let broker: Mosquitto;
let agent: AgentProc;
let watch: Watcher;
const b: Record<string, string> = {};

before(async () => {
  keys = await makeKeys(join(dir, 'keys'));
  other = await makeKeys(join(dir, 'other'));
  const k = keys.privateKeyPath;
  b.v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: k });
  b.v2 = await makeBundle(join(dir, 'v2.edmp'), { version: '2.0.0', key: k });
  b.golden = await makeBundle(join(dir, 'golden.edmp'), { version: '3.0.0', key: k, badGolden: true });
  b.failing = await makeBundle(join(dir, 'failing.edmp'), {
    version: '3.1.0',
    key: k,
    failing: true,
    noGolden: true,
  });
  b.failingGolden = await makeBundle(join(dir, 'failing-golden.edmp'), {
    version: '3.2.0',
    key: k,
    failing: true,
  });
  b.unsigned = await makeBundle(join(dir, 'unsigned.edmp'), { version: '4.0.0', key: null });
  b.wrongKey = await makeBundle(join(dir, 'wrong.edmp'), { version: '4.0.0', key: other.privateKeyPath });
  b.tampered = await tamperedCopy(
    readFileSync(await makeBundle(join(dir, 't.edmp'), { version: '4.0.0', key: k })),
    join(dir, 'tampered.edmp'),
  );
  b.lower = await makeBundle(join(dir, 'lower.edmp'), { version: '1.5.0', key: k });
  broker = await startMosquitto();
  watch = await watchDevice(broker.port, ID);
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
    bundle: b.v1,
  });
  agent = spawnAgent(prefix);
});

after(async () => {
  await agent?.kill('SIGKILL');
  await watch?.close();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const current = () => readlinkSync(join(prefix, 'store', 'current'));
const resultsSince = (n: number) => watch.results.slice(n);

async function install(path: string, extra: string[] = []) {
  const r = await ctl(prefix, ['install', path, '--wait', ...extra]);
  const last = r.lines.at(-1) as unknown as { ok: boolean; final: Record<string, unknown> };
  return {
    code: r.code,
    states: r.lines.filter((l) => l.event === 'state').map((l) => l.state),
    final: last?.final,
    stderr: r.stderr,
  };
}

describe('edge-dmp agent: updates', () => {
  it('installs the configured first bundle, reports healthy and classifies with it over MQTT', async () => {
    await agent.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'first bundle healthy');
    assert.match(current(), /^models\/1\.0\.0-[0-9a-f]{8}$/);
    await until('v1 results', () => watch.results.some((r) => r.version === '1.0.0'));
    const d = await until('retained deploy healthy', () =>
      watch.deploys.find((x) => x.state === 'healthy' && x.version === '1.0.0'),
    );
    assert.equal(d.model, 'tiny-colour');
  });

  it('switches to a new signed bundle: received..healthy, results carry the new version', async () => {
    const r = await install(b.v2);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.states, ['received', 'verified', 'staged', 'switched', 'healthy']);
    assert.equal(r.final.version, '2.0.0');
    assert.equal(r.final.previous, '1.0.0');
    assert.match(current(), /^models\/2\.0\.0-/);
    assert.match(readlinkSync(join(prefix, 'store', 'previous')), /^models\/1\.0\.0-/);
    const n = watch.results.length;
    await until('v2 results', () => resultsSince(n).some((x) => x.version === '2.0.0'));
    assert.equal(JSON.parse(readFileSync(join(prefix, 'store', 'floor.json'), 'utf8')).version, '2.0.0');
  });

  it('a bundle whose golden check fails is rolled back; the old model keeps classifying', async () => {
    const r = await install(b.golden);
    assert.equal(r.code, 1);
    assert.deepEqual(r.states, ['received', 'verified', 'staged', 'switched', 'rolled-back']);
    assert.match(String(r.final.reason), /^E_AGENT_GOLDEN: golden\/000\.png: expected golden top-1 "green"/);
    assert.match(current(), /^models\/2\.0\.0-/);
    const n = watch.results.length;
    const later = await until(
      'results after the rollback',
      () => resultsSince(n).length >= 5 && resultsSince(n),
    );
    assert.ok(
      later.every((x) => x.version === '2.0.0'),
      JSON.stringify(later),
    );
    await until('retained rolled-back', () =>
      watch.deploys.find((x) => x.state === 'rolled-back' && x.version === '3.0.0'),
    );
  });

  it('a bundle whose model fails in the runtime on every frame is rolled back by the health window', async () => {
    const r = await install(b.failing);
    assert.equal(r.code, 1);
    assert.deepEqual(r.states, ['received', 'verified', 'staged', 'switched', 'rolled-back']);
    assert.equal(r.final.reason, 'E_AGENT_HEALTH: error rate 1.000 (5/5) > maxErrorRate 0.1');
    assert.match(current(), /^models\/2\.0\.0-/);
    const n = watch.results.length;
    const later = await until(
      'results after the rollback',
      () => resultsSince(n).length >= 3 && resultsSince(n),
    );
    assert.ok(later.every((x) => x.version === '2.0.0'));
  });

  it('with golden samples the same runtime failure is caught before any live frame', async () => {
    const r = await install(b.failingGolden);
    assert.equal(r.code, 1);
    assert.match(
      String(r.final.reason),
      /^E_AGENT_HEALTH: 3\.2\.0-[0-9a-f]{8}: expected a model that runs its golden samples, got .*gather index out of bounds/,
    );
    assert.match(current(), /^models\/2\.0\.0-/);
  });

  for (const [name, key, code] of [
    ['unsigned', 'unsigned', /^E_AGENT_UNSIGNED: signature\.sig: expected a signed bundle/],
    ['signed by a key not in agent.json', 'wrongKey', /^E_AGENT_WRONG_KEY: /],
    ['tampered after signing', 'tampered', /^E_AGENT_TAMPERED: E_BUNDLE_HASH_MISMATCH: model\.tflite/],
    [
      'lower than the version floor',
      'lower',
      /^E_AGENT_DOWNGRADE: manifest\.model\.version: expected >= 2\.0\.0/,
    ],
  ] as const) {
    it(`refuses a bundle ${name}, naming the reason; the board stays on 2.0.0`, async () => {
      const r = await install(b[key]);
      assert.equal(r.code, 1);
      assert.deepEqual(r.states, ['received', 'refused']);
      assert.match(String(r.final.reason), code);
      assert.match(current(), /^models\/2\.0\.0-/);
      const n = watch.results.length;
      await until('results go on', () => resultsSince(n).length >= 2);
      assert.ok(resultsSince(n).every((x) => x.version === '2.0.0'));
    });
  }

  it('a signed allow-downgrade request lets exactly that lower version in (once)', async () => {
    const key = createPrivateKey(readFileSync(keys.privateKeyPath));
    const req = signRequest({ action: 'allow-downgrade', deviceId: ID, version: '1.5.0' }, key, keyIdOf(key));
    const reqPath = join(dir, 'allow.json');
    writeFileSync(reqPath, JSON.stringify(req));
    const r = await install(b.lower, ['--allow-downgrade', reqPath]);
    assert.equal(r.code, 0, JSON.stringify(r));
    assert.match(current(), /^models\/1\.5\.0-/);
    assert.equal(JSON.parse(readFileSync(join(prefix, 'store', 'floor.json'), 'utf8')).version, '1.5.0');
    const again = await install(b.lower, ['--allow-downgrade', reqPath]);
    assert.equal(again.code, 1);
    assert.match(String(again.final.reason), /^E_AGENT_BAD_REQUEST: request\.payload\.nonce/);
  });

  it('a signed rollback request goes back to the previous model; an unsigned one is refused', async () => {
    const forged = {
      payload: JSON.stringify({
        action: 'rollback',
        deviceId: ID,
        expires: new Date(Date.now() + 60_000).toISOString(),
        nonce: 'x',
      }),
      keyId: 'k',
      signature: Buffer.alloc(64).toString('base64'),
    };
    writeFileSync(join(dir, 'forged.json'), JSON.stringify(forged));
    const bad = await ctl(prefix, ['rollback', '--request', join(dir, 'forged.json')]);
    assert.equal(bad.code, 1);
    assert.equal((bad.lines[0].error as { code: string }).code, 'E_AGENT_BAD_REQUEST');
    const key = createPrivateKey(readFileSync(keys.privateKeyPath));
    writeFileSync(
      join(dir, 'rb.json'),
      JSON.stringify(signRequest({ action: 'rollback', deviceId: ID }, key, keyIdOf(key))),
    );
    const r = await ctl(prefix, ['rollback', '--request', join(dir, 'rb.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.lines[0].final as { version: string }).version, '2.0.0');
    assert.match(current(), /^models\/2\.0\.0-/);
    const n = watch.results.length;
    await until('v2 results after the rollback', () => resultsSince(n).some((x) => x.version === '2.0.0'));
    const s = await ctl(prefix, ['status']);
    const st = s.lines[0].status as {
      current: { version: string };
      floor: { version: string };
      running: { version: string };
    };
    assert.deepEqual([st.current.version, st.floor.version, st.running.version], ['2.0.0', '2.0.0', '2.0.0']);
  });

  it('SIGTERM: results flushed, retained status "stopped", exit 0, seq without gaps', async () => {
    const r = await agent.kill('SIGTERM');
    assert.deepEqual(r, { code: 0, signal: null });
    await until('status stopped', () => watch.status.at(-1) === 'stopped');
    const gaps = seqGaps(watch.results);
    assert.deepEqual([gaps.first, gaps.missing], [1, []]);
    assert.ok(gaps.last >= 30, `only ${gaps.last} results`);
  });

  it('after a restart the version floor still holds (floor.json persisted)', async () => {
    agent = spawnAgent(prefix);
    await agent.waitFor((e) => e.event === 'pipeline-start', 'restarted');
    const r = await install(b.lower);
    assert.equal(r.code, 1);
    assert.match(String(r.final.reason), /^E_AGENT_DOWNGRADE: manifest\.model\.version: expected >= 2\.0\.0/);
    assert.match(current(), /^models\/2\.0\.0-/);
  });

  it('a closed log pipe (EPIPE on stdout) drops lines, not the agent: it keeps classifying and serving', async () => {
    agent.proc.stdout?.destroy();
    agent.proc.stderr?.destroy();
    // Each refused install makes the agent log (state lines) into the closed pipe.
    for (let i = 0; i < 3; i++) {
      const r = await install(b.lower);
      assert.equal(r.code, 1, `${r.stderr} ${JSON.stringify(r.final)}`);
    }
    const n = watch.results.length;
    await until('results after the pipe closed', () => resultsSince(n).length >= 5);
    const st = await ctl(prefix, ['status']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(agent.proc.exitCode, null);
  });
});
