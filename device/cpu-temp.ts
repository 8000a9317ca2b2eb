/** The CPU temperature a board reports in its metrics (Linux thermal zones). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * Reads the CPU temperature from /sys/class/thermal (the hottest zone; Jetson and RPi expose
 * several). Returns null where nothing is readable (containers, non-Linux).
 * @example const c = readCpuTempC(); // 47.2 or null
 */
export function readCpuTempC(root = '/sys/class/thermal'): number | null {
  let best: number | null = null;
  let zones: string[];
  try {
    zones = readdirSync(root).filter((z) => z.startsWith('thermal_zone'));
  } catch {
    return null;
  }
  for (const z of zones) {
    try {
      const milli = Number(readFileSync(join(root, z, 'temp'), 'utf8').trim());
      if (Number.isFinite(milli) && milli > -50000 && milli < 200000) {
        const c = round(milli / 1000, 1);
        best = best === null ? c : Math.max(best, c);
      }
    } catch {
      // unreadable zone (permissions, sensor off): skip it
    }
  }
  return best;
}
