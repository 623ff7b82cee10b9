// Run alone (`npx tsx bench/crf_scan.ts [--T 64] [--B 8] [--k 10] [--runs 10]`): the CRF's time
// loops as JS loops (properties/crf_js_loop.ts, the version before lax.scan) against lax.scan
// (models/crf.ts), in one process: program size (equations at the top level of the traced
// program), trace time (makeJaxpr), first jit call (trace + compile + run) and median step times,
// eager and under jit, for the nll gradient (emissions and transitions, masked) and Viterbi.
import * as crf from '../models/crf.js';
import * as loop from '../properties/crf_js_loop.js';
import { dispose, grad, jit, makeJaxpr, np, random, scope, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const T = arg('T', 64), B = arg('B', 8), k = arg('k', 10), runs = arg('runs', 10);

const e = random.normal(random.key(0), [B, T, k]), g = random.normal(random.key(1), [k, k]);
const y = random.randint(random.key(2), [B, T], 0, k);
const mask = np.less(np.broadcastTo(np.arange(T), [B, T]), np.expandDims(np.arange(B).mul(-3).add(T), -1)); // lengths T, T − 3, ...

const ms = (f: () => unknown) => {
  const t0 = performance.now();
  scope(() => {
    const out = f();
    // wait for the values (TF.js may be lazy on some backends)
    for (const a of Array.isArray(out) ? out : [out]) if (a && typeof a === 'object' && 'dataSync' in a) (a as NDArray).dataSync();
    return null;
  });
  return performance.now() - t0;
};

type Impl = typeof crf;
type Fn = (a: NDArray, b: NDArray) => unknown;
interface Contender { impl: string; what: string; f: Fn; j: ReturnType<typeof jit<Fn>>; eqns: number; first: number; trace: number[]; eager: number[]; jit: number[] }
const contenders: Contender[] = [];
for (const [impl, c] of [['JS loop', loop as unknown as Impl], ['lax.scan', crf]] as const) {
  const fns: [string, Fn][] = [
    ['grad nll', grad((ee: NDArray, gg: NDArray) => np.sum(c.nll(ee, y, gg, { mask })), { argnums: [0, 1] })],
    ['viterbi', (ee: NDArray, gg: NDArray) => c.viterbi(ee, gg, { mask })],
  ];
  for (const [what, f] of fns) contenders.push({ impl, what, f, j: jit(f), eqns: scope(() => makeJaxpr(f)(e, g).jaxpr.eqns.length), first: 0, trace: [], eager: [], jit: [] });
}
// First jit calls (trace + compile + run) before anything is warm, then interleaved rounds so that
// load from elsewhere on the machine falls on every contender alike.
for (const c of contenders) c.first = ms(() => c.j(e, g));
for (let r = 0; r <= runs; r++) {
  for (const c of contenders) {
    const t = ms(() => makeJaxpr(c.f)(e, g).jaxpr.eqns.length), a = ms(() => c.f(e, g)), b = ms(() => c.j(e, g));
    if (r > 0) { c.trace.push(t); c.eager.push(a); c.jit.push(b); } // round 0 warms up
  }
}
const rows = contenders.map((c) => [c.impl, c.what, String(c.eqns), median(c.trace).toFixed(1), c.first.toFixed(1), median(c.eager).toFixed(2), median(c.jit).toFixed(2)]);
for (const c of contenders) c.j.clearCache();
const head = ['impl', 'function', 'eqns', 'trace ms', 'jit 1st call ms', 'eager ms', 'jit ms'];
console.log(`CRF, B = ${B}, T = ${T}, k = ${k}, masked; medians of ${runs} interleaved rounds`);
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
dispose([e, g, y, mask]);
