/**
 * Agent update benchmark (not a test): wall time of `edge-dmp agent ctl install --wait` for a
 * switch to a new signed bundle (verify, unpack, switch, golden check, health window of N frames), a
 * golden-fail rollback and a refusal (tampered), on the tiny 32x32 colour model from testsrc at
 * 30 fps. The health window dominates a switch: N frames at the source's rate.
 *
 *   nice node --conditions=edge-dmp-source --import tsx bench/agent.ts            # table (package.json: bench:agent, added at merge)
 *   node --conditions=edge-dmp-source --import tsx bench/agent.ts --frames 10 --runs 3
 */
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  ctl,
  makeBundle,
  makeKeys,
  spawnAgent,
  tamperedCopy,
  writeConfig,
} from '../test/helpers/agent-fixtures.js';
import { tempDir } from '../test/helpers/mqtt-harness.js';

const { values } = parseArgs({ options: { frames: { type: 'string' }, runs: { type: 'string' } } });
const FRAMES = Number(values.frames ?? 10);
const RUNS = Number(values.runs ?? 3);
const dir = tempDir('bench-agent');
const prefix = join(dir, 'board');
const keys = await makeKeys(join(dir, 'keys'));
const k = keys.privateKeyPath;
const v1 = await makeBundle(join(dir, 'v1.edmp'), { version: '1.0.0', key: k });
writeConfig(prefix, {
  deviceId: 'bench',
  profile: 'generic',
  source: 'testsrc:',
  fps: 30,
  width: 32,
  height: 32,
  publicKeys: [keys.publicKeyPath],
  health: { frames: FRAMES, timeoutMs: 60_000 },
  bundle: v1,
});
const agent = spawnAgent(prefix);
const rows: { what: string; ms: number[]; state: string }[] = [];
try {
  await agent.waitFor((e) => e.event === 'state' && e.state === 'healthy', 'first bundle', 60_000);
  const timed = async (what: string, path: string) => {
    const t0 = performance.now();
    const r = await ctl(prefix, ['install', path, '--wait']);
    const ms = performance.now() - t0;
    const state = String((r.lines.at(-1) as unknown as { final?: { state: string } })?.final?.state);
    const row = rows.find((x) => x.what === what) ?? rows[rows.push({ what, ms: [], state }) - 1];
    row.ms.push(ms);
  };
  for (let i = 0; i < RUNS; i++) {
    const v = `2.0.${i}`;
    await timed('switch -> healthy', await makeBundle(join(dir, `v${v}.edmp`), { version: v, key: k }));
    await timed(
      'golden fail -> rolled-back',
      await makeBundle(join(dir, `g${i}.edmp`), { version: `3.0.${i}`, key: k, badGolden: true }),
    );
    const signed = readFileSync(await makeBundle(join(dir, `t${i}.edmp`), { version: `4.0.${i}`, key: k }));
    await timed('tampered -> refused', await tamperedCopy(signed, join(dir, `tampered${i}.edmp`)));
  }
} finally {
  await agent.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `edge-dmp agent: ctl install --wait, ${RUNS} runs, health window ${FRAMES} frames at 30 fps, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
console.log('| update | final state | median ms | min ms | max ms |');
console.log('|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.what} | ${r.state} | ${med(r.ms).toFixed(0)} | ${Math.min(...r.ms).toFixed(0)} | ${Math.max(...r.ms).toFixed(0)} |`,
  );
