/** Typed errors of the deploy tools (host side). */
import { EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/**
 * Codes: E_SSH (connect/auth/exec), E_PREFLIGHT (board cannot run the runtime, or profile mismatch),
 * E_TRANSFER (upload hash mismatch), E_RUNTIME (runtime install failed), E_DEPLOY (the agent refused or
 * rolled back), E_OTA (MQTT transfer).
 */
export type DeployErrorCode = 'E_SSH' | 'E_PREFLIGHT' | 'E_TRANSFER' | 'E_RUNTIME' | 'E_DEPLOY' | 'E_OTA';

export class DeployError extends EdgeDmpError {
  constructor(code: DeployErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}
