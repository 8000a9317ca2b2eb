/**
 * Trust on first use for board host keys, as OpenSSH's known_hosts does: the first connection to a
 * `host:port` records its key fingerprint, a later one with another key is refused (a board that
 * was reinstalled, or someone in the middle), naming the file and the line to remove. One line per
 * board, `<host>:<port> SHA256:<base64>`; `#` lines are comments. The deploy CLI keeps it in
 * `$EDGE_DMP_HOME/known_hosts` (`--known-hosts` to choose another).
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DeployError } from './errors.js';

/** The fingerprints recorded in `path` by `host:port` (an absent file: none yet). */
export function readKnownHosts(path: string): Map<string, string> {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const known = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+:\d+)\s+(SHA256:[A-Za-z0-9+/]+)$/.exec(line);
    if (!m)
      throw new DeployError('E_SSH', {
        field: `${path}:${i + 1}`,
        expected: '<host>:<port> SHA256:<base64>',
        received: line,
      });
    known.set(m[1], m[2]);
  });
  return known;
}

/**
 * The key a board must present: the pinned one, else the recorded one, else none (first use).
 * @example expectedHostKey('127.0.0.1:2222', { knownHosts: '/home/me/.edge-dmp/known_hosts' })
 */
export function expectedHostKey(
  hostPort: string,
  o: { pinned?: string; knownHosts?: string },
): { key?: string; from?: string } {
  if (o.pinned) return { key: o.pinned, from: '--host-key' };
  const key = o.knownHosts ? readKnownHosts(o.knownHosts).get(hostPort) : undefined;
  return key ? { key, from: o.knownHosts } : {};
}

/** Records a board's key after its first successful connection. */
export function recordHostKey(path: string, hostPort: string, fingerprint: string): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${hostPort} ${fingerprint}\n`, { mode: 0o600 });
}

/**
 * Where the CLI keeps board host keys: `$EDGE_DMP_HOME/known_hosts` (EDGE_DMP_HOME: ~/.edge-dmp).
 * @example deployBoard({ host: 'pi@cam-1.local', knownHosts: defaultKnownHostsPath() }, opts)
 */
export const defaultKnownHostsPath = (): string =>
  join(process.env.EDGE_DMP_HOME ?? join(homedir(), '.edge-dmp'), 'known_hosts');
