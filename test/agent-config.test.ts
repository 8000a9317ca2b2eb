/**
 * The agent's pure parts beside the process tests: agent.json validation (typed errors naming the
 * field), version ordering for the floor, the health rules and the crash-loop window, the store's
 * pointer switch and rollback on a real file system, and a bad agent.json through the CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acceptBundle, compareVersions, DEFAULT_CAPABILITIES } from '../device/agent/acceptance.js';
import { parseAgentConfig } from '../device/agent/config.js';
import { crashLoop, judge } from '../device/agent/health.js';
import { ModelStore, STORE_HEADROOM } from '../device/agent/store.js';
import { ConfigError } from '../core/errors.js';
import type { FrameOutcome } from '../device/types.js';
import { makeBundle } from './helpers/agent-fixtures.js';
import { tempDir } from './helpers/mqtt-harness.js';

const dir = tempDir('agent-config');
after(() => rmSync(dir, { recursive: true, force: true }));

const base = { deviceId: 'cam1', publicKeys: ['edmp.pub'] };

describe('agent.json', () => {
  it('fills defaults and resolves key paths against its folder', () => {
    const c = parseAgentConfig(base, '/opt/edge-dmp');
    assert.deepEqual(c.publicKeys, ['/opt/edge-dmp/edmp.pub']);
    assert.deepEqual(
      [c.profile, c.allowUnsigned, c.health.frames, c.health.crashLoop.restarts],
      ['auto', false, 20, 3],
    );
  });

  for (const [what, raw, field, expected] of [
    ['no deviceId', { publicKeys: ['k'] }, 'agent.json deviceId', 'a non-empty string'],
    ['a deviceId with a slash', { ...base, deviceId: 'a/b' }, 'agent.json deviceId', 'an id without'],
    ['no keys and no allowUnsigned', { deviceId: 'x' }, 'agent.json publicKeys', 'at least one public key'],
    [
      'an error rate above 1',
      { ...base, health: { maxErrorRate: 2 } },
      'agent.json health.maxErrorRate',
      'a number in [0, 1]',
    ],
    [
      'a fractional frame count',
      { ...base, health: { frames: 2.5 } },
      'agent.json health.frames',
      'a positive integer',
    ],
    ['an unknown key', { ...base, sorce: 'testsrc:' }, 'agent.json sorce', 'one of deviceId'],
    ['mqtt without url', { ...base, mqtt: {} }, 'agent.json mqtt.url', 'a non-empty string'],
    ['a bad qos', { ...base, mqtt: { url: 'mqtt://h', qos: 3 } }, 'agent.json mqtt.qos', '0, 1 or 2'],
  ] as const) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => parseAgentConfig(raw, '/p'),
        (e: unknown) => e instanceof ConfigError && e.field === field && e.expected.startsWith(expected),
      );
    });
  }

  it('through the CLI: a bad agent.json is exit 2 with the field named', () => {
    const prefix = join(dir, 'bad');
    spawnSync('mkdir', ['-p', prefix]);
    writeFileSync(join(prefix, 'agent.json'), JSON.stringify({ ...base, health: { timeoutMs: -1 } }));
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bin/edge-dmp.js', 'agent', '--prefix', prefix],
      {
        cwd: join(import.meta.dirname, '..'),
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /ConfigError \[E_CONFIG\] agent\.json health\.timeoutMs: expected a positive number, got -1/,
    );
  });
});

describe('version floor ordering', () => {
  for (const [a, b, want] of [
    ['1.10.0', '1.9.3', 1],
    ['2.0.0', '2.0', 0],
    ['1.2.0-rc1', '1.2.0', -1],
    ['0.9.9', '1.0.0', -1],
  ] as const)
    it(`${a} vs ${b} = ${want}`, () => assert.equal(compareVersions(a, b), want));
});

const ok = (ms: number): FrameOutcome => ({
  ok: true,
  label: 'red',
  score: 0.9,
  topK: [],
  timings: { decodeMs: ms / 2, preprocessMs: 0, inferMs: ms / 2 },
  model: { name: 'm', version: '1', sha256: 'x' },
  frameId: 0,
  ts: 0,
});
const bad: FrameOutcome = { ok: false, frameId: 0, ts: 0, code: 'E_FRAME_CORRUPT', reason: 'x' };
const rules = {
  frames: 10,
  maxErrorRate: 0.2,
  maxP95Ms: 50,
  timeoutMs: 1000,
  crashLoop: { restarts: 3, windowMs: 1000 },
};

describe('health rules', () => {
  it('passes within the rules, reports error rate and p95', () => {
    const v = judge([...Array(9)].map((_, i) => ok(10 + i)).concat([bad]), rules);
    assert.deepEqual([v.ok, v.errors, v.errorRate, v.p95Ms], [true, 1, 0.1, 18]);
  });
  it('fails on the error rate first, then on p95, naming the numbers', () => {
    assert.equal(judge([ok(1), bad, bad, ok(1)], rules).reason, 'error rate 0.500 (2/4) > maxErrorRate 0.2');
    assert.equal(
      judge(
        [...Array(20)].map(() => ok(60)),
        rules,
      ).reason,
      'p95 latency 60.0 ms > maxP95Ms 50',
    );
  });
  it('crash loop: K starts inside the window, older ones forgotten', () => {
    assert.deepEqual(crashLoop([100, 900, 1500], 1500, rules.crashLoop), {
      loop: false,
      recent: [900, 1500],
    });
    assert.equal(crashLoop([700, 900, 1500], 1500, rules.crashLoop).loop, true);
  });
});

describe('model store', () => {
  it('stages into a versioned slot, switches current/previous, rolls back, collects old slots', async () => {
    const s = new ModelStore(join(dir, 'store'));
    await s.init();
    const files = new Map([['model.tflite', new Uint8Array([1, 2, 3])]]);
    for (const v of ['1.0.0-aaaaaaaa', '2.0.0-bbbbbbbb', '3.0.0-cccccccc']) {
      await s.stage(v, new Uint8Array([9]), files);
      await s.switchTo(v);
    }
    const link = (n: string) => readlinkSync(join(dir, 'store', n));
    assert.deepEqual([link('current'), link('previous')], ['models/3.0.0-cccccccc', 'models/2.0.0-bbbbbbbb']);
    assert.deepEqual(await s.gc(), ['1.0.0-aaaaaaaa']);
    assert.equal((await s.rollback()).name, '2.0.0-bbbbbbbb');
    assert.equal(link('current'), 'models/2.0.0-bbbbbbbb');
    assert.equal(await s.previous(), null);
    await assert.rejects(s.rollback(), /E_AGENT_NO_PREVIOUS|previous model/);
  });

  it('refuses to unpack onto a filesystem that would be left without headroom (a real 8 MB tmpfs), nothing staged', async () => {
    const mnt = join(dir, 'small-fs');
    mkdirSync(mnt, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount tmpfs (the tests run as root): ${m.stderr}`);
    try {
      const s = new ModelStore(join(mnt, 'store'));
      await s.init();
      const files = new Map([['model.tflite', new Uint8Array(1024)]]);
      await assert.rejects(
        s.stage('1.0.0-aaaaaaaa', new Uint8Array(10), files),
        (e: unknown) =>
          (e as { code?: string }).code === 'E_AGENT_STORE' && /bytes free/.test((e as Error).message),
      );
      assert.deepEqual(s.list(), []);
      // The same check passes where the space is there (injected free space).
      s.checkSpace(2048, () => STORE_HEADROOM + 4096);
      assert.throws(() => s.checkSpace(8192, () => STORE_HEADROOM + 4096), /E_AGENT_STORE|bytes free/);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('acceptance against the board', () => {
  it('refuses a model the profile cannot take, naming the manifest field and the limit', async () => {
    const bytes = readFileSync(await makeBundle(join(dir, 'b.edmp'), { version: '1.0.0', key: null }));
    const o = { keys: [], allowUnsigned: true, floor: null };
    const ok = await acceptBundle(bytes, { ...o, board: DEFAULT_CAPABILITIES });
    assert.deepEqual([ok.version, ok.name, ok.keyId], ['1.0.0', 'tiny-colour', null]);
    for (const [board, field, expected] of [
      [
        { maxInputPixels: 320 },
        'manifest.input.preprocess.inputSize',
        'at most 320 input pixels on this board',
      ],
      [{ maxModelBytes: 100 }, 'manifest.stats.tfliteBytes', 'at most 100 bytes on this board'],
      [{ inputDtypes: ['int8'] }, 'manifest.input.dtype', 'one of int8'],
    ] as const) {
      await assert.rejects(
        acceptBundle(bytes, { ...o, board: { ...DEFAULT_CAPABILITIES, ...board } as never }),
        (e: unknown) =>
          (e as { code: string; field: string; expected: string }).code === 'E_AGENT_INCOMPATIBLE' &&
          (e as { field: string }).field === field &&
          (e as { expected: string }).expected === expected,
      );
    }
  });
});
