import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The README's main job (`npm run demo`): every stage for real, end to end, in one process.
test('edge-dmp demo trains, converts, signs, verifies, classifies and reports over MQTT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edmp-demo-'));
  try {
    const out = join(dir, 'demo');
    const r = spawnSync(process.execPath, ['bin/edge-dmp.js', 'demo', '--out', out], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
    // Table 1 printed, the bundle verified and signed, results arrived through the broker.
    assert.match(r.stdout, /Duplicate Max-pooling\s+2,198,150/);
    assert.match(r.stdout, /signature \(Ed25519/);
    const received = [...r.stdout.matchAll(/subscriber <- demo seq (\d+) (\w+)/g)];
    assert.deepEqual(
      received.map((m) => Number(m[1])),
      received.map((_, i) => i + 1),
    );
    assert.equal(received.length, 8);
    // The generated task is learnable: the trained model and the int8 model both get it.
    const summary = JSON.parse(await readFile(join(out, 'run', 'summary.json'), 'utf8'));
    assert.ok(summary.val.top1 > 0.9, `val top1 ${summary.val.top1}`);
    const discs = received.filter((m) => m[2] === 'disc').length;
    assert.ok(discs >= 6, `${discs}/8 disc frames classified as disc`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
