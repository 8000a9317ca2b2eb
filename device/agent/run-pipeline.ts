/**
 * The agent's pipeline: `run`'s source -> classifier -> reporters, with the classifier seat the
 * agent swaps models in, and reporters owned by the agent (they outlive a model and carry the
 * deploy topic), so the pipeline does not close them.
 */
import { Pipeline } from '../pipeline.js';
import { createSource } from '../sources/index.js';
import type { Reporter } from '../types.js';
import type { AgentConfig } from './config.js';
import type { Profile } from './profiles.js';
import type { SwitchableClassifier } from './switchable.js';

export interface RunningPipeline {
  pipeline: Pipeline;
  stop(): Promise<void>;
}

/**
 * Starts the pipeline on the seat.
 * @example const running = startPipeline(agent, seat, reporters); await running.stop();
 */
export function startPipeline(
  a: { config: AgentConfig; profile: Profile; log: (e: Record<string, unknown>) => void },
  seat: SwitchableClassifier,
  reporters: Reporter[],
): RunningPipeline {
  const log = a.log;
  const c = a.config;
  const uri = c.source ?? a.profile.source;
  const source = createSource(uri, { fps: c.fps, width: c.width, height: c.height });
  const pipeline = new Pipeline({
    source,
    classifier: seat,
    reporters,
    fps: c.fps,
    closeReporters: false,
    statsIntervalMs: 10_000,
  });
  pipeline.on('error', (e) => log({ event: 'pipeline-error', reason: e.message }));
  pipeline.on('restart', (r) => log({ event: 'source-restart', attempt: r.attempt, reason: r.reason }));
  const done = pipeline
    .run()
    .then((s) => log({ event: 'pipeline-end', frames: s.frames, classified: s.classified }));
  log({ event: 'pipeline-start', source: uri });
  return {
    pipeline,
    async stop() {
      await pipeline.stop('stopped');
      await done;
    },
  };
}
