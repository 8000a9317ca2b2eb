/**
 * A real OpenSSH server for the deploy tests: `/usr/sbin/sshd -D` on a free loopback port with a
 * generated host key and a per-test authorized key, running as root (this machine's test user),
 * plus "boards": a temp `<prefix>` and a faked device-tree root that reads as a Jetson Orin.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, until } from './mqtt-harness.js';

export interface Sshd {
  port: number;
  dir: string;
  /** The client's private key (OpenSSH PEM), for `--identity`. */
  identity: string;
  proc: ChildProcess;
  /** Kills every per-connection sshd child (the "link cut"), keeping the listener. */
  killSessions(): number;
  stop(): Promise<void>;
  log(): string;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
}

/** Starts sshd and waits until it accepts connections. */
export async function startSshd(): Promise<Sshd> {
  const dir = tempDir('sshd');
  const port = await freePort();
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  // sshd refuses to start without its privilege-separation directory.
  mkdirSync('/run/sshd', { recursive: true });
  const conf = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin yes',
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'Subsystem sftp internal-sftp',
    'MaxSessions 64',
    'MaxStartups 64',
    'LogLevel ERROR',
  ];
  const cfg = join(dir, 'sshd_config');
  writeFileSync(cfg, `${conf.join('\n')}\n`);
  const proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await until(`sshd on ${port} (${log})`, () => {
    if (proc.exitCode !== null) throw new Error(`sshd exited: ${log}`);
    try {
      execFileSync('ssh-keyscan', ['-p', String(port), '127.0.0.1'], { stdio: 'pipe', timeout: 2000 });
      return true;
    } catch {
      return false;
    }
  });
  return {
    port,
    dir,
    identity: join(dir, 'client_ed25519'),
    proc,
    log: () => log,
    killSessions() {
      let pids: string[] = [];
      try {
        pids = execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' })
          .split(/\s+/)
          .filter(Boolean);
      } catch {
        // pgrep exits 1 when there is no session.
      }
      for (const p of pids) process.kill(Number(p), 'SIGKILL');
      return pids.length;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Files that make a faked root read as a Jetson AGX Orin on L4T R36 (what `device-info` reads). */
export const JETSON_ORIN_ROOT: Record<string, string> = {
  'proc/device-tree/model': 'NVIDIA Jetson AGX Orin Developer Kit\0',
  'etc/nv_tegra_release': '# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64\n',
};

/** Same for a Raspberry Pi 5. */
export const RPI5_ROOT: Record<string, string> = {
  'proc/device-tree/model': 'Raspberry Pi 5 Model B Rev 1.0\0',
};

/** A board: its prefix and faked root in one temp dir. */
export function makeBoard(tag: string, files: Record<string, string> = JETSON_ORIN_ROOT) {
  const dir = tempDir(`board-${tag}`);
  const prefix = join(dir, 'opt');
  const root = join(dir, 'root');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  mkdirSync(prefix, { recursive: true });
  return { dir, prefix, root };
}

/** Stops the agent a deploy started detached on a board (its pid file), waiting for it to exit. */
export async function stopBoardAgent(prefix: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(join(prefix, 'agent.pid'), 'utf8').trim());
  } catch {
    return;
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!pid || !alive()) return;
  process.kill(pid, 'SIGKILL');
  await until(`agent ${pid} gone`, () => !alive(), 5000);
}

/**
 * SHA-256 over a directory tree: every path, its type, mode, and content or link target, in sorted
 * order. `skip` names top-level entries left out (what the running agent itself keeps writing).
 */
export function treeHash(dir: string, skip: string[] = []): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(abs));
    else if (st.isDirectory()) for (const e of readdirSync(abs).sort()) walk(rel ? join(rel, e) : e);
    else if (st.isFile()) h.update(readFileSync(abs));
  };
  for (const e of readdirSync(dir).sort()) if (!skip.includes(e)) walk(e);
  return h.digest('hex');
}
