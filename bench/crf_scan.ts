// Run alone (`npx tsx bench/crf_scan.ts [--T 64] [--B 8] [--k 10] [--runs 10]`): the CRF's time
// loops as JS loops (properties/crf_js_loop.ts, the version before lax.scan) against lax.scan
// (models/crf.ts), in one process (bench/loop_vs_scan.ts measures and prints), for the nll
// gradient (emissions and transitions, masked) and Viterbi.
import * as crf from '../models/crf.js';
import * as loop from '../properties/crf_js_loop.js';
import { dispose, grad, np, random, type NDArray } from '../src/index.js';
import { cliNumber, compareLoopAndScan, type LoopOrScan } from './loop_vs_scan.js';

const T = cliNumber('T', 64), B = cliNumber('B', 8), k = cliNumber('k', 10), runs = cliNumber('runs', 10);

const e = random.normal(random.key(0), [B, T, k]), g = random.normal(random.key(1), [k, k]);
const y = random.randint(random.key(2), [B, T], 0, k);
const mask = np.less(np.broadcastTo(np.arange(T), [B, T]), np.expandDims(np.arange(B).mul(-3).add(T), -1)); // lengths T, T − 3, ...

type Impl = typeof crf;
const fns = ([['JS loop', loop as unknown as Impl], ['lax.scan', crf]] as const).flatMap(([impl, c]): LoopOrScan<[NDArray, NDArray]>[] => [
  { impl, what: 'grad nll', f: grad((ee: NDArray, gg: NDArray) => np.sum(c.nll(ee, y, gg, { mask })), { argnums: [0, 1] }) },
  { impl, what: 'viterbi', f: (ee, gg) => c.viterbi(ee, gg, { mask }) },
]);
compareLoopAndScan(`CRF, B = ${B}, T = ${T}, k = ${k}, masked`, [e, g], fns, runs);
dispose([e, g, y, mask]);
