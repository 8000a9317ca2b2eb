import { verifyBundle, ConfigError, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary:
    'Check a .edmp bundle: every file hash and the Ed25519 signature by the given key. Exit 1 on any mismatch.',
  usage: 'edge-dmp verify <model.edmp> --pubkey <edmp.pub> [--json]',
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { pubkey: { type: 'string' }, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length !== 1) {
      throw new ConfigError({ field: '<model.edmp>', expected: 'one bundle path', received: positionals });
    }
    if (!values.pubkey) {
      throw new ConfigError({
        field: '--pubkey',
        expected: 'the public key (PEM) the bundle must be signed with',
        received: values.pubkey,
      });
    }
    const r = await verifyBundle(positionals[0], values.pubkey);
    if (values.json) {
      console.log(JSON.stringify(r));
    } else {
      for (const f of r.files)
        console.log(`${f.ok ? 'ok  ' : 'FAIL'} ${f.name}${f.ok ? '' : ` (${f.problem})`}`);
      if (r.signature?.valid)
        console.log(`ok   signature (Ed25519, key id ${r.signature.keyId?.slice(0, 16)})`);
      for (const p of r.problems) console.error(`FAIL ${p.code} ${p.field}: ${p.message}`);
      console.log(
        r.ok
          ? `verified: ${r.model?.name} ${r.model?.version}`
          : `verification FAILED (${r.problems.length} problem(s))`,
      );
    }
    return r.ok ? 0 : 1;
  },
};
export default command;
