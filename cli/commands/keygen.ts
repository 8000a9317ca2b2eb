import { generateKeyPair } from '@edge-dmp/converter';
import { ConfigError, checkOutputPath, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary: 'Create an Ed25519 key pair for signing bundles: <dir>/edmp.key (private) and <dir>/edmp.pub.',
  usage: 'edge-dmp keygen --out <dir> [--force] [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      out: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (!values.out)
      throw new ConfigError({
        field: '--out',
        expected: 'a directory for the key pair',
        received: values.out,
      });
    checkOutputPath('--out', values.out, 'dir');
    const r = await generateKeyPair(values.out, { force: values.force });
    if (values.json) {
      console.log(JSON.stringify(r));
    } else {
      console.log(`private key: ${r.privateKeyPath} (keep it secret; sign with convert --sign)`);
      console.log(`public key:  ${r.publicKeyPath} (ship it to devices; check with verify --pubkey)`);
      console.log(`key id:      ${r.keyId}`);
    }
    return 0;
  },
};
export default command;
