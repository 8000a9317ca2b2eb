/**
 * The kill-9 matrix: an agent SIGKILLed in every update state (EDGE_DMP_AGENT_PAUSE_AT holds the
 * update there), then restarted. Each case asserts the model that runs afterwards, the persisted
 * state, that no half-written slot is left, and that results keep flowing over a real mosquitto
 * with no `seq` gap across the restart. Plus a crash loop: killed in the health window on K starts
 * in a row -> rolled back.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ctl,
  makeBundle,
  makeKeys,
  seqGaps,
  spawnAgent,
  watchDevice,
  writeConfig,
  type Watcher,
} from './helpers/agent-fixtures.js';
import { startMosquitto, tempDir, until, type Mosquitto } from './helpers/mqtt-harness.js';

const dir = tempDir('agent-kill9');
const template = join(dir, 'template');
const ID = 'agent-kill9';
let broker: Mosquitto;
let v2 = '';

before(async () => {
  const keys = await makeKeys(join(dir, 'keys'));
  const v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: keys.privateKeyPath });
  v2 = await makeBundle(join(dir, 'v2.edmp'), { version: '2.0.0', key: keys.privateKeyPath });
  broker = await startMosquitto();
  writeConfig(template, {
    deviceId: ID,
    profile: 'generic',
    source: 'testsrc:',
    fps: 10,
    width: 32,
    height: 32,
    publicKeys: [keys.publicKeyPath],
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    health: { frames: 5, timeoutMs: 30_000, crashLoop: { restarts: 2, windowMs: 600_000 } },
    bundle: v1,
  });
  // One board on 1.0.0, copied for every case.
  const a = spawnAgent(template);
  await a.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'template healthy');
  assert.equal((await a.kill('SIGTERM')).code, 0);
});

after(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const CASES = [
  { at: 'receiving', runs: '1.0.0', state: 'healthy', reason: null },
  {
    at: 'verified',
    runs: '1.0.0',
    state: 'refused',
    reason: /^E_AGENT_INTERRUPTED: the agent stopped in state verified/,
  },
  {
    at: 'unpacking',
    runs: '1.0.0',
    state: 'refused',
    reason: /^E_AGENT_INTERRUPTED: the agent stopped in state verified/,
  },
  { at: 'switched', runs: '2.0.0', state: 'healthy', reason: null },
  { at: 'health', runs: '2.0.0', state: 'healthy', reason: null },
] as const;

async function killedAt(prefix: string, at: string, install: boolean, w?: Watcher) {
  const a = spawnAgent(prefix, { EDGE_DMP_AGENT_PAUSE_AT: at });
  await a.waitFor((e) => e.event === 'pipeline-start', 'pipeline running');
  // Results flowing before the kill, so the seq check spans it.
  if (w) {
    const n = w.results.length;
    await until('results before the kill', () => w.results.length >= n + 3);
  }
  if (install) {
    const r = await ctl(prefix, ['install', v2]);
    assert.equal(r.code, 0, r.stderr);
  }
  await a.waitFor((e) => e.event === 'paused' && e.at === at, `paused at ${at}`);
  const r = await a.kill('SIGKILL');
  assert.equal(r.signal, 'SIGKILL');
  // The kill landed where it should: a half copy in incoming/, a half-written temp slot.
  if (at === 'receiving') assert.equal(readdirSync(join(prefix, 'store', 'incoming')).length, 1);
  if (at === 'unpacking')
    assert.ok(readdirSync(join(prefix, 'store', 'models')).some((n) => n.startsWith('.2.0.0-')));
}

async function restartAndCheck(prefix: string, runs: string, state: string, reason: RegExp | null) {
  const w = await watchDevice(broker.port, ID);
  const before = w.results.length;
  const a = spawnAgent(prefix);
  try {
    await a.waitFor((e) => e.event === 'pipeline-start', 'pipeline after restart');
    if (state === 'healthy' && runs === '2.0.0')
      await a.waitFor(
        (e) => e.event === 'state' && e.state === 'healthy',
        'health window passed after restart',
      );
    await until(
      `results from ${runs} after restart`,
      () => w.results.slice(before).filter((r) => r.version === runs).length >= 5,
    );
    const cur = readlinkSync(join(prefix, 'store', 'current'));
    assert.match(cur, new RegExp(`^models/${runs.replace(/\./g, '\\.')}-`));
    const rec = JSON.parse(readFileSync(join(prefix, 'store', 'state.json'), 'utf8'));
    assert.equal(rec.state, state);
    if (reason) assert.match(rec.reason, reason);
    // Nothing half-written survives: no temp slot, no incoming copy, slots are current/previous only.
    assert.deepEqual(readdirSync(join(prefix, 'store', 'incoming')), []);
    assert.ok(readdirSync(join(prefix, 'store', 'models')).every((n) => !n.startsWith('.')));
  } finally {
    await a.kill('SIGTERM');
    await w.close();
  }
}

describe('edge-dmp agent: SIGKILL in every update state', () => {
  for (const c of CASES) {
    it(`killed at ${c.at}: restarts on ${c.runs} (${c.state}), results keep flowing without a seq gap`, async () => {
      const prefix = join(dir, c.at);
      cpSync(template, prefix, { recursive: true, verbatimSymlinks: true });
      const w = await watchDevice(broker.port, ID);
      try {
        await killedAt(prefix, c.at, true, w);
        const lastBefore = Math.max(...w.results.map((r) => r.seq));
        await restartAndCheck(prefix, c.runs, c.state, c.reason);
        const g = seqGaps(w.results);
        assert.deepEqual(g.missing, [], `seq ${g.first}..${g.last}`);
        // Numbering went on after the restart (at least the 5 results restartAndCheck waited for).
        assert.ok(g.last >= lastBefore + 5, `last seq ${g.last}, before the kill ${lastBefore}`);
      } finally {
        await w.close();
      }
    });
  }

  it('killed in the health window on 2 starts in a row (crashLoop.restarts 2): rolled back to 1.0.0', async () => {
    const prefix = join(dir, 'crash-loop');
    cpSync(template, prefix, { recursive: true, verbatimSymlinks: true });
    await killedAt(prefix, 'health', true);
    // The restart re-runs the health window on 2.0.0: killed there again.
    await killedAt(prefix, 'health', false);
    await restartAndCheck(
      prefix,
      '1.0.0',
      'rolled-back',
      /^E_AGENT_CRASH_LOOP: 2 starts within 600000 ms while 2\.0\.0 was unconfirmed/,
    );
  });
});
