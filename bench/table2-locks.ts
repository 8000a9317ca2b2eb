/**
 * A run of bench/table2.ts is trained and measured by one process: `<run>.lock` holds its pid, so
 * the same command started in a second terminal takes the next free run instead (two cores, two
 * runs). A lock whose process is gone is stale and taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const held = new Set<string>();
process.on('exit', () => {
  // Only the locks this process still holds: one it released may already be another's.
  for (const path of held) rmSync(path, { force: true });
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes `<dir>.lock` for this process; false while another live process holds it.
 * @example
 * if (tryLock('runs/table2/dmp-s0')) { ...train...; unlock('runs/table2/dmp-s0'); }
 */
export function tryLock(dir: string): boolean {
  const path = `${dir}.lock`;
  if (held.has(path)) return true;
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      held.add(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

/** Releases a lock this process holds (never another's). */
export function unlock(dir: string): void {
  if (held.delete(`${dir}.lock`)) rmSync(`${dir}.lock`, { force: true });
}
