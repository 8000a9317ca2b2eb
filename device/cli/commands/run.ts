import type { ParseArgsConfig } from 'node:util';
import { checkGolden } from '../../bundle.js';
import { createClassifier } from '../../classifier.js';
import { jsonLinesReporter, Pipeline } from '../../pipeline.js';
import { createSource } from '../../sources/index.js';
import type { Flip } from '../../sources/types.js';
import type { FrameOutcome, PipelineStats, Reporter } from '../../types.js';
import { ConfigError, EdgeDmpError, numIn, parseFlags, type Command } from '@edge-dmp/core';
import { CLASSIFIER_FLAGS, CLASSIFIER_USAGE, classifierOptions } from '../classifier-flags.js';
import { openTrustedBundle } from '../trust-flags.js';
import { normalizeOptionalFlags, parseSerialSpec } from '../mqtt-flags.js';
import { REPORTERS, type ReporterContext } from '../reporters.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const RUN_FLAGS = {
  ...CLASSIFIER_FLAGS,
  source: { type: 'string' },
  fps: { type: 'string' },
  'max-frames': { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  flip: { type: 'string' },
  'stats-interval': { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'boolean' },
  'skip-golden': { type: 'boolean' },
} as const;

function human(o: FrameOutcome): string {
  if (!o.ok) return `#${o.frameId} ${o.code} ${o.reason}`;
  return `#${o.frameId} ${o.label} ${o.score.toFixed(3)} (${o.timings.inferMs.toFixed(1)} ms)`;
}

function summary(s: PipelineStats): string {
  return (
    `edge-dmp run: ${s.frames} frames, ${s.classified} classified, ${s.dropped} dropped, ${s.errors} errors, ` +
    `${s.fps.toFixed(1)} fps, latency p50 ${s.latencyMs.p50.toFixed(0)} ms p95 ${s.latencyMs.p95.toFixed(0)} ms`
  );
}

const command: Command = {
  summary: 'Classify frames from a camera, stream or file source continuously.',
  get usage() {
    return [
      'edge-dmp run --bundle model.edmp --source <uri> [--fps N] [--max-frames N] [--json]',
      '',
      '  --source <uri>               v4l2:///dev/video0, rpicam:, csi://0, rtsp://..., http(s)://... (MJPEG),',
      '                               file://<dir or video>, testsrc:, stdin: (MJPEG)',
      '  --fps <N>                    frames per second asked of the source and classified at most',
      '  --max-frames <N>             stop after N results',
      '  --retries <N>                give up after N source restarts without a frame (default 3 with',
      '                               --max-frames, otherwise retry forever with backoff)',
      '  --width <W> --height <H>     source frame size;  --flip <none|horizontal|vertical|both>',
      '  --stats-interval <s>         metrics to reporters every s seconds (default 10)',
      '  --json                       one JSON line per result on stdout',
      "  --skip-golden                don't run the bundle's golden self-check before the first frame",
      CLASSIFIER_USAGE,
      ...Object.values(REPORTERS).map((r) => r.usage),
    ].join('\n');
  },
  async run(argv) {
    const reporterOptions: Options = {};
    for (const [flag, f] of Object.entries(REPORTERS))
      Object.assign(reporterOptions, { [flag]: { type: 'string' } }, f.options);
    const { values } = parseFlags(normalizeOptionalFlags(argv), { ...RUN_FLAGS, ...reporterOptions });
    const v = values as Record<string, string | boolean | undefined> & {
      [K in keyof typeof RUN_FLAGS]?: string;
    };
    if (!v.source)
      throw new ConfigError({
        field: '--source',
        expected: 'a source URI, e.g. testsrc: or v4l2:///dev/video0',
        received: undefined,
      });
    const opt = (flag: keyof typeof RUN_FLAGS, rule: Parameters<typeof numIn>[2]) =>
      v[flag] !== undefined ? numIn(`--${flag}`, v[flag], rule) : undefined;
    const fps = opt('fps', 'positive');
    const maxFrames = opt('max-frames', 'positive integer');
    const statsS = numIn('--stats-interval', v['stats-interval'], 'positive', 10);
    // A bounded run (--max-frames) must end when the source cannot start (a missing camera, a
    // refused stream) instead of retrying forever; --retries sets the bound either way.
    const retries = opt('retries', 'non-negative integer') ?? (maxFrames !== undefined ? 3 : undefined);
    const source = createSource(v.source, {
      fps,
      width: opt('width', 'positive integer'),
      height: opt('height', 'positive integer'),
      flip: v.flip as Flip | undefined,
      ...(retries !== undefined ? { restart: { maxRestarts: retries } } : {}),
    });
    // Reporter specs are checked before the model loads, so a typo fails fast.
    if (typeof v.serial === 'string') parseSerialSpec(v.serial);
    const opts = classifierOptions(v);
    // Signatures by default: the bundle is read once, verified, and those very bytes are run.
    const trusted = v.bundle ? await openTrustedBundle('run', v) : undefined;
    if (trusted) Object.assign(opts, { bundle: trusted.bytes, pubkey: undefined });
    const classifier = await createClassifier(opts);
    if (trusted && !v['skip-golden']) {
      // Refuse to report anything when the model on this device does not reproduce the answers
      // the converter recorded (wrong preprocessing, label order, a damaged model).
      try {
        const report = await checkGolden(classifier, trusted.loaded, { throwOnFailure: true });
        if (report.total)
          console.error(`edge-dmp run: golden self-check ${report.passed}/${report.total} passed`);
      } catch (e) {
        classifier.dispose();
        throw e;
      }
    }
    let pipeline: Pipeline | undefined;
    const control: ReporterContext['control'] = {
      pause: () => pipeline?.pause(),
      resume: () => pipeline?.resume(),
      setFps: (n) => pipeline?.setFps(n),
      stats: () => pipeline!.stats(),
    };
    const reporters: Reporter[] = [];
    try {
      for (const [flag, f] of Object.entries(REPORTERS)) {
        const value = v[flag];
        if (typeof value === 'string')
          reporters.push(await f.create(value, { values: v, model: classifier.model, control }));
      }
      reporters.push(
        v.json
          ? jsonLinesReporter(process.stdout)
          : { name: 'stdout', report: (o) => void console.log(human(o)), close: async () => {} },
      );
      pipeline = new Pipeline({
        source,
        classifier,
        reporters,
        fps,
        maxFrames,
        statsIntervalMs: statsS * 1000,
      });
    } catch (e) {
      classifier.dispose();
      await Promise.all(reporters.map((r) => r.close().catch(() => undefined)));
      throw e;
    }
    let fatal = false;
    pipeline.on('error', (e) => {
      if (e instanceof EdgeDmpError && (e.code === 'E_SOURCE_SPAWN' || e.code === 'E_SOURCE_EXIT'))
        fatal = true;
      console.error(`edge-dmp run: ${e.message}`);
    });
    pipeline.on('restart', (r) =>
      console.error(`edge-dmp run: source restart ${r.attempt} in ${r.delayMs} ms: ${r.reason}`),
    );
    const p = pipeline;
    const onSignal = () => {
      void p.stop('signal');
      // A source stuck in the kernel (a read that never returns) must not keep a stopped device
      // alive: give the pipeline a few seconds to finish, then exit anyway (unref: no wait otherwise).
      setTimeout(() => {
        console.error('edge-dmp run: still busy 5 s after the signal; exiting');
        process.exit(typeof process.exitCode === 'number' ? process.exitCode : 1);
      }, 5000).unref();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const stats = await p.run();
      console.error(summary(stats));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      classifier.dispose();
    }
    return fatal ? 1 : 0;
  },
};
export default command;
