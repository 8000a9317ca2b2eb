#!/usr/bin/env node
// First step of `npm test`: the Debian packages the tests use (real mosquitto, ffmpeg, socat,
// openssl, the Fashion-MNIST data...) are listed in .ci/debian-packages.txt, one per line. Missing
// ones are installed with apt-get when running as root; otherwise this prints the packages and the
// command to install them, and exits 1 (so `npm test` stops before 40 tests fail for a missing tool).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Package names from the list's text: one per line, `#` comments and blank lines skipped. */
export function readPackageList(text) {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** The real query: is the package installed (dpkg-query status "install ok installed")? */
export function dpkgInstalled(name) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  if (r.error)
    throw Object.assign(new Error('dpkg-query not found (not a Debian system)'), { code: 'NODPKG' });
  return r.status === 0 && r.stdout.trim() === 'install ok installed';
}

/** The real install: apt-get update + install, quiet, without recommends. Returns true on success. */
export function aptInstall(names) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
  if (!run(['update', '-qq'])) return false;
  if (!run(['install', '-y', '-qq', '--no-install-recommends', ...names])) return false;
  // The package's postinst may start a system mosquitto on 1883; the tests start their own.
  if (names.includes('mosquitto')) spawnSync('service', ['mosquitto', 'stop'], { stdio: 'ignore' });
  return true;
}

/**
 * Decides and does what is needed; every effect is injectable so the logic is testable.
 * Returns the exit code.
 */
export function ensure({ packages, isInstalled, install, isRoot, log }) {
  let missing;
  try {
    missing = packages.filter((p) => !isInstalled(p));
  } catch (e) {
    log(
      `ensure-test-deps: ${e.message}; the tests need these packages (or their equivalents): ${packages.join(' ')}`,
    );
    return 1;
  }
  if (missing.length === 0) return 0;
  if (!isRoot) {
    log(
      `ensure-test-deps: the tests need Debian packages that are not installed: ${missing.join(' ')}\n` +
        `  install them with:  sudo apt-get install -y --no-install-recommends ${missing.join(' ')}\n` +
        '  (or run `npm test` as root, which installs them)',
    );
    return 1;
  }
  log(`ensure-test-deps: installing ${missing.join(' ')}`);
  if (!install(missing)) {
    log(`ensure-test-deps: apt-get could not install ${missing.join(' ')}`);
    return 1;
  }
  const still = missing.filter((p) => !isInstalled(p));
  if (still.length) {
    log(`ensure-test-deps: still missing after apt-get: ${still.join(' ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const list = new URL('../.ci/debian-packages.txt', import.meta.url);
  process.exit(
    ensure({
      packages: readPackageList(readFileSync(list, 'utf8')),
      isInstalled: dpkgInstalled,
      install: aptInstall,
      isRoot: process.getuid?.() === 0,
      log: (m) => console.error(m),
    }),
  );
}
