import { signBundle } from '@edge-dmp/converter';
import { ConfigError, checkOutputPath, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary:
    'Sign (or re-sign) an existing .edmp bundle with an Ed25519 private key; refuses tampered bundles.',
  usage: 'edge-dmp sign <model.edmp> --key <edmp.key> [--out <signed.edmp>] [--json]',
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { key: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length !== 1) {
      throw new ConfigError({ field: '<model.edmp>', expected: 'one bundle path', received: positionals });
    }
    if (!values.key) {
      throw new ConfigError({
        field: '--key',
        expected: 'an Ed25519 private key (PEM)',
        received: values.key,
      });
    }
    const out = values.out ?? positionals[0];
    checkOutputPath('--out', out, 'file');
    const r = await signBundle(positionals[0], values.key, out);
    if (values.json) console.log(JSON.stringify({ out, sha256: r.sha256, keyId: r.keyId }));
    else console.log(`signed ${out} with key ${r.keyId} (bundle sha256 ${r.sha256})`);
    return 0;
  },
};
export default command;
