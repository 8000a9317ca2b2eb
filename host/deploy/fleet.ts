/**
 * Staged rollout over many boards, transport-agnostic: `--canary N` boards first, then waves of
 * `--wave-size`, each wave in parallel; the rollout halts once more than `--max-failures` boards
 * have failed, and the boards not reached are reported as `skipped` (they keep what they run).
 */
import { ConfigError } from '@edge-dmp/core';

export interface RolloutOptions {
  /** Boards in the first wave (0 = no canary wave). */
  canary?: number;
  /** Boards per later wave (default: all the rest at once). */
  waveSize?: number;
  /** Failures tolerated before halting (default 0). */
  maxFailures?: number;
  onWave?: (w: { wave: number; waves: number; boards: string[] }) => void;
}

export interface BoardOutcome {
  board: string;
  ok: boolean;
  state: string;
  reason?: string;
  version?: string | null;
  model?: string | null;
  wave: number;
  /** `model@version` the board runs after the rollout (filled by the caller's status sweep). */
  running?: string;
}

export interface RolloutResult {
  outcomes: BoardOutcome[];
  failures: number;
  halted: boolean;
  /** Why it halted (which wave, how many failures). */
  haltReason?: string;
}

/**
 * Splits boards into waves: `[canary][waveSize][waveSize]...`.
 * @example planWaves(['a','b','c','d','e'], { canary: 1, waveSize: 2 }) // [['a'],['b','c'],['d','e']]
 */
export function planWaves<T>(boards: T[], o: RolloutOptions): T[][] {
  const canary = o.canary ?? 0;
  const size = o.waveSize ?? Math.max(boards.length - canary, 1);
  for (const [flag, v, min] of [
    ['--canary', canary, 0],
    ['--wave-size', size, 1],
    ['--max-failures', o.maxFailures ?? 0, 0],
  ] as const)
    if (!Number.isInteger(v) || v < min)
      throw new ConfigError({ field: flag, expected: `an integer >= ${min}`, received: v });
  const waves: T[][] = [];
  if (canary > 0) waves.push(boards.slice(0, canary));
  for (let i = Math.min(canary, boards.length); i < boards.length; i += size)
    waves.push(boards.slice(i, i + size));
  return waves;
}

/**
 * Runs `deploy` on every board, wave by wave.
 * @example const r = await rollout(hosts, (h) => deployBoard({ host: h }, opts), { canary: 1, maxFailures: 0 });
 */
export async function rollout(
  boards: string[],
  deploy: (board: string) => Promise<Omit<BoardOutcome, 'board' | 'wave'>>,
  o: RolloutOptions = {},
): Promise<RolloutResult> {
  const waves = planWaves(boards, o);
  const max = o.maxFailures ?? 0;
  const outcomes: BoardOutcome[] = [];
  let failures = 0;
  for (let w = 0; w < waves.length; w++) {
    o.onWave?.({ wave: w + 1, waves: waves.length, boards: waves[w] });
    const done = await Promise.all(
      waves[w].map(async (board) => {
        try {
          return { board, wave: w + 1, ...(await deploy(board)) };
        } catch (e) {
          return { board, wave: w + 1, ok: false, state: 'failed', reason: (e as Error).message };
        }
      }),
    );
    outcomes.push(...done);
    failures += done.filter((d) => !d.ok).length;
    if (failures > max) {
      const rest = waves.slice(w + 1).flat();
      outcomes.push(
        ...rest.map((board) => ({
          board,
          wave: 0,
          ok: false,
          state: 'skipped',
          reason: `rollout halted after wave ${w + 1}`,
        })),
      );
      return {
        outcomes,
        failures,
        halted: rest.length > 0,
        haltReason: `${failures} failure(s) in ${w + 1} wave(s) > --max-failures ${max}`,
      };
    }
  }
  return { outcomes, failures, halted: false };
}

/**
 * The summary table: one row per board, columns aligned.
 * @example console.log(summaryTable([{ board: 'a', state: 'healthy', running: 'm@1.1.0' }]))
 */
export function summaryTable(
  rows: { board: string; wave?: number; state: string; running?: string; reason?: string }[],
): string {
  const head = ['board', 'wave', 'result', 'runs', 'reason'];
  const body = rows.map((r) => [
    r.board,
    r.wave ? String(r.wave) : '-',
    r.state,
    r.running ?? '?',
    r.reason ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}
