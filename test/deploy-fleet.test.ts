/**
 * A fleet of 8 real agents (temp prefixes, one mosquitto) driven by `edge-dmp deploy --via mqtt`
 * with a staged rollout; one board is bad (it trusts another signing key, so it refuses the new
 * bundle). The canary wave holds that board, so with `--max-failures 0` the rollout halts after it
 * and the summary says who runs what; with `--max-failures 1` the rest of the fleet is updated in
 * waves. Also the pure parts: wave planning, hosts files, id patterns.
 */
import assert from 'node:assert/strict';

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planWaves, rollout, summaryTable } from '../host/deploy/fleet.js';
import { expandDeviceIds, parseHosts } from '../host/deploy/hosts.js';
import { statusMqtt } from '../host/deploy/status.js';
import {
  makeBundle,
  makeKeys,
  runCli,
  spawnAgent,
  writeConfig,
  type AgentProc,
} from './helpers/agent-fixtures.js';
import { cleanup, startMosquitto, tempDir, type Mosquitto } from './helpers/mqtt-harness.js';

const dir = tempDir('deploy-fleet');
const N = 8;
const BAD = 'fleet-1';
const ids = Array.from({ length: N }, (_, i) => `fleet-${i}`);
let broker: Mosquitto;
const agents: AgentProc[] = [];
let v2: string;

before(async () => {
  const [keys, other] = await Promise.all([makeKeys(join(dir, 'keys')), makeKeys(join(dir, 'other'))]);
  broker = await startMosquitto();
  const v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: keys.privateKeyPath });
  const v1other = await makeBundle(join(dir, 'v1-other.edmp'), {
    version: '1.0.0',
    key: other.privateKeyPath,
  });
  v2 = await makeBundle(join(dir, 'v2.edmp'), { version: '2.0.0', key: keys.privateKeyPath });
  for (const id of ids) {
    const prefix = join(dir, id);
    const bad = id === BAD;
    writeConfig(prefix, {
      deviceId: id,
      profile: 'generic',
      source: 'testsrc:',
      fps: 2,
      width: 32,
      height: 32,
      publicKeys: [bad ? other.publicKeyPath : keys.publicKeyPath],
      mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
      health: { frames: 2, timeoutMs: 60_000 },
      bundle: bad ? v1other : v1,
    });
    agents.push(spawnAgent(prefix));
  }
  await Promise.all(
    agents.map((a) => a.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'v1 healthy', 120_000)),
  );
});

after(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  await broker?.stop();
  cleanup(dir);
});

const cli = runCli;

/** Summary rows of the CLI's table: board -> [result, runs]. */
function rows(out: string): Map<string, [string, string]> {
  const m = new Map<string, [string, string]>();
  for (const line of out.split('\n')) {
    const c = line.trim().split(/\s{2,}/);
    if (c[0]?.startsWith('fleet-') && c.length >= 4) m.set(c[0], [c[2], c[3]]);
  }
  return m;
}

describe('fleet rollout over MQTT', () => {
  it('the canary wave with the bad board halts the rollout past --max-failures 0; the summary says who runs what', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const r = await cli([
      'deploy',
      '--via',
      'mqtt',
      '--mqtt',
      url,
      '--device-id',
      'fleet-*',
      '--bundle',
      v2,
      '--canary',
      '2',
      '--wave-size',
      '3',
      '--max-failures',
      '0',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.out, /wave 1\/3: fleet-0, fleet-1\n/);
    assert.doesNotMatch(r.out, /wave 2\/3/);
    assert.match(r.out, /rollout halted: 1 failure\(s\) in 1 wave\(s\) > --max-failures 0/);
    const t = rows(r.out);
    assert.deepEqual(t.get('fleet-0'), ['healthy', 'tiny-colour@2.0.0']);
    assert.equal(t.get(BAD)?.[0], 'refused');
    assert.match(t.get(BAD)![1], /@1\.0\.0 \(refused\)$/);
    for (const id of ids.slice(2))
      assert.deepEqual(t.get(id), ['skipped', 'tiny-colour@1.0.0 (healthy)'], id);
  });

  it('with --max-failures 1 the rest of the fleet is updated wave by wave; status shows 7 boards on 2.0.0 and the bad one on 1.0.0', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const group = join(dir, 'group.txt');
    writeFileSync(group, `# the fleet\n${ids.join('\n')}\n`);
    const r = await cli([
      'deploy',
      '--via',
      'mqtt',
      '--mqtt',
      url,
      '--device-id',
      `@${group}`,
      '--bundle',
      v2,
      '--canary',
      '2',
      '--wave-size',
      '3',
      '--max-failures',
      '1',
    ]);
    assert.equal(r.code, 1, 'one board still failed');
    assert.match(r.out, /wave 3\/3: fleet-5, fleet-6, fleet-7/);
    const t = rows(r.out);
    for (const id of ids) if (id !== BAD) assert.deepEqual(t.get(id), ['healthy', 'tiny-colour@2.0.0'], id);
    const s = await statusMqtt({ url }, ['fleet-*']);
    assert.deepEqual(
      s.map((x) => `${x.board}=${x.version}`),
      ids.map((id) => `${id}=${id === BAD ? '1.0.0' : '2.0.0'}`),
    );
    assert.match(s.find((x) => x.board === BAD)!.lastError ?? '', /E_AGENT_WRONG_KEY/);
  });
});

describe('fleet parts', () => {
  it('plans waves: canary first, then wave-size', () => {
    assert.deepEqual(planWaves([1, 2, 3, 4, 5, 6], { canary: 1, waveSize: 2 }), [[1], [2, 3], [4, 5], [6]]);
    assert.deepEqual(planWaves([1, 2, 3], {}), [[1, 2, 3]]);
    assert.throws(() => planWaves([1], { waveSize: 0 }), /--wave-size/);
  });

  it('halts once failures exceed --max-failures, skipping the rest', async () => {
    const seen: string[] = [];
    const r = await rollout(
      ['a', 'b', 'c', 'd'],
      async (b) => (seen.push(b), { ok: b !== 'b', state: b === 'b' ? 'rolled-back' : 'healthy' }),
      { canary: 2, waveSize: 1, maxFailures: 0 },
    );
    assert.deepEqual(seen, ['a', 'b']);
    assert.deepEqual(
      r.outcomes.map((o) => `${o.board}:${o.state}`),
      ['a:healthy', 'b:rolled-back', 'c:skipped', 'd:skipped'],
    );
    assert.ok(r.halted);
    assert.match(
      summaryTable(r.outcomes.map((o) => ({ ...o, running: 'm@1' }))),
      /^c\s+-\s+skipped\s+m@1\s+rollout halted after wave 1$/m,
    );
  });

  it('reads hosts files and expands id patterns and group files', () => {
    const h = parseHosts('# boards\nroot@10.0.0.5:2222 prefix=/opt/x device=rpi5 id=cam1\nuser@jetson\n');
    assert.deepEqual(h, [
      { host: 'root@10.0.0.5:2222', prefix: '/opt/x', device: 'rpi5', deviceId: 'cam1' },
      { host: 'user@jetson' },
    ]);
    assert.throws(() => parseHosts('root@h colour=red\n', 'hosts.txt'), /hosts\.txt:1/);
    assert.deepEqual(expandDeviceIds(['cam-*', 'door'], ['cam-1', 'cam-2', 'camx']), [
      'cam-1',
      'cam-2',
      'door',
    ]);
    assert.throws(() => expandDeviceIds(['nope-*'], ['cam-1']), /--device-id/);
  });
});
