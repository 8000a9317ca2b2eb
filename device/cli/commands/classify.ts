import { createClassifier } from '../../classifier.js';
import { ConfigError, parseFlags, type Command } from '@edge-dmp/core';
import { CLASSIFIER_FLAGS, CLASSIFIER_USAGE, classifierOptions } from '../classifier-flags.js';
import { openTrustedBundle } from '../trust-flags.js';

const command: Command = {
  summary: 'Classify image files with a bundle or a BYO .tflite in the TFLite runtime.',
  usage: [
    'edge-dmp classify --bundle model.edmp [--pubkey edmp.pub | --allow-unsigned] <image>... [--json]',
    '       edge-dmp classify --model x.tflite --labels labels.txt [--input-size 28x28 --channels 1 --scale 1/255] <image>...',
    '',
    CLASSIFIER_USAGE,
    '  --json                       one JSON line per image: {file, label, score, topK} (or {file, error})',
    '',
    'Exit code 0 when every image was classified, 1 when some could not be (each gets an error line).',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { ...CLASSIFIER_FLAGS, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length === 0) {
      throw new ConfigError({ field: '<image>', expected: 'at least one image file', received: 'none' });
    }
    const opts = classifierOptions(values);
    if (values.bundle) {
      // Signatures by default: verified once, and exactly those bytes are classified with.
      const { bytes } = await openTrustedBundle('classify', values);
      Object.assign(opts, { bundle: bytes, pubkey: undefined });
    }
    const c = await createClassifier(opts);
    let failed = 0;
    try {
      for (const file of positionals) {
        const o = await c.tryClassify(file);
        if (!o.ok) {
          failed++;
          if (values.json) console.log(JSON.stringify({ file, error: { code: o.code, reason: o.reason } }));
          else console.error(`${file}: ${o.code} ${o.reason}`);
          continue;
        }
        if (values.json) {
          console.log(JSON.stringify({ file, label: o.label, score: o.score, topK: o.topK }));
        } else {
          const rest = o.topK
            .slice(1)
            .map((t) => `${t.label} ${t.score.toFixed(3)}`)
            .join(', ');
          console.log(`${file}: ${o.label} ${o.score.toFixed(3)}${rest ? `  (${rest})` : ''}`);
        }
      }
    } finally {
      c.dispose();
    }
    return failed ? 1 : 0;
  },
};
export default command;
