import { DataError, num, parseFlags, type Command } from '@edge-dmp/core';
import { selectBackend, registerFastKernels, loadData, evaluate, openRun } from '@edge-dmp/sdk';

const command: Command = {
  summary:
    "Evaluate a trained run's model on a dataset's validation split: top-1, top-5, per-class, confusion.",
  usage:
    'edge-dmp eval --run runs/x --data <spec> [--model best|last] [--batch-size 128] [--limit N] [--backend auto] [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      run: { type: 'string' },
      data: { type: 'string' },
      model: { type: 'string' },
      'batch-size': { type: 'string' },
      limit: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
    });
    const opened = await openRun(values.run, values.model);
    const { dir: run, which, preprocess, labels, config } = opened;
    const spec = values.data ?? config.data;
    const backend = await selectBackend(values.backend);
    registerFastKernels();
    console.error(`backend: ${backend}`);
    const data = await loadData(spec, {
      splits: 'val',
      cifar100Labels: config.cifar100Labels,
      seed: config.seed,
      valFraction: config.valFraction,
      onWarning: (e) => console.error(`warning: ${e.message}`),
    });
    if (data.classes.length !== labels.length) {
      throw new DataError({
        field: spec,
        expected: `${labels.length} classes (labels.txt of ${run})`,
        received: data.classes.length,
      });
    }
    const model = await opened.loadModel();
    const val = { ...data.val, classes: labels };
    const ev = await evaluate(model, val, preprocess, {
      batchSize: num('--batch-size', values['batch-size'], 128),
      limit: values.limit === undefined ? undefined : num('--limit', values.limit),
    });
    model.dispose();
    if (values.json) {
      console.log(JSON.stringify({ run, model: which, data: spec, backend, ...ev }));
      return 0;
    }
    console.log(`${run}/${which} on ${spec} (val split, ${ev.count} images)`);
    console.log(
      `top-1 ${(ev.top1 * 100).toFixed(2)}%  top-5 ${(ev.top5 * 100).toFixed(2)}%  loss ${ev.loss.toFixed(4)}`,
    );
    const w = Math.max(5, ...labels.map((l) => l.length));
    for (const p of ev.perClass)
      console.log(
        `  ${p.class.padEnd(w)}  ${(p.top1 * 100).toFixed(1).padStart(5)}%  (${p.correct}/${p.count})`,
      );
    return 0;
  },
};

export default command;
