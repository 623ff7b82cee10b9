// A tiny NumPy in plain JS (float64, row-major), written for clarity rather than speed: the
// independent reference the property suites compare gradus's ops against. Nothing here touches
// TF.js, so a bug in a kernel or in gradus's lowering cannot hide in the reference too.
import type { NDArray } from '../index.js';
import { ArrayData } from './arbitraries.js';

export type Shape = readonly number[];

/** A reference array: a shape and float64 values in row-major order. */
export interface Ref {
  readonly shape: Shape;
  readonly data: Float64Array;
}

export function size(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Multi-index of flat position `flat`. */
export function unravel(flat: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    idx[i] = flat % d;
    flat = Math.floor(flat / d);
  }
  return idx;
}

export function ravelIndex(idx: readonly number[], shape: Shape): number {
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat = flat * shape[i]! + idx[i]!;
  return flat;
}

export function ref(shape: Shape, data: ArrayLike<number> | ((idx: number[], flat: number) => number)): Ref {
  const n = size(shape);
  const out = new Float64Array(n);
  if (typeof data === 'function') for (let i = 0; i < n; i++) out[i] = data(unravel(i, shape), i);
  else {
    if (data.length !== n) throw new Error(`ref: ${data.length} values for shape [${shape.join(',')}]`);
    out.set(Array.from(data));
  }
  return { shape: [...shape], data: out };
}

export function fromData(a: ArrayData): Ref {
  return ref(a.shape, a.data);
}

export function fromArray(x: NDArray): Ref {
  return ref(x.shape, x.dataSync());
}

/** Nested JS arrays (e.g. for building gradus arrays with np.array). */
export function toNested(a: Ref): unknown {
  if (a.shape.length === 0) return a.data[0];
  const rec = (dim: number, offset: number): unknown[] => {
    const stride = size(a.shape.slice(dim + 1));
    return Array.from({ length: a.shape[dim]! }, (_, i) => (dim === a.shape.length - 1 ? a.data[offset + i] : rec(dim + 1, offset + i * stride)));
  };
  return rec(0, 0);
}

export function scalar(v: number): Ref {
  return ref([], [v]);
}

export function eye(n: number): Ref {
  return ref([n, n], ([i, j]) => (i === j ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Broadcasting and elementwise

/** NumPy broadcasting; null when the shapes are incompatible. */
export function broadcastShapes(...shapes: Shape[]): number[] | null {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      const d = s[i]!;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) return null;
    }
  }
  return out;
}

export function broadcastTo(a: Ref, shape: Shape): Ref {
  const off = shape.length - a.shape.length;
  return ref(shape, (idx) => a.data[ravelIndex(a.shape.map((d, i) => (d === 1 ? 0 : idx[off + i]!)), a.shape)]!);
}

export function map(a: Ref, f: (x: number, i: number) => number): Ref {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function zipWith(f: (...xs: number[]) => number, ...as: Ref[]): Ref {
  const shape = broadcastShapes(...as.map((a) => a.shape));
  if (shape === null) throw new Error(`reference: shapes ${as.map((a) => `[${a.shape}]`).join(' ')} do not broadcast`);
  const bs = as.map((a) => broadcastTo(a, shape));
  return ref(shape, (_, i) => f(...bs.map((b) => b.data[i]!)));
}

// ---------------------------------------------------------------------------------------------
// Reductions

export function normAxes(axis: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (axis === undefined || axis === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  return list.map((a) => (a < 0 ? a + ndim : a)).sort((a, b) => a - b);
}

/** Reduces `axes` with `f` over the list of values of each output position. */
export function reduce(a: Ref, axis: number | readonly number[] | undefined | null, keepdims: boolean, f: (values: number[]) => number): Ref {
  const axes = normAxes(axis, a.shape.length);
  const keptShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const groups: number[][] = Array.from({ length: size(keptShape) }, () => []);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape).map((v, k) => (axes.includes(k) ? 0 : v));
    groups[ravelIndex(idx, keptShape)]!.push(a.data[i]!);
  }
  const out = ref(keptShape, (_, i) => f(groups[i]!));
  return keepdims ? out : { shape: a.shape.filter((_, i) => !axes.includes(i)), data: out.data };
}

type Axis = number | readonly number[] | undefined | null;
export const sum = (a: Ref, axis?: Axis, keepdims = false) => reduce(a, axis, keepdims, (v) => v.reduce((p, q) => p + q, 0));
export const prod = (a: Ref, axis?: Axis, keepdims = false) => reduce(a, axis, keepdims, (v) => v.reduce((p, q) => p * q, 1));
export const max = (a: Ref, axis?: Axis, keepdims = false) => reduce(a, axis, keepdims, (v) => Math.max(...v));
export const min = (a: Ref, axis?: Axis, keepdims = false) => reduce(a, axis, keepdims, (v) => Math.min(...v));
export const mean = (a: Ref, axis?: Axis, keepdims = false) => reduce(a, axis, keepdims, (v) => v.reduce((p, q) => p + q, 0) / v.length);
export const logsumexp = (a: Ref, axis?: Axis, keepdims = false) =>
  reduce(a, axis, keepdims, (v) => {
    const m = Math.max(...v);
    if (!Number.isFinite(m)) return m;
    return m + Math.log(v.reduce((p, q) => p + Math.exp(q - m), 0));
  });
/** Index of the first maximum along one axis. */
export const argmax = (a: Ref, axis: number) =>
  reduce(a, axis, false, (v) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0));

export function cumsum(a: Ref, axis: number, reverse = false): Ref {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const n = a.shape[ax]!;
  return ref(a.shape, (idx) => {
    let s = 0;
    const j = idx[ax]!;
    const [lo, hi] = reverse ? [j, n - 1] : [0, j];
    for (let k = lo; k <= hi; k++) {
      const src = [...idx];
      src[ax] = k;
      s += a.data[ravelIndex(src, a.shape)]!;
    }
    return s;
  });
}

// ---------------------------------------------------------------------------------------------
// Shape manipulation

export function reshape(a: Ref, shape: Shape): Ref {
  const s = [...shape];
  const k = s.indexOf(-1);
  if (k >= 0) s[k] = a.data.length / size(s.filter((_, i) => i !== k));
  if (size(s) !== a.data.length) throw new Error(`reference reshape: [${a.shape}] to [${shape}]`);
  return { shape: s, data: a.data.slice() };
}

export function transpose(a: Ref, perm?: readonly number[]): Ref {
  const p = perm ?? a.shape.map((_, i) => a.shape.length - 1 - i);
  const shape = p.map((i) => a.shape[i]!);
  return ref(shape, (idx) => {
    const src = new Array<number>(a.shape.length);
    p.forEach((ax, i) => (src[ax] = idx[i]!));
    return a.data[ravelIndex(src, a.shape)]!;
  });
}

export function concatenate(as: readonly Ref[], axis: number): Ref {
  const nd = as[0]!.shape.length;
  const ax = axis < 0 ? axis + nd : axis;
  const shape = [...as[0]!.shape];
  shape[ax] = as.reduce((s, a) => s + a.shape[ax]!, 0);
  const offsets: number[] = [];
  as.reduce((o, a) => (offsets.push(o), o + a.shape[ax]!), 0);
  return ref(shape, (idx) => {
    let k = as.length - 1;
    // The last operand starting at or before idx (never an empty one: the next would start there too).
    while (offsets[k]! > idx[ax]!) k--;
    const src = [...idx];
    src[ax] = idx[ax]! - offsets[k]!;
    return as[k]!.data[ravelIndex(src, as[k]!.shape)]!;
  });
}

export function stack(as: readonly Ref[], axis: number): Ref {
  const nd = as[0]!.shape.length + 1;
  const ax = axis < 0 ? axis + nd : axis;
  return concatenate(
    as.map((a) => {
      const s = [...a.shape];
      s.splice(ax, 0, 1);
      return reshape(a, s);
    }),
    ax,
  );
}

/** `lax.slice`: start <= i < limit with a positive stride on each axis. */
export function slice(a: Ref, start: readonly number[], limit: readonly number[], strides?: readonly number[]): Ref {
  const st = strides ?? a.shape.map(() => 1);
  const shape = a.shape.map((_, i) => Math.max(0, Math.ceil((limit[i]! - start[i]!) / st[i]!)));
  return ref(shape, (idx) => a.data[ravelIndex(idx.map((v, i) => start[i]! + v * st[i]!), a.shape)]!);
}

/** The positions a Python slice `start:stop:step` selects on an axis of size n (CPython's slice.indices). */
export function pySliceIndices(n: number, start: number | null, stop: number | null, step = 1): number[] {
  if (step === 0) throw new Error('slice step cannot be zero');
  const lower = step < 0 ? -1 : 0;
  const upper = step < 0 ? n - 1 : n;
  const norm = (v: number | null, dflt: number) => {
    if (v === null) return dflt;
    if (v < 0) return Math.max(v + n, lower);
    return Math.min(v, upper);
  };
  const b = norm(start, step < 0 ? upper : lower);
  const e = norm(stop, step < 0 ? lower : upper);
  const out: number[] = [];
  if (step > 0) for (let i = b; i < e; i += step) out.push(i);
  else for (let i = b; i > e; i += step) out.push(i);
  return out;
}

export type IndexSpec = number | null | readonly [number | null, number | null, number?];

/** NumPy basic indexing `x[spec...]` (integers drop the axis; missing trailing entries mean `:`). */
export function index(a: Ref, spec: readonly IndexSpec[]): Ref {
  const picks = a.shape.map((n, ax) => {
    const s = ax < spec.length ? spec[ax] : null;
    if (s === null || s === undefined) return { keep: true, at: Array.from({ length: n }, (_, i) => i) };
    if (typeof s === 'number') {
      const i = s < 0 ? s + n : s;
      if (i < 0 || i >= n) throw new Error(`index ${s} out of bounds for size ${n}`);
      return { keep: false, at: [i] };
    }
    return { keep: true, at: pySliceIndices(n, s[0], s[1], s[2] ?? 1) };
  });
  const fullShape = picks.map((p) => p.at.length);
  const full = ref(fullShape, (idx) => a.data[ravelIndex(idx.map((v, i) => picks[i]!.at[v]!), a.shape)]!);
  return { shape: fullShape.filter((_, i) => picks[i]!.keep), data: full.data };
}

/** `np.take(a, indices, axis)` with negative indices counting from the end. */
export function take(a: Ref, indices: Ref, axis: number): Ref {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const n = a.shape[ax]!;
  const shape = [...a.shape.slice(0, ax), ...indices.shape, ...a.shape.slice(ax + 1)];
  const k = indices.shape.length;
  return ref(shape, (idx) => {
    const j = indices.data[ravelIndex(idx.slice(ax, ax + k), indices.shape)]!;
    const src = [...idx.slice(0, ax), j < 0 ? j + n : j, ...idx.slice(ax + k)];
    return a.data[ravelIndex(src, a.shape)]!;
  });
}

export function pad(a: Ref, widths: readonly (readonly [number, number])[], value = 0): Ref {
  const shape = a.shape.map((d, i) => d + widths[i]![0] + widths[i]![1]);
  return ref(shape, (idx) => {
    const src = idx.map((v, i) => v - widths[i]![0]);
    return src.every((v, i) => v >= 0 && v < a.shape[i]!) ? a.data[ravelIndex(src, a.shape)]! : value;
  });
}

export function flip(a: Ref, axes: readonly number[]): Ref {
  const ax = axes.map((x) => (x < 0 ? x + a.shape.length : x));
  return ref(a.shape, (idx) => a.data[ravelIndex(idx.map((v, i) => (ax.includes(i) ? a.shape[i]! - 1 - v : v)), a.shape)]!);
}

export function where(cond: Ref, x: Ref, y: Ref): Ref {
  return zipWith((c, a, b) => (c !== 0 ? a : b), cond, x, y);
}

// ---------------------------------------------------------------------------------------------
// Products

/** NumPy matmul: 1-D operands promoted and squeezed back, batch dimensions broadcast. */
export function matmul(x: Ref, y: Ref): Ref {
  const a = x.shape.length === 1 ? reshape(x, [1, x.shape[0]!]) : x;
  const b = y.shape.length === 1 ? reshape(y, [y.shape[0]!, 1]) : y;
  const [n, k] = a.shape.slice(-2) as [number, number];
  const [k2, m] = b.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`reference matmul: ${k} vs ${k2}`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (batch === null) throw new Error('reference matmul: batch shapes do not broadcast');
  const ab = broadcastTo(a, [...batch, n, k]);
  const bb = broadcastTo(b, [...batch, k, m]);
  let out = ref([...batch, n, m], (idx, flat) => {
    const bi = Math.floor(flat / (n * m));
    const i = idx[idx.length - 2]!, j = idx[idx.length - 1]!;
    let s = 0;
    for (let t = 0; t < k; t++) s += ab.data[bi * n * k + i * k + t]! * bb.data[bi * k * m + t * m + j]!;
    return s;
  });
  if (x.shape.length === 1) out = reshape(out, [...out.shape.slice(0, -2), out.shape[out.shape.length - 1]!]);
  if (y.shape.length === 1) out = reshape(out, out.shape.slice(0, -1));
  return out;
}

/** Einstein summation by brute force over every index assignment. */
export function einsum(spec: string, ...ops: Ref[]): Ref {
  const [lhs, rhsGiven] = spec.replace(/\s+/g, '').split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  const sizes = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((c, j) => sizes.set(c, Math.max(sizes.get(c) ?? 1, ops[i]!.shape[j]!))));
  const counts = new Map<string, number>();
  for (const t of terms) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
  const rhs = rhsGiven ?? [...counts.keys()].filter((c) => counts.get(c) === 1).sort().join('');
  const letters = [...sizes.keys()];
  const summed = letters.filter((c) => !rhs.includes(c));
  const outShape = [...rhs].map((c) => sizes.get(c)!);
  const sumShape = summed.map((c) => sizes.get(c)!);
  return ref(outShape, (outIdx) => {
    let total = 0;
    const env = new Map<string, number>();
    [...rhs].forEach((c, i) => env.set(c, outIdx[i]!));
    for (let s = 0; s < size(sumShape); s++) {
      unravel(s, sumShape).forEach((v, i) => env.set(summed[i]!, v));
      let p = 1;
      terms.forEach((t, i) => {
        const op = ops[i]!;
        p *= op.data[ravelIndex([...t].map((c, j) => (op.shape[j] === 1 ? 0 : env.get(c)!)), op.shape)]!;
      });
      total += p;
    }
    return total;
  });
}

// ---------------------------------------------------------------------------------------------
// Linear algebra (float64, partial pivoting)

function matrixAt(a: Ref, b: number): number[][] {
  const n = a.shape[a.shape.length - 1]!;
  return Array.from({ length: n }, (_, i) => Array.from(a.data.subarray(b * n * n + i * n, b * n * n + (i + 1) * n)));
}

/** LU decomposition with partial pivoting: the determinant of one matrix. */
export function det2d(m: number[][]): number {
  const a = m.map((r) => [...r]);
  const n = a.length;
  let d = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (a[p]![c] === 0) return 0;
    if (p !== c) {
      [a[p], a[c]] = [a[c]!, a[p]!];
      d = -d;
    }
    d *= a[c]![c]!;
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < n; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return d;
}

/** Determinants of a stack [..., n, n]. */
export function det(a: Ref): Ref {
  const batch = a.shape.slice(0, -2);
  return ref(batch, (_, b) => det2d(matrixAt(a, b)));
}

/** Solves A X = B for one matrix (Gauss–Jordan with partial pivoting). */
export function solve2d(A: number[][], B: number[][]): number[][] {
  const n = A.length;
  const a = A.map((r, i) => [...r, ...B[i]!]);
  const w = a[0]!.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[p], a[c]] = [a[c]!, a[p]!];
    const piv = a[c]![c]!;
    for (let k = 0; k < w; k++) a[c]![k]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      for (let k = 0; k < w; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((r) => r.slice(n));
}

export function inv(a: Ref): Ref {
  const n = a.shape[a.shape.length - 1]!;
  const batch = size(a.shape.slice(0, -2));
  const out = new Float64Array(a.data.length);
  const I = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let b = 0; b < batch; b++) out.set(solve2d(matrixAt(a, b), I).flat(), b * n * n);
  return { shape: [...a.shape], data: out };
}

// ---------------------------------------------------------------------------------------------
// Comparison

export interface CloseOptions {
  rtol?: number;
  atol?: number;
}

/**
 * null when `got` matches `want` elementwise (|got - want| <= atol + rtol·|want|, NaN equal to NaN),
 * otherwise a message with the shapes and the worst element.
 */
export function mismatch(got: Ref, want: Ref, { rtol = 1e-5, atol = 1e-6 }: CloseOptions = {}): string | null {
  if (got.shape.join() !== want.shape.join()) return `shape [${got.shape}] but expected [${want.shape}]`;
  let worst = -1, worstErr = 0;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!, w = want.data[i]!;
    if (Number.isNaN(g) && Number.isNaN(w)) continue;
    if (g === w) continue;
    const err = Math.abs(g - w);
    const ok = err <= atol + rtol * Math.abs(w);
    if (!ok && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst < 0) return null;
  return `at ${JSON.stringify(unravel(worst, want.shape))}: got ${got.data[worst]}, expected ${want.data[worst]} (abs error ${worstErr})`;
}
