// np.at(x, i).set/multiply/min/max under jit with traced indices (M = 10⁴ writes into S = 10⁶
// entries), lax.dynamicUpdateSlice (8×64 into 64×64, and 10³ into 10⁶) eager and with traced
// starts, and np.at with concrete indices, on the active backend: medians and minima. Run alone: npx tsx bench/np_at.ts [--backend cpu|wasm]
import { jit, lax, np, setBackend, getBackend, type ConcreteArray, type NDArray } from '../src/index.js';
import { compare } from './harness.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const free = (r: NDArray) => (r as ConcreteArray).dispose();
const read = (r: NDArray) => { r.dataSync(); };
const fmt = (t: Record<string, { medianMs: number; minMs: number }>) =>
  Object.entries(t).map(([n, v]) => `  ${n.padEnd(44)} median ${v.medianMs.toFixed(3).padStart(9)} ms   min ${v.minMs.toFixed(3).padStart(9)} ms`).join('\n');
console.log(`backend ${getBackend()}`);

const S = 1_000_000, M = 10_000;
const x = np.linspace(-1, 1, S), v = np.linspace(-2, 2, M);
const i = np.array(Array.from({ length: M }, (_, k) => (k * 7919) % (S + 50) - 25), 'int32');
const kinds = ['set', 'multiply', 'min', 'max'] as const;
const fs = kinds.map((k) => jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c)[k](b)));
const t1 = await compare(kinds.map((k, j) => ({ name: `jit np.at(x, i).${k} M=1e4 S=1e6`, run: () => fs[j]!(x, i, v), sync: read, free })), { warmup: 2, rounds: 5, perRound: 2 });
console.log(fmt(t1));

const a = np.linspace(0, 1, 64 * 64).reshape([64, 64]), u = np.ones([8, 64]);
const big = np.zeros([S]), ub = np.ones([1000]);
const jd = jit((xx: NDArray, uu: NDArray, s: NDArray) => lax.dynamicUpdateSlice(xx, uu, [s]));
const jd2 = jit((xx: NDArray, uu: NDArray, s: NDArray, s2: NDArray) => lax.dynamicUpdateSlice(xx, uu, [s, s2]));
const st = np.array(5000, 'int32'), s3 = np.array(3, 'int32'), s0 = np.array(0, 'int32');
const t2 = await compare([
  { name: 'eager dynamicUpdateSlice 8x64 into 64x64', run: () => lax.dynamicUpdateSlice(a, u, [3, 0]), sync: read, free },
  { name: 'eager dynamicUpdateSlice 1e3 into 1e6', run: () => lax.dynamicUpdateSlice(big, ub, [5000]), sync: read, free },
  { name: 'jit dynamicUpdateSlice 8x64 traced start', run: () => jd2(a, u, s3, s0), sync: read, free },
  { name: 'jit dynamicUpdateSlice 1e3 traced start', run: () => jd(big, ub, st), sync: read, free },
  { name: 'eager np.at(x, [3 idx]).multiply S=1e6', run: () => np.at(x, np.array([1, 5, 9], 'int32')).multiply(2), sync: read, free },
], { warmup: 3, rounds: 7, perRound: 5 });
console.log(fmt(t2));
