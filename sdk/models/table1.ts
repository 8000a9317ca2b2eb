/**
 * The paper's Table 1 (trainable parameters of B0 and its three variants, 10-class head) beside
 * our counts: what `edge-dmp summary --compare` and the demo print.
 */
import { VARIANTS, type Variant } from './archs.js';
import { createModel, type ModelOptions } from './registry.js';
import { summarize } from './stats.js';

/** Table 1 of the paper (10-class head). */
export const PAPER_TABLE1: Record<Variant, number> = {
  baseline: 4_020_358,
  maxpool: 3_114_374,
  duplicate: 3_104_134,
  dmp: 2_198_150,
};

export interface VariantRow {
  variant: Variant;
  paperName: string;
  trainableParams: number;
  percentOfBaseline: number;
  macs: number;
  /** The paper's count where the setting is the paper's (B0, 10 classes, default width/depth/channels). */
  paper: number | null;
}

export interface VariantComparison {
  model: string;
  classes: number;
  input: number;
  rows: VariantRow[];
}

/**
 * Builds the model in all four variants (no kernel runs) and counts them.
 * @example
 * const t = compareVariants({ model: 'efficientnet-b0', classes: 10 });
 * t.rows.find((r) => r.variant === 'dmp')?.trainableParams; // 2198150
 */
export function compareVariants(o: Omit<ModelOptions, 'variant'>): VariantComparison {
  const sums = (Object.keys(VARIANTS) as Variant[]).map((variant) => {
    const m = createModel({ ...o, variant });
    const s = summarize(m);
    m.dispose();
    return s;
  });
  const base = sums[0].trainableParams;
  const comparable =
    o.model === 'efficientnet-b0' &&
    sums[0].classes === 10 &&
    o.widthMult === undefined &&
    o.depthMult === undefined &&
    o.inputChannels === undefined;
  const rows = sums.map((s) => ({
    variant: s.variant as Variant,
    paperName: VARIANTS[s.variant as Variant].paperName,
    trainableParams: s.trainableParams,
    percentOfBaseline: Math.round((1000 * s.trainableParams) / base) / 10,
    macs: s.macs,
    paper: comparable ? PAPER_TABLE1[s.variant as Variant] : null,
  }));
  return { model: sums[0].model, classes: sums[0].classes, input: sums[0].input, rows };
}
