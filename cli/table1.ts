/** Prints a {@link VariantComparison} (the paper's Table 1 beside our counts): `summary --compare` and the demo. */
import type { VariantComparison } from '@edge-dmp/sdk';

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * One line per variant, with a `match` column where the paper has the number.
 * @example printTable1(compareVariants({ model: 'efficientnet-b0', classes: 10 }));
 */
export function printTable1(t: VariantComparison, log: (line: string) => void = console.log): void {
  const paper = t.rows.some((r) => r.paper !== null);
  log(`${t.model}, ${t.classes} classes, input ${t.input}x${t.input}\n`);
  log(
    `${'network'.padEnd(24)}${'parameters'.padStart(12)}${'% of base'.padStart(11)}${'MACs'.padStart(15)}` +
      (paper ? `${'paper'.padStart(12)}  match` : ''),
  );
  for (const r of t.rows) {
    // The paper's names are B0's; another model's baseline row carries the model's own name.
    const name = r.variant === 'baseline' && t.model !== 'efficientnet-b0' ? t.model : r.paperName;
    log(
      `${name.padEnd(24)}${fmt(r.trainableParams).padStart(12)}${`${r.percentOfBaseline.toFixed(1)}%`.padStart(11)}` +
        `${fmt(r.macs).padStart(15)}` +
        (r.paper !== null
          ? `${fmt(r.paper).padStart(12)}  ${r.paper === r.trainableParams ? 'yes' : 'NO'}`
          : ''),
    );
  }
}
