// gradus's comparison, maximum/minimum, select and clamp wasm kernels with their 16-a-pass loops against
// the same kernels as they were (kernelsWat({ unroll: false })), both instantiated on one memory and
// called directly (no TF.js dispatch), on [256, 1024] and [8, 8] float32, for each operand layout
// (both full-size, a single, b single; for clamp lo and hi, and both single). Old and new alternate within each round, so the load of a
// shared machine disturbs both alike; medians of the rounds, ns per call.
// Usage: npx tsx bench/wasm_loops.ts [--rounds 15]
import wabtFactory from 'wabt';
import { kernelsWat } from '../src/wasm_kernels_wat.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 15);

async function assemble(wat: string): Promise<WebAssembly.Module> {
  const wabt = await wabtFactory();
  const parsed = wabt.parseWat('k.wat', wat, { simd: true });
  parsed.resolveNames();
  parsed.validate();
  const bytes = Uint8Array.from(parsed.toBinary({ log: false }).buffer);
  parsed.destroy();
  return new WebAssembly.Module(bytes);
}

const sizes = [256 * 1024, 64];
const memory = new WebAssembly.Memory({ initial: Math.ceil((5 * 4 * sizes[0]! + 65536) / 65536) });
const [oldK, newK] = await Promise.all([kernelsWat({ unroll: false }), kernelsWat()].map(async (w) =>
  new WebAssembly.Instance(await assemble(w), { env: { memory } }).exports as Record<string, (...a: number[]) => void>));
const N = sizes[0]!, A = 0, B = 4 * N, C = 8 * N, OUT = 12 * N, H = 16 * N;
const f = new Float32Array(memory.buffer);
for (let i = 0; i < 2 * N; i++) f[i] = Math.sin(i * 0.37) * 3;
for (let i = 0; i < N; i++) f[H / 4 + i] = 1 + Math.cos(i);
new Uint8Array(memory.buffer, C, N).forEach((_, i, u) => { u[i] = (i * 7) % 3 === 0 ? 1 : 0; });

// (fill_f32 and axpy_f32 were measured with the same 16-a-pass loop too: 1.03-1.13x, within noise
// of these memory-bound loops, so they kept their four-lane loop)
const kernels = ['cmp_lt_f32', 'cmp_eq_f32', 'max_f32', 'min_f32', 'select_f32', 'clamp_f32', 'clamp_i32'];
const layouts = [[0, 0], [1, 0], [0, 1]] as const;
/** ns per call of `fn` at n elements and `layout`, over enough calls to take ~2 ms. */
function time(fn: (...a: number[]) => void, name: string, n: number, [aOne, bOne]: readonly [number, number]): number {
  const calls = Math.max(1, Math.round(2e5 / n));
  const call = name === 'select_f32' ? () => fn(C, A, B, OUT, n, aOne, bOne)
    : name.startsWith('clamp') ? () => fn(A, B, H, OUT, n, aOne, bOne)
    : () => fn(A, B, OUT, n, aOne, bOne);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) call();
  return ((performance.now() - t0) * 1e6) / calls;
}
console.log(`ns per call, medians of ${rounds} rounds (old and new alternating); layout: full/full, a single, b single`);
console.log(['kernel'.padEnd(12), 'n'.padStart(7), 'layout'.padStart(9), 'old'.padStart(9), 'new'.padStart(9), 'speedup'.padStart(8)].join(' '));
for (const name of kernels) for (const n of sizes) for (const layout of name.startsWith('clamp') ? [...layouts, [1, 1] as const] : layouts) {
  const o: number[] = [], w: number[] = [];
  for (let r = -1; r < rounds; r++) {
    const to = time(oldK[name]!, name, n, layout), tn = time(newK[name]!, name, n, layout);
    if (r >= 0) { o.push(to); w.push(tn); }
  }
  const label = layout[0] && layout[1] ? 'both sgl' : layout[0] ? 'a single' : layout[1] ? 'b single' : 'full';
  console.log([name.padEnd(12), String(n).padStart(7), label.padStart(9), median(o).toFixed(0).padStart(9), median(w).toFixed(0).padStart(9), (median(o) / median(w)).toFixed(2).padStart(8)].join(' '));
}
