// np.polygamma(n, x) eagerly on 1e5 float32 points for n in {2, 10, 50, 100}: x in (0, 5] (where the
// recurrence runs longest) and x in (−5, 0) (the reflection to 1 − x plus π cot⁽ⁿ⁾); median ms per
// call over interleaved rounds. Usage: npx tsx bench/polygamma.ts [--backend cpu|wasm] [--rounds 5]
import { np, setBackend, getBackend, dispose, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const ri = args.indexOf('--rounds');
const rounds = ri >= 0 ? Number(args[ri + 1]) : 5;

const N = 100_000;
// A fixed low-discrepancy sequence (no RNG state): i·φ mod 1.
const u = Float32Array.from({ length: N }, (_, i) => (i * 0.6180339887498949) % 1);
const positive = np.array(u.map((v) => 0.01 + 5 * v));
const negative = np.array(u.map((v) => -5 * v - 1e-3).map((v) => (v === Math.round(v) ? v + 0.25 : v)));
const orders = [2, 10, 50, 100];
const cases: [string, () => NDArray][] = [];
for (const n of orders) cases.push([`n=${n} x∈(0,5]`, () => np.polygamma(n, positive)]);
for (const n of orders) cases.push([`n=${n} x∈(−5,0)`, () => np.polygamma(n, negative)]);
const samples = cases.map(() => [] as number[]);
for (let r = -1; r < rounds; r++) {
  cases.forEach(([, f], i) => {
    const t0 = performance.now();
    const out = f();
    out.dataSync();
    const ms = performance.now() - t0;
    dispose(out);
    if (r >= 0) samples[i]!.push(ms);
  });
}
console.log(`backend ${getBackend()}; ms per np.polygamma on ${N} points (medians of ${rounds} rounds)`);
cases.forEach(([name], i) => console.log(`${name.padEnd(18)} ${median(samples[i]!).toFixed(1).padStart(9)}`));
dispose([positive, negative]);
