/** Prints a converter report card (edge-dmp convert, the demo). */
import type { ReportCard } from '@edge-dmp/converter';

/**
 * @example printCard(result.report);
 */
export function printCard(r: ReportCard): void {
  const pct = (v: number) => `${v.toFixed(2)}%`;
  console.log(`report card (${r.quantize}, in ${r.inputType}, out ${r.outputType})`);
  console.log(`  size            ${r.sizeBytes} bytes`);
  console.log(`  samples         ${r.samples}`);
  console.log(
    `  max |dlogit|    ${r.maxAbsDiff.toExponential(3)} (${r.relDiff.toExponential(3)} of range ${r.logitRange.toFixed(3)})`,
  );
  console.log(`  top-1 agreement ${pct(100 * r.top1Agreement)}`);
  console.log(
    `  decided         ${pct(100 * r.decidedAgreement)} (float top-1 >= ${r.decidedMargin} logit above top-2)`,
  );
  if (r.flips.count)
    console.log(
      `  flips           ${r.flips.count}, float margin median ${r.flips.medianFloatMargin.toFixed(3)}, max ${r.flips.maxFloatMargin.toFixed(3)}`,
    );
  if (r.accuracy) {
    console.log(
      `  accuracy        float ${pct(r.accuracy.float)}  converted ${pct(r.accuracy.converted)}  drop ${r.accuracy.drop.toFixed(2)} points (max ${r.maxDrop})`,
    );
    for (const c of r.perClass ?? [])
      console.log(
        `    ${c.label.padEnd(16)} n=${String(c.n).padStart(4)}  ${pct(c.float).padStart(8)} -> ${pct(c.converted)}`,
      );
  }
  if (r.qat)
    console.log(
      `  qat             ${r.qat.steps} steps on ${r.qat.samples} samples, lr ${r.qat.lr}: distillation loss ${r.qat.lossBefore.toFixed(4)} -> ${r.qat.lossAfter.toFixed(4)}`,
    );
  console.log(`  verdict         ${r.passed ? 'passed' : 'FAILED'}`);
}
