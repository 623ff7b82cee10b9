// The MLP SGD step of mlp_step.ts (784-512-512-10, batch 128) under jit alone: median ms per step
// and the tensors one step makes, to compare executor changes (run it from two worktrees in turn;
// mlp_step.ts times every contender and takes minutes). Usage: npx tsx bench/literals_mlp.ts [--runs 40]
import { dispose, grad, jit, makeJaxpr, tree, np, type NDArray } from '../src/index.js';
import { upcomingTensorId } from '../src/core.js';
import { BATCH, SIZES, mlpLoss } from './mlp_step.js';
import { makeMlpData, toGradus } from './data.js';
import { timeIt } from './harness.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--runs');
const RUNS = ri >= 0 ? Number(args[ri + 1]) : 40;
const LR = 0.01;
type Params = { w: NDArray; b: NDArray }[];

function sgdStep(params: Params, x: NDArray, y: NDArray): Params {
  const g = grad(mlpLoss)(params, x, y);
  return tree.map((p: NDArray, d: NDArray) => np.subtract(p, np.multiply(d, LR)), params, g) as Params;
}

const g = toGradus(makeMlpData(SIZES, BATCH, 0));
const step = jit(sgdStep);
dispose(step(g.params, g.x, g.y));
const before = upcomingTensorId();
dispose(step(g.params, g.x, g.y));
const made = upcomingTensorId() - before;
const literals = (makeJaxpr(sgdStep)(g.params, g.x, g.y).toString().match(/ -?(\d|NaN|Infinity|true|false)[\d.e+-]*(?=[\s)])/g) ?? []).length;
const t = await timeIt({ name: 'jit(step)', run: () => step(g.params, g.x, g.y), sync: (r) => void (r[0]!.b as { dataSync(): unknown }).dataSync(), free: dispose }, { warmup: 5, runs: RUNS });
console.log(`jit(step) median ${t.medianMs.toFixed(2)} ms, min ${t.minMs.toFixed(2)} ms over ${t.runs} runs; tensors made per step ${made}; literal uses in the traced program ~${literals}`);
step.clearCache();
