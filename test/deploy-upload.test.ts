/**
 * The resumable upload and the preflight rules as units, through the local transport seam (the
 * same steps run over real sshd in deploy-ssh.test.ts): a matching part resumes, a foreign or
 * overlong part restarts, a file already there is skipped, and the final name only ever holds the
 * whole file. Preflight: facts parsed, profiles detected, and boards that cannot run named.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { blockers, detectProfile, matchProfile, parseFacts } from '../host/deploy/preflight.js';
import { LocalTransport } from '../host/deploy/transport.js';
import { eventPrinter } from '../host/deploy/progress.js';
import { sha256File, uploadResumable } from '../host/deploy/upload.js';
import { cleanup, tempDir } from './helpers/mqtt-harness.js';

const dir = tempDir('deploy-upload');
after(() => cleanup(dir));
const t = new LocalTransport();
const data = randomBytes(300_000);
const local = join(dir, 'model.edmp');
writeFileSync(local, data);

describe('uploadResumable', () => {
  it('resumes a part whose bytes match, sending only the rest', async () => {
    const remote = join(dir, 'a', 'model.edmp');
    await t.exec(`mkdir -p ${join(dir, 'a')}`);
    writeFileSync(`${remote}.part`, data.subarray(0, 123_456));
    const r = await uploadResumable(t, local, remote, { chunkSize: 10_000 });
    assert.deepEqual([r.resumedFrom, r.sent, r.skipped], [123_456, data.length - 123_456, false]);
    assert.ok(readFileSync(remote).equals(data));
    assert.ok(!existsSync(`${remote}.part`));
  });

  it('restarts a part holding other bytes, or more bytes than the file', async () => {
    for (const part of [randomBytes(50_000), Buffer.concat([data, Buffer.from('x')])]) {
      const remote = join(dir, `b${part.length}`, 'model.edmp');
      await t.exec(`mkdir -p ${join(remote, '..')}`);
      writeFileSync(`${remote}.part`, part);
      const r = await uploadResumable(t, local, remote);
      assert.deepEqual([r.resumedFrom, r.sent], [0, data.length]);
      assert.equal(await sha256File(remote), r.sha256);
    }
  });

  it('skips a file already there with the same hash; reports progress up to the total', async () => {
    const remote = join(dir, 'c', 'model.edmp');
    const seen: number[] = [];
    await uploadResumable(t, local, remote, { onProgress: (p) => seen.push(p.done) });
    assert.equal(seen.at(-1), data.length);
    assert.ok(seen.every((v, i) => i === 0 || v > seen[i - 1]));
    const again = await uploadResumable(t, local, remote);
    assert.deepEqual([again.skipped, again.sent], [true, 0]);
  });
});

const FACTS = (o: Record<string, string>) =>
  Object.entries({
    uname: 'aarch64',
    node: 'v20.11.1',
    nodePath: '/usr/bin/node',
    glibc: '2.35',
    memKb: '8000000',
    diskKb: '9000000',
    cores: '6',
    model: '',
    l4t: '',
    cameras: '',
    systemd: '1',
    ...o,
  })
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');

describe('preflight', () => {
  it('detects profiles from the device-tree model and the L4T release', () => {
    assert.equal(detectProfile('NVIDIA Jetson Orin Nano Developer Kit'), 'jetson');
    assert.equal(detectProfile('', '# R36 (release), REVISION: 3.0'), 'jetson');
    assert.equal(detectProfile('Raspberry Pi 5 Model B Rev 1.0'), 'rpi5');
    assert.equal(detectProfile('Raspberry Pi 4 Model B Rev 1.4'), 'rpi4');
    assert.equal(detectProfile('Raspberry Pi Zero 2 W Rev 1.0'), 'zero2');
    assert.equal(detectProfile('QEMU Virtual Machine'), 'generic');
  });

  it('names why a board cannot run the runtime: a Jetson Nano on L4T R32 (glibc 2.27), old Node, no disk', () => {
    const nano = parseFacts(
      FACTS({
        model: 'NVIDIA Jetson Nano Developer Kit',
        l4t: '# R32 (release), REVISION: 7.4',
        glibc: '2.27',
        node: 'v18.19.0',
        diskKb: '1000',
      }),
    );
    assert.equal(nano.profile, 'jetson');
    const why = blockers(nano);
    assert.equal(why.length, 3, why.join('; '));
    assert.match(why.join('; '), /Node 18\.19\.0 is too old/);
    assert.match(why.join('; '), /glibc 2\.27 is too old for Node 20 \(>= 2\.28 needed; L4T R32\)/);
    assert.match(why.join('; '), /1 MB free disk at the prefix/);
    assert.deepEqual(blockers(parseFacts(FACTS({ model: 'Raspberry Pi 5 Model B' }))), []);
    assert.match(blockers(parseFacts(FACTS({ uname: 'mips' })))[0], /unsupported CPU "mips"/);
  });

  it('matches --device to the board, naming a mismatch; auto takes the detected profile', () => {
    const pi = parseFacts(FACTS({ model: 'Raspberry Pi 4 Model B Rev 1.4' }));
    assert.equal(matchProfile('auto', pi, 'h'), 'rpi4');
    assert.equal(matchProfile('rpi4', pi, 'h'), 'rpi4');
    assert.throws(
      () => matchProfile('jetson', pi, 'pi@h'),
      /pi@h: --device jetson does not match the board: it reads as rpi4/,
    );
    assert.throws(
      () => matchProfile('rpi3', pi, 'h'),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG',
    );
  });
});

describe('progress output', () => {
  const sink = (isTTY: boolean) => {
    let text = '';
    const out = Object.assign(new PassThrough(), { isTTY });
    out.on('data', (d) => (text += d));
    return { out, text: () => text };
  };
  const up = (done: number) => ({
    event: 'upload' as const,
    host: 'root@b',
    file: '/x/rt.tgz',
    done,
    total: 20e6,
    sent: done,
    bytesPerSec: 4e6,
    etaS: (20e6 - done) / 4e6,
  });

  it('redraws one line on a TTY with bytes, rate and ETA; plain mode prints steps only', () => {
    const tty = sink(true);
    const p = eventPrinter({ json: false, out: tty.out });
    p(up(20e6));
    p({ event: 'verdict', host: 'root@b', ok: true, state: 'healthy', bytesSent: 20e6 });
    const [, drawn] = tty.text().split('\r\x1b[2K');
    assert.equal(
      drawn,
      'root@b: rt.tgz 20.0 MB/20.0 MB  4.0 MB/s  ETA 0s\nroot@b: OK healthy (20.0 MB sent)\n',
    );
    const plain = sink(false);
    const q = eventPrinter({ json: false, out: plain.out });
    q(up(1e6));
    q({ event: 'state', host: 'root@b', state: 'rolled-back', reason: 'E_AGENT_GOLDEN: golden' });
    assert.equal(plain.text(), 'root@b: rolled-back: E_AGENT_GOLDEN: golden\n');
  });

  it('--json writes one JSON object per event', () => {
    const j = sink(true);
    eventPrinter({ json: true, out: j.out })(up(5e6));
    const line = JSON.parse(j.text());
    assert.deepEqual([line.event, line.done, line.etaS], ['upload', 5e6, 3.75]);
  });
});
