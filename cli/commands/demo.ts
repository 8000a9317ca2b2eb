/**
 * `edge-dmp demo`: the main job on an embedded default, with no data or broker to bring.
 * It runs the real subcommands in order: Table 1, a generated image set, train a small DMP
 * EfficientNet, convert it to a verified int8 .tflite in a signed bundle, verify the bundle,
 * classify images, and run the device pipeline reporting over MQTT to an in-process broker with a
 * subscriber printing what arrives.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '@edge-dmp/core';
import { num, parseFlags, type Command } from '@edge-dmp/core';

/** The generated classes: simple patterns a small network separates in a few epochs. */
export const DEMO_CLASSES = ['disc', 'horizontal', 'vertical', 'checker'] as const;

/** Small seeded PRNG (mulberry32) so the demo is the same on every machine. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One RGB image of a class, with random colours, phase and noise. */
export function demoImage(cls: (typeof DEMO_CLASSES)[number], size: number, rand: () => number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const fg = [rand(), rand(), rand()].map((v) => 128 + v * 127);
  const bg = [rand(), rand(), rand()].map((v) => v * 100);
  const period = 4 + Math.floor(rand() * 4);
  const phase = Math.floor(rand() * period);
  const cx = size * (0.35 + 0.3 * rand());
  const cy = size * (0.35 + 0.3 * rand());
  const r = size * (0.2 + 0.15 * rand());
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const on =
        cls === 'disc'
          ? (x - cx) ** 2 + (y - cy) ** 2 < r * r
          : cls === 'horizontal'
            ? Math.floor((y + phase) / (period / 2)) % 2 === 0
            : cls === 'vertical'
              ? Math.floor((x + phase) / (period / 2)) % 2 === 0
              : (Math.floor((x + phase) / period) + Math.floor((y + phase) / period)) % 2 === 0;
      for (let c = 0; c < 3; c++) {
        const v = (on ? fg[c] : bg[c]) + (rand() - 0.5) * 40;
        px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return px;
}

/**
 * Writes a class-per-folder PNG tree (`train/<class>/*.png`, `val/<class>/*.png`).
 * @example await writeDemoImages('runs/demo/data', { perClass: 64, size: 32, seed: 0 });
 */
export async function writeDemoImages(dir: string, o: { perClass: number; size: number; seed: number }) {
  const rand = rng(o.seed);
  for (const split of ['train', 'val'] as const) {
    const n = split === 'train' ? o.perClass : Math.max(4, Math.round(o.perClass / 4));
    for (const cls of DEMO_CLASSES) {
      const d = join(dir, split, cls);
      await mkdir(d, { recursive: true });
      for (let i = 0; i < n; i++) {
        const raw = demoImage(cls, o.size, rand);
        const png = await sharp(raw, { raw: { width: o.size, height: o.size, channels: 3 } })
          .png()
          .toBuffer();
        await writeFile(join(d, `${String(i).padStart(3, '0')}.png`), png);
      }
    }
  }
}

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
    const { main } = await import('../main.js');
    const step = async (title: string, args: string[]) => {
      console.log(`\n== ${title}\n$ edge-dmp ${args.join(' ')}`);
      const code = await main(args);
      if (code !== 0) throw new Error(`demo step "${title}" failed with exit code ${code}`);
    };
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });

    await step("The paper's Table 1 (parameters of the four variants)", ['summary', '--compare']);

    const data = join(out, 'data');
    console.log(`\n== Generating ${DEMO_CLASSES.length} classes x ${perClass} PNG images into ${data}`);
    await writeDemoImages(data, { perClass, size: 32, seed: 7 });

    const run = join(out, 'run');
    await step('Train a small DMP EfficientNet (paper recipe: Adam lr 0.01, cosine)', [
      'train',
      '--model',
      'efficientnet-b0',
      '--variant',
      'dmp',
      '--width-mult',
      '0.25',
      '--depth-mult',
      '0.34',
      '--input-size',
      '32',
      '--data',
      `folder:${data}`,
      '--augment',
      'none',
      '--dropout',
      '0',
      '--drop-connect',
      '0',
      '--epochs',
      String(epochs),
      '--batch-size',
      '32',
      '--seed',
      '0',
      '--out',
      run,
      ...(values.backend ? ['--backend', values.backend] : []),
    ]);

    const keys = join(out, 'keys');
    await step('Make a signing key pair', ['keygen', '--out', keys]);
    const bundle = join(out, 'model.edmp');
    await step('Convert to full-int8 TFLite, calibrated and verified in the TFLite runtime, signed', [
      'convert',
      '--run',
      run,
      '--quantize',
      'int8',
      '--calib',
      `folder:${join(data, 'train')}`,
      '--calib-samples',
      '128',
      // The demo's val split has 96 images: one image is 1.04 points, so the default 1-point gate
      // would turn on a single borderline image.
      '--max-drop',
      '2',
      '--out',
      bundle,
      '--sign',
      join(keys, 'edmp.key'),
    ]);
    await step('Verify the bundle signature and hashes', [
      'verify',
      bundle,
      '--pubkey',
      join(keys, 'edmp.pub'),
    ]);
    // The demo's key is trusted in a file of its own, never in the device's ~/.edge-dmp/trusted-keys.
    const trust = ['--pubkey', join(keys, 'edmp.pub'), '--trusted-keys', join(out, 'trusted-keys')];
    await step('Classify a few images on the device runtime (signature required)', [
      'classify',
      '--bundle',
      bundle,
      ...trust,
      ...DEMO_CLASSES.map((c) => join(data, 'val', c, '000.png')),
    ]);

    const { startBroker, subscribeResults } = await import('@edge-dmp/host');
    const live = values.dashboard === true;
    const broker = await startBroker({ port: 0, host: '127.0.0.1', wsPort: live ? 0 : undefined });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    console.log(`\n== In-process MQTT broker on ${url}; subscribing to edge-dmp/+/results`);
    const dash = live
      ? await (
          await import('@edge-dmp/host')
        ).startDashboard({ mqttUrl: `ws://127.0.0.1:${broker.wsPort}`, port: 0 })
      : null;
    if (dash) console.log(`\n== Dashboard: open ${dash.url} (the fleet page, live over MQTT WebSockets)`);
    const received: string[] = [];
    const sub = subscribeResults({ url, deviceId: '+', reorderMs: 0 }, (r) => {
      received.push(`${r.seq}:${r.label}`);
      if (r.deviceId === 'demo')
        console.log(`  subscriber <- ${r.deviceId} seq ${r.seq} ${r.label} ${r.score.toFixed(3)}`);
    });
    try {
      await sub.ready;
      await step('Run the device pipeline on the validation images, reporting over MQTT', [
        'run',
        '--bundle',
        bundle,
        ...trust,
        '--source',
        `file://${resolve(data, 'val', 'disc')}`,
        '--max-frames',
        '8',
        '--mqtt',
        url,
        '--device-id',
        'demo',
        '--outbox',
        join(out, 'outbox'),
      ]);
      // QoS 1 results are acknowledged before `run` exits; give the subscriber a moment to print.
      await new Promise((r) => setTimeout(r, 500));
      if (dash) {
        console.log(
          `\n== Dashboard ${dash.url}: device demo-live reports an ffmpeg test pattern until Ctrl-C`,
        );
        await main([
          ...['run', '--bundle', bundle, '--source', 'testsrc:', '--width', '64', '--height', '64'],
          ...['--fps', '2', '--stats-interval', '2', '--mqtt', url, '--device-id', 'demo-live'],
          ...['--outbox', join(out, 'outbox-live')],
        ]);
      }
    } finally {
      await sub.close();
      await dash?.close();
      await broker.close();
    }
    console.log(`\n== Done: ${received.length} results received over MQTT; artefacts in ${out}/`);
    if (!dash)
      console.log('   To watch devices live in the browser: npm run demo -- --dashboard (prints its URL)');
    return received.length > 0 ? 0 : 1;
  },
};
export default command;
