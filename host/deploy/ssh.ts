/**
 * SSH transport (the `ssh2` package): exec for commands, SFTP for files. One connection per board,
 * reused by every deploy step.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { ConfigError } from '@edge-dmp/core';
import { DeployError } from './errors.js';
import { expectedHostKey, recordHostKey } from './known-hosts.js';
import {
  lineSplitter,
  sh,
  type ExecOptions,
  type ExecResult,
  type Transport,
  type Writer,
} from './transport.js';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/**
 * `user@host[:port]` -> its parts (user defaults to the local user's name via $USER, port to 22).
 * @example parseHost('root@10.0.0.5:2222') // { user: 'root', host: '10.0.0.5', port: 2222 }
 */
export function parseHost(spec: string): SshTarget {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ConfigError({ field: '--host', expected: 'user@host[:port]', received: spec });
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535)
    throw new ConfigError({ field: '--host', expected: 'a port 1..65535', received: spec });
  return { user: m[1] ?? process.env.USER ?? 'root', host: m[2].replace(/^\[|\]$/g, ''), port };
}

export interface SshOptions {
  /** Private key file (`--identity`); else the ssh-agent (SSH_AUTH_SOCK), else ~/.ssh/id_ed25519 / id_rsa. */
  identity?: string;
  /** Pinned host key, `SHA256:<base64>` as `ssh-keygen -lf` prints it; without it the key is reported, not checked. */
  hostKeySha256?: string;
  /**
   * known_hosts file (see known-hosts.ts): a board's first key is recorded there, a changed one is
   * refused with E_HOST_KEY. Without it (and without a pin) any key is accepted and only reported.
   */
  knownHosts?: string;
  /** Called once with the host key fingerprint; `recorded` when it was first seen and written down. */
  onHostKey?: (fingerprint: string, recorded: boolean) => void;
  readyTimeoutMs?: number;
}

function privateKey(identity?: string): Buffer | undefined {
  const candidates = identity ? [identity] : ['id_ed25519', 'id_rsa'].map((f) => join(homedir(), '.ssh', f));
  for (const f of candidates) {
    try {
      return readFileSync(f);
    } catch (e) {
      if (identity)
        throw new ConfigError({
          field: '--identity',
          expected: 'a readable private key file',
          received: `${f} (${(e as Error).message})`,
        });
    }
  }
  return undefined;
}

/**
 * Connects to a board over SSH.
 * @example const t = await SshTransport.connect('root@jetson.local', { identity: '~/.ssh/id_ed25519' });
 */
export class SshTransport implements Transport {
  /** Rejects once the connection is gone: ssh2 leaves pending SFTP requests unanswered on a cut link. */
  private readonly gone: Promise<never>;

  private constructor(
    readonly name: string,
    private readonly client: Client,
    private readonly sftp: SFTPWrapper,
  ) {
    this.gone = new Promise<never>((_, reject) => {
      const lost = () => reject(this.lost('connection', new Error('connection lost')));
      client.once('close', lost);
      client.once('end', lost);
    });
    this.gone.catch(() => undefined);
  }

  /** `p`, or E_SSH as soon as the connection drops. */
  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.gone]);
  }

  static async connect(spec: string, o: SshOptions = {}): Promise<SshTransport> {
    const t = parseHost(spec);
    const client = new Client();
    const hostPort = `${t.host}:${t.port}`;
    const want = expectedHostKey(hostPort, { pinned: o.hostKeySha256, knownHosts: o.knownHosts });
    let seen = '';
    const cfg: ConnectConfig = {
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey: privateKey(o.identity),
      agent: o.identity ? undefined : process.env.SSH_AUTH_SOCK,
      readyTimeout: o.readyTimeoutMs ?? 15_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
        return !want.key || want.key === seen;
      },
    };
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (e) => {
        if (want.key && seen && seen !== want.key)
          return reject(
            new DeployError(
              'E_HOST_KEY',
              {
                field: '--host',
                expected: `host key ${want.key} (from ${want.from})`,
                received: `${spec}: ${seen}`,
              },
              `ssh ${spec}: the board's host key changed: expected ${want.key} (from ${want.from}), got ${seen}; ` +
                `refused (a reinstalled board, or someone in between). If the board was reinstalled, ` +
                `remove its line "${hostPort}" from ${want.from}.`,
            ),
          );
        reject(
          new DeployError(
            'E_SSH',
            {
              field: '--host',
              expected: 'a reachable SSH server accepting the key',
              received: `${spec}${seen ? ` (host key ${seen})` : ''}`,
            },
            `ssh ${spec}: ${e.message}`,
          ),
        );
      });
      client.connect(cfg);
    });
    // Recorded once the board has also accepted our key: a typo'd host is not written down.
    const record = !want.key && o.knownHosts !== undefined;
    if (record) recordHostKey(o.knownHosts!, hostPort, seen);
    o.onHostKey?.(seen, record);
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((err, s) =>
        err
          ? reject(
              new DeployError(
                'E_SSH',
                { field: '--host', expected: 'an SFTP subsystem', received: spec },
                err.message,
              ),
            )
          : resolve(s),
      ),
    );
    // A cut link surfaces as an error on the client; later calls then fail with E_SSH.
    client.on('error', () => undefined);
    return new SshTransport(`${t.user}@${t.host}:${t.port}`, client, sftp);
  }

  private lost(what: string, e: Error): DeployError {
    return new DeployError(
      'E_SSH',
      { field: '--host', expected: 'an open SSH connection', received: this.name },
      `ssh ${this.name}: ${what}: ${e.message}`,
    );
  }

  exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    return this.guard(this.execRaw(command, o));
  }

  private execRaw(command: string, o: ExecOptions): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(this.lost('exec', err));
        let stdout = '';
        let stderr = '';
        let code: number | undefined;
        const lines = lineSplitter((l) => o.onLine?.(l));
        ch.on('data', (d: Buffer) => {
          stdout += d;
          lines.push(d);
        });
        ch.stderr.on('data', (d: Buffer) => (stderr += d));
        ch.on('exit', (c: number | null) => (code = c ?? 255));
        ch.on('close', () => {
          lines.end();
          if (code === undefined)
            reject(
              this.lost(
                `command ended without status (${command.slice(0, 60)})`,
                new Error('channel closed'),
              ),
            );
          else resolve({ code, stdout, stderr });
        });
        ch.end(o.stdin ?? '');
      });
    });
  }

  size(path: string): Promise<number | undefined> {
    return this.guard<number | undefined>(
      new Promise((resolve, reject) =>
        this.sftp.stat(path, (err, st) => {
          if (!err) return resolve(st.size);
          // SFTP status 2 = no such file.
          if ((err as { code?: number }).code === 2) return resolve(undefined);
          reject(this.lost(`stat ${path}`, err));
        }),
      ),
    );
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    if ((await this.size(path)) === undefined) return undefined;
    return this.guard(
      new Promise<Buffer>((resolve, reject) =>
        this.sftp.readFile(path, (err, b) => (err ? reject(this.lost(`read ${path}`, err)) : resolve(b))),
      ),
    );
  }

  async writeFile(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
    const tmp = `${path}.tmp`;
    const dir = path.replace(/\/[^/]*$/, '') || '/';
    const mk = await this.exec(`mkdir -p ${sh(dir)}`);
    if (mk.code !== 0) throw this.lost(`mkdir ${dir}`, new Error(mk.stderr.trim()));
    await this.guard(
      new Promise<void>((resolve, reject) =>
        this.sftp.writeFile(tmp, data, { mode }, (err) =>
          err ? reject(this.lost(`write ${tmp}`, err)) : resolve(),
        ),
      ),
    );
    await this.rename(tmp, path);
  }

  async rename(from: string, to: string): Promise<void> {
    // SFTP v3 rename refuses an existing target; mv -f is the portable atomic replace.
    const r = await this.exec(`mv -f ${sh(from)} ${sh(to)}`);
    if (r.code !== 0) throw this.lost(`mv ${from} ${to}`, new Error(r.stderr.trim()));
  }

  async openWriter(path: string, offset: number): Promise<Writer> {
    const flags = offset === 0 ? 'w' : 'r+';
    const handle = await this.guard(
      new Promise<Buffer>((resolve, reject) =>
        this.sftp.open(path, flags, (err, h) => (err ? reject(this.lost(`open ${path}`, err)) : resolve(h))),
      ),
    );
    const guard = <T>(p: Promise<T>) => this.guard(p);
    let pos = offset;
    // Up to 8 writes in flight: one per round trip would make a slow link slower still.
    const inflight = new Set<Promise<void>>();
    let failed: Error | undefined;
    const sftp = this.sftp;
    const lost = (e: Error) => this.lost(`write ${path}`, e);
    return {
      async write(data) {
        if (failed) throw failed;
        const at = pos;
        pos += data.length;
        const p = guard(
          new Promise<void>((resolve, reject) =>
            sftp.write(handle, data, 0, data.length, at, (err) => (err ? reject(lost(err)) : resolve())),
          ),
        ).catch((e: Error) => {
          failed ??= e;
        });
        inflight.add(p);
        void p.then(() => inflight.delete(p));
        if (inflight.size >= 8) await Promise.race(inflight);
        if (failed) throw failed;
      },
      async close() {
        await Promise.all(inflight);
        await guard(new Promise<void>((resolve) => sftp.close(handle, () => resolve())));
        if (failed) throw failed;
      },
    };
  }

  async close(): Promise<void> {
    this.client.end();
  }
}
