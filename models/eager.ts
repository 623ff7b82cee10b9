// Model functions called at the top level of user code free their intermediates, as np ops do
// (np.defop); inside transformations and scopes their enclosing scope does it.
import { np } from '../src/index.js';

/** `module` with every function property wrapped by np.defop (an (init, apply) pair, a loss object). */
export function freesIntermediates<T extends object>(module: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(module)) out[k] = typeof v === 'function' ? np.defop(v as (...a: unknown[]) => unknown) : v;
  return out as T;
}
