// Run alone (`npx tsx bench/scan_unroll.ts [--backend wasm|cpu] [--T 128] [--B 8] [--n 16] [--runs 20] [--clock cpu|wall]`):
// lax.scan's `unroll` on a small body (an RNN cell h = tanh(h·W + x), y = h²) under jit, forward
// and gradient, for unroll 1, 2, 4, 8, 16 and true: the first call (trace + compile + run) and the
// median and fastest of interleaved rounds. Every unroll is checked to give the bits of unroll = 1.
// With --clock cpu (the default) the times are the process's CPU time per call, which a loaded
// machine inflates less than wall time.
import { grad, jit, np, random, scan, scope, setBackend, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : process.argv[i + 1]!;
};
const T = Number(arg('T', '128')), B = Number(arg('B', '8')), n = Number(arg('n', '16')), runs = Number(arg('runs', '20'));
const clock = arg('clock', 'cpu');
await setBackend(arg('backend', 'wasm'));

const xs = random.normal(random.key(1), [T, B, n]);
const w = random.normal(random.key(2), [n, n]).mul(0.3);
const h0 = np.zeros([B, n]);

/** The float32 words of an array, hashed (FNV-1a): equal hashes, equal bits. */
const hash = (a: NDArray) => {
  let h = 2166136261;
  for (const v of new Uint32Array(new Float32Array(a.dataSync()).buffer)) h = Math.imul(h ^ v, 16777619) >>> 0;
  return h;
};
const ms = (f: () => NDArray): [number, number] => {
  const w0 = performance.now(), c0 = process.cpuUsage();
  let h = 0;
  scope(() => {
    h = hash(f());
    return null;
  });
  const c = process.cpuUsage(c0);
  return [clock === 'cpu' ? (c.user + c.system) / 1000 : performance.now() - w0, h];
};

const unrolls: (number | boolean)[] = [1, 2, 4, 8, 16, true];
const contenders = unrolls.map((unroll) => {
  const loss = (w: NDArray, xs: NDArray) => np.sum(scan((h: NDArray, x: NDArray) => {
    const next = np.tanh(np.add(np.matmul(h, w), x));
    return [next, np.multiply(next, next)] as [NDArray, NDArray];
  }, h0, xs, { unroll })[1]);
  return { unroll, fwd: jit(loss), bwd: jit(grad(loss)), first: [0, 0], times: [[], []] as number[][], hashes: [0, 0] };
});
for (const c of contenders) [c.fwd, c.bwd].forEach((f, k) => ([c.first[k], c.hashes[k]] = ms(() => f(w, xs))));
for (let r = 0; r <= runs; r++) {
  for (const c of r % 2 ? contenders : [...contenders].reverse()) {
    [c.fwd, c.bwd].forEach((f, k) => {
      const [t] = ms(() => f(w, xs));
      if (r > 0) c.times[k]!.push(t); // round 0 warms up
    });
  }
}
console.log(`scan unroll, RNN cell B = ${B}, n = ${n}, T = ${T}, jit, ${clock === 'cpu' ? 'CPU' : 'wall'} ms; medians (fastest) of ${runs} interleaved rounds`);
const base = contenders[0]!;
for (const c of contenders) {
  const same = c.hashes.every((h, k) => h === base.hashes[k]) ? 'same bits as unroll=1' : 'DIFFERENT BITS from unroll=1';
  const [f, b] = c.times.map((t) => `${median(t).toFixed(2)} (${Math.min(...t).toFixed(2)})`);
  console.log(`unroll=${String(c.unroll).padEnd(5)} first call fwd ${c.first[0]!.toFixed(1)} grad ${c.first[1]!.toFixed(1)}  forward ${f}  grad ${b}  ${same}`);
  c.fwd.clearCache();
  c.bwd.clearCache();
}
