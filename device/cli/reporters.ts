/**
 * Reporter factories by flag (`--mqtt <url>`, `--serial <path>[:baud]`): what `edge-dmp run`
 * attaches to its pipeline; the factories themselves are in mqtt-flags.ts.
 */
import type { ParseArgsConfig } from 'node:util';
import type { ModelIdentity, PipelineStats, Reporter } from '../types.js';
import { MQTT_REPORTER, SERIAL_REPORTER } from './mqtt-flags.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What a reporter factory gets: every parsed flag, the model, and the pipeline's controls. */
export interface ReporterContext {
  values: Record<string, string | boolean | undefined>;
  model: ModelIdentity;
  /** Pause/resume/set-fps/stats of the running pipeline (MQTT commands drive these). */
  control: { pause(): void; resume(): void; setFps(fps: number): void; stats(): PipelineStats };
}

/** A reporter attached by a flag: `--<flag> <value>` creates it. */
export interface ReporterFactory {
  /** Usage line(s) for --help. */
  usage: string;
  /** Extra flags the factory reads from ctx.values (e.g. --device-id). */
  options?: Options;
  create(value: string, ctx: ReporterContext): Promise<Reporter>;
}

/**
 * Reporter factories by flag name: `--mqtt <url>` and `--serial <path>[:baud]` plug in here (the
 * table is the whole registry); stdout JSON lines are built in.
 */
export const REPORTERS: Record<string, ReporterFactory> = { mqtt: MQTT_REPORTER, serial: SERIAL_REPORTER };
