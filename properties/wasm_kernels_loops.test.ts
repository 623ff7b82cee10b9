// The comparison, maximum/minimum, select and clamp (float32, int32) kernels' 16-elements-a-pass loops (src/wasm_kernels_wat.ts:
// blockLoops, one template for every kernel and layout) write exactly the bytes of the same kernels
// with their four-lane loops alone (kernelsWat({ unroll: false })), and the values a JS reference
// computes (IEEE comparisons, Math.max/min, c ? a : b, signed int extrema; NaN as any NaN): both
// modules run on one memory over the same random operands (NaN with random payloads and both signs,
// ±0, ±∞, subnormals, random bit patterns; condition bytes 0, 1 and other nonzero values), for every
// length 0..70 and 1000003 (each remainder modulo 16 and 4), every operand layout (both full-size, a
// single, b single, both single; clamp's lo and hi likewise), unaligned operands, and the bytes just
// past the output (they must stay untouched).
import fc from 'fast-check';
import wabtFactory from 'wabt';
import { describe, expect, it } from 'vitest';
import { CLAMP_DTYPES, COMPARISONS, EXTREMA, kernelsWat } from '../src/wasm_kernels_wat.js';
import { FC_SEED } from './helpers.js';

type Kernel = (...args: number[]) => void;

async function instantiate(wat: string, memory: WebAssembly.Memory): Promise<Record<string, Kernel>> {
  const wabt = await wabtFactory();
  const parsed = wabt.parseWat('k.wat', wat, { simd: true });
  try {
    parsed.resolveNames();
    parsed.validate();
    const module = new WebAssembly.Module(Uint8Array.from(parsed.toBinary({ log: false }).buffer));
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Record<string, Kernel>;
  } finally {
    parsed.destroy();
  }
}

const BIG = 1000003;
const SPECIAL = [0, -0, Infinity, -Infinity, NaN, 1, -1, 1e-45, -1e-45, 3.4028234663852886e38];

/** A seeded generator of float32 bit patterns weighted towards the special values. */
function fillOperand(u32: Uint32Array, seed: number): void {
  const f32 = new Float32Array(u32.buffer, u32.byteOffset, u32.length);
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s >>> 0; };
  for (let i = 0; i < u32.length; i++) {
    const r = next() % 8;
    if (r < 3) f32[i] = SPECIAL[next() % SPECIAL.length]!;
    else if (r === 3) u32[i] = (0x7f800000 | (next() & 0x807fffff) | 1) >>> 0; // a NaN: random sign and payload
    else if (r === 4) f32[i] = (next() % 7) - 3; // small integers: equal pairs for eq/le/ge, equal zeros
    else u32[i] = next();
  }
}

describe('wasm elementwise kernels with 16-a-pass loops', async () => {
  // operands at byte offsets 4 past a 16-byte boundary (the unrolled loads must not assume alignment)
  const n = BIG, pad = 64;
  const after = (start: number, bytes: number) => ((start + bytes + pad) & ~15) + 4;
  const A = 4, B = after(A, 4 * n), C = after(B, 4 * n), H = after(C, n), OUT_OLD = after(H, 4 * n), OUT_NEW = after(OUT_OLD, 4 * n);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((OUT_NEW + 4 * n + pad) / 65536) + 1 });
  const [oldK, newK] = [await instantiate(kernelsWat({ unroll: false }), memory), await instantiate(kernelsWat(), memory)];
  const bytes = new Uint8Array(memory.buffer);

  const seedOperands = (seed: number) => {
    fillOperand(new Uint32Array(memory.buffer, A, n), seed);
    fillOperand(new Uint32Array(memory.buffer, B, n), seed ^ 0x9e3779b9);
    fillOperand(new Uint32Array(memory.buffer, H, n), seed ^ 0x7f4a7c15);
    let s = (seed * 2654435761) >>> 0 || 7;
    for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; const r = (s >>> 0) % 5; bytes[C + i] = r < 2 ? 0 : r < 4 ? 1 : (s >>> 8) & 0xff || 2; }
  };

  /** Runs `name` old and new at length `len` and layout, over sentinel-filled outputs; the first differing byte, or -1. */
  const compare = (name: string, len: number, aOne: number, bOne: number): number => {
    const outBytes = name.startsWith('cmp_') ? 1 : 4;
    const span = outBytes * len + pad;
    bytes.fill(0xa5, OUT_OLD, OUT_OLD + span);
    bytes.fill(0xa5, OUT_NEW, OUT_NEW + span);
    const args = (out: number) => (name === 'select_f32' ? [C, A, B, out, len, aOne, bOne]
      : name.startsWith('clamp_') ? [A, B, H, out, len, aOne, bOne] // (lo, x, hi: aOne and bOne say lo and hi are single)
      : [A, B, out, len, aOne, bOne]);
    oldK[name]!(...args(OUT_OLD));
    newK[name]!(...args(OUT_NEW));
    for (let i = 0; i < span; i++) if (bytes[OUT_OLD + i] !== bytes[OUT_NEW + i]) return i;
    const wrong = againstReference(name, len, aOne, bOne);
    if (wrong >= 0) return 1e9 + wrong;
    // (and the old kernel itself left the bytes past the output alone)
    for (let i = outBytes * len; i < span; i++) if (bytes[OUT_OLD + i] !== 0xa5) return -2;
    return -1;
  };

  /** The first element where the new kernel's output differs from a JS reference (NaN matching any NaN), or -1. */
  const againstReference = (name: string, len: number, aOne: number, bOne: number): number => {
    const f32 = (at: number) => new Float32Array(memory.buffer, at, len || 1), i32 = (at: number) => new Int32Array(memory.buffer, at, len || 1);
    const isInt = name === 'clamp_i32';
    const [a, b, h] = isInt ? [i32(A), i32(B), i32(H)] : [f32(A), f32(B), f32(H)];
    const out = name.startsWith('cmp_') ? new Uint8Array(memory.buffer, OUT_NEW, len) : isInt ? i32(OUT_NEW) : f32(OUT_NEW);
    const at = (v: Float32Array | Int32Array, one: number, i: number) => v[one ? 0 : i]!;
    const cmp: Record<string, (x: number, y: number) => boolean> = { eq: (x, y) => x === y, ne: (x, y) => x !== y, lt: (x, y) => x < y, le: (x, y) => x <= y, gt: (x, y) => x > y, ge: (x, y) => x >= y };
    for (let i = 0; i < len; i++) {
      let want: number;
      if (name.startsWith('cmp_')) want = cmp[name.slice(4, 6)]!(at(a, aOne, i), at(b, bOne, i)) ? 1 : 0;
      else if (name === 'max_f32') want = Math.max(at(a, aOne, i), at(b, bOne, i));
      else if (name === 'min_f32') want = Math.min(at(a, aOne, i), at(b, bOne, i));
      else if (name === 'select_f32') want = bytes[C + i] !== 0 ? at(a, aOne, i) : at(b, bOne, i);
      // clamp: lo at A (aOne), x at B (full-size), hi at H (bOne)
      else want = Math.min(Math.max(b[i]!, at(a, aOne, i)), at(h, bOne, i));
      const got = out[i]!;
      if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) return i;
    }
    return -1;
  };

  const kernels = [...COMPARISONS.map((op) => `cmp_${op}_f32`), ...EXTREMA.map((op) => `${op}_f32`), 'select_f32', ...CLAMP_DTYPES.map((t) => `clamp_${t}`)];
  const layouts = [[0, 0], [1, 0], [0, 1], [1, 1]] as const;

  it('bit-identical to the four-lane loops, and equal to the JS reference, at every length 0..70, every layout and kernel', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
      seedOperands(seed);
      for (const name of kernels) for (const [aOne, bOne] of layouts) for (let len = 0; len <= 70; len++) {
        expect(compare(name, len, aOne, bOne), `${name} at length ${len}, aOne ${aOne}, bOne ${bOne}, seed ${seed}`).toBe(-1);
      }
    }), { seed: FC_SEED, numRuns: 4 });
  });

  it('bit-identical to the four-lane loops, and equal to the JS reference, at length 1000003 (remainder 3 after the 16-a-pass loop), every layout and kernel', () => {
    seedOperands(12345);
    for (const name of kernels) for (const [aOne, bOne] of layouts) {
      expect(compare(name, BIG, aOne, bOne), `${name}, aOne ${aOne}, bOne ${bOne}`).toBe(-1);
    }
  });

  it('clamp_f32 with two single bounds (its pmax/pmin loop): every pair of special bounds (±0, ±∞, NaN, lo > hi) gives the four-lane loop\'s bits and the reference\'s values', () => {
    const f = new Float32Array(memory.buffer), u = new Uint32Array(memory.buffer);
    const bounds = [0, -0, Infinity, -Infinity, NaN, 1, -1, 2.5, -1e-45, 3.4028234663852886e38];
    seedOperands(777);
    // x: no NaN but in one block of 16 (a NaN block runs max and min themselves), ±0 and each bound's value among the rest
    const pool = [0, -0, 1, -1, 2.5, -2.5, Infinity, -Infinity, 1e-45, -1e-45, 3.4028234663852886e38, 0.5];
    for (let i = 0; i < 200; i++) f[B / 4 + i] = pool[(i * 7 + (i >> 3)) % pool.length]!;
    u[B / 4 + 37] = 0x7fc0beef;
    for (const lo of bounds) for (const hi of bounds) {
      f[A / 4] = lo;
      f[H / 4] = hi;
      if (Number.isNaN(lo)) u[A / 4] = 0xffc01234; // (a NaN with a sign and a payload)
      for (const len of [16, 47, 64, 200]) expect(compare('clamp_f32', len, 1, 1), `lo ${lo}, hi ${hi}, length ${len}`).toBe(-1);
    }
  });

  it('the unrolled text differs from the old only in the comparison, extremum, select and clamp kernels, and does not just reproduce it', () => {
    const strip = (w: string) => w.replace(/\(func \(export "(cmp_\w+|max_f32|min_f32|select_f32|clamp_\w+)"\)[\s\S]*?(?=\n {2}\(func|\n\)\n$)/g, '');
    expect(kernelsWat()).not.toBe(kernelsWat({ unroll: false }));
    expect(strip(kernelsWat())).toBe(strip(kernelsWat({ unroll: false })));
  });
});
