/**
 * The `.edmp` container: a zip read defensively (central directory checked against the buffer and
 * the limits, names checked for traversal, entries inflated one at a time, CRC checked) — nothing
 * is inflated before the caller asks for that entry.
 */
import * as zlib from 'node:zlib';
import { inflateSync } from 'fflate';
import {
  BUNDLE_ERROR_CODES,
  BundleError,
  DEFAULT_LIMITS,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  type BundleLimits,
} from './format.js';

/** One archive entry as listed in the zip central directory. */
interface CentralEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local file header. */
  localOffset: number;
}

const u16 = (d: Uint8Array, o: number) => d[o] | (d[o + 1] << 8);
const u32 = (d: Uint8Array, o: number) =>
  (d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (d[o + 3] << 24)) >>> 0;

function formatError(expected: string, received: unknown, field = 'archive'): BundleError {
  return new BundleError(BUNDLE_ERROR_CODES.format, { field, expected, received });
}

/**
 * Why a name is unsafe, or null. Only plain relative names of [A-Za-z0-9._-] segments pass, so
 * `..`, absolute paths, drive letters, backslashes and control characters cannot reach a file system.
 */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return 'an empty name';
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return 'an absolute path';
  const segments = name.split(/[/\\]/);
  if (segments.includes('..')) return 'a ".." path segment';
  if (name.includes('\\')) return 'a backslash';
  if (segments.some((s) => s === '' || s === '.')) return 'an empty or "." path segment';
  if (!/^[A-Za-z0-9._/-]+$/.test(name)) return 'characters outside [A-Za-z0-9._/-]';
  return null;
}

/**
 * Lists the central directory, checking every entry before anything is inflated: counts, names,
 * duplicates, declared sizes, compression method, encryption. Zip64 is refused (bundles are far
 * below 4 GiB and the limits are too).
 */
function listEntries(data: Uint8Array, limits: BundleLimits): CentralEntry[] {
  if (data.length < 22) throw formatError('a zip archive (at least 22 bytes)', `${data.length} bytes`);
  let eocd = -1;
  for (let o = data.length - 22; o >= Math.max(0, data.length - 22 - 0xffff); o--) {
    if (u32(data, o) === 0x06054b50) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) throw formatError('a zip archive (end of central directory record)', 'none found');
  const count = u16(data, eocd + 10);
  const cdSize = u32(data, eocd + 12);
  const cdOffset = u32(data, eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    throw formatError('a zip archive without zip64 records', 'zip64');
  }
  if (count > limits.maxEntries) {
    throw new BundleError(BUNDLE_ERROR_CODES.tooLarge, {
      field: 'archive entries',
      expected: `at most ${limits.maxEntries}`,
      received: count,
    });
  }
  if (cdOffset + cdSize > eocd)
    throw formatError('a central directory inside the archive', { cdOffset, cdSize });
  const entries: CentralEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  let o = cdOffset;
  for (let i = 0; i < count; i++) {
    if (o + 46 > eocd || u32(data, o) !== 0x02014b50) {
      throw formatError('a central directory file header', `entry ${i} at offset ${o}`);
    }
    const flags = u16(data, o + 8);
    const method = u16(data, o + 10);
    const crc = u32(data, o + 16);
    const compressedSize = u32(data, o + 20);
    const size = u32(data, o + 24);
    const nameLen = u16(data, o + 28);
    const extraLen = u16(data, o + 30);
    const commentLen = u16(data, o + 32);
    if (nameLen > limits.maxNameLength) {
      throw new BundleError(BUNDLE_ERROR_CODES.unsafePath, {
        field: `entry ${i} name`,
        expected: `at most ${limits.maxNameLength} bytes`,
        received: nameLen,
      });
    }
    const nameBytes = data.subarray(o + 46, o + 46 + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
    const why = unsafeNameReason(name);
    if (why) {
      throw new BundleError(
        BUNDLE_ERROR_CODES.unsafePath,
        { field: 'entry name', expected: 'a relative name of [A-Za-z0-9._-] segments', received: name },
        `entry name ${JSON.stringify(name)} is unsafe: ${why}`,
      );
    }
    if (seen.has(name)) {
      throw new BundleError(BUNDLE_ERROR_CODES.duplicate, {
        field: name,
        expected: 'each entry name once',
        received: 'a second entry with the same name',
      });
    }
    seen.add(name);
    if (flags & 1) throw formatError('an unencrypted entry', 'encrypted', name);
    if (method !== 0 && method !== 8)
      throw formatError('stored (0) or deflate (8) compression', method, name);
    const cap =
      name === MANIFEST_FILE || name === SIGNATURE_FILE ? limits.maxManifestBytes : limits.maxEntryBytes;
    if (size > cap) {
      throw new BundleError(BUNDLE_ERROR_CODES.tooLarge, {
        field: name,
        expected: `at most ${cap} bytes uncompressed`,
        received: `${size} bytes declared`,
      });
    }
    if (method === 0 && compressedSize !== size) {
      throw formatError('equal sizes for a stored entry', { compressedSize, size }, name);
    }
    total += size;
    if (total > limits.maxTotalBytes) {
      throw new BundleError(BUNDLE_ERROR_CODES.tooLarge, {
        field: 'archive',
        expected: `at most ${limits.maxTotalBytes} bytes uncompressed in all`,
        received: `${total} bytes declared by the first ${i + 1} entries`,
      });
    }
    const localOffset = u32(data, o + 42);
    entries.push({ name, method, crc, compressedSize, size, localOffset });
    o += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * A bundle archive whose central directory has been checked (see {@link listEntries}) but whose
 * entries are inflated only when asked for, one at a time: the reader inflates manifest.json and
 * signature.sig first and decides from them (unlisted entries, sizes, signature) before it inflates
 * the model, so a zip bomb or a big unlisted entry costs nothing.
 */
export interface Archive {
  /** Entry names in directory order. */
  names: string[];
  /** Declared uncompressed size of an entry, or undefined when absent. */
  sizeOf(name: string): number | undefined;
  /** Inflates one entry into exactly its declared size and checks size and CRC-32. */
  read(name: string): Uint8Array;
}

/**
 * Opens a bundle archive defensively: archive size, entry count, names, duplicates, methods and
 * declared sizes are checked before anything is inflated.
 * @example const a = openArchive(readFileSync('model.edmp')); const m = a.read('manifest.json');
 */
export function openArchive(data: Uint8Array, limits: Partial<BundleLimits> = {}): Archive {
  const lim: BundleLimits = { ...DEFAULT_LIMITS, ...limits };
  if (data.length > lim.maxArchiveBytes) {
    throw new BundleError(BUNDLE_ERROR_CODES.tooLarge, {
      field: 'archive',
      expected: `at most ${lim.maxArchiveBytes} bytes`,
      received: `${data.length} bytes`,
    });
  }
  const listed = new Map(listEntries(data, lim).map((e) => [e.name, e]));
  return {
    names: [...listed.keys()],
    sizeOf: (name) => listed.get(name)?.size,
    read(name) {
      const entry = listed.get(name);
      if (!entry) throw formatError('an entry in the archive', 'absent', name);
      return inflateEntry(data, entry);
    },
  };
}

function inflateEntry(data: Uint8Array, entry: CentralEntry): Uint8Array {
  const o = entry.localOffset;
  if (o + 30 > data.length || u32(data, o) !== 0x04034b50) {
    throw formatError('a local file header', `offset ${o}`, entry.name);
  }
  const start = o + 30 + u16(data, o + 26) + u16(data, o + 28);
  if (start + entry.compressedSize > data.length) {
    throw formatError(
      'compressed data inside the archive',
      { start, size: entry.compressedSize },
      entry.name,
    );
  }
  const raw = data.subarray(start, start + entry.compressedSize);
  let bytes: Uint8Array;
  if (entry.method === 0) bytes = raw;
  else {
    // The output buffer has exactly the declared size: a longer stream is cut, so a lying header
    // cannot make fflate allocate more; the CRC check below then fails.
    try {
      const out = new Uint8Array(entry.size);
      bytes = entry.size === 0 ? out : inflateSync(raw, { out });
    } catch (e) {
      throw formatError('a readable deflate stream', (e as Error).message, entry.name);
    }
  }
  if (bytes.length !== entry.size) {
    throw formatError(`${entry.size} bytes (declared size)`, `${bytes.length} bytes`, entry.name);
  }
  if (crc32(bytes) !== entry.crc) {
    throw formatError(
      'data matching its CRC-32 (an entry longer than declared is cut here)',
      'mismatch',
      entry.name,
    );
  }
  return bytes;
}

/**
 * Reads every entry of a bundle archive into memory (see {@link openArchive}; readers of bundles
 * should prefer it, so that they can decide before inflating).
 * @example const entries = readArchive(readFileSync('model.edmp')); entries.get('manifest.json');
 */
export function readArchive(data: Uint8Array, limits: Partial<BundleLimits> = {}): Map<string, Uint8Array> {
  const a = openArchive(data, limits);
  return new Map(a.names.map((n) => [n, a.read(n)]));
}

function crc32(bytes: Uint8Array): number {
  // zlib.crc32 exists from Node 20.15; fall back to a table for older 20.x.
  const z = zlibCrc;
  if (z) return z(bytes) >>> 0;
  let c = ~0;
  for (let k = 0; k < bytes.length; k++) c = CRC_TABLE[(c ^ bytes[k]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const zlibCrc = (zlib as { crc32?: (b: Uint8Array) => number }).crc32;

// ---------------------------------------------------------------------------------------------
// Manifest validation
