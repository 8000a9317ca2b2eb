/**
 * Prints a markdown table from training runs' summary.json files (used by bench/fashion-mnist.sh).
 *   node --conditions=edge-dmp-source --import tsx bench/fashion-mnist-table.ts runs/fmnist-baseline runs/fmnist-dmp
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSummary } from '../sdk/train/index.js';

const rows = process.argv.slice(2).map((dir) => {
  const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary;
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  const last = JSON.parse(lines[lines.length - 1]) as { imgPerSec: number; loss: number };
  return [
    dir,
    s.config.variant,
    s.params.trainable.toLocaleString('en-US'),
    String(s.steps),
    String(s.steps * s.config.batchSize),
    last.loss.toFixed(4),
    `${(s.val.top1 * 100).toFixed(2)}%`,
    `${(s.val.top5 * 100).toFixed(2)}%`,
    String(s.val.count),
    last.imgPerSec.toFixed(1),
    s.backend,
  ];
});
const head = [
  'run',
  'variant',
  'trainable params',
  'steps',
  'images seen',
  'train loss',
  'val top-1',
  'val top-5',
  'val images',
  'img/s',
  'backend',
];
console.log(`| ${head.join(' | ')} |`);
console.log(`| ${head.map(() => '---').join(' | ')} |`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
