/**
 * `edge-dmp deploy` against a real OpenSSH server on loopback, the board being a temp `<prefix>`
 * with a faked device-tree root that reads as a Jetson Orin, results on a real mosquitto: dry-run
 * changes nothing, a link cut mid-upload resumes, first deploy (runtime + agent + model) is healthy,
 * a second model switches, a broken one rolls back (non-zero exit naming the reason), a downgrade is
 * refused, a wrong profile is named; status and a signed rollback over SSH.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployBoard, type BoardTarget, type DeployOptions } from '../host/deploy/deploy.js';
import type { DeployEvent } from '../host/deploy/events.js';
import { describeTarball, fixedRuntime } from '../host/deploy/runtime-cache.js';
import { RUNTIME_CLI, type RuntimeTarball } from '../host/deploy/runtime-tarball.js';
import { rollbackRequest, rollbackSsh, statusSsh } from '../host/deploy/status.js';
import {
  jsonLines,
  makeBundle,
  runCli,
  watchDevice,
  type Keys,
  type Watcher,
} from './helpers/agent-fixtures.js';
import { tempDir, until, cleanup, type Mosquitto } from './helpers/mqtt-harness.js';
import { makeBoard, stopBoardAgent, treeHash, type Sshd } from './helpers/sshd.js';
import { startDeployRig } from './helpers/deploy-rig.js';

const ID = 'jetson-1';
/** The sshd's host key as `ssh-keygen -lf` prints it. */
const hostFingerprint = () =>
  execFileSync('ssh-keygen', ['-lf', join(sshd.dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1];
const dir = tempDir('deploy-ssh');
let sshd: Sshd;
let broker: Mosquitto;
let keys: Keys;
let runtime: RuntimeTarball;
let watch: Watcher;
const board = makeBoard('ssh');
const b: Record<string, string> = {};
let target: BoardTarget;
let agentConfig: Record<string, unknown>;

before(async () => {
  ({ sshd, broker, keys, runtime } = await startDeployRig(dir));
  const k = keys.privateKeyPath;
  b.v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: k });
  b.v2 = await makeBundle(join(dir, 'v2.edmp'), { version: '2.0.0', key: k });
  b.broken = await makeBundle(join(dir, 'broken.edmp'), { version: '3.0.0', key: k, badGolden: true });
  b.lower = await makeBundle(join(dir, 'lower.edmp'), { version: '0.5.0', key: k });
  target = {
    host: `root@127.0.0.1:${sshd.port}`,
    identity: sshd.identity,
    prefix: board.prefix,
    deviceRoot: board.root,
    deviceId: ID,
    knownHosts: join(dir, 'known_hosts'),
  };
  agentConfig = {
    source: 'testsrc:',
    fps: 10,
    width: 32,
    height: 32,
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    health: { frames: 5, timeoutMs: 30_000 },
  };
  watch = await watchDevice(broker.port, ID);
});

after(async () => {
  await stopBoardAgent(board.prefix);
  await watch?.close();
  await Promise.all([sshd?.stop(), broker?.stop()]);
  cleanup(dir, board.dir);
});

function opts(bundle: string, events: DeployEvent[], extra: Partial<DeployOptions> = {}): DeployOptions {
  return {
    bundle,
    device: 'jetson',
    runtime: fixedRuntime(runtime),
    agentConfig,
    publicKey: keys.publicKeyPath,
    onEvent: (e) => events.push(e),
    ...extra,
  };
}

/** What the agent itself keeps writing while it runs (results outbox, its log, its socket). */
const AGENT_WRITES = ['outbox', 'agent.log', 'agent.sock'];

/** Runs the CLI; its exit code and JSON lines. */
async function cli(args: string[]) {
  const r = await runCli(args);
  return { code: r.code, stderr: r.stderr, lines: jsonLines(r.out) };
}

const cliArgs = (bundle: string) => {
  const cfg = join(dir, 'agent-base.json');
  writeFileSync(cfg, JSON.stringify(agentConfig));
  return [
    'deploy',
    '--known-hosts',
    join(dir, 'known_hosts'),
    '--device',
    'jetson',
    '--host',
    target.host,
    '--identity',
    sshd.identity,
    '--prefix',
    board.prefix,
    '--bundle',
    bundle,
    '--runtime',
    runtime.path,
    '--device-root',
    board.root,
    '--agent-config',
    cfg,
    '--public-key',
    keys.publicKeyPath,
    '--json',
  ];
};

describe('edge-dmp deploy over SSH', () => {
  it('--dry-run on a fresh board reports the whole plan and changes nothing', async () => {
    const before = treeHash(board.dir);
    const events: DeployEvent[] = [];
    const r = await deployBoard(target, opts(b.v1, events, { dryRun: true }));
    assert.equal(r.state, 'planned');
    const plan = events.find((e) => e.event === 'plan');
    assert.ok(plan && plan.event === 'plan');
    assert.equal(plan.runtime.action, 'installed');
    assert.equal(plan.agent, 'start');
    assert.equal(plan.config, 'write');
    const pre = events.find((e) => e.event === 'preflight');
    assert.ok(pre && pre.event === 'preflight' && pre.profile === 'jetson' && pre.facts.l4t?.includes('R36'));
    assert.equal(treeHash(board.dir), before);
    // First contact: the board's host key is written down (trust on first use), as ssh-keygen prints it.
    assert.equal(pre.hostKey, hostFingerprint());
    assert.equal(pre.hostKeyRecorded, true);
    assert.equal(readFileSync(target.knownHosts!, 'utf8'), `127.0.0.1:${sshd.port} ${hostFingerprint()}\n`);
  });

  it('a board whose host key changed is refused (E_HOST_KEY, naming the file), as is a wrong pin', async () => {
    const events: DeployEvent[] = [];
    await deployBoard(target, opts(b.v1, events, { dryRun: true }));
    const pre = events.find((e) => e.event === 'preflight');
    assert.ok(
      pre && pre.event === 'preflight' && pre.hostKeyRecorded === false,
      'known key: not recorded again',
    );
    assert.equal(readFileSync(target.knownHosts!, 'utf8').split('\n').length, 2);
    const before = treeHash(board.dir);
    const stale = join(dir, 'known_hosts.stale');
    const other = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
    writeFileSync(stale, `# a reinstalled board\n127.0.0.1:${sshd.port} ${other}\n`);
    for (const t of [
      { ...target, knownHosts: stale },
      { ...target, knownHosts: undefined, hostKey: other },
    ])
      await assert.rejects(
        deployBoard(t, opts(b.v1, [], { dryRun: true })),
        (e: Error & { code?: string; field?: string }) => {
          assert.equal(e.code, 'E_HOST_KEY');
          assert.equal(e.field, '--host');
          assert.ok(e.message.includes(hostFingerprint()), e.message);
          assert.ok(e.message.includes(t.knownHosts ? stale : '--host-key'), e.message);
          return true;
        },
      );
    assert.equal(treeHash(board.dir), before);
  });

  it('names the mismatch when --device does not match the board', async () => {
    await assert.rejects(
      deployBoard(target, opts(b.v1, [], { device: 'rpi5' })),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'E_PREFLIGHT');
        assert.match(
          e.message,
          /--device rpi5 does not match the board: it reads as jetson \(NVIDIA Jetson AGX Orin/,
        );
        return true;
      },
    );
  });

  let firstTry: DeployEvent[] = [];
  it('a link cut mid-upload fails the deploy with E_SSH and leaves only a .part on the board', async () => {
    firstTry = [];
    let cut = false;
    const onEvent = (e: DeployEvent) => {
      firstTry.push(e);
      if (!cut && e.event === 'upload' && e.done > e.total * 0.4) {
        cut = true;
        assert.ok(sshd.killSessions() >= 1);
      }
    };
    await assert.rejects(
      deployBoard(target, { ...opts(b.v1, []), onEvent }),
      (e: Error & { code?: string }) => e.code === 'E_SSH',
    );
    const part = join(board.prefix, 'inbox', `${runtime.path.replace(/^.*\//, '')}.part`);
    assert.ok(existsSync(part), 'the part stays');
    assert.ok(statSync(part).size < runtime.bytes);
    assert.ok(
      !existsSync(join(board.prefix, 'inbox', runtime.path.replace(/^.*\//, ''))),
      'no file under the final name',
    );
    assert.ok(!existsSync(join(board.prefix, 'runtime', 'current')));
  });

  it('the next deploy resumes (fewer bytes sent, same hash), installs runtime + agent + model, and is healthy with results on mosquitto', async () => {
    const events: DeployEvent[] = [];
    const partSize = statSync(join(board.prefix, 'inbox', `${runtime.path.replace(/^.*\//, '')}.part`)).size;
    const r = await deployBoard(target, opts(b.v1, events));
    assert.equal(r.state, 'healthy', r.reason);
    assert.ok(r.ok);
    const rt = events.find((e) => e.event === 'runtime');
    assert.ok(rt && rt.event === 'runtime');
    assert.equal(rt.action, 'installed');
    assert.equal(rt.sent, runtime.bytes - partSize, 'only the missing bytes went over the link');
    assert.ok(rt.sent < runtime.bytes);
    // The installed runtime is the tarball: its RUNTIME.json, and the uploaded bytes hashed the same (checked before rename).
    assert.equal(readlinkSync(join(board.prefix, 'runtime', 'current')), runtime.version);
    assert.equal(
      JSON.parse(readFileSync(join(board.prefix, 'runtime', runtime.version, 'RUNTIME.json'), 'utf8')).arch,
      'x64',
    );
    const uploads = events.filter((e) => e.event === 'upload');
    assert.ok(uploads.length > 0);
    const states = events.filter((e) => e.event === 'state').map((e) => (e as { state: string }).state);
    assert.deepEqual(states.slice(-1), ['healthy']);
    const inbox = join(board.prefix, 'inbox');
    assert.ok(!existsSync(join(inbox, `${runtime.path.replace(/^.*\//, '')}.part`)));
    await until('results of 1.0.0 on mosquitto', () => watch.results.some((x) => x.version === '1.0.0'));
    assert.equal(JSON.parse(readFileSync(join(board.prefix, 'agent.json'), 'utf8')).profile, 'jetson');
  });

  it('--dry-run on the installed board changes nothing (tree hash before = after)', async () => {
    const before = treeHash(board.prefix, AGENT_WRITES);
    const events: DeployEvent[] = [];
    await deployBoard(target, opts(b.v2, events, { dryRun: true }));
    const plan = events.find((e) => e.event === 'plan');
    assert.ok(plan && plan.event === 'plan');
    assert.deepEqual(
      [plan.runtime.action, plan.config, plan.agent, plan.current?.version],
      ['skipped', 'unchanged', 'running', '1.0.0'],
    );
    assert.equal(treeHash(board.prefix, AGENT_WRITES), before);
  });

  it('a second deploy with a new model switches (runtime skipped, only the bundle sent)', async () => {
    const events: DeployEvent[] = [];
    const r = await deployBoard(target, opts(b.v2, events));
    assert.equal(r.state, 'healthy', r.reason);
    const rt = events.find((e) => e.event === 'runtime');
    assert.ok(rt && rt.event === 'runtime' && rt.action === 'skipped' && rt.sent === 0);
    assert.equal(r.bytesSent, statSync(b.v2).size);
    const n = watch.results.length;
    await until('results of 2.0.0', () => watch.results.slice(n).some((x) => x.version === '2.0.0'));
  });

  it('status and a signed rollback over SSH: back to 1.0.0', async () => {
    const req = await rollbackRequest(keys.privateKeyPath, ID);
    const s = await rollbackSsh(target, req);
    assert.equal(s.state, 'rolled-back');
    assert.equal(s.version, '1.0.0');
    const now = await statusSsh(target);
    assert.deepEqual([now.version, now.state], ['1.0.0', 'rolled-back']);
    const n = watch.results.length;
    await until('results of 1.0.0 again', () => watch.results.slice(n).some((x) => x.version === '1.0.0'));
  });
  it('a broken model rolls back and `edge-dmp deploy` exits non-zero naming the reason', async () => {
    const r = await cli(cliArgs(b.broken));
    assert.equal(r.code, 1, r.stderr);
    const verdict = r.lines.find((l) => l.event === 'verdict');
    assert.ok(verdict, JSON.stringify(r.lines.slice(-3)));
    assert.equal(verdict.state, 'rolled-back');
    assert.match(String(verdict.reason), /E_AGENT_GOLDEN/);
    const n = watch.results.length;
    await until(
      '1.0.0 keeps classifying',
      () => watch.results.slice(n).filter((x) => x.version === '1.0.0').length >= 3,
    );
  });

  it('a downgrade is refused (non-zero exit, E_AGENT_DOWNGRADE), the board stays on 1.0.0', async () => {
    const r = await cli(cliArgs(b.lower));
    assert.equal(r.code, 1, r.stderr);
    const verdict = r.lines.find((l) => l.event === 'verdict');
    assert.equal(verdict?.state, 'refused');
    assert.match(String(verdict?.reason), /E_AGENT_DOWNGRADE/);
    const s = await statusSsh(target);
    assert.deepEqual([s.model, s.version, s.runtime], ['tiny-colour', '1.0.0', runtime.version]);
  });

  it('a runtime that does not start is switched back at once (E_RUNTIME), the old runtime and model keep running', async () => {
    // The same runtime as version 0.1.1 with a launcher that dies: uploaded, unpacked, switched, smoke-tested, undone.
    const x = join(dir, 'broken-rt');
    execFileSync('mkdir', ['-p', x]);
    execFileSync('tar', ['-xzf', runtime.path, '-C', x]);
    writeFileSync(join(x, RUNTIME_CLI), 'process.exit(7);\n');
    const tgz = join(dir, 'edge-dmp-runtime-0.1.1-linux-x64-glibc.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', x, '.']);
    const broken = await describeTarball(tgz);
    await assert.rejects(
      deployBoard(target, opts(b.v2, [], { runtime: fixedRuntime(broken) })),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'E_RUNTIME');
        assert.match(e.message, /runtime 0\.1\.1 on .*: smoke test failed \(exit 7\).*\(switched back\)/);
        return true;
      },
    );
    assert.equal(readlinkSync(join(board.prefix, 'runtime', 'current')), runtime.version);
    const s = await statusSsh(target);
    assert.deepEqual([s.version, s.runtime], ['1.0.0', runtime.version]);
  });
});
