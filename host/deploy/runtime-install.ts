/**
 * Installs a runtime tarball into `<prefix>/runtime/<version>/` on the board and switches
 * `<prefix>/runtime/current` to it (a symlink replaced by rename, so a cut leaves the old or the new
 * runtime, never neither). `previous` keeps the one before; a runtime that fails its smoke test
 * (`edge-dmp --help` through the new wrapper) is switched back at once.
 */
import { basename } from 'node:path';
import { DeployError } from './errors.js';
import { sh, type Transport } from './transport.js';
import { uploadResumable, type UploadOptions, type UploadResult } from './upload.js';
import { RUNTIME_CLI, type RuntimeTarball } from './runtime-tarball.js';

export type RuntimeAction = 'skipped' | 'switched' | 'installed';

export interface RuntimeInstallResult {
  action: RuntimeAction;
  version: string;
  previous?: string;
  upload?: UploadResult;
}

/** `<prefix>/bin/edge-dmp`: runs the current runtime with the node found at install time (systemd has no login PATH). */
export function wrapperScript(prefix: string, nodePath: string): string {
  return `#!/bin/sh\n# Written by edge-dmp deploy: the CLI of the runtime that ${prefix}/runtime/current points at.\nexec ${sh(nodePath)} ${sh(`${prefix}/runtime/current/${RUNTIME_CLI}`)} "$@"\n`;
}

/** The version `current` points at, or undefined. */
export async function currentRuntime(t: Transport, prefix: string): Promise<string | undefined> {
  const r = await t.exec(`readlink ${sh(`${prefix}/runtime/current`)}`);
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

/** What installing `version` would do, without doing it (for --dry-run and the skip check). */
export async function planRuntime(t: Transport, prefix: string, version: string): Promise<RuntimeAction> {
  if ((await currentRuntime(t, prefix)) === version) return 'skipped';
  const have = await t.size(`${prefix}/runtime/${version}/RUNTIME.json`);
  return have === undefined ? 'installed' : 'switched';
}

function switchScript(prefix: string, version: string, nodePath: string): string {
  const R = `${prefix}/runtime`;
  return [
    'set -e',
    `R=${sh(R)}; V=${sh(version)}`,
    'old=$(readlink "$R/current" 2>/dev/null || true)',
    'if [ -n "$old" ] && [ "$old" != "$V" ]; then ln -sfn "$old" "$R/previous.new"; mv -T "$R/previous.new" "$R/previous"; fi',
    'ln -sfn "$V" "$R/current.new"; mv -T "$R/current.new" "$R/current"',
    `mkdir -p ${sh(`${prefix}/bin`)}`,
    `cat > ${sh(`${prefix}/bin/edge-dmp.new`)} <<'EDGE_DMP_EOF'\n${wrapperScript(prefix, nodePath)}EDGE_DMP_EOF`,
    `chmod 755 ${sh(`${prefix}/bin/edge-dmp.new`)}; mv -f ${sh(`${prefix}/bin/edge-dmp.new`)} ${sh(`${prefix}/bin/edge-dmp`)}`,
    // The smoke test: the new runtime must start and print its command list.
    `rc=0; ${sh(`${prefix}/bin/edge-dmp`)} --help >/dev/null 2>"$R/smoke.err" || rc=$?`,
    'if [ "$rc" -ne 0 ]; then',
    '  if [ -n "$old" ] && [ "$old" != "$V" ]; then ln -sfn "$old" "$R/current.new"; mv -T "$R/current.new" "$R/current"; fi',
    '  echo "smoke test failed (exit $rc): $(tail -c 300 "$R/smoke.err")" >&2; exit 4',
    'fi',
    // Keep current and previous only.
    'prev=$(readlink "$R/previous" 2>/dev/null || true)',
    'for d in "$R"/*/; do n=$(basename "$d"); [ "$n" = "$V" ] || [ "$n" = "$prev" ] || [ "$n" = current ] || [ "$n" = previous ] || rm -rf "$d"; done',
    'echo "previous=$old"',
  ].join('\n');
}

/**
 * Uploads (resumably) and installs the runtime unless that version is already current.
 * @example await installRuntime(t, '/opt/edge-dmp', tarball, '/usr/bin/node');
 */
export async function installRuntime(
  t: Transport,
  prefix: string,
  tarball: RuntimeTarball,
  nodePath: string,
  o: UploadOptions = {},
): Promise<RuntimeInstallResult> {
  const version = tarball.version;
  const plan = await planRuntime(t, prefix, version);
  if (plan === 'skipped') return { action: 'skipped', version };
  let upload: UploadResult | undefined;
  if (plan === 'installed') {
    const remote = `${prefix}/inbox/${basename(tarball.path)}`;
    upload = await uploadResumable(t, tarball.path, remote, o);
    const tmp = `${prefix}/runtime/.${version}.tmp`;
    // Unpack into a temp dir and rename: a half-unpacked runtime never has the version's name.
    const r = await t.exec(
      `set -e; rm -rf ${sh(tmp)}; mkdir -p ${sh(tmp)}; tar -xzf ${sh(remote)} -C ${sh(tmp)}; rm -rf ${sh(`${prefix}/runtime/${version}`)}; mv ${sh(tmp)} ${sh(`${prefix}/runtime/${version}`)}; rm -f ${sh(remote)}`,
    );
    if (r.code !== 0)
      throw new DeployError('E_RUNTIME', {
        field: 'runtime',
        expected: `${basename(tarball.path)} unpacked under ${prefix}/runtime`,
        received: r.stderr.trim(),
      });
  }
  const s = await t.exec(switchScript(prefix, version, nodePath));
  if (s.code !== 0)
    throw new DeployError(
      'E_RUNTIME',
      { field: 'runtime', expected: `runtime ${version} starting on ${t.name}`, received: s.stderr.trim() },
      `runtime ${version} on ${t.name}: ${s.stderr.trim()} (switched back)`,
    );
  const previous = /previous=(.*)/.exec(s.stdout)?.[1]?.trim() || undefined;
  return { action: plan, version, previous, upload };
}
