/**
 * A fleet over SSH from a hosts file (`edge-dmp deploy --hosts`): three boards behind one real
 * OpenSSH server on loopback (each its own temp prefix, faked device root and agent), one of
 * them a Raspberry Pi 5 in a `--device jetson` rollout. Canary first: the Pi's mismatch halts the
 * rollout past `--max-failures 0`, the summary says who runs what; with one failure allowed the
 * last wave goes too.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RuntimeTarball } from '../host/deploy/runtime-tarball.js';
import { jsonLines, makeBundle, runCli, type Keys } from './helpers/agent-fixtures.js';
import { tempDir, cleanup, type Mosquitto } from './helpers/mqtt-harness.js';
import { makeBoard, RPI5_ROOT, stopBoardAgent, type Sshd } from './helpers/sshd.js';
import { startDeployRig } from './helpers/deploy-rig.js';

const dir = tempDir('deploy-ssh-fleet');
let sshd: Sshd;
let broker: Mosquitto;
let keys: Keys;
let runtime: RuntimeTarball;
const boards = [makeBoard('fleet-a'), makeBoard('fleet-pi', RPI5_ROOT), makeBoard('fleet-c')];
const ids = ['orin-a', 'pi-b', 'orin-c'];
let bundle = '';
let hosts = '';
let agentConfig = '';

before(async () => {
  ({ sshd, broker, keys, runtime } = await startDeployRig(dir));
  bundle = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: keys.privateKeyPath });
  hosts = join(dir, 'hosts.txt');
  writeFileSync(
    hosts,
    [
      '# board                 fields',
      ...boards.map(
        (b, i) =>
          `root@127.0.0.1:${sshd.port} prefix=${b.prefix} root=${b.root} id=${ids[i]} identity=${sshd.identity}`,
      ),
    ].join('\n') + '\n',
  );
  agentConfig = join(dir, 'agent-base.json');
  writeFileSync(
    agentConfig,
    JSON.stringify({
      source: 'testsrc:',
      fps: 10,
      width: 32,
      height: 32,
      mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
      health: { frames: 5, timeoutMs: 30_000 },
    }),
  );
});

after(async () => {
  for (const b of boards) await stopBoardAgent(b.prefix);
  await Promise.all([sshd?.stop(), broker?.stop()]);
  cleanup(dir, ...boards.map((b) => b.dir));
});

/** `edge-dmp deploy --hosts ... --json`: exit code and JSON lines. */
async function deploy(extra: string[]) {
  const r = await runCli([
    ...['deploy', '--device', 'jetson', '--hosts', hosts, '--bundle', bundle],
    ...['--known-hosts', join(dir, 'known_hosts')],
    ...['--runtime', runtime.path, '--agent-config', agentConfig, '--public-key', keys.publicKeyPath],
    ...['--json', ...extra],
  ]);
  return {
    code: r.code,
    stderr: r.stderr,
    lines: jsonLines(
      r.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .join('\n'),
    ),
  };
}

interface Outcome {
  board: string;
  ok: boolean;
  state: string;
  reason?: string;
  running?: string;
}
const summaryOf = (lines: Record<string, unknown>[]) =>
  lines.find((l) => l.event === 'summary') as { boards: Outcome[]; halted: string | null } | undefined;

describe('edge-dmp deploy --hosts over SSH', () => {
  it('canary wave, then the Pi fails its profile check: the rollout halts and the summary says who runs what', async () => {
    const r = await deploy(['--canary', '1', '--wave-size', '1', '--max-failures', '0']);
    assert.equal(r.code, 1, r.stderr);
    const s = summaryOf(r.lines);
    assert.ok(s, JSON.stringify(r.lines.slice(-3)));
    assert.equal(s.boards.length, 3);
    const [a, pi, c] = s.boards;
    assert.match(a.board, /fleet-a/);
    assert.deepEqual([a.ok, a.state, a.running], [true, 'healthy', 'tiny-colour@1.0.0']);
    assert.equal(pi.ok, false);
    assert.match(String(pi.reason), /rpi5/);
    // Past --max-failures 0 the third board is never touched.
    assert.equal(c.ok, false);
    assert.equal(c.state, 'skipped');
    assert.match(String(s.halted), /max-failures|failure/);
  });

  it('with one failure allowed the remaining wave goes on; the summary lists every board', async () => {
    const r = await deploy(['--canary', '1', '--wave-size', '2', '--max-failures', '1']);
    assert.equal(r.code, 1, 'one board failed: non-zero exit');
    const s = summaryOf(r.lines)!;
    const by = Object.fromEntries(s.boards.map((o) => [o.board.match(/fleet-\w+/)![0], o]));
    assert.deepEqual([by['fleet-a'].ok, by['fleet-c'].ok, by['fleet-pi'].ok], [true, true, false]);
    assert.equal(by['fleet-c'].running, 'tiny-colour@1.0.0');
    assert.equal(s.halted, null);
  });
});
