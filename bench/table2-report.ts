/**
 * The markdown of bench/table2.ts: one row per variant (mean and spread over seeds), the paper's
 * Table 2 beside it, the per-run rows, and the PyTorch rows of the same recipe.
 */

/** One finished run, measured (cached as `<run>/table2.json`). */
export interface RunRow {
  variant: string;
  seed: number;
  /** Test top-1 of the final model on the whole test split (0..1). */
  top1: number;
  testImages: number;
  steps: number;
  epochs: number;
  /** Trainable parameters and multiply-accumulates of one 32x32x3 image. */
  params: number;
  macs: number;
  /** Training images per second over the run (images seen / training seconds, evaluation excluded). */
  imgPerSec: number;
  trainSeconds: number;
  int8Bytes: number;
  /** Top-1 agreement of the int8 model with the float one (convertRun's report card). */
  int8Agreement: number;
  /** Median latency of one image in the TFLite runtime (1 thread). */
  int8LatencyMs: number;
  history: { epoch: number; top1: number }[];
}

/** One line of bench/train_torch.py --train. */
export interface TorchRow {
  variant: string;
  top1: number;
  steps: number;
  imgPerSec: number;
  seconds: number;
  torch: string;
  threads: number;
  history: { epoch: number; loss: number; valTop1: number; imgPerSec: number }[];
}

export interface ReportInfo {
  command: string;
  data: string;
  epochs: number;
  seeds: number;
  maxSteps?: number;
  minutes: number;
  load: string;
  /** Runs of the requested table not finished yet (`--report-only` part-way). */
  missing?: string[];
  /** Where the rows are recorded (bench/table2-results.ts) and, per run, `commit, date` of its record. */
  records?: string;
  provenance?: Record<string, string>;
}

/** The paper's Table 2 (top-1, %), as PAPER.md gives it: its data sets, not ours. */
export const PAPER_TABLE2: Record<
  string,
  { name: string; imagenet10: number; cifar10: number; cifar100: number }
> = {
  baseline: { name: 'EfficientNetB0', imagenet10: 88.66, cifar10: 93.36, cifar100: 74.38 },
  maxpool: { name: 'Max-pooling Only', imagenet10: 89.25, cifar10: 89.12, cifar100: 68.25 },
  duplicate: { name: 'Duplicate Only', imagenet10: 88.79, cifar10: 89.29, cifar100: 68.3 },
  dmp: { name: 'Duplicate Max-pooling', imagenet10: 89.35, cifar10: 89.33, cifar100: 67.94 },
};

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / Math.max(1, xs.length);
/** Sample standard deviation (n - 1); 0 for one value. */
const sd = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((p, q) => p + (q - mean(xs)) ** 2, 0) / (xs.length - 1));
const table = (head: string[], body: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/**
 * Renders the report.
 * @example
 * writeFileSync('table2.md', markdownTable(rows, [], { command, data: 'fashion-mnist', epochs: 5, seeds: 2, minutes: 120, load: '2.0' }));
 */
export function markdownTable(rows: RunRow[], torch: TorchRow[], info: ReportInfo): string {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const base = rows.filter((r) => r.variant === 'baseline');
  const perVariant = variants.map((v) => {
    const rs = rows.filter((r) => r.variant === v);
    const t = rs.map((r) => r.top1);
    const p = PAPER_TABLE2[v];
    const delta =
      base.length > 0 && v !== 'baseline'
        ? `${((mean(t) - mean(base.map((r) => r.top1))) * 100).toFixed(2)}`
        : '';
    return [
      v,
      String(rs.length),
      // One seed has no spread to show.
      t.length < 2 ? `${pct(mean(t))} (1 seed)` : `${pct(mean(t))} ± ${(sd(t) * 100).toFixed(2)}`,
      `${pct(Math.min(...t))} – ${pct(Math.max(...t))}`,
      delta,
      rs[0].params.toLocaleString('en-US'),
      `${(rs[0].macs / 1e6).toFixed(1)} M`,
      mean(rs.map((r) => r.imgPerSec)).toFixed(1),
      `${mean(rs.map((r) => r.int8LatencyMs)).toFixed(2)} ms`,
      pct(mean(rs.map((r) => r.int8Agreement))),
      p ? `${p.cifar10.toFixed(2)}%` : '',
      p ? `${p.cifar100.toFixed(2)}%` : '',
      p ? `${p.imagenet10.toFixed(2)}%` : '',
    ];
  });
  const runs = rows.map((r) => [
    `${r.variant}-s${r.seed}`,
    String(r.epochs),
    String(r.steps),
    pct(r.top1),
    String(r.testImages),
    r.imgPerSec.toFixed(1),
    `${(r.trainSeconds / 60).toFixed(1)} min`,
    `${(r.int8Bytes / 1024).toFixed(0)} KiB`,
    `${r.int8LatencyMs.toFixed(2)} ms`,
    info.provenance?.[`${r.variant}-s${r.seed}`] ?? '',
  ]);
  const torchBody = torch.map((t) => {
    const ours = rows.find((r) => r.variant === t.variant && r.seed === 0);
    return [
      `torch ${t.variant}-s0`,
      String(t.steps),
      pct(t.top1),
      ours ? pct(ours.top1) : '',
      ours ? `${((ours.top1 - t.top1) * 100).toFixed(2)}` : '',
      t.imgPerSec.toFixed(1),
      `torch ${t.torch}, ${t.threads} thread${t.threads === 1 ? '' : 's'}`,
      info.provenance?.[`torch-${t.variant}-s0`] ?? '',
    ];
  });
  const scope = info.maxSteps === undefined ? `${info.epochs} epochs` : `at most ${info.maxSteps} steps`;
  return [
    `## Table 2 on ${info.data}: EfficientNet-B0 variants at 32x32x3, ${scope}, ${info.seeds} seed(s)`,
    '',
    `Command: \`${info.command}\` (${info.minutes.toFixed(1)} min of this invocation, load average ${info.load}).`,
    ...(info.records
      ? [
          '',
          `Each run's row is recorded in \`${info.records}/\` when it is measured; a recorded run is reported, not trained again (\`--results <empty dir>\` retrains).`,
        ]
      : []),
    '',
    table(
      [
        'variant',
        'seeds',
        'test top-1 mean ± sd',
        'min – max',
        'vs baseline (points)',
        'params',
        'MACs',
        'train img/s',
        'int8 latency p50',
        'int8 agreement',
        'paper CIFAR-10',
        'paper CIFAR-100',
        'paper ImageNet10',
      ],
      perVariant,
    ),
    '',
    table(
      [
        'run',
        'epochs',
        'steps',
        'test top-1',
        'test images',
        'train img/s',
        'train time',
        'int8 size',
        'int8 p50',
        'recorded (commit, date)',
      ],
      runs,
    ),
    ...(torch.length === 0
      ? []
      : [
          '',
          table(
            [
              'PyTorch, same recipe',
              'steps',
              'test top-1',
              'edge-dmp same seed',
              'edge-dmp - torch (points)',
              'train img/s',
              'build',
              'recorded (commit, date)',
            ],
            torchBody,
          ),
        ]),
    ...(info.missing?.length
      ? [
          '',
          `Not finished yet (the same command without --report-only trains them): ${info.missing.join(', ')}.`,
        ]
      : []),
    '',
  ].join('\n');
}
