import { listModels, VARIANTS } from '@edge-dmp/sdk';
import { parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary: 'List the registered models and variants.',
  usage: 'edge-dmp models [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    const models = listModels().map((m) => ({
      name: m.name,
      family: m.arch.family,
      resolution: m.scaling.resolution,
      width: m.scaling.width,
      depth: m.scaling.depth,
      description: m.description,
    }));
    if (values.json) {
      console.log(JSON.stringify({ models, variants: Object.keys(VARIANTS) }));
      return 0;
    }
    for (const m of models) console.log(`${m.name.padEnd(18)} ${m.description}`);
    console.log(
      `\nvariants: ${Object.entries(VARIANTS)
        .map(([k, v]) => `${k} (${v.paperName})`)
        .join(', ')}`,
    );
    return 0;
  },
};
export default command;
