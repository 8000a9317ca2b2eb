import { ConfigError, checkOutputPath, num, parseFlags, type Command } from '@edge-dmp/core';
import { consoleProgress, train, type TrainConfig, absoluteDataSpec } from '@edge-dmp/sdk';

type Kind = 'int' | 'number' | 'string';

/** Flag -> config field and value kind: the whole mapping in one table. */
const FLAGS: Record<string, [keyof TrainConfig, Kind]> = {
  model: ['model', 'string'],
  variant: ['variant', 'string'],
  data: ['data', 'string'],
  'val-data': ['valData', 'string'],
  epochs: ['epochs', 'int'],
  'batch-size': ['batchSize', 'int'],
  'width-mult': ['widthMult', 'number'],
  'depth-mult': ['depthMult', 'number'],
  'input-size': ['inputSize', 'int'],
  channels: ['inputChannels', 'int'],
  dropout: ['dropout', 'number'],
  'drop-connect': ['dropConnect', 'number'],
  seed: ['seed', 'int'],
  'max-steps': ['maxSteps', 'int'],
  lr: ['lr', 'number'],
  'weight-decay': ['weightDecay', 'number'],
  'label-smoothing': ['labelSmoothing', 'number'],
  warmup: ['warmupEpochs', 'number'],
  augment: ['augment', 'string'],
  normalize: ['normalize', 'string'],
  'val-fraction': ['valFraction', 'number'],
  'cifar100-labels': ['cifar100Labels', 'string'],
  'val-limit': ['valLimit', 'int'],
  'eval-batch-size': ['evalBatchSize', 'int'],
  'precise-bn': ['preciseBn', 'int'],
  backend: ['backend', 'string'],
};

const FIELD_TO_FLAG = Object.fromEntries(
  Object.entries(FLAGS).map(([flag, [field]]) => [field, `--${flag}`]),
);

const command: Command = {
  summary: 'Train a zoo model (paper recipe: Adam lr 0.01, cosine to 0 per step) into a run directory.',
  usage:
    'edge-dmp train --model efficientnet-b0 --variant dmp --data cifar10:<dir> --epochs 30 --batch-size 64 --out runs/x ' +
    '[--width-mult 1] [--depth-mult 1] [--input-size N] [--channels 1|3] [--seed 0] [--max-steps N] [--backend auto|node|wasm|cpu] ' +
    '[--val-data <spec>] [--lr 0.01] [--weight-decay 0] [--label-smoothing 0] [--warmup 0] [--augment crop-flip|rrc-flip|none] ' +
    '[--normalize dataset|imagenet|none] [--dropout p] [--drop-connect p] [--val-fraction 0.1] [--cifar100-labels fine|coarse] ' +
    '[--val-limit N] [--eval-batch-size 128] [--precise-bn 20] [--json] | edge-dmp train --resume --out runs/x',
  async run(argv) {
    const options = Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }]));
    const { values } = parseFlags(argv, {
      ...options,
      out: { type: 'string' },
      resume: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const v = values as Record<string, string | boolean | undefined>;
    const out = v.out as string | undefined;
    if (!out)
      throw new ConfigError({
        field: '--out',
        expected: 'a run directory, e.g. --out runs/x',
        received: out,
      });
    checkOutputPath('--out', out, 'dir');
    const config: Record<string, unknown> = {};
    for (const [flag, [field, kind]] of Object.entries(FLAGS)) {
      const raw = v[flag] as string | undefined;
      if (raw === undefined) continue;
      config[field] = kind === 'string' ? raw : num(`--${flag}`, raw);
    }
    // Data paths are stored absolute in config.json, so `convert --run` works from any directory.
    for (const k of ['data', 'valData']) {
      if (typeof config[k] === 'string') config[k] = absoluteDataSpec(config[k] as string, process.cwd());
    }
    if (!v.resume && !config.data) {
      throw new ConfigError({
        field: '--data',
        expected: 'a data spec such as cifar10:<dir> or fashion-mnist',
        received: undefined,
      });
    }
    const ac = new AbortController();
    const onSigint = () => {
      console.error(
        `${process.stderr.isTTY ? '\n' : ''}Ctrl-C: saving a checkpoint after this step (press again to quit now)`,
      );
      ac.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSigint);
    try {
      const r = await train(config as Partial<TrainConfig> & { data: string }, {
        out,
        resume: Boolean(v.resume),
        signal: ac.signal,
        onProgress: consoleProgress(process.stderr),
      });
      if (r.interrupted) return 130;
      if (v.json) console.log(JSON.stringify({ out: r.out, backend: r.backend, ...r.summary }));
      return 0;
    } catch (e) {
      // Config fields are named after the flags the user typed.
      if (e instanceof ConfigError && FIELD_TO_FLAG[e.field]) {
        throw new ConfigError({ field: FIELD_TO_FLAG[e.field], expected: e.expected, received: e.received });
      }
      throw e;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};

export default command;
