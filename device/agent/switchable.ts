/**
 * The pipeline's classifier seat: the pipeline holds one FrameClassifier for its whole life, and
 * the agent swaps the model behind it (new model after a switch, old one back on rollback) without
 * stopping the source or the reporters, so results and their `seq` keep flowing.
 */
import type { Classifier, FrameMeta } from '../classifier.js';
import type { Frame } from '../frame.js';
import type { FrameClassifier } from '../pipeline.js';
import type { FrameOutcome } from '../types.js';

export class SwitchableClassifier implements FrameClassifier {
  /** Sees every outcome of the active classifier (the health gate listens here). */
  observer: ((o: FrameOutcome, c: Classifier) => void) | null = null;

  /** The classification in flight, so a retired model is disposed only after it. */
  private inflight: Promise<unknown> = Promise.resolve();

  constructor(private active: Classifier) {}

  get current(): Classifier {
    return this.active;
  }

  /** Puts `next` in the seat; returns the one it replaced (the caller keeps or disposes it). */
  swap(next: Classifier): Classifier {
    const old = this.active;
    this.active = next;
    return old;
  }

  async tryClassify(frame: Frame, meta: FrameMeta): Promise<FrameOutcome> {
    const c = this.active;
    const p = c.tryClassify(frame, meta);
    this.inflight = p.catch(() => undefined);
    const o = await p;
    this.observer?.(o, c);
    return o;
  }

  /** Disposes a classifier that left the seat, once the frame it may still be on is done. */
  async retire(c: Classifier): Promise<void> {
    if (c === this.active) return;
    await this.inflight;
    c.dispose();
  }
}
