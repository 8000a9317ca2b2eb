import * as tf from '@tensorflow/tfjs';
import { compareVariants, createModel, summarize, type ModelSummary, type Variant } from '@edge-dmp/sdk';
import { printTable1 } from '../table1.js';
import { num, parseFlags, type Command } from '@edge-dmp/core';

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
    const vals = values as Record<string, string | boolean | undefined>;
    const opt = (flag: string) =>
      vals[flag] === undefined ? undefined : num(`--${flag}`, vals[flag] as string);
    const t = compareVariants({
      model: values.model ?? 'efficientnet-b0',
      classes: num('--classes', values.classes, 10),
      inputSize: opt('input'),
      inputChannels: opt('channels') as 1 | 3 | undefined,
      widthMult: opt('width-mult'),
      depthMult: opt('depth-mult'),
    });
    if (values.json) console.log(JSON.stringify(t));
    else printTable1(t);
    return 0;
  },
};
export default command;
