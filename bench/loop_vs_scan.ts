// The runner behind the run-alone benchmarks that set a model's time loop written as a JS loop
// (properties/*_js_loop.ts, the version before lax.scan) against its lax.scan version
// (bench/crf_scan.ts, bench/on_lstm_scan.ts): program size (equations at the top level of the
// traced program), trace time (makeJaxpr), first jit call (trace + compile + run) and median step
// times, eager and under jit, printed as one table.
import { jit, makeJaxpr, scope, type NDArray } from '../src/index.js';
import { median } from './harness.js';

/** The number after `--name` on the command line, or `fallback`. */
export function cliNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

/** One timed function: which implementation (`JS loop`, `lax.scan`) and what it computes. */
export interface LoopOrScan<A extends unknown[]> {
  impl: string;
  what: string;
  f: (...args: A) => unknown;
}

/** Milliseconds `f` takes, its results read back (TF.js may be lazy on some backends) and freed. */
function ms(f: () => unknown): number {
  const t0 = performance.now();
  scope(() => {
    const leaves = (v: unknown): NDArray[] => (v && typeof v === 'object' ? ('dataSync' in v ? [v as NDArray] : Object.values(v).flatMap(leaves)) : []);
    for (const a of leaves(f())) a.dataSync();
    return null;
  });
  return performance.now() - t0;
}

/** Times each function on `args` and prints the table under `title`: medians of `runs` interleaved rounds after one warm-up round. */
export function compareLoopAndScan<A extends unknown[]>(title: string, args: A, fns: readonly LoopOrScan<A>[], runs: number): void {
  const contenders = fns.map(({ impl, what, f }) => ({
    impl, what, f, j: jit(f), eqns: scope(() => makeJaxpr(f)(...args).jaxpr.eqns.length), first: 0, trace: [] as number[], eager: [] as number[], jit: [] as number[],
  }));
  // First jit calls (trace + compile + run) before anything is warm, then interleaved rounds so that
  // load from elsewhere on the machine falls on every contender alike.
  for (const c of contenders) c.first = ms(() => c.j(...args));
  for (let r = 0; r <= runs; r++) {
    for (const c of contenders) {
      const t = ms(() => makeJaxpr(c.f)(...args).jaxpr.eqns.length), e = ms(() => c.f(...args)), jj = ms(() => c.j(...args));
      if (r > 0) { c.trace.push(t); c.eager.push(e); c.jit.push(jj); } // round 0 warms up
    }
  }
  const rows = contenders.map((c) => [c.impl, c.what, String(c.eqns), median(c.trace).toFixed(1), c.first.toFixed(1), median(c.eager).toFixed(2), median(c.jit).toFixed(2)]);
  for (const c of contenders) c.j.clearCache();
  const head = ['impl', 'function', 'eqns', 'trace ms', 'jit 1st call ms', 'eager ms', 'jit ms'];
  console.log(`${title}; medians of ${runs} interleaved rounds`);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
}
