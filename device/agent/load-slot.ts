/**
 * Loading a slot for the pipeline: the classifier from the slot's bundle (hashes re-checked) and its
 * golden self-check, the first half of the health gate.
 */
import { checkGolden, loadBundle } from '../bundle.js';
import { createClassifier, type Classifier } from '../classifier.js';
import type { AgentConfig } from './config.js';
import { AGENT_ERROR_CODES, AgentError, reasonOf } from './errors.js';
import type { Profile } from './profiles.js';
import type { Slot } from './store.js';

/**
 * Loads a slot's classifier and passes its golden self-check; throws E_AGENT_HEALTH (the runtime
 * refuses the model) or E_AGENT_GOLDEN (a golden sample gives another top-1).
 * @example const c = await loadSlot(agent, await agent.store.current());
 */
export async function loadSlot(
  a: { config: AgentConfig; profile: Profile },
  slot: Slot,
): Promise<Classifier> {
  let c: Classifier;
  try {
    c = await createClassifier({ bundle: slot.bundle, threads: a.config.threads ?? a.profile.threads });
  } catch (e) {
    throw new AgentError(AGENT_ERROR_CODES.health, {
      field: slot.name,
      expected: 'a model the runtime loads',
      received: reasonOf(e),
    });
  }
  try {
    const report = await checkGolden(c, await loadBundle(slot.bundle));
    const bad = report.results.find((r) => !r.ok);
    if (bad)
      throw new AgentError(AGENT_ERROR_CODES.golden, {
        field: bad.file,
        expected: `golden top-1 ${JSON.stringify(bad.expected.label)} (${report.passed}/${report.total} passed)`,
        received: bad.problem ?? bad.got?.label,
      });
    return c;
  } catch (e) {
    c.dispose();
    if (e instanceof AgentError) throw e;
    // The runtime failed on a golden sample (an Invoke error): the model cannot serve.
    throw new AgentError(AGENT_ERROR_CODES.health, {
      field: slot.name,
      expected: 'a model that runs its golden samples',
      received: reasonOf(e),
    });
  }
}
