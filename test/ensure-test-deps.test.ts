/**
 * `npm test` installs the Debian packages the tests need (scripts/ensure-test-deps.mjs): its
 * decisions with an injected dpkg query and installer, and the real script against the real dpkg.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { dpkgInstalled, ensure, readPackageList } from '../scripts/ensure-test-deps.mjs';

const LIST = readPackageList(readFileSync('.ci/debian-packages.txt', 'utf8'));

function fake(installed: string[], isRoot: boolean, installWorks = true) {
  const have = new Set(installed);
  const log: string[] = [];
  const installs: string[][] = [];
  const code = ensure({
    packages: LIST,
    isInstalled: (p) => have.has(p),
    install: (names) => {
      installs.push(names);
      if (installWorks) for (const n of names) have.add(n);
      return installWorks;
    },
    isRoot,
    log: (m) => log.push(m),
  });
  return { code, log: log.join('\n'), installs };
}

test('the package list names what the tests run (and no wabt: the npm package compiles the kernels)', () => {
  // The base tools every test run needs; other features add theirs (Arm NN, chromium, sshd...).
  for (const p of [
    'mosquitto',
    'mosquitto-clients',
    'ffmpeg',
    'socat',
    'openssl',
    'dataset-fashion-mnist',
    'mount',
  ])
    assert.ok(LIST.includes(p), p);
  assert.equal(LIST.includes('wabt'), false);
  assert.equal(new Set(LIST).size, LIST.length, 'no package listed twice');
  assert.deepEqual(readPackageList('# comment\n a \n\nb # why\n'), ['a', 'b']);
});

test('nothing missing: nothing installed, exit 0', () => {
  assert.deepEqual(fake(LIST, true), { code: 0, log: '', installs: [] });
});

test('root with missing packages: exactly those are installed', () => {
  const r = fake(['openssl', 'mount'], true);
  assert.equal(r.code, 0, r.log);
  assert.deepEqual(r.installs, [LIST.filter((p) => p !== 'openssl' && p !== 'mount')]);
});

test('not root: the missing packages and the command are printed, exit 1, nothing installed', () => {
  const r = fake(['mosquitto', 'mosquitto-clients', 'openssl', 'mount', 'socat'], false);
  assert.equal(r.code, 1);
  assert.deepEqual(r.installs, []);
  assert.match(r.log, /not installed: ffmpeg dataset-fashion-mnist/);
  assert.match(r.log, /sudo apt-get install -y --no-install-recommends ffmpeg dataset-fashion-mnist/);
});

test('an apt-get failure is exit 1 naming the packages', () => {
  const r = fake([], true, false);
  assert.equal(r.code, 1);
  assert.match(r.log, /apt-get could not install mosquitto/);
});

test('the real dpkg: listed packages are seen installed here, an unknown one is missing; the script exits 0', () => {
  assert.equal(dpkgInstalled('openssl'), true);
  assert.equal(dpkgInstalled('edge-dmp-no-such-package'), false);
  const r = spawnSync(process.execPath, ['scripts/ensure-test-deps.mjs'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
});
