/**
 * Durable records of bench/table2.ts: every measured run (and PyTorch run) is also written, small,
 * to `bench/results/table2/<recipe>/<run>.json`, which is committed. A run directory is big and
 * lives on one machine (runs/ is not in git); the record is what the table in docs/training.md is
 * drawn from, so the table survives the machine that trained it and a later session adds seeds to
 * it instead of training the whole table again. Each record names the commit and load it was made on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';

/** What makes two runs comparable: a record of another recipe is never mixed into a table. */
export interface Recipe {
  /** The --data spec as given (`fashion-mnist`, `cifar10:<dir>`). */
  data: string;
  epochs: number;
  batchSize: number;
  maxSteps?: number;
}

export interface ResultRecord<T> {
  run: string;
  recipe: Recipe;
  /** `git rev-parse HEAD` where it was measured (`+dirty` with uncommitted changes), or 'unknown'. */
  commit: string;
  recordedAt: string;
  load: string;
  value: T;
}

/** `fashion-mnist-e5-b128`, `cifar10-data-cifar-e5-b128-m30`: one folder per recipe. */
export function recipeSlug(r: Recipe): string {
  const data = r.data
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${data}-e${r.epochs}-b${r.batchSize}${r.maxSteps === undefined ? '' : `-m${r.maxSteps}`}`;
}

function commitHere(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/**
 * The records of one recipe.
 * @example
 * const store = new ResultStore('bench/results/table2', { data: 'fashion-mnist', epochs: 5, batchSize: 128 });
 * const row = store.get<RunRow>('dmp-s0') ?? measureAndPut();
 */
export class ResultStore {
  readonly dir: string;
  private commit: string | undefined;

  constructor(
    root: string,
    readonly recipe: Recipe,
  ) {
    this.dir = join(root, recipeSlug(recipe));
  }

  path(run: string): string {
    return join(this.dir, `${run}.json`);
  }

  /** The recorded value of a run, or undefined (none, or one made with another recipe). */
  get<T>(run: string): ResultRecord<T> | undefined {
    const p = this.path(run);
    if (!existsSync(p)) return undefined;
    const r = JSON.parse(readFileSync(p, 'utf8')) as ResultRecord<T>;
    return JSON.stringify(r.recipe) === JSON.stringify(this.recipe) ? r : undefined;
  }

  /** Records a run's value (kept as it was if already recorded: the first measurement stands). */
  put<T>(run: string, value: T): ResultRecord<T> {
    const have = this.get<T>(run);
    if (have) return have;
    this.commit ??= commitHere();
    const record: ResultRecord<T> = {
      run,
      recipe: this.recipe,
      commit: this.commit,
      recordedAt: new Date().toISOString(),
      load: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      value,
    };
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.path(run), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }
}
