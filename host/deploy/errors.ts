/** Typed errors of the deploy tools (host side). */
import { EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/**
 * Codes: E_SSH (connect/auth/exec), E_HOST_KEY (the board's SSH host key is not the pinned or recorded one), E_PREFLIGHT (board cannot run the runtime, or profile mismatch),
 * E_TRANSFER (upload hash mismatch), E_RUNTIME (runtime install failed), E_DEPLOY (the agent refused or
 * rolled back), E_OTA (MQTT transfer).
 */
export type DeployErrorCode =
  'E_SSH' | 'E_HOST_KEY' | 'E_PREFLIGHT' | 'E_TRANSFER' | 'E_RUNTIME' | 'E_DEPLOY' | 'E_OTA';

export class DeployError extends EdgeDmpError {
  constructor(code: DeployErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}
