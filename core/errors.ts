/**
 * Typed errors. Every error that reaches a user names the field (option, file, layer,
 * frame...), what was expected and what came, so scripts can branch on `code` and
 * people can fix the input without reading source.
 */

export interface ErrorDetail {
  /** The option, file, layer or JSON field at fault, e.g. `--width-mult` or `data_batch_1.bin`. */
  field: string;
  /** What was expected, in words. */
  expected: string;
  /** What came instead (stringified, truncated). */
  received?: unknown;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** Base class of every error edge-dmp throws on purpose. */
export class EdgeDmpError extends Error {
  readonly code: string;
  readonly field: string;
  readonly expected: string;
  readonly received: unknown;

  constructor(code: string, detail: ErrorDetail, message?: string) {
    super(message ?? `${detail.field}: expected ${detail.expected}, got ${show(detail.received)}`);
    this.name = new.target.name;
    this.code = code;
    this.field = detail.field;
    this.expected = detail.expected;
    this.received = detail.received;
  }
}

/** A bad option or argument (CLI flag, API option). */
export class ConfigError extends EdgeDmpError {
  constructor(detail: ErrorDetail, message?: string) {
    super('E_CONFIG', detail, message);
  }
}

/** A dataset file or folder that is missing, truncated or malformed. */
export class DataError extends EdgeDmpError {
  constructor(detail: ErrorDetail, message?: string) {
    super('E_DATA', detail, message);
  }
}

/** A model that cannot be built, saved, loaded or converted. */
export class ModelError extends EdgeDmpError {
  constructor(detail: ErrorDetail, message?: string) {
    super('E_MODEL', detail, message);
  }
}

/** Throws ConfigError unless `cond` holds. */
export function check(cond: unknown, detail: ErrorDetail): asserts cond {
  if (!cond) throw new ConfigError(detail);
}
