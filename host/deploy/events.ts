/** Typed events of a deploy, one union: the CLI prints them as JSON lines (`--json`) or as TTY progress. */
import type { BoardFacts, Profile } from './preflight.js';
import type { RuntimeAction } from './runtime-install.js';

export type Verdict = 'healthy' | 'rolled-back' | 'refused' | 'failed';

export type DeployEvent =
  | {
      event: 'preflight';
      host: string;
      facts: BoardFacts;
      profile: Profile;
      /** The board's SSH host key; `hostKeyRecorded` when this deploy first saw it (known_hosts). */
      hostKey?: string;
      hostKeyRecorded?: boolean;
    }
  | {
      event: 'plan';
      host: string;
      dryRun: boolean;
      runtime: { action: RuntimeAction; version: string; bytes: number };
      config: 'write' | 'unchanged';
      agent: 'start' | 'restart' | 'running';
      bundle: { name: string; sha256: string; version: string; model: string };
      current?: { state?: string; version?: string | null };
    }
  | {
      event: 'runtime';
      host: string;
      action: RuntimeAction;
      version: string;
      previous?: string;
      sent: number;
    }
  | {
      event: 'upload';
      host: string;
      file: string;
      done: number;
      total: number;
      sent: number;
      bytesPerSec: number;
      etaS: number;
    }
  | { event: 'agent'; host: string; action: 'started' | 'restarted' | 'running' | 'service' }
  | { event: 'state'; host: string; state: string; version?: string | null; reason?: string }
  | {
      event: 'verdict';
      host: string;
      ok: boolean;
      state: Verdict;
      reason?: string;
      version?: string | null;
      model?: string | null;
      bytesSent: number;
    };

export type EventSink = (e: DeployEvent) => void;
