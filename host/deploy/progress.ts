/**
 * How deploy events reach the user: JSON lines (`--json`), a live progress line per board on a TTY
 * (bytes, rate, ETA), or one plain line per step otherwise (logs, CI).
 */
import type { DeployEvent } from './events.js';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** One line of text for an event (undefined = nothing to print in plain mode). */
export function describe(e: DeployEvent): string | undefined {
  switch (e.event) {
    case 'preflight':
      return `${e.host}: ${e.profile} (${e.facts.model || e.facts.uname}), node ${e.facts.node}, glibc ${e.facts.glibc ?? '?'}, ${e.facts.memMb} MB, ${e.facts.diskFreeMb} MB free${e.facts.systemd ? ', systemd' : ''}`;
    case 'plan':
      return `${e.host}: ${e.dryRun ? 'would' : 'will'}: runtime ${e.runtime.version} ${e.runtime.action}; agent.json ${e.config}; agent ${e.agent}; bundle ${e.bundle.model}@${e.bundle.version} (${e.bundle.sha256.slice(0, 12)})${e.current?.version ? `; board has ${e.current.version} (${e.current.state})` : ''}`;
    case 'runtime':
      return `${e.host}: runtime ${e.version} ${e.action}${e.previous ? ` (previous ${e.previous})` : ''}`;
    case 'agent':
      return `${e.host}: agent ${e.action}`;
    case 'state':
      return `${e.host}: ${e.state}${e.version ? ` ${e.version}` : ''}${e.reason ? `: ${e.reason}` : ''}`;
    case 'verdict':
      return `${e.host}: ${e.ok ? 'OK' : 'FAILED'} ${e.state}${e.reason ? `: ${e.reason}` : ''} (${mb(e.bytesSent)} sent)`;
    case 'upload':
      return undefined;
  }
}

/** `12.3/20.1 MB  45.6 MB/s  ETA 3s`. */
export function progressText(e: Extract<DeployEvent, { event: 'upload' }>): string {
  return `${mb(e.done)}/${mb(e.total)}  ${mb(e.bytesPerSec)}/s  ETA ${Math.ceil(e.etaS)}s`;
}

/**
 * An event sink for the CLI.
 * @example const sink = eventPrinter({ json: false, out: process.stdout }); sink(event);
 */
export function eventPrinter(o: { json: boolean; out: NodeJS.WriteStream | NodeJS.WritableStream }) {
  const tty = !o.json && (o.out as NodeJS.WriteStream).isTTY === true;
  let lastDraw = 0;
  let drawing = false;
  return (e: DeployEvent) => {
    if (o.json) return void o.out.write(`${JSON.stringify({ ...e, ts: Date.now() })}\n`);
    if (e.event === 'upload') {
      if (!tty) return;
      // Redraw at most 10 times a second, and always at 100%.
      const now = Date.now();
      if (now - lastDraw < 100 && e.done < e.total) return;
      lastDraw = now;
      drawing = true;
      o.out.write(`\r\x1b[2K${e.host}: ${e.file.replace(/^.*\//, '')} ${progressText(e)}`);
      return;
    }
    const text = describe(e);
    if (!text) return;
    if (drawing) o.out.write('\n');
    drawing = false;
    o.out.write(`${text}\n`);
  };
}
