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
const args = process.argv.slice(2);
// --dist: the test files still run from source, but the `edge-dmp` processes they spawn run the
// compiled dist/ (built first), without tsx: the CLI tests then check what users install.
const dist = args.includes('--dist');
const filter = args.filter((a) => a !== '--dist');
const files = walk('test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Tests run the TypeScript sources: the `edge-dmp-source` export condition maps @edge-dmp/* to
// their index.ts, and EDGE_DMP_SOURCE=1 makes bin/edge-dmp.js load them through tsx. With
// NODE_OPTIONS the processes the tests spawn inherit both; with --dist only the test files get
// the condition (node passes its own flags to each test file, not further).
// The CLI keeps trusted keys and version floors in EDGE_DMP_HOME (~/.edge-dmp by default): the
// tests get their own, so they never touch (or depend on) the real one.
const home = mkdtempSync(join(tmpdir(), 'edge-dmp-home-'));
const env = { ...process.env, EDGE_DMP_HOME: home };
const condition = '--conditions=edge-dmp-source';
if (dist) {
  const b = spawnSync(process.execPath, [join(import.meta.dirname, 'build.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
  env.EDGE_DMP_SOURCE = '0';
  env.NODE_OPTIONS = (env.NODE_OPTIONS ?? '').replace(condition, '').trim();
} else {
  env.EDGE_DMP_SOURCE = env.EDGE_DMP_SOURCE ?? '1';
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${condition}`.trim();
}
const r = spawnSync(
  process.execPath,
  [condition, '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env },
);
rmSync(home, { recursive: true, force: true });
process.exit(r.status ?? 1);
