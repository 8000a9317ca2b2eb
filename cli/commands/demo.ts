/**
 * `edge-dmp demo`: the main job on an embedded default, with no data or broker to bring, as a
 * sequence of library calls (what a user's script would do): Table 1, a generated image set,
 * train() a small DMP EfficientNet, convertRun() to a verified int8 .tflite in a signed bundle,
 * verifyBundle(), classify on the device runtime, and a device Pipeline reporting over MQTT to an
 * in-process broker with a subscriber printing what arrives (and the dashboard with --dashboard).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, num, parseFlags, verifyBundle, type Command } from '@edge-dmp/core';
import { compareVariants, consoleProgress, train, type TrainConfig } from '@edge-dmp/sdk';
import { convertRun, generateKeyPair } from '@edge-dmp/converter';
import {
  MqttReporter,
  Pipeline,
  checkGolden,
  createClassifier,
  createSource,
  loadBundle,
} from '@edge-dmp/device';
import { DEMO_CLASSES, writeDemoImages } from '../demo-data.js';
import { printCard } from '../report-card.js';
import { printTable1 } from '../table1.js';

export { DEMO_CLASSES, demoImage, writeDemoImages } from '../demo-data.js';

const command: Command = {
  summary:
    'The main job on an embedded default: generate data, train a small DMP model, convert to signed int8 TFLite, run it with MQTT.',
  usage: 'edge-dmp demo [--out runs/demo] [--epochs 8] [--per-class 96] [--backend auto] [--dashboard]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      out: { type: 'string' },
      epochs: { type: 'string' },
      'per-class': { type: 'string' },
      backend: { type: 'string' },
      // Serve the fleet page too, and keep a live device reporting to it until Ctrl-C.
      dashboard: { type: 'boolean' },
    });
    const out = values.out ?? 'runs/demo';
    const epochs = num('--epochs', values.epochs, 8);
    const perClass = num('--per-class', values['per-class'], 96);
    if (!Number.isInteger(perClass) || perClass < 8) {
      throw new ConfigError({
        field: '--per-class',
        expected: 'an integer >= 8',
        received: values['per-class'],
      });
    }
    const say = (title: string) => console.log(`\n== ${title}`);
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });

    say("The paper's Table 1 (parameters of the four variants)");
    await tf.setBackend('cpu'); // building never runs a kernel
    printTable1(compareVariants({ model: 'efficientnet-b0', classes: 10 }));

    const data = join(out, 'data');
    say(`Generating ${DEMO_CLASSES.length} classes x ${perClass} PNG images into ${data}`);
    await writeDemoImages(data, { perClass, size: 32, seed: 7 });

    const run = join(out, 'run');
    say('Train a small DMP EfficientNet (paper recipe: Adam lr 0.01, cosine)');
    const trained = await train(
      {
        ...{ model: 'efficientnet-b0', variant: 'dmp', widthMult: 0.25, depthMult: 0.34, inputSize: 32 },
        ...{
          data: `folder:${data}`,
          augment: 'none',
          dropout: 0,
          dropConnect: 0,
          epochs,
          batchSize: 32,
          seed: 0,
        },
        ...(values.backend ? { backend: values.backend as TrainConfig['backend'] } : {}),
      },
      { out: run, onProgress: consoleProgress(process.stdout) },
    );
    if (!trained.summary) throw new Error('demo: training did not finish');

    const keys = join(out, 'keys');
    say('Make a signing key pair');
    const pair = await generateKeyPair(keys);
    console.log(`wrote ${pair.privateKeyPath} and ${pair.publicKeyPath} (key id ${pair.keyId.slice(0, 16)})`);

    const bundle = join(out, 'model.edmp');
    say('Convert to full-int8 TFLite, calibrated and verified in the TFLite runtime, signed');
    const converted = await convertRun(run, {
      out: bundle,
      quantize: 'int8',
      calib: `folder:${join(data, 'train')}`,
      calibSamples: 128,
      // The demo's val split has 96 images: one image is 1.04 points, so the default 1-point gate
      // would turn on a single borderline image.
      maxDrop: 2,
      sign: pair.privateKeyPath,
      onLog: (l) => console.error(l),
    });
    printCard(converted.report);
    console.log(`wrote ${bundle} (sha256 ${converted.bundle?.sha256})`);

    say('Verify the bundle signature and hashes');
    const report = await verifyBundle(bundle, pair.publicKeyPath);
    for (const f of report.files) console.log(`${f.ok ? 'ok  ' : 'FAIL'} ${f.name}`);
    if (report.signature?.valid)
      console.log(`ok   signature (Ed25519, key id ${report.signature.keyId?.slice(0, 16)})`);
    if (!report.ok)
      throw new Error(`demo: verification failed: ${report.problems.map((p) => p.message).join('; ')}`);

    say('Classify a few images on the device runtime (signature required)');
    const classifier = await createClassifier({ bundle, pubkey: pair.publicKeyPath });
    try {
      const loaded = await loadBundle(bundle, { pubkey: pair.publicKeyPath });
      const golden = await checkGolden(classifier, loaded, { throwOnFailure: true });
      console.log(`golden self-check ${golden.passed}/${golden.total} passed`);
      for (const c of DEMO_CLASSES) {
        const file = join(data, 'val', c, '000.png');
        const r = await classifier.classify(file);
        console.log(`${file}: ${r.label} ${r.score.toFixed(3)}`);
      }

      const { startBroker, startDashboard, subscribeResults } = await import('@edge-dmp/host');
      const live = values.dashboard === true;
      const broker = await startBroker({ port: 0, host: '127.0.0.1', wsPort: live ? 0 : undefined });
      const url = `mqtt://127.0.0.1:${broker.port}`;
      say(`In-process MQTT broker on ${url}; subscribing to edge-dmp/+/results`);
      const dash = live
        ? await startDashboard({ mqttUrl: `ws://127.0.0.1:${broker.wsPort}`, port: 0 })
        : null;
      if (dash) say(`Dashboard: open ${dash.url} (the fleet page, live over MQTT WebSockets)`);
      const received: string[] = [];
      const sub = subscribeResults({ url, deviceId: '+', reorderMs: 0 }, (r) => {
        received.push(`${r.seq}:${r.label}`);
        if (r.deviceId === 'demo')
          console.log(`  subscriber <- ${r.deviceId} seq ${r.seq} ${r.label} ${r.score.toFixed(3)}`);
      });
      try {
        await sub.ready;
        say('Run the device pipeline on the validation images, reporting over MQTT');
        const device = (deviceId: string, source: string, o: { maxFrames?: number; fps?: number }) =>
          new Pipeline({
            source: createSource(source, { width: 64, height: 64, fps: o.fps }),
            classifier,
            reporters: [
              new MqttReporter({
                url,
                deviceId,
                model: loaded.identity,
                outboxDir: join(out, `outbox-${deviceId}`),
              }),
            ],
            maxFrames: o.maxFrames,
            fps: o.fps,
            statsIntervalMs: 2000,
          });
        // The pipeline closes its reporters at the end: QoS 1 results are acknowledged by then.
        const stats = await device('demo', `file://${resolve(data, 'val', 'disc')}`, { maxFrames: 8 }).run();
        console.log(`device demo: ${stats.classified} results published`);
        await new Promise((r) => setTimeout(r, 500)); // let the subscriber print
        if (dash) {
          say(`Dashboard ${dash.url}: device demo-live reports an ffmpeg test pattern until Ctrl-C`);
          const p = device('demo-live', 'testsrc:', { fps: 2 });
          const stop = () => void p.stop('stopped');
          process.once('SIGINT', stop);
          await p.run();
          process.off('SIGINT', stop);
        }
      } finally {
        await sub.close();
        await dash?.close();
        await broker.close();
      }
      say(`Done: ${received.length} results received over MQTT; artefacts in ${out}/`);
      if (!dash)
        console.log('   To watch devices live in the browser: npm run demo -- --dashboard (prints its URL)');
      return received.length > 0 ? 0 : 1;
    } finally {
      classifier.dispose();
    }
  },
};
export default command;
