/**
 * The update state machine, persisted in `<prefix>/store/state.json` after every transition so a
 * restarted agent knows where an update stopped (recovery table: docs/agent.md).
 *   received -> verified -> staged -> switched -> healthy
 *   any of them -> refused (before the switch) | rolled-back (after it)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_ERROR_CODES, AgentError } from './errors.js';
import { writeAtomic } from './fsio.js';

export const UPDATE_STATES = [
  'received',
  'verified',
  'staged',
  'switched',
  'healthy',
  'rolled-back',
  'refused',
] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** Which states may follow which: anything else is a bug, thrown as E_AGENT_STORE. */
const NEXT: Record<UpdateState, readonly UpdateState[]> = {
  received: ['verified', 'refused'],
  verified: ['staged', 'refused'],
  staged: ['switched', 'refused', 'rolled-back'],
  switched: ['healthy', 'rolled-back', 'switched'],
  healthy: [],
  'rolled-back': [],
  refused: [],
};

/** Final states: a new update may start. */
export const FINAL_STATES: readonly UpdateState[] = ['healthy', 'rolled-back', 'refused'];

export interface UpdateRecord {
  state: UpdateState;
  /** Bundle version and model name, once read. */
  version: string | null;
  model: string | null;
  /** SHA-256 of the bundle file. */
  sha256: string | null;
  /** Slot being installed, and the slot that was current before. */
  slot: string | null;
  from: string | null;
  /** Version of the model that was current before (what a rollback returns to). */
  previous: string | null;
  reason?: string;
  ts: string;
  /** Agent start times (epoch ms) while this update was unconfirmed: the crash-loop counter. */
  boots: number[];
}

/**
 * state.json: reads, and writes each transition durably.
 * @example
 * const sm = new StateFile('/opt/edge-dmp/store');
 * await sm.begin({ sha256 });           // received
 * await sm.to('verified', { version: '1.2.0' });
 */
export class StateFile {
  readonly path: string;
  private rec: UpdateRecord | null = null;

  constructor(storeRoot: string) {
    this.path = join(storeRoot, 'state.json');
  }

  async load(): Promise<UpdateRecord | null> {
    try {
      this.rec = JSON.parse(await readFile(this.path, 'utf8')) as UpdateRecord;
    } catch {
      this.rec = null;
    }
    return this.rec;
  }

  get record(): UpdateRecord | null {
    return this.rec;
  }

  /** True when no update is in progress. */
  get idle(): boolean {
    return !this.rec || FINAL_STATES.includes(this.rec.state);
  }

  /** Starts a new update in state `received`. */
  async begin(fields: Partial<UpdateRecord>): Promise<UpdateRecord> {
    const rec: UpdateRecord = {
      version: null,
      model: null,
      sha256: null,
      slot: null,
      from: null,
      previous: null,
      boots: [],
      ...fields,
      state: 'received',
      ts: new Date().toISOString(),
    };
    await this.save(rec);
    return rec;
  }

  /** Moves to `state`, merging `fields`; refuses transitions the table does not allow. */
  async to(state: UpdateState, fields: Partial<UpdateRecord> = {}): Promise<UpdateRecord> {
    const cur = this.rec;
    if (!cur || !NEXT[cur.state].includes(state)) {
      throw new AgentError(AGENT_ERROR_CODES.store, {
        field: 'state.json state',
        expected: cur ? `one of ${NEXT[cur.state].join(', ') || '(none: final)'}` : 'an update in progress',
        received: state,
      });
    }
    const rec = { ...cur, ...fields, state, ts: new Date().toISOString() };
    await this.save(rec);
    return rec;
  }

  /** Rewrites the record (boot counter updates). */
  async save(rec: UpdateRecord): Promise<void> {
    await writeAtomic(this.path, JSON.stringify(rec, null, 2) + '\n');
    this.rec = rec;
  }
}

/** What goes on `<topic prefix>/deploy` and the control socket (docs/deploy-contract.md). */
export interface DeployState {
  state: UpdateState | 'idle';
  version: string | null;
  model: string | null;
  sha256: string | null;
  reason?: string;
  previous?: string | null;
  ts: string;
}

/** The published form of a state record. */
export const toDeploy = (r: UpdateRecord): DeployState => ({
  state: r.state,
  version: r.version,
  model: r.model,
  sha256: r.sha256,
  ...(r.reason ? { reason: r.reason } : {}),
  previous: r.previous,
  ts: r.ts,
});
