// A long chain of small elementwise ops whose second operands are JS numbers (literals in the
// program), under jit and as TF.js eager ops, and the same chain with array operands instead. The
// jit executor's per-op overhead shows here, where kernels on small arrays cost little: literals
// cost it a tensor per use per run when not shared (src/executor.ts makes each distinct one once
// per run, and a scan body's once per loop); the last contender runs the chain as a scan.
// Run alone: npx tsx bench/literals.ts [--backend cpu|wasm] [--ops 1000] [--size 64]
import * as tf from '@tensorflow/tfjs-core';
import { getBackend, jit, lax, np, setBackend, type ConcreteArray, type NDArray } from '../src/index.js';
import { compare } from './harness.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const OPS = opt('--ops', 1000);
const SIZE = opt('--size', 64);
// Constants near 1 and 0 keep the values bounded over a thousand steps.
const MUL = 0.999, ADD = 0.001;

/** OPS/2 rounds of x·MUL + ADD, with JS numbers. */
function chainNumbers(x: NDArray): NDArray {
  for (let i = 0; i < OPS / 2; i++) x = np.add(np.multiply(x, MUL), ADD);
  return x;
}
/** The same with the constants as (scalar) array arguments. */
function chainArrays(x: NDArray, m: NDArray, a: NDArray): NDArray {
  for (let i = 0; i < OPS / 2; i++) x = np.add(np.multiply(x, m), a);
  return x;
}

const x = np.array(Array.from({ length: SIZE }, (_, i) => Math.sin(i)));
const m = np.array(MUL), a = np.array(ADD);
const tx = tf.tensor1d(Array.from({ length: SIZE }, (_, i) => Math.sin(i)));
const tm = tf.scalar(MUL), ta = tf.scalar(ADD);
const jitNumbers = jit(chainNumbers);
const jitArrays = jit(chainArrays);
// The same OPS ops as a scan of OPS/2 steps whose body has two literals (made per step before
// the body's literals were kept for the loop).
const jitScan = jit((v: NDArray) => lax.scan((c: NDArray) => [np.add(np.multiply(c, MUL), ADD), null] as const, v, null, { length: OPS / 2 })[0]);

const tfNumbers = () => tf.tidy(() => {
  let y: tf.Tensor = tx;
  for (let i = 0; i < OPS / 2; i++) y = tf.add(tf.mul(y, MUL), ADD);
  return y;
});
const tfArrays = () => tf.tidy(() => {
  let y: tf.Tensor = tx;
  for (let i = 0; i < OPS / 2; i++) y = tf.add(tf.mul(y, tm), ta);
  return y;
});

// Same values everywhere before timing (float32 rounding is the same op by op).
const check = [jitNumbers(x), jitArrays(x, m, a), jitScan(x)].map((r) => { const d = (r as ConcreteArray).dataSync(); (r as ConcreteArray).dispose(); return d; });
const ref = [tfNumbers(), tfArrays(), tfNumbers()].map((t) => { const d = t.dataSync(); t.dispose(); return d; });
const same = check.every((c, k) => c.every((v, i) => Object.is(v, ref[k]![i])));
const sync = (r: { dataSync(): unknown }) => void r.dataSync();
const free = (r: { dispose(): void }) => r.dispose();
const t = await compare([
  { name: 'jit, JS numbers', run: () => jitNumbers(x) as ConcreteArray, sync, free },
  { name: 'TF.js eager, JS numbers', run: tfNumbers, sync, free },
  { name: 'jit, array operands', run: () => jitArrays(x, m, a) as ConcreteArray, sync, free },
  { name: 'TF.js eager, array operands', run: tfArrays, sync, free },
  { name: 'jit scan, JS numbers', run: () => jitScan(x) as ConcreteArray, sync, free },
], { warmup: 5, rounds: 7, perRound: 5 });
const ms = (k: string) => t[k]!.medianMs;
console.log(`backend ${getBackend()}; chain of ${OPS} ops on [${SIZE}]; results bitwise equal to TF.js: ${same}`);
for (const k of Object.keys(t)) console.log(`${k.padEnd(28)} ${ms(k).toFixed(3).padStart(8)} ms`);
console.log(`ratio jit/eager, JS numbers:    ${(ms('jit, JS numbers') / ms('TF.js eager, JS numbers')).toFixed(2)}`);
console.log(`ratio jit/eager, array operands: ${(ms('jit, array operands') / ms('TF.js eager, array operands')).toFixed(2)}`);
console.log(`ratio jit scan/eager, JS numbers: ${(ms('jit scan, JS numbers') / ms('TF.js eager, JS numbers')).toFixed(2)}`);
jitNumbers.clearCache();
jitArrays.clearCache();
jitScan.clearCache();
console.log(`tensors alive after clearCache: ${tf.memory().numTensors} (inputs: 6)`);
