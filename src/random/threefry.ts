/**
 * Threefry-2x32 kernels behind gradus's JAX-style explicit PRNG keys: pure functions on typed
 * arrays, no tfjs, no state. The primitives in `src/random` wrap these.
 *
 * A key is JAX's raw `uint32[2]` key. Keys travel batched: a `Uint32Array` of 2·n words holds n
 * keys, key k in words [2k, 2k + 1]. Every sampler draws `count` values per key and returns them
 * key-major (shape [n, count], row k from key k alone), so a batched call equals stacking
 * single-key calls — the property `vmap` needs.
 *
 * Bit layout: JAX's "partitionable" threefry (`jax_threefry_partitionable=True`, JAX's default
 * since 0.5.0). With (y0, y1) = threefry2x32(key, (hi(i), lo(i))) = threefry2x32(key, (0, i)):
 *   split(key, num)[j]     = threefry2x32(key, (0, j))
 *   randomBits(key, c)[i]  = y0 ^ y1 for counter (0, i)        (so a shorter draw is a prefix)
 *   foldIn(key, d)         = threefry2x32(key, (0, d))          (identical in both JAX layouts)
 * The tests check these bitwise against outputs published from JAX (`split(key(0), 8)`,
 * `fold_in(key(0), 3)`, `uniform(key(0), (4,))`). The legacy layout (halved iota counters) is
 * not implemented; `threefry2x32` is the shared block function, so it can be built on top.
 */
import { normalQuantile } from '../special.js';

/** Key-schedule parity constant of Threefry (Random123, Salmon et al. 2011, §3.2). */
const SKEIN_PARITY = 0x1bd11bda;
const TWO_POW_32 = 4294967296;
const TWO_POW_M23 = 1.1920928955078125e-7; // 2^-23, one float32 ulp in [1, 2)
const TWO_POW_M24 = 5.9604644775390625e-8; // 2^-24
const FLOAT32_TINY = 1.1754943508222875e-38; // smallest normal float32, JAX's finfo.tiny

// The block function writes here instead of returning a pair: no allocation per element.
const blockOut = new Int32Array(2);

/**
 * One Threefry-2x32 block, 20 rounds, rotations [13,15,26,6] / [17,29,16,24], a key injection
 * every 4 rounds (`jax._src.prng._threefry2x32_lowering`). Arithmetic stays in int32 (`| 0`);
 * storing into a Uint32Array reinterprets the same 32 bits.
 */
function threefryBlock(ks0: number, ks1: number, ks2: number, x0: number, x1: number): void {
  x0 = (x0 + ks0) | 0;
  x1 = (x1 + ks1) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + ks1) | 0; x1 = (x1 + ks2 + 1) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + ks2) | 0; x1 = (x1 + ks0 + 2) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + ks0) | 0; x1 = (x1 + ks1 + 3) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + ks1) | 0; x1 = (x1 + ks2 + 4) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  blockOut[0] = (x0 + ks2) | 0;
  blockOut[1] = (x1 + ks0 + 5) | 0;
}

// ---------------------------------------------------------------------------------------------
// Argument checks. Errors name the operation, the argument and what was expected.

function keyCount(op: string, keys: Uint32Array): number {
  if (!(keys instanceof Uint32Array) || keys.length % 2 !== 0) {
    const got = keys instanceof Uint32Array ? `a Uint32Array of length ${keys.length}` : String(keys);
    throw new TypeError(`${op}: keys must be a Uint32Array of 2·n words (n raw keys); got ${got}`);
  }
  return keys.length / 2;
}

function checkCount(op: string, name: string, value: number, max = TWO_POW_32 - 1): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, ${max}]; got ${value}`);
  }
}

/** A uint32 given as a number; negative int32 values wrap as two's complement. */
function toUint32(op: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < -0x80000000 || value >= TWO_POW_32) {
    throw new RangeError(`${op}: ${name} must be an integer in [-2^31, 2^32) (a uint32); got ${value}`);
  }
  return value >>> 0;
}

/** Which row of a per-key table applies to draw j of key k: one shared row, one per key, or one per draw. */
function rowsPerKey(op: string, name: string, rows: number, n: number, count: number): 0 | 1 | 2 {
  if (rows === 1) return 0;
  if (rows === n) return 1;
  if (rows === n * count) return 2;
  throw new RangeError(
    `${op}: ${name} must hold 1 row (shared), n=${n} rows (one per key) or n·count=${n * count} rows ` +
      `(one per draw); got ${rows} rows`,
  );
}

// ---------------------------------------------------------------------------------------------
// Keys.

/**
 * Threefry-2x32 on counter pairs: `[y0, y1]` with (y0[i], y1[i]) the block of (x0[i], x1[i])
 * under key (key0, key1). Like `jax._src.prng.threefry2x32_p`.
 * @example threefry2x32(0, 0, Uint32Array.of(0), Uint32Array.of(0)) // [[0x6b200159], [0x99ba4efe]]
 */
export function threefry2x32(
  key0: number,
  key1: number,
  x0: Uint32Array,
  x1: Uint32Array,
): [Uint32Array, Uint32Array] {
  const k0 = toUint32('threefry2x32', 'key0', key0) | 0;
  const k1 = toUint32('threefry2x32', 'key1', key1) | 0;
  if (x0.length !== x1.length) {
    throw new RangeError(`threefry2x32: x0 and x1 must have equal lengths; got ${x0.length} and ${x1.length}`);
  }
  const ks2 = k0 ^ k1 ^ SKEIN_PARITY;
  const y0 = new Uint32Array(x0.length);
  const y1 = new Uint32Array(x0.length);
  for (let i = 0; i < x0.length; i++) {
    threefryBlock(k0, k1, ks2, x0[i] | 0, x1[i] | 0);
    y0[i] = blockOut[0];
    y1[i] = blockOut[1];
  }
  return [y0, y1];
}

/**
 * The raw key for an integer seed, like `jax.random.PRNGKey` with 64-bit integers: [high word,
 * low word] of the seed as int64, so [0, seed] for 0 ≤ seed < 2^32 and two's complement for
 * negative seeds (-1 → [0xffffffff, 0xffffffff]; JAX without x64 gives [0, 0xffffffff] there).
 * Seeds outside [-2^63, 2^63) are rejected, as JAX raises OverflowError. Pass a bigint for
 * seeds beyond 2^53 that a number cannot hold exactly.
 * @example keyFromSeed(42) // Uint32Array [0, 42]
 */
export function keyFromSeed(seed: number | bigint, op = 'keyFromSeed'): Uint32Array {
  let big: bigint;
  if (typeof seed === 'bigint') {
    big = seed;
  } else if (typeof seed === 'number' && Number.isInteger(seed)) {
    big = BigInt(seed);
  } else {
    throw new TypeError(`${op}: seed must be an integer (a whole number or a bigint); got ${String(seed)}`);
  }
  if (big < -(1n << 63n) || big >= 1n << 63n) {
    throw new RangeError(`${op}: seed must fit in int64, [-2^63, 2^63); got ${big}`);
  }
  const u = BigInt.asUintN(64, big);
  return Uint32Array.of(Number(u >> 32n), Number(u & 0xffffffffn));
}

/**
 * `num` new keys per key: child j of key k is threefry2x32(key k, (0, j)), stored at key
 * index k·num + j (shape [n, num]). JAX's partitionable `split`.
 * @example split(keyFromSeed(0), 2) // [1797259609, 2579123966, 928981903, 3453687069]
 */
export function split(keys: Uint32Array, num = 2): Uint32Array {
  const n = keyCount('split', keys);
  checkCount('split', 'num', num);
  checkCount('split', '2·n·num', 2 * n * num);
  const out = new Uint32Array(2 * n * num);
  for (let k = 0; k < n; k++) {
    const k0 = keys[2 * k] | 0;
    const k1 = keys[2 * k + 1] | 0;
    const ks2 = k0 ^ k1 ^ SKEIN_PARITY;
    const base = 2 * k * num;
    for (let j = 0; j < num; j++) {
      threefryBlock(k0, k1, ks2, 0, j);
      out[base + 2 * j] = blockOut[0];
      out[base + 2 * j + 1] = blockOut[1];
    }
  }
  return out;
}

/**
 * Mixes a uint32 into each key: threefry2x32(key, (0, data)), JAX's `fold_in`. `data` is one
 * number or one per key; one key with m data gives m keys (as `vmap(foldIn, (None, 0))`).
 * @example foldIn(keyFromSeed(0), 3) // [2467461003, 3840466878]
 */
export function foldIn(keys: Uint32Array, data: number | ArrayLike<number>): Uint32Array {
  const n = keyCount('foldIn', keys);
  const scalar = typeof data === 'number';
  const m = scalar ? 1 : data.length;
  if (n !== m && n !== 1 && m !== 1) {
    throw new RangeError(`foldIn: got ${n} keys and ${m} data values; expected equal counts or one of them 1`);
  }
  const size = n === 0 || m === 0 ? 0 : Math.max(n, m);
  const out = new Uint32Array(2 * size);
  for (let i = 0; i < size; i++) {
    const k = n === 1 ? 0 : i;
    const d = toUint32('foldIn', 'data', scalar ? data : data[m === 1 ? 0 : i]);
    const k0 = keys[2 * k] | 0;
    const k1 = keys[2 * k + 1] | 0;
    threefryBlock(k0, k1, k0 ^ k1 ^ SKEIN_PARITY, 0, d | 0);
    out[2 * i] = blockOut[0];
    out[2 * i + 1] = blockOut[1];
  }
  return out;
}

/**
 * `count` uint32 words per key, key-major: word i of key k is y0 ^ y1 of threefry2x32(key k,
 * (0, i)), JAX's partitionable `random_bits` for bit width 32.
 * @example randomBits(keyFromSeed(0), 1) // Uint32Array [4070199207]
 */
export function randomBits(keys: Uint32Array, count: number): Uint32Array {
  return bitsFor('randomBits', keys, count);
}

/** randomBits with errors named after the sampler that asked. */
function bitsFor(op: string, keys: Uint32Array, count: number): Uint32Array {
  const n = keyCount(op, keys);
  checkCount(op, 'count', count);
  checkCount(op, 'n·count', n * count);
  const out = new Uint32Array(n * count);
  for (let k = 0; k < n; k++) {
    const k0 = keys[2 * k] | 0;
    const k1 = keys[2 * k + 1] | 0;
    const ks2 = k0 ^ k1 ^ SKEIN_PARITY;
    const base = k * count;
    for (let i = 0; i < count; i++) {
      threefryBlock(k0, k1, ks2, 0, i);
      out[base + i] = blockOut[0] ^ blockOut[1];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// From bits to floats.

/** The largest float32 below a float32 x (x finite). */
function nextDown32(x: number): number {
  if (x === 0) return -1.401298464324817e-45;
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  i[0] += x > 0 ? -1 : 1;
  return f[0];
}

/**
 * Uniform float32 in [lo, hi) from uint32 words. The top 23 bits fill a float32 mantissa
 * (bits >>> 9 | 0x3f800000 is a float in [1, 2); minus 1 gives m·2^-23 in [0, 1)), as JAX does.
 * For [0, 1) this equals JAX bitwise. Other ranges are computed in float64 and rounded once
 * (JAX rounds twice in float32), then clamped below hi: rounding may not return hi.
 */
export function bitsToUniform(bits: Uint32Array, lo = 0, hi = 1): Float32Array {
  return uniformInto(bits, new Float32Array(bits.length), lo, hi);
}

function uniformBounds(lo: number, hi: number): [number, number] {
  const lo32 = Math.fround(lo);
  const hi32 = Math.fround(hi);
  if (!Number.isFinite(lo32) || !Number.isFinite(hi32) || !(lo32 < hi32)) {
    throw new RangeError(`uniform: need finite float32 bounds with lo < hi; got lo=${lo}, hi=${hi}`);
  }
  return [lo32, hi32];
}

/** bitsToUniform writing into `out`, which may alias `bits` (each word is read before its slot is written). */
function uniformInto(bits: Uint32Array, out: Float32Array, lo: number, hi: number): Float32Array {
  const [lo32, hi32] = uniformBounds(lo, hi);
  if (lo32 === 0 && hi32 === 1) {
    for (let i = 0; i < bits.length; i++) out[i] = (bits[i] >>> 9) * TWO_POW_M23;
    return out;
  }
  const span = hi32 - lo32;
  const top = nextDown32(hi32);
  for (let i = 0; i < bits.length; i++) {
    const v = Math.fround(lo32 + (bits[i] >>> 9) * TWO_POW_M23 * span);
    out[i] = v > top ? top : v;
  }
  return out;
}

/**
 * Standard normal float32 from uint32 words: √2·erfinv(u), u uniform on (-1, 1) exactly as JAX
 * builds it (uniform with lo = nextafter(-1, 0), hi = 1, so u = (4m + 1)·2^-24 - 1 for the 23
 * mantissa bits m). |u| ≤ 1 - 2^-24, so the result is finite (|z| < 5.5).
 */
export function bitsToNormal(bits: Uint32Array): Float32Array {
  return normalInto(bits, new Float32Array(bits.length));
}

/** bitsToNormal writing into `out`, which may alias `bits`. */
function normalInto(bits: Uint32Array, out: Float32Array): Float32Array {
  for (let i = 0; i < bits.length; i++) {
    const u = (4 * (bits[i] >>> 9) + 1) * TWO_POW_M24 - 1;
    out[i] = Math.SQRT2 * erfinv(u);
  }
  return out;
}

/** A float32 view over the same memory as fresh bits, so samplers convert in place. */
function floatView(bits: Uint32Array): Float32Array {
  return new Float32Array(bits.buffer, bits.byteOffset, bits.length);
}

/**
 * Inverse error function in float64, through Wichura's normal quantile AS241 (Applied
 * Statistics 37(3), 1988; relative error about 1e-16): erfinv(x) = Φ⁻¹((1 + x)/2)/√2. The
 * tail branch takes the distance to ±1 as (1 - |x|)/2, exact for |x| ≥ 1/2, so precision holds
 * up to x = ±(1 - 2^-53). erfinv(±1) = ±Infinity; |x| > 1 or NaN gives NaN.
 * @example erfinv(0.5) // 0.4769362762044698
 */
export function erfinv(x: number): number {
  return normalQuantile(0.5 * x, 0.5 * (1 - Math.abs(x))) / Math.SQRT2;
}

// ---------------------------------------------------------------------------------------------
// Samplers: `count` draws per key, key-major.

/** Uniform float32 in [lo, hi), `count` per key. JAX's `uniform` (bitwise equal on [0, 1)). */
export function uniform(keys: Uint32Array, count: number, lo = 0, hi = 1): Float32Array {
  uniformBounds(lo, hi); // fail before drawing
  const bits = bitsFor('uniform', keys, count);
  return uniformInto(bits, floatView(bits), lo, hi);
}

/**
 * Standard normal float32, `count` per key: √2·erfinv(u) as in JAX's `normal`. Equal to JAX's
 * values to float32 rounding (within 3 ulp: JAX evaluates erf_inv in float32, this in float64).
 */
export function normal(keys: Uint32Array, count: number): Float32Array {
  const bits = bitsFor('normal', keys, count);
  return normalInto(bits, floatView(bits));
}

/**
 * 1 with probability p, else 0, `count` per key: uniform < p (JAX's `bernoulli`, mode 'low').
 * `p` is one probability, one per key (length n) or one per draw (length n·count).
 */
export function bernoulli(keys: Uint32Array, count: number, p: number | ArrayLike<number> = 0.5): Uint8Array {
  const n = keyCount('bernoulli', keys);
  const u = bitsToUniform(bitsFor('bernoulli', keys, count));
  const probs: ArrayLike<number> = typeof p === 'number' ? [p] : p;
  const layout = rowsPerKey('bernoulli', 'p', probs.length, n, count);
  const p32 = new Float32Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const pi = probs[i];
    if (!(pi >= 0 && pi <= 1)) throw new RangeError(`bernoulli: p must lie in [0, 1]; got p[${i}] = ${pi}`);
    p32[i] = pi;
  }
  const out = new Uint8Array(n * count);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < count; j++) {
      const i = k * count + j;
      out[i] = u[i] < p32[layout === 0 ? 0 : layout === 1 ? k : i] ? 1 : 0;
    }
  }
  return out;
}

/**
 * Class indices drawn from softmax(logits), `count` per key, by the Gumbel-max trick:
 * argmax_c(logits[c] + g_c), g = -log(-log(u)) with u uniform on [tiny, 1) (JAX's `categorical`
 * with shape (count,)). `logits` holds rows of `numClasses` (unnormalized log-probabilities;
 * -Infinity masks a class): 1 row shared by all keys, n rows (row k for key k) or n·count rows
 * (row k·count + j for draw j of key k). Draw j of key k uses words j·numClasses + c of that
 * key's bits, as JAX's (count, numClasses) Gumbel array. Ties go to the lower class.
 */
export function categorical(
  keys: Uint32Array,
  logits: Float32Array,
  numClasses: number,
  count: number,
): Int32Array {
  const n = keyCount('categorical', keys);
  checkCount('categorical', 'numClasses', numClasses);
  checkCount('categorical', 'count', count);
  if (numClasses === 0 || logits.length % numClasses !== 0) {
    throw new RangeError(
      `categorical: logits (length ${logits.length}) must hold whole rows of numClasses=${numClasses} > 0`,
    );
  }
  const layout = rowsPerKey('categorical', 'logits', logits.length / numClasses, n, count);
  for (let i = 0; i < logits.length; i++) {
    if (Number.isNaN(logits[i])) throw new RangeError(`categorical: logits[${i}] is NaN`);
  }
  checkCount('categorical', 'count·numClasses', count * numClasses);
  const bits = bitsFor('categorical', keys, count * numClasses);
  const out = new Int32Array(n * count);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < count; j++) {
      const draw = k * count + j;
      const row = (layout === 0 ? 0 : layout === 1 ? k : draw) * numClasses;
      const word = draw * numClasses;
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < numClasses; c++) {
        const m = bits[word + c] >>> 9;
        const u = m === 0 ? FLOAT32_TINY : m * TWO_POW_M23;
        const score = logits[row + c] - Math.log(-Math.log(u));
        if (score > bestScore) {
          bestScore = score;
          best = c;
        }
      }
      out[draw] = best;
    }
  }
  return out;
}

/**
 * A uniformly random permutation of 0..length-1 per key (row k at [k·length, (k+1)·length)).
 * Fisher–Yates, each index drawn from the key's `randomBits` stream by rejection (a word w is
 * kept when w < 2^32 - (2^32 mod s), then w mod s), so every permutation is exactly equally
 * likely given uniform words. Not bitwise equal to JAX, which sorts by random keys.
 */
export function permutation(keys: Uint32Array, length: number): Int32Array {
  const n = keyCount('permutation', keys);
  checkCount('permutation', 'length', length, 0x7fffffff);
  checkCount('permutation', 'n·length', n * length);
  const out = new Int32Array(n * length);
  for (let k = 0; k < n; k++) {
    const k0 = keys[2 * k] | 0;
    const k1 = keys[2 * k + 1] | 0;
    const ks2 = k0 ^ k1 ^ SKEIN_PARITY;
    const base = k * length;
    for (let i = 0; i < length; i++) out[base + i] = i;
    let counter = 0;
    for (let i = length - 1; i > 0; i--) {
      const s = i + 1;
      const limit = TWO_POW_32 - (TWO_POW_32 % s);
      let w: number;
      do {
        threefryBlock(k0, k1, ks2, 0, counter++);
        w = (blockOut[0] ^ blockOut[1]) >>> 0;
      } while (w >= limit);
      const j = w % s;
      const t = out[base + i];
      out[base + i] = out[base + j];
      out[base + j] = t;
    }
  }
  return out;
}
