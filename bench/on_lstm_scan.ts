// Run alone (`npx tsx bench/on_lstm_scan.ts [--T 64] [--B 8] [--in 16] [--n 32] [--q 4] [--runs 10]`):
// onLstm.apply's time loop as a JS loop (properties/on_lstm_js_loop.ts, the version before
// lax.scan) against lax.scan (models/on_lstm.ts), in one process: program size (equations at the
// top level of the traced program), trace time (makeJaxpr), first jit call (trace + compile + run)
// and median step times, eager and under jit, for the forward pass and the masked loss gradient.
import * as onLstm from '../models/on_lstm.js';
import * as loop from '../properties/on_lstm_js_loop.js';
import { dispose, grad, jit, makeJaxpr, np, random, scope, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const T = arg('T', 64), B = arg('B', 8), inDim = arg('in', 16), n = arg('n', 32), q = arg('q', 4), runs = arg('runs', 10);

const params = onLstm.init(random.key(0), inDim, n, { chunkSize: q });
const xs = random.normal(random.key(1), [B, T, inDim]);
const mask = np.less(np.broadcastTo(np.arange(T), [B, T]), np.expandDims(np.arange(B).mul(-3).add(T), -1)); // lengths T, T − 3, ...

const ms = (f: () => unknown) => {
  const t0 = performance.now();
  scope(() => {
    const out = f();
    const leaves = (v: unknown): NDArray[] => (v && typeof v === 'object' ? ('dataSync' in v ? [v as NDArray] : Object.values(v).flatMap(leaves)) : []);
    for (const a of leaves(out)) a.dataSync(); // wait for the values
    return null;
  });
  return performance.now() - t0;
};

type Apply = typeof onLstm.apply;
type Fn = (p: onLstm.OnLstmParams, x: NDArray) => unknown;
interface Contender { impl: string; what: string; f: Fn; j: ReturnType<typeof jit<Fn>>; eqns: number; first: number; trace: number[]; eager: number[]; jit: number[] }
const contenders: Contender[] = [];
for (const [impl, apply] of [['JS loop', loop.apply as Apply], ['lax.scan', onLstm.apply]] as const) {
  const fns: [string, Fn][] = [
    ['forward', (p, x) => apply(p, x, { chunkSize: q, mask }).h],
    ['grad (masked)', grad((p: onLstm.OnLstmParams, x: NDArray) => np.sum(np.tanh(apply(p, x, { chunkSize: q, mask }).h)))],
  ];
  for (const [what, f] of fns) contenders.push({ impl, what, f, j: jit(f), eqns: scope(() => makeJaxpr(f)(params, xs).jaxpr.eqns.length), first: 0, trace: [], eager: [], jit: [] });
}
// The two must agree before they are timed.
const [a, b] = [contenders[0]!, contenders[2]!].map((c) => scope(() => np.sum(c.f(params, xs) as NDArray).item()));
console.log(`check: sum of h, JS loop ${a}, lax.scan ${b}`);
for (const c of contenders) c.first = ms(() => c.j(params, xs));
for (let r = 0; r <= runs; r++) {
  for (const c of contenders) {
    const t = ms(() => makeJaxpr(c.f)(params, xs).jaxpr.eqns.length), e = ms(() => c.f(params, xs)), jj = ms(() => c.j(params, xs));
    if (r > 0) { c.trace.push(t); c.eager.push(e); c.jit.push(jj); } // round 0 warms up
  }
}
const rows = contenders.map((c) => [c.impl, c.what, String(c.eqns), median(c.trace).toFixed(1), c.first.toFixed(1), median(c.eager).toFixed(2), median(c.jit).toFixed(2)]);
for (const c of contenders) c.j.clearCache();
const head = ['impl', 'function', 'eqns', 'trace ms', 'jit 1st call ms', 'eager ms', 'jit ms'];
console.log(`ON-LSTM, B = ${B}, T = ${T}, in = ${inDim}, n = ${n}, chunkSize = ${q}, masked; medians of ${runs} interleaved rounds`);
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
dispose([xs, mask, params.wx, params.wh, params.b]);
