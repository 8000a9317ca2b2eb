#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner through tsx.
// Node 20's --test takes no globs, so the file list is built here.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const filter = process.argv.slice(2);
const files = walk('test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Tests run the TypeScript sources: the `edge-dmp-source` export condition maps @edge-dmp/* to
// their index.ts, and EDGE_DMP_SOURCE=1 makes bin/edge-dmp.js load them through tsx. Child
// processes inherit both. `EDGE_DMP_SOURCE=0 npm run test:only -- cli` runs the CLI tests on dist/.
// The CLI keeps trusted keys and version floors in EDGE_DMP_HOME (~/.edge-dmp by default): the
// tests get their own, so they never touch (or depend on) the real one.
const home = mkdtempSync(join(tmpdir(), 'edge-dmp-home-'));
const env = { ...process.env, EDGE_DMP_HOME: home };
env.EDGE_DMP_SOURCE = env.EDGE_DMP_SOURCE ?? '1';
env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --conditions=edge-dmp-source`.trim();
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env },
);
rmSync(home, { recursive: true, force: true });
process.exit(r.status ?? 1);
