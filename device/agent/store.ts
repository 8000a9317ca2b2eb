/**
 * The two-slot model store under `<prefix>/store` (docs/agent.md):
 *   models/<version>-<sha8>/  one accepted bundle, unpacked, plus the bundle itself (bundle.edmp)
 *   current, previous         symlinks to a models/ entry, each switched by rename (atomic, fsync'd)
 *   floor.json                the highest version accepted (anti-downgrade), survives restarts
 *   state.json                the update state machine (./state.ts)
 * A slot directory is written under a temporary name and renamed into place only once every file
 * is fsync'd, so `current` never points at a half-written model.
 */
import { mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { AGENT_ERROR_CODES, AgentError } from './errors.js';
import { fsyncDir, pointAt, readPointer, writeAtomic, writeDurable } from './fsio.js';

export const BUNDLE_NAME = 'bundle.edmp';

/** The persisted version floor. */
export interface Floor {
  version: string;
  sha256: string;
  ts: string;
}

/** What `status` says about a slot. */
export interface SlotInfo {
  slot: string;
  version: string;
  model: string;
  /** SHA-256 of model.tflite. */
  sha256: string;
}

export interface Slot {
  /** Directory name under models/, `<version>-<sha8>`. */
  name: string;
  dir: string;
  /** The bundle file kept in the slot (what the classifier loads). */
  bundle: string;
}

/** `1.2.0` -> a directory-safe version part. */
const safe = (s: string) => s.replace(/[^0-9A-Za-z._-]/g, '_').slice(0, 64);

/** The slot name of a bundle. */
/** Free bytes an update must leave on the store's filesystem (outbox, logs, the next update). */
export const STORE_HEADROOM = 16 * 1024 * 1024;

/** Free bytes for an unprivileged process on the filesystem holding `dir`. */
function freeOn(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export function slotName(version: string, sha256: string): string {
  return `${safe(version)}-${sha256.slice(0, 8)}`;
}

/**
 * The model store of one agent.
 * @example
 * const store = new ModelStore('/opt/edge-dmp/store');
 * await store.init();
 * const slot = await store.stage('1.2.0', sha, bundleBytes, entries);
 * await store.switchTo(slot.name);
 */
export class ModelStore {
  readonly root: string;
  readonly models: string;
  readonly incoming: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.models = join(this.root, 'models');
    this.incoming = join(this.root, 'incoming');
  }

  /** Creates the folders and removes what an interrupted update left (temp slots, incoming copies). */
  async init(): Promise<string[]> {
    mkdirSync(this.models, { recursive: true });
    mkdirSync(this.incoming, { recursive: true });
    const removed: string[] = [];
    for (const n of readdirSync(this.models).filter((x) => x.startsWith('.'))) {
      await rm(join(this.models, n), { recursive: true, force: true });
      removed.push(`models/${n}`);
    }
    for (const n of readdirSync(this.incoming)) {
      await rm(join(this.incoming, n), { recursive: true, force: true });
      removed.push(`incoming/${n}`);
    }
    return removed;
  }

  slot(name: string): Slot {
    const dir = join(this.models, name);
    return { name, dir, bundle: join(dir, BUNDLE_NAME) };
  }

  private async pointer(which: 'current' | 'previous'): Promise<Slot | null> {
    const t = await readPointer(join(this.root, which));
    return t ? this.slot(t.split('/').pop()!) : null;
  }

  current(): Promise<Slot | null> {
    return this.pointer('current');
  }

  previous(): Promise<Slot | null> {
    return this.pointer('previous');
  }

  /** Names of the slot directories present. */
  list(): string[] {
    return readdirSync(this.models).filter((n) => !n.startsWith('.'));
  }

  /**
   * Unpacks a verified bundle into models/<name>: files under a temp name, each fsync'd, then one
   * rename. `onFile` runs after each file (the kill-9 tests pause there). An existing slot of the
   * same name (same version and bytes) is reused.
   */
  async stage(
    name: string,
    bundleBytes: Uint8Array,
    entries: Map<string, Uint8Array>,
    onFile: (file: string) => Promise<void> = async () => {},
  ): Promise<Slot> {
    const slot = this.slot(name);
    if (this.list().includes(name)) return slot;
    this.checkSpace(bundleBytes.length + [...entries.values()].reduce((n, b) => n + b.length, 0));
    const tmp = join(this.models, `.${name}.${process.pid}.tmp`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    const root = resolve(tmp);
    const dirs = new Set<string>([root]);
    for (const [file, bytes] of entries) {
      const target = resolve(root, file);
      // Entry names were checked by the bundle reader; still never write outside the slot.
      if (!target.startsWith(root + sep))
        throw new AgentError(AGENT_ERROR_CODES.badBundle, {
          field: file,
          expected: 'a path inside the slot',
          received: target,
        });
      await mkdir(dirname(target), { recursive: true });
      dirs.add(dirname(target));
      writeDurable(target, bytes);
      await onFile(file);
    }
    writeDurable(join(root, BUNDLE_NAME), bundleBytes);
    for (const d of dirs) fsyncDir(d);
    await rename(tmp, slot.dir);
    fsyncDir(this.models);
    return slot;
  }

  /**
   * Refuses to unpack what would leave less than {@link STORE_HEADROOM} free on the store's
   * filesystem: a full disk would starve the outbox and the running model, not just this update.
   * `freeBytes` is injectable for tests.
   */
  checkSpace(bytes: number, freeBytes: () => number = () => freeOn(this.models)): void {
    const free = freeBytes();
    if (free - bytes < STORE_HEADROOM) {
      throw new AgentError(AGENT_ERROR_CODES.store, {
        field: 'store',
        expected: `${bytes + STORE_HEADROOM} bytes free (the slot plus ${STORE_HEADROOM} headroom)`,
        received: `${free} bytes free on ${this.models}`,
      });
    }
  }

  /** current -> `name`, previous -> the old current (previous is written first: a cut leaves old/old). */
  async switchTo(name: string): Promise<void> {
    const cur = await this.current();
    if (cur && cur.name !== name) await pointAt(join(this.root, 'previous'), `models/${cur.name}`);
    await pointAt(join(this.root, 'current'), `models/${name}`);
  }

  /** current -> previous; previous is cleared. Returns the slot now current. */
  async rollback(): Promise<Slot> {
    const prev = await this.previous();
    if (!prev || !this.list().includes(prev.name)) {
      throw new AgentError(AGENT_ERROR_CODES.noPrevious, {
        field: 'store/previous',
        expected: 'a previous model to roll back to',
        received: prev?.name ?? 'none',
      });
    }
    await pointAt(join(this.root, 'current'), `models/${prev.name}`);
    await rm(join(this.root, 'previous'), { force: true });
    fsyncDir(this.root);
    return prev;
  }

  /** Removes slots that are neither current nor previous (after a success or a rollback). */
  async gc(): Promise<string[]> {
    const keep = new Set([(await this.current())?.name, (await this.previous())?.name]);
    const gone = this.list().filter((n) => !keep.has(n));
    for (const n of gone) await rm(join(this.models, n), { recursive: true, force: true });
    return gone;
  }

  /** Version, model name and model hash of a slot, from its unpacked manifest. */
  async info(slot: Slot | null): Promise<SlotInfo | null> {
    if (!slot) return null;
    try {
      const m = JSON.parse(await readFile(join(slot.dir, 'manifest.json'), 'utf8'));
      return {
        slot: slot.name,
        version: m.model.version,
        model: m.model.name,
        sha256: m.files['model.tflite'].sha256,
      };
    } catch {
      return null;
    }
  }

  /** Nonces of signed requests already used (kept until they expire). */
  async usedNonces(): Promise<Set<string>> {
    try {
      const o = JSON.parse(await readFile(join(this.root, 'nonces.json'), 'utf8')) as Record<string, number>;
      return new Set(Object.keys(o));
    } catch {
      return new Set();
    }
  }

  async useNonce(nonce: string, expires: string): Promise<void> {
    const path = join(this.root, 'nonces.json');
    let o: Record<string, number> = {};
    try {
      o = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      // first one
    }
    const now = Date.now();
    for (const [k, t] of Object.entries(o)) if (t < now) delete o[k];
    o[nonce] = Date.parse(expires);
    await writeAtomic(path, JSON.stringify(o));
  }

  async readFloor(): Promise<Floor | null> {
    try {
      return JSON.parse(await readFile(join(this.root, 'floor.json'), 'utf8')) as Floor;
    } catch {
      return null;
    }
  }

  async writeFloor(f: Floor): Promise<void> {
    await writeAtomic(join(this.root, 'floor.json'), JSON.stringify(f, null, 2) + '\n');
  }
}
