import * as tf from '@tensorflow/tfjs';
import { createModel, summarize, VARIANTS, type ModelSummary, type Variant } from '@edge-dmp/sdk';
import { num, parseFlags, type Command } from '@edge-dmp/core';

/** Table 1 of the paper (10-class head), shown beside our counts by `--compare`. */
export const PAPER_TABLE1: Record<Variant, number> = {
  baseline: 4_020_358,
  maxpool: 3_114_374,
  duplicate: 3_104_134,
  dmp: 2_198_150,
};

const fmt = (n: number) => n.toLocaleString('en-US');

function build(values: Record<string, string | boolean | undefined>, variant: string): ModelSummary {
  // Building never runs a kernel; cpu keeps this instant and independent of wasm.
  const m = createModel({
    model: (values.model as string | undefined) ?? 'efficientnet-b0',
    variant: variant as Variant,
    classes: num('--classes', values.classes as string | undefined, values.compare ? 10 : 1000),
    inputSize: values.input === undefined ? undefined : num('--input', values.input as string),
    inputChannels: values.channels === undefined ? undefined : num('--channels', values.channels as string),
    widthMult:
      values['width-mult'] === undefined ? undefined : num('--width-mult', values['width-mult'] as string),
    depthMult:
      values['depth-mult'] === undefined ? undefined : num('--depth-mult', values['depth-mult'] as string),
  });
  const s = summarize(m);
  m.dispose();
  return s;
}

const command: Command = {
  summary: "Parameters, MACs and weight bytes of a model; --compare prints the paper's Table 1 comparison.",
  usage:
    'edge-dmp summary --model efficientnet-b0 --variant dmp --classes 10 [--input 224] [--channels 3] ' +
    '[--width-mult 1] [--depth-mult 1] [--json] | edge-dmp summary --compare [--model m] [--classes 10] [--input 224] [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' },
      variant: { type: 'string' },
      classes: { type: 'string' },
      input: { type: 'string' },
      channels: { type: 'string' },
      'width-mult': { type: 'string' },
      'depth-mult': { type: 'string' },
      compare: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    await tf.setBackend('cpu');
    if (!values.compare) {
      const s = build(values, values.variant ?? 'baseline');
      if (values.json) {
        console.log(JSON.stringify(s));
      } else {
        console.log(
          `model        ${s.model} (${s.variant}), ${s.classes} classes, input ${s.input}x${s.input}`,
        );
        console.log(`trainable    ${fmt(s.trainableParams)} parameters`);
        console.log(`non-train.   ${fmt(s.nonTrainableParams)} (BatchNorm moving statistics)`);
        console.log(`MACs         ${fmt(s.macs)} per image`);
        console.log(`replaced     ${s.replacedBlocks} blocks`);
        console.log(
          `weights      fp32 ${fmt(s.bytes.fp32)} B, fp16 ${fmt(s.bytes.fp16)} B, int8 ${fmt(s.bytes.int8)} B`,
        );
      }
      return 0;
    }
    const rows = (Object.keys(VARIANTS) as Variant[]).map((v) => build(values, v));
    const base = rows[0].trainableParams;
    const paperComparable =
      (values.model ?? 'efficientnet-b0') === 'efficientnet-b0' &&
      rows[0].classes === 10 &&
      values['width-mult'] === undefined &&
      values['depth-mult'] === undefined &&
      values.channels === undefined;
    const table = rows.map((r) => ({
      variant: r.variant,
      paperName: VARIANTS[r.variant as Variant].paperName,
      trainableParams: r.trainableParams,
      percentOfBaseline: Math.round((1000 * r.trainableParams) / base) / 10,
      macs: r.macs,
      paper: paperComparable ? PAPER_TABLE1[r.variant as Variant] : null,
    }));
    if (values.json) {
      console.log(
        JSON.stringify({ model: rows[0].model, classes: rows[0].classes, input: rows[0].input, rows: table }),
      );
      return 0;
    }
    console.log(`${rows[0].model}, ${rows[0].classes} classes, input ${rows[0].input}x${rows[0].input}\n`);
    console.log(
      `${'network'.padEnd(24)}${'parameters'.padStart(12)}${'% of base'.padStart(11)}${'MACs'.padStart(15)}` +
        (paperComparable ? `${'paper'.padStart(12)}  match` : ''),
    );
    for (const r of table) {
      // The paper's names are B0's; another model's baseline row carries the model's own name.
      const name =
        r.variant === 'baseline' && rows[0].model !== 'efficientnet-b0' ? rows[0].model : r.paperName;
      console.log(
        `${name.padEnd(24)}${fmt(r.trainableParams).padStart(12)}${`${r.percentOfBaseline.toFixed(1)}%`.padStart(11)}` +
          `${fmt(r.macs).padStart(15)}` +
          (r.paper !== null
            ? `${fmt(r.paper).padStart(12)}  ${r.paper === r.trainableParams ? 'yes' : 'NO'}`
            : ''),
      );
    }
    return 0;
  },
};
export default command;
