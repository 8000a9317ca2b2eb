/**
 * Stage: report. Camera -> classifier -> results over MQTT (durable outbox, QoS 1), with the
 * bundle's signature and golden samples checked before anything is published.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/report-mqtt.ts model.edmp edmp.pub mqtt://localhost:1883 [source-uri] [max-frames]
 *   mosquitto_sub -t 'edge-dmp/#' -v     # in another shell, to watch
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MqttReporter,
  Pipeline,
  checkGolden,
  createClassifier,
  createSource,
  loadBundle,
} from '../device/index.js';

const [bundle, pubkey, url, uri = 'testsrc:', maxFrames = '20'] = process.argv.slice(2);
if (!bundle || !pubkey || !url) {
  console.error(
    'usage: node --conditions=edge-dmp-source --import tsx examples/report-mqtt.ts model.edmp edmp.pub mqtt://host:1883 [source-uri] [max-frames]',
  );
  process.exit(2);
}

// A bundle not signed by our key, or whose golden answers do not reproduce here, never runs.
const loaded = await loadBundle(bundle, { pubkey });
const classifier = await createClassifier({ bundle, pubkey });
await checkGolden(classifier, loaded, { throwOnFailure: true });

// The outbox keeps unacknowledged results across broker outages and restarts.
const outboxDir = join(tmpdir(), 'edge-dmp-example-outbox');
const mqtt = new MqttReporter({ url, deviceId: 'example-cam', model: loaded.identity, outboxDir });
await mqtt.waitConnected(5000);
const pipeline = new Pipeline({
  source: createSource(uri, { width: 320, height: 240, fps: 10 }),
  classifier,
  reporters: [mqtt],
  fps: 5,
  maxFrames: Number(maxFrames),
});
const stats = await pipeline.run(); // closes the reporters (flushing the outbox) at the end
console.error(`published ${stats.classified} results, dropped ${stats.dropped} frames`);
classifier.dispose();
