/** Training progress: typed events, and a console reporter (live bar on a TTY, plain lines otherwise). */

export interface StepEvent {
  type: 'step';
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch. */
  step: number;
  steps: number;
  globalStep: number;
  totalSteps: number;
  /** Running means over the epoch so far. */
  loss: number;
  acc: number;
  lr: number;
  imgPerSec: number;
  /** Seconds left for the whole run at the current speed. */
  etaSec: number;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  loss: number;
  top1: number;
  valLoss: number;
  valTop1: number;
  valTop5: number;
  valCount: number;
  lr: number;
  imgPerSec: number;
  seconds: number;
  best: boolean;
}

export type ProgressEvent =
  | StepEvent
  | ({ type: 'epoch' } & EpochMetrics)
  | { type: 'message'; text: string }
  | { type: 'warning'; text: string };

export type ProgressListener = (e: ProgressEvent) => void;

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return `${h ? `${h}:` : ''}${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
};

/** One status line for a step (used by both modes). */
export function formatStep(e: StepEvent): string {
  return (
    `epoch ${e.epoch}/${e.epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} acc ${(e.acc * 100).toFixed(1)}% ` +
    `lr ${e.lr.toExponential(2)} ${e.imgPerSec.toFixed(1)} img/s ETA ${fmtTime(e.etaSec)}`
  );
}

/** One line per epoch. */
export function formatEpoch(m: EpochMetrics): string {
  return (
    `epoch ${m.epoch} done: loss ${m.loss.toFixed(4)} top1 ${(m.top1 * 100).toFixed(2)}% | val loss ${m.valLoss.toFixed(4)} ` +
    `top1 ${(m.valTop1 * 100).toFixed(2)}% top5 ${(m.valTop5 * 100).toFixed(2)}% (${m.valCount} images)${m.best ? ' *best*' : ''} | ` +
    `${m.imgPerSec.toFixed(1)} img/s ${fmtTime(m.seconds)}`
  );
}

/**
 * A console reporter. On a TTY it redraws one bar line per step; otherwise it prints a plain line
 * about every tenth of an epoch (and every `everySec` seconds at most once), so logs stay short.
 * @example
 * await train(cfg, { out: 'runs/x', onProgress: consoleProgress(process.stderr) });
 */
export function consoleProgress(
  stream:
    NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number } = process.stderr,
): ProgressListener {
  const tty = Boolean(stream.isTTY);
  let lineOpen = false;
  const endLine = () => {
    if (lineOpen) stream.write('\n');
    lineOpen = false;
  };
  return (e) => {
    if (e.type === 'step') {
      if (tty) {
        const width = 24;
        const filled = Math.round((e.step / e.steps) * width);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
        const cols = (stream as { columns?: number }).columns ?? 120;
        const text = formatStep(e);
        // Narrow terminals lose the bar before they lose numbers.
        const line = bar.length + 1 + text.length < cols ? `${bar} ${text}` : text.slice(0, cols - 1);
        stream.write(`\r\x1b[K${line}`);
        lineOpen = true;
      } else {
        const every = Math.max(1, Math.floor(e.steps / 10));
        if (e.step % every === 0 || e.step === e.steps) stream.write(`${formatStep(e)}\n`);
      }
    } else if (e.type === 'epoch') {
      endLine();
      stream.write(`${formatEpoch(e)}\n`);
    } else {
      endLine();
      stream.write(`${e.type === 'warning' ? 'warning: ' : ''}${e.text}\n`);
    }
  };
}
