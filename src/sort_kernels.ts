// The sort kernel: a stable sort of every row along one axis, giving the sorted values and the
// permutation (argsort). It runs in JS on the tensor's data rather than on TF.js's TopK, because
// of the order it must produce:
//
// - Order. NumPy's and JAX's: ascending, stable (ties keep their input order), −0 equal to +0, and
//   every NaN after +inf, in input order. Descending (for topK) reverses the key order and keeps
//   ties in input order, as XLA's TopK, so NaN comes first there, as the largest value. TF.js's
//   TopK (k = n, on negated values for ascending order) keeps ties in order but not NaN: a row
//   holding one comes back unsorted ([2, 1, NaN, 1, 0, ...] gave 1 2 NaN 0 1 ...), and negating
//   int32's minimum overflows.
// - Method. Each value becomes an unsigned 32-bit key whose unsigned order is that order (the IEEE
//   bits with negatives flipped: the classic radix-sort trick), then the row's positions are sorted
//   by key with an LSD radix sort (stable by construction, linear time), or an insertion sort for
//   rows of at most SMALL_ROW entries, where the radix sort's counting passes cost more than the row.
//   When only the first k of a row are wanted (topK) and k ≤ n/16, they are selected instead
//   (RowSelector: one pass with a threshold, O(n)), in the same order.
// - Speed (bench/sort.ts: float32 normal values, wasm backend, a shared 2-core machine, so the
//   ratios mean more than the times). One row of 2²⁰: 87 ms against 137 ms for TF.js's TopK with
//   k = n (0.65–0.7× its time); 1024 rows of 1024: 84 against 96 ms (0.9–1.3×); 2¹⁷ rows of 8:
//   40 against 27 ms (1.5–1.9×, the per-row JS overhead). Comparable where TopK is fastest, without
//   a pass to find and move NaNs around it. topK of [64, 100000] with k = 10 (bench/select_ops.ts):
//   ~40 ms on wasm against ~20 ms for TF.js's topk (read-back included; ~470 ms sorting the rows),
//   ~32 ms on cpu against ~700 ms.

const SMALL_ROW = 16;
const RADIX_BITS = 11;
const BUCKETS = 1 << RADIX_BITS;
const PASSES = Math.ceil(32 / RADIX_BITS);

/** Writes the sort keys of a float32 row: unsigned order = NumPy's order (−0 = +0, NaN last). */
function floatKeys(bits: Uint32Array, data: Float32Array, base: number, n: number, stride: number, descending: boolean, out: Uint32Array): void {
  for (let j = 0; j < n; j++) {
    const v = data[base + j * stride]!;
    let k: number;
    if (v !== v) k = 0xffffffff;
    else if (v === 0) k = 0x80000000; // −0 and +0 share +0's key
    else {
      const b = bits[base + j * stride]!;
      // Negative floats: flipping every bit reverses their order; positive: the sign bit puts them
      // above. (b >> 31 is all ones for a negative: one xor, no branch on the sign.)
      k = (b ^ ((b >> 31) | 0x80000000)) >>> 0;
    }
    out[j] = descending ? ~k >>> 0 : k;
  }
}

/** Writes the sort keys of an int32 row: flipping the sign bit makes unsigned order signed order. */
function intKeys(data: Int32Array, base: number, n: number, stride: number, descending: boolean, out: Uint32Array): void {
  for (let j = 0; j < n; j++) {
    const k = (data[base + j * stride]! ^ 0x80000000) >>> 0;
    out[j] = descending ? ~k >>> 0 : k;
  }
}

/** Scratch buffers for one row length, reused across rows. */
class RowSorter {
  private readonly keys2: Uint32Array;
  private readonly order2: Int32Array;
  private readonly counts = new Int32Array(BUCKETS * PASSES);
  readonly keys: Uint32Array;
  readonly order: Int32Array;

  constructor(private readonly n: number) {
    this.keys = new Uint32Array(n);
    this.keys2 = new Uint32Array(n);
    this.order = new Int32Array(n);
    this.order2 = new Int32Array(n);
  }

  /** The positions 0..n−1 stably sorted by `this.keys` (the returned array is scratch: read it before the next row). */
  sort(): Int32Array {
    const n = this.n;
    const keys = this.keys, order = this.order;
    for (let j = 0; j < n; j++) order[j] = j;
    if (n <= SMALL_ROW) {
      for (let j = 1; j < n; j++) {
        const k = keys[j]!;
        let m = j - 1;
        // Strictly greater only: an equal key stays after the earlier one (stability).
        while (m >= 0 && keys[m]! > k) { keys[m + 1] = keys[m]!; order[m + 1] = order[m]!; m--; }
        keys[m + 1] = k;
        order[m + 1] = j;
      }
      return order;
    }
    const counts = this.counts;
    counts.fill(0);
    for (let j = 0; j < n; j++) {
      const k = keys[j]!;
      for (let p = 0; p < PASSES; p++) counts[p * BUCKETS + ((k >>> (p * RADIX_BITS)) & (BUCKETS - 1))]!++;
    }
    let ka = keys, oa = order, kb = this.keys2, ob = this.order2;
    for (let p = 0; p < PASSES; p++) {
      const shift = p * RADIX_BITS, off = p * BUCKETS;
      // A digit that every key shares leaves the order as it is: skip the pass.
      if (counts[off + ((ka[0]! >>> shift) & (BUCKETS - 1))] === n) continue;
      let start = 0;
      for (let d = 0; d < BUCKETS; d++) { const c = counts[off + d]!; counts[off + d] = start; start += c; }
      for (let j = 0; j < n; j++) {
        const k = ka[j]!;
        const to = counts[off + ((k >>> shift) & (BUCKETS - 1))]!++;
        kb[to] = k;
        ob[to] = oa[j]!;
      }
      [ka, kb] = [kb, ka];
      [oa, ob] = [ob, oa];
    }
    return oa;
  }
}

/**
 * Entries the selection has partitioned (a sorted range counts m·⌈log₂ m⌉) since the module loaded:
 * what its cost is made of, read by tests to bound it on adversarial rows without timing anything.
 */
export const selectionWork = { entries: 0 };

/**
 * The positions of the k smallest of `keys` in (key, position) order, for k < n, without sorting
 * the row. Entries better than the worst of the k best so far (the threshold) go to a buffer of
 * 2k + 256 (the 256: a small k would otherwise flush every k entries of an ascending row); when it
 * fills, a quickselect keeps its k best and their worst becomes the threshold. Each flush costs
 * O(k + 256) on average and consumes k + 256 entries, so the row costs O(n) whatever its order
 * (a heap would cost n·log k on an ascending row, where every entry beats the threshold); on
 * unordered data almost every entry is rejected by one comparison. Positions come in increasing
 * order, so an entry whose key equals the threshold's comes after it: rejected, as a stable sort
 * would.
 */
class RowSelector {
  private readonly bufKeys: Uint32Array;
  private readonly bufPos: Int32Array;
  private readonly order: Int32Array;
  private count = 0;
  private seed = 0x9e3779b9;
  readonly keys: Uint32Array;

  constructor(n: number, private readonly k: number) {
    this.keys = new Uint32Array(n);
    this.bufKeys = new Uint32Array(2 * k + 256);
    this.bufPos = new Int32Array(2 * k + 256);
    this.order = new Int32Array(k);
  }

  /** The positions of the k smallest keys, in order (scratch: read it before the next row). */
  select(): Int32Array {
    const keys = this.keys, n = keys.length;
    let threshold = this.start();
    for (let j = this.k; j < n; j++) {
      const key = keys[j]!;
      if (key < threshold) threshold = this.push(key, j, threshold);
    }
    return this.finish();
  }

  /**
   * select() for a float32 row read in place (no key array): most entries are rejected against the
   * threshold, so computing each key inline, once, is most of the work.
   */
  selectFloats(bits: Uint32Array, data: Float32Array, base: number, stride: number, descending: boolean): Int32Array {
    const n = this.keys.length, k = this.k;
    floatKeys(bits, data, base, k, stride, descending, this.keys);
    let threshold = this.start();
    const flip = descending ? 0xffffffff : 0;
    for (let j = k, at = base + k * stride; j < n; j++, at += stride) {
      const v = data[at]!;
      // floatKeys' key, inline (NaN: the largest key; ±0: +0's).
      const b = bits[at]!;
      const key = ((v !== v ? 0xffffffff : v === 0 ? 0x80000000 : b ^ ((b >> 31) | 0x80000000)) ^ flip) >>> 0;
      if (key < threshold) threshold = this.push(key, j, threshold);
    }
    return this.finish();
  }

  /** Buffers the first k keys; returns the threshold: their largest. */
  private start(): number {
    const { keys, k, bufKeys, bufPos } = this;
    let worst = 0;
    for (let j = 0; j < k; j++) {
      bufKeys[j] = keys[j]!;
      bufPos[j] = j;
      if (keys[j]! > worst) worst = keys[j]!;
    }
    this.count = k;
    // (A later entry with the worst key comes after the buffered one in a stable sort: rejected.)
    return worst;
  }

  /** Adds a candidate; when the buffer is full, keeps its k best. Returns the new threshold. */
  private push(key: number, pos: number, threshold: number): number {
    const c = this.count;
    this.bufKeys[c] = key;
    this.bufPos[c] = pos;
    this.count = c + 1;
    if (c + 1 < this.bufKeys.length) return threshold;
    this.keepBest();
    return this.bufKeys[this.k - 1]!;
  }

  /** A pseudo-random uint32 (xorshift32): the pivots' positions. */
  private random(): number {
    let x = this.seed;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  /** Quickselect: the k best of the buffer into slots 0..k−1, their worst at k − 1. */
  private keepBest(): void {
    const K = this.bufKeys, P = this.bufPos, target = this.k - 1;
    let lo = 0, hi = this.count - 1;
    // A quickselect with a fixed choice of pivots is quadratic on rows crafted against it
    // (McIlroy's adversary against the median of the first, middle and last entries made every
    // partition split off two entries: a row of 100000 with k = 6250 took 10× its sort, and the
    // time grew as n·k). The pivots are drawn at random, and past a budget of 8 buffer lengths of
    // partitioning the rest is sorted instead (introselect): O(count · log count) at worst, also
    // against an adversary that replays the generator; never reached on ordinary rows.
    let budget = 8 * this.count;
    while (hi > lo) {
      if (budget < 0) {
        selectionWork.entries += (hi - lo + 1) * Math.ceil(Math.log2(hi - lo + 1));
        sortRange(K, P, lo, hi);
        break;
      }
      budget -= hi - lo + 1;
      selectionWork.entries += hi - lo + 1;
      // The median of three entries drawn at random (xorshift32) as the pivot: the first, middle
      // and last, a fixed choice, let a crafted row split off two entries a partition.
      const m = hi - lo + 1;
      let a = lo + this.random() % m, b = lo + this.random() % m;
      const c = lo + this.random() % m;
      if (before(K, P, b, a)) [a, b] = [b, a];
      if (before(K, P, c, b)) { b = c; if (before(K, P, b, a)) b = a; }
      const pk = K[b]!, pp = P[b]!;
      // Hoare's partition around (pk, pp); the entries are distinct (their positions are).
      let i = lo, j = hi;
      while (i <= j) {
        while (K[i]! < pk || (K[i] === pk && P[i]! < pp)) i++;
        while (K[j]! > pk || (K[j] === pk && P[j]! > pp)) j--;
        if (i <= j) {
          const tk = K[i]!, tp = P[i]!;
          K[i] = K[j]!; P[i] = P[j]!;
          K[j] = tk; P[j] = tp;
          i++; j--;
        }
      }
      // Now [lo, j] < pivot < [i, hi], and anything between is the pivot itself.
      if (target <= j) hi = j;
      else if (target >= i) lo = i;
      else break;
    }
    this.count = this.k;
  }

  /** The k best in ascending (key, position) order: their positions. */
  private finish(): Int32Array {
    if (this.count > this.k) this.keepBest();
    const { k, bufKeys: K, bufPos: P, order } = this;
    for (let i = 0; i < k; i++) order[i] = i;
    order.sort((a, b) => K[a]! - K[b]! || P[a]! - P[b]!);
    for (let i = 0; i < k; i++) order[i] = P[order[i]!]!;
    return order;
  }
}

/** Sorts buffer entries lo..hi (inclusive) in (key, position) order. */
function sortRange(K: Uint32Array, P: Int32Array, lo: number, hi: number): void {
  const m = hi - lo + 1;
  const idx = new Int32Array(m).map((_, i) => lo + i);
  idx.sort((a, b) => K[a]! - K[b]! || P[a]! - P[b]!);
  const keys = Uint32Array.from(idx, (i) => K[i]!), pos = Int32Array.from(idx, (i) => P[i]!);
  K.set(keys, lo);
  P.set(pos, lo);
}

/** Whether buffer entry x comes before entry y in (key, position) order. */
function before(K: Uint32Array, P: Int32Array, x: number, y: number): boolean {
  return K[x]! < K[y]! || (K[x] === K[y] && P[x]! < P[y]!);
}

/**
 * Whether the first k of n are found by RowSelector rather than by sorting the row: when k is at
 * most 1/16 of n. (16 rows of 100000, descending, normal values: k = 10 takes 1/13 of the radix
 * sort's time, k = 6250 = n/16 0.6 of it; ascending rows, where every entry passes the threshold:
 * 1/3 and 0.4.)
 */
function selects(k: number, n: number): boolean {
  return k * 16 <= n && n > SMALL_ROW;
}

/**
 * Sorts every row of `data`, viewed as [outer, n, inner], along the middle axis, and keeps the
 * first k of each (all by default): the result is [outer, k, inner]. Returns the sorted values (in
 * `data`'s array type) and, for each output slot, the position along the axis that its value came
 * from. For k well below n the rows are not sorted: the k first are selected (RowSelector), in the
 * same order.
 */
export function sortRows<T extends Float32Array | Int32Array>(
  data: T, outer: number, n: number, inner: number, descending: boolean, k = n,
): { values: T; indices: Int32Array } {
  const size = outer * k * inner;
  const values = new (data.constructor as new (len: number) => T)(size);
  const indices = new Int32Array(size);
  if (size === 0) return { values, indices };
  const select = selects(k, n);
  const sorter = select ? new RowSelector(n, k) : new RowSorter(n);
  const bits = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : null;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const outBase = o * k * inner + i;
      let order: Int32Array;
      if (select && bits !== null) order = (sorter as RowSelector).selectFloats(bits, data as Float32Array, base, inner, descending);
      else {
        if (bits !== null) floatKeys(bits, data as Float32Array, base, n, inner, descending, sorter.keys);
        else intKeys(data as Int32Array, base, n, inner, descending, sorter.keys);
        order = select ? (sorter as RowSelector).select() : (sorter as RowSorter).sort();
      }
      for (let j = 0; j < k; j++) {
        const from = order[j]!;
        indices[outBase + j * inner] = from;
        values[outBase + j * inner] = data[base + from * inner]!;
      }
    }
  }
  return { values, indices };
}
