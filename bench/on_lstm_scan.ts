// Run alone (`npx tsx bench/on_lstm_scan.ts [--T 64] [--B 8] [--in 16] [--n 32] [--q 4] [--runs 10]`):
// onLstm.apply's time loop as a JS loop (properties/on_lstm_js_loop.ts, the version before
// lax.scan) against lax.scan (models/on_lstm.ts), in one process (bench/loop_vs_scan.ts measures
// and prints), for the forward pass and the masked loss gradient.
import * as onLstm from '../models/on_lstm.js';
import * as loop from '../properties/on_lstm_js_loop.js';
import { dispose, grad, np, random, scope, type NDArray } from '../src/index.js';
import { cliNumber, compareLoopAndScan, type LoopOrScan } from './loop_vs_scan.js';

const T = cliNumber('T', 64), B = cliNumber('B', 8), inDim = cliNumber('in', 16), n = cliNumber('n', 32), q = cliNumber('q', 4), runs = cliNumber('runs', 10);

const params = onLstm.init(random.key(0), inDim, n, { chunkSize: q });
const xs = random.normal(random.key(1), [B, T, inDim]);
const mask = np.less(np.broadcastTo(np.arange(T), [B, T]), np.expandDims(np.arange(B).mul(-3).add(T), -1)); // lengths T, T − 3, ...

type Apply = typeof onLstm.apply;
const fns = ([['JS loop', loop.apply as Apply], ['lax.scan', onLstm.apply]] as const).flatMap(([impl, apply]): LoopOrScan<[onLstm.OnLstmParams, NDArray]>[] => [
  { impl, what: 'forward', f: (p, x) => apply(p, x, { chunkSize: q, mask }).h },
  { impl, what: 'grad (masked)', f: grad((p: onLstm.OnLstmParams, x: NDArray) => np.sum(np.tanh(apply(p, x, { chunkSize: q, mask }).h))) },
]);
// The two must agree before they are timed.
const [a, b] = [fns[0]!, fns[2]!].map((c) => scope(() => np.sum(c.f(params, xs) as NDArray).item()));
console.log(`check: sum of h, JS loop ${a}, lax.scan ${b}`);
compareLoopAndScan(`ON-LSTM, B = ${B}, T = ${T}, in = ${inDim}, n = ${n}, chunkSize = ${q}, masked`, [params, xs], fns, runs);
dispose([xs, mask, params.wx, params.wh, params.b]);
