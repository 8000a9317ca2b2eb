/**
 * Stage: bundle. Sign a bundle made by `edge-dmp convert`, verify it, then load it the way a device
 * does (hashes, signature, golden self-check) and classify its golden samples.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/bundle-sign-verify.ts model.edmp [keys-dir]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, readBundle, signBundle, verifyBundle } from '../converter/index.js';
import { checkGolden, createClassifier, loadBundle } from '../device/index.js';

const [src, keysDir = mkdtempSync(join(tmpdir(), 'edmp-keys-'))] = process.argv.slice(2);
if (!src) {
  console.error(
    'usage: node --conditions=edge-dmp-source --import tsx examples/bundle-sign-verify.ts model.edmp [keys-dir]',
  );
  process.exit(2);
}

// 1. A key pair (keep edmp.key secret; edmp.pub goes onto every device).
const keys = await generateKeyPair(keysDir, { force: true });

// 2. Sign (or re-sign) the bundle into a new file.
const signedPath = src.replace(/\.edmp$/, '') + '.signed.edmp';
await signBundle(src, keys.privateKeyPath, signedPath);

// 3. What is in it.
const b = await readBundle(signedPath);
const m = b.manifest;
console.log(
  `${m.model.name} ${m.model.version} (${m.model.variant}, ${m.quantization.mode}), input [${m.input.shape}]`,
);

// 4. Verify against the public key: every file hash and the signature.
const report = await verifyBundle(signedPath, keys.publicKeyPath);
console.log(report.ok ? 'verified' : report.problems.map((p) => `${p.code} ${p.message}`).join('\n'));

// 5. On the device: load with the key, build the classifier, run the golden self-check.
const loaded = await loadBundle(signedPath, { pubkey: keys.publicKeyPath });
const classifier = await createClassifier({ bundle: signedPath });
try {
  const golden = await checkGolden(classifier, loaded);
  for (const r of golden.results) {
    console.log(
      `${r.ok ? 'ok  ' : 'FAIL'} ${r.file}: expected ${r.expected.label}, got ${r.got?.label ?? r.problem}`,
    );
  }
  process.exitCode = report.ok && golden.ok ? 0 : 1;
} finally {
  classifier.dispose();
}
