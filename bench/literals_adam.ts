// A jitted adam step (grad + update + apply) over L tiny [4] leaves: the literals of each leaf's
// update (β's, ε, learning rate, the square's 2) are the same values on every leaf. Median ms per
// step and tensors made per step, to compare executor changes from two worktrees in turn.
// Usage: npx tsx bench/literals_adam.ts [--leaves 300] [--runs 30]
import { np, grad, jit, dispose, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { upcomingTensorId } from '../src/core.js';
import { timeIt } from './harness.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const L = opt('--leaves', 300), RUNS = opt('--runs', 30);
const params: Record<string, NDArray> = {};
for (let i = 0; i < L; i++) params[`p${i}`] = np.array([0.1 * i, 0.2, -0.3, 0.4], 'float32');
const loss = (p: Record<string, NDArray>) => Object.values(p).reduce((s, v) => np.add(s, np.sum(np.square(v))), np.array(0, 'float32'));
const tx = optim.adam(1e-3);
const state = tx.init(params);
const step = jit((p: Record<string, NDArray>, s: typeof state) => {
  const [updates, next] = tx.update(grad(loss)(p), s, p);
  return [optim.applyUpdates(p, updates), next] as const;
});
dispose(step(params, state));
const before = upcomingTensorId();
dispose(step(params, state));
const made = upcomingTensorId() - before;
const t = await timeIt({ name: 'adam step', run: () => step(params, state), free: dispose }, { warmup: 3, runs: RUNS });
console.log(`jit(adam step), ${L} leaves: median ${t.medianMs.toFixed(2)} ms, min ${t.minMs.toFixed(2)} ms over ${t.runs} runs; tensors made per step ${made}`);
step.clearCache();
