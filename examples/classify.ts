/**
 * Stage: classify. Load a bundle (checking its signature when a public key is given), run its
 * golden self-check, then classify image files and print the top-3 of each.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/classify.ts model.edmp [--pubkey edmp.pub] image.jpg [image2.png ...]
 */
import { parseArgs } from 'node:util';
import { checkGolden, createClassifier, loadBundle } from '../device/index.js';

const { values, positionals } = parseArgs({
  options: { pubkey: { type: 'string' } },
  allowPositionals: true,
});
const [bundle, ...images] = positionals;
if (!bundle || images.length === 0) {
  console.error(
    'usage: node --conditions=edge-dmp-source --import tsx examples/classify.ts model.edmp [--pubkey edmp.pub] image...',
  );
  process.exit(2);
}

const b = await loadBundle(bundle, { pubkey: values.pubkey });
const classifier = await createClassifier({ bundle, topK: 3 });
try {
  const golden = await checkGolden(classifier, b);
  console.log(`${b.identity.name} ${b.identity.version}: golden ${golden.passed}/${golden.total}`);
  for (const file of images) {
    const r = await classifier.classify(file);
    const top = r.topK.map((t) => `${t.label} ${(t.score * 100).toFixed(1)}%`).join(', ');
    console.log(`${file}: ${top} (infer ${r.timings.inferMs.toFixed(1)} ms)`);
  }
} finally {
  classifier.dispose();
}
