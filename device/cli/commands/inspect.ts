import { readBundle, type ReadBundle, ConfigError, parseFlags, type Command } from '@edge-dmp/core';

function human(n: number | null): string {
  if (n === null) return 'unknown';
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}

/** The report card is opaque to the bundle: show its scalar fields (and one level of objects) as k=v. */
function card(rc: Record<string, unknown> | null): string {
  if (!rc) return 'none';
  const show = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);
  const parts = Object.entries(rc).flatMap(([k, v]) => {
    if (v === null || ['number', 'string', 'boolean'].includes(typeof v)) return [`${k}=${show(v)}`];
    if (typeof v === 'object' && !Array.isArray(v)) {
      return Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => ['number', 'string', 'boolean'].includes(typeof x))
        .map(([kk, x]) => `${k}.${kk}=${show(x)}`);
    }
    return [];
  });
  return parts.join(' ') || Object.keys(rc).join(', ');
}

function text(path: string, b: ReadBundle): string {
  const m = b.manifest;
  const p = m.input.preprocess;
  const lines = [
    `${path}  (sha256 ${b.sha256})`,
    `model:        ${m.model.name} ${m.model.version}  variant ${m.model.variant}  architecture ${m.model.architecture}`,
    `input:        [${m.input.shape.join(',')}] ${m.input.layout} ${m.input.dtype}` +
      (m.input.quantization
        ? ` (scale ${m.input.quantization.scale}, zero point ${m.input.quantization.zeroPoint})`
        : ''),
    `preprocess:   resize ${p.resize}, ${p.channelOrder}, x = (pixel*${p.scale} - [${p.mean}]) / [${p.std}]`,
    `output:       [${m.output.shape.join(',')}] ${m.output.dtype}, ${m.model.numClasses} classes: ${b.labels.slice(0, 10).join(', ')}${b.labels.length > 10 ? ', ...' : ''}`,
    `quantization: ${m.quantization.mode}`,
    `params/MACs:  ${human(m.stats.params)} / ${human(m.stats.macs)};  model.tflite ${m.stats.tfliteBytes} bytes`,
    `provenance:   created ${m.provenance.createdAt} by ${m.provenance.tool}; run ${m.provenance.trainingRun ?? '-'}; dataset ${m.provenance.dataset ?? '-'}`,
    `report card:  ${card(m.reportCard)}`,
    `golden:       ${m.golden.length} sample(s)${m.golden.length ? ': ' + m.golden.map((g) => `${g.file} -> ${g.label}`).join(', ') : ''}`,
    `signature:    ${b.signature ? `Ed25519, key id ${b.signature.keyId} (check with: edge-dmp verify --pubkey)` : b.signatureError ? `UNREADABLE (${b.signatureError})` : 'UNSIGNED'}`,
    'files:',
    ...b.files.map(
      (f) =>
        `  ${f.ok ? 'ok      ' : 'MISMATCH'} ${f.name.padEnd(16)} ${String(f.expectedSize).padStart(10)} bytes  sha256 ${f.expectedSha256}`,
    ),
  ];
  return lines.join('\n');
}

const command: Command = {
  summary: 'Show what a .edmp bundle holds: model, input spec, quantization, provenance, files, signature.',
  usage: 'edge-dmp inspect <model.edmp> [--json]',
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) {
      throw new ConfigError({ field: '<model.edmp>', expected: 'one bundle path', received: positionals });
    }
    const path = positionals[0];
    // Not strict: show a tampered file as MISMATCH rather than refusing to show anything.
    const b = await readBundle(path, { strict: false });
    if (values.json) {
      console.log(
        JSON.stringify({
          path,
          sha256: b.sha256,
          signed: b.signed,
          keyId: b.signature?.keyId ?? null,
          manifest: b.manifest,
          labels: b.labels,
          files: b.files,
        }),
      );
    } else {
      console.log(text(path, b));
    }
    return b.files.every((f) => f.ok) ? 0 : 1;
  },
};
export default command;
