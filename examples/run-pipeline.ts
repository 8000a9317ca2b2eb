/**
 * Stage: run. Camera (or any frame source URI) -> classifier -> JSON lines on stdout, with the
 * bundle's golden self-check before the first frame, an fps cap, and final stats.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/run-pipeline.ts model.edmp [source-uri] [max-frames]
 *   e.g. source-uri = testsrc: | v4l2:///dev/video0 | rtsp://cam/stream | file:///data/clip.mp4
 */
import {
  Pipeline,
  checkGolden,
  createClassifier,
  createSource,
  jsonLinesReporter,
  loadBundle,
} from '../device/index.js';

const [bundle, uri = 'testsrc:', maxFrames = '20'] = process.argv.slice(2);
if (!bundle) {
  console.error(
    'usage: node --conditions=edge-dmp-source --import tsx examples/run-pipeline.ts model.edmp [source-uri] [max-frames]',
  );
  process.exit(2);
}

const classifier = await createClassifier({ bundle });
// Refuse to report anything if the model on this device does not reproduce its golden answers.
await checkGolden(classifier, await loadBundle(bundle), { throwOnFailure: true });

const pipeline = new Pipeline({
  source: createSource(uri, { width: 320, height: 240, fps: 10 }),
  classifier,
  reporters: [jsonLinesReporter()],
  fps: 5,
  maxFrames: Number(maxFrames),
});
pipeline.on('error', (e) => console.error(`source: ${e.message}`));
const stats = await pipeline.run();
console.error(
  `frames ${stats.frames}, classified ${stats.classified}, dropped ${stats.dropped}, p50 ${stats.latencyMs.p50.toFixed(1)} ms`,
);
classifier.dispose();
