/**
 * The small interface the deploy steps use to reach a board: run a command, read/write files,
 * append to a file. The SSH implementation is `ssh.ts`; a local one (`LocalTransport`) runs the same
 * steps on this machine, as an extra unit seam beside the real sshd tests.
 */
import { spawn } from 'node:child_process';
import { open, readFile, rename, stat, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Called with each complete stdout line as it arrives (JSON-lines streams from the board). */
  onLine?: (line: string) => void;
  stdin?: string;
}

/** Sequential writes at increasing offsets; `write` may pipeline, `close` waits for all of them. */
export interface Writer {
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface Transport {
  /** What the board is called in messages, e.g. `root@127.0.0.1:2222`. */
  readonly name: string;
  exec(command: string, o?: ExecOptions): Promise<ExecResult>;
  /** Size of a file, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  readFile(path: string): Promise<Buffer | undefined>;
  /** Writes a whole (small) file atomically: `<path>.tmp` then rename. */
  writeFile(path: string, data: Buffer | string, mode?: number): Promise<void>;
  /** Opens `path` for writing at `offset` (created when missing): the resumable upload's sink. */
  openWriter(path: string, offset: number): Promise<Writer>;
  rename(from: string, to: string): Promise<void>;
  close(): Promise<void>;
}

/** Quotes one word for a POSIX shell. */
export function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Splits a stream of chunks into lines. */
export function lineSplitter(onLine: (l: string) => void) {
  let buf = '';
  return {
    push(d: Buffer | string) {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    },
    end() {
      if (buf) onLine(buf);
      buf = '';
    },
  };
}

/**
 * Runs the deploy steps against this machine's file system and `sh`.
 * @example const t = new LocalTransport(); await t.exec('uname -m');
 */
export class LocalTransport implements Transport {
  readonly name = 'local';
  exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const p = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const lines = lineSplitter((l) => o.onLine?.(l));
      p.stdout.on('data', (d) => {
        stdout += d;
        lines.push(d);
      });
      p.stderr.on('data', (d) => (stderr += d));
      p.on('error', reject);
      p.on('close', (code) => {
        lines.end();
        resolve({ code: code ?? 1, stdout, stderr });
      });
      // A command that exits without reading its stdin is not an error (as over SSH).
      p.stdin.on('error', () => undefined);
      p.stdin.end(o.stdin ?? '');
    });
  }
  async size(path: string) {
    return (await stat(path).catch(() => undefined))?.size;
  }
  async readFile(path: string) {
    return readFile(path).catch(() => undefined);
  }
  async writeFile(path: string, data: Buffer | string, mode = 0o644) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, data, { mode });
    await rename(`${path}.tmp`, path);
  }
  async openWriter(path: string, offset: number): Promise<Writer> {
    // Offset 0 truncates: a restarted upload must not keep a longer old part's tail.
    const fh = await open(path, offset === 0 ? 'w' : 'r+');
    let pos = offset;
    return {
      async write(data) {
        await fh.write(data, 0, data.length, pos);
        pos += data.length;
      },
      close: () => fh.close(),
    };
  }
  async rename(from: string, to: string) {
    await rename(from, to);
  }
  async close() {}
}
