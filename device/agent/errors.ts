/**
 * The agent's typed errors. A refused bundle or request is one AgentError with a code from
 * {@link AGENT_ERROR_CODES}; the agent reports it and keeps running the model it has.
 */
import { EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/** Machine-readable codes: what the deploy side branches on (docs/agent.md lists them). */
export const AGENT_ERROR_CODES = {
  unsigned: 'E_AGENT_UNSIGNED',
  wrongKey: 'E_AGENT_WRONG_KEY',
  badSignature: 'E_AGENT_BAD_SIGNATURE',
  tampered: 'E_AGENT_TAMPERED',
  badBundle: 'E_AGENT_BAD_BUNDLE',
  downgrade: 'E_AGENT_DOWNGRADE',
  incompatible: 'E_AGENT_INCOMPATIBLE',
  busy: 'E_AGENT_BUSY',
  interrupted: 'E_AGENT_INTERRUPTED',
  golden: 'E_AGENT_GOLDEN',
  health: 'E_AGENT_HEALTH',
  crashLoop: 'E_AGENT_CRASH_LOOP',
  badRequest: 'E_AGENT_BAD_REQUEST',
  noPrevious: 'E_AGENT_NO_PREVIOUS',
  store: 'E_AGENT_STORE',
  transfer: 'E_AGENT_TRANSFER',
} as const;
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[keyof typeof AGENT_ERROR_CODES];

/** A bundle, request or transfer the agent refused; `code` says why. */
export class AgentError extends EdgeDmpError {
  declare readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}

/** `code: message`, the `reason` string the agent reports for an error. */
export function reasonOf(e: unknown): string {
  if (e instanceof EdgeDmpError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
