// Products and linear algebra: matmul/dot/einsum lower to one `dot_general`; inverse, solve,
// det (with the adjugate as its derivative), slogdet, cholesky, solveTriangular and qr are
// primitives with their own derivative rules; expm is Padé(7) approximation with scaling and
// squaring, and choSolve, multiDot and matrixPower are built from differentiable pieces. The
// spectral decompositions (eigh, svd and what uses them) live in decompositions.ts; np.linalg below
// gathers both.
import { NDArray, type ArrayLike } from '../array.js';
import { bind, bind1 } from '../core.js';
import { promoteTypes } from '../dtype.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { broadcastShapes, normalizeAxes, normalizeAxis, shapesEqual, staticInts } from '../shape.js';
import { asArray, defop, eye, zeros } from './convert.js';
import { checkOptions } from '../options.js';
import { cond, eigh, eigvalsh, floatMatrices, matrixRank, pinv, spectralNorm, svd, svdvals } from './decompositions.js';
import { lstsq } from './lstsq.js';
import { abs, add, divide, exp, exp2, greater, minimum, multiply, negative, power, sqrt, subtract, where } from './elementwise.js';
import { astypeRaw } from './operands.js';
import { max, min, sum } from './reductions.js';
import { broadcastTo, expandDims, reshape, squeeze, transpose, moveaxis } from './shape_ops.js';

/** Products of bools are bools (an OR of ANDs), as in NumPy and JAX; they are computed in int32. */
function boolIfAllBool(operands: readonly ArrayLike[], out: NDArray): NDArray {
  // (A loop that stops at the first non-bool operand: this runs for every eager matmul.)
  if (out.dtype === 'bool' || operands.length === 0) return out;
  for (const o of operands) if ((o instanceof NDArray ? o.dtype : asArray(o).dtype) !== 'bool') return out;
  return astypeRaw(out, 'bool');
}

function sameDtype(x: ArrayLike, y: ArrayLike): [NDArray, NDArray] {
  const a = asArray(x), b = asArray(y);
  const d = promoteTypes(a.dtype === 'bool' ? 'int32' : a.dtype, b.dtype === 'bool' ? 'int32' : b.dtype);
  return [astypeRaw(a, d), astypeRaw(b, d)];
}

/** Matrix product with NumPy semantics: 1-D operands are promoted, leading (batch) axes broadcast. */
export const matmul = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  let [a, b] = sameDtype(x, y);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: operands must be at least 1-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}; use multiply for scalars`);
  const aVec = a.ndim === 1, bVec = b.ndim === 1;
  if (aVec) a = bind1('reshape', [a], { shape: [1, a.shape[0]!] });
  if (bVec) b = bind1('reshape', [b], { shape: [b.shape[0]!, 1] });
  const k1 = a.shape[a.ndim - 1]!, k2 = b.shape[b.ndim - 2]!;
  if (k1 !== k2) {
    throw new ShapeError(`matmul: inner dimensions do not match: ${fmtShape(asArray(x).shape)} @ ${fmtShape(asArray(y).shape)} (${k1} vs ${k2}); expected x.shape[-1] == y.shape[-2]`);
  }
  let out: NDArray;
  if (b.ndim === 2) {
    // Leading axes of `a` fold into the rows: one plain matrix product.
    out = bind1('dot_general', [a, b], { contract: [[a.ndim - 1], [0]], batch: [[], []] });
  } else {
    let batch: number[];
    try {
      batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      throw new ShapeError(`matmul: the batch (leading) dimensions of ${fmtShape(asArray(x).shape)} and ${fmtShape(asArray(y).shape)} cannot be broadcast together (${fmtShape(a.shape.slice(0, -2))} vs ${fmtShape(b.shape.slice(0, -2))})`);
    }
    const ab = broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
    const bb = broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
    const bd = batch.map((_, i) => i);
    out = bind1('dot_general', [ab, bb], { contract: [[batch.length + 1], [batch.length]], batch: [bd, bd] });
  }
  if (aVec) out = squeeze(out, out.ndim - 2);
  if (bVec) out = squeeze(out, out.ndim - 1);
  return boolIfAllBool([x, y], out);
});

/** NumPy `dot`: inner product of vectors, matmul of matrices, sum over a's last and b's second-to-last axis in general. */
export const dot = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = sameDtype(x, y);
  if (a.ndim === 0 || b.ndim === 0) return boolIfAllBool([x, y], multiply(a, b));
  const ca = a.ndim - 1, cb = b.ndim === 1 ? 0 : b.ndim - 2;
  if (a.shape[ca] !== b.shape[cb]) throw new ShapeError(`dot: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} are not aligned (${a.shape[ca]} vs ${b.shape[cb]})`);
  // dot_general puts b's free axes after a's; NumPy's dot wants b's last axis at the end, which it is.
  return boolIfAllBool([x, y], bind1('dot_general', [a, b], { contract: [[ca], [cb]], batch: [[], []] }));
});

export const vdot = defop((x: ArrayLike, y: ArrayLike): NDArray => dot(reshape(x, [-1]), reshape(y, [-1])));
export const inner = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = sameDtype(x, y);
  if (a.ndim === 0 || b.ndim === 0) return boolIfAllBool([x, y], multiply(a, b)); // as NumPy: with a scalar, inner is the product
  if (a.shape[a.ndim - 1] !== b.shape[b.ndim - 1]) throw new ShapeError(`inner: the last axes of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ; expected equal sizes`);
  return boolIfAllBool([x, y], bind1('dot_general', [a, b], { contract: [[a.ndim - 1], [b.ndim - 1]], batch: [[], []] }));
});
export const outer = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = sameDtype(reshape(x, [-1]), reshape(y, [-1]));
  return boolIfAllBool([x, y], multiply(reshape(a, [-1, 1]), reshape(b, [1, -1])));
});

/**
 * Sums products over the given axes of each operand (NumPy `tensordot`): `axes = k` contracts a's
 * last k axes with b's first k; `axes = [aAxes, bAxes]` pairs them up (a single axis may be a number).
 */
export const tensordot = defop((x: ArrayLike, y: ArrayLike, axes: number | readonly [number | readonly number[], number | readonly number[]] = 2): NDArray => {
  const [a, b] = sameDtype(x, y);
  axes = staticInts('tensordot', 'axes', axes);
  let ca: number[], cb: number[];
  if (typeof axes === 'number') {
    if (!Number.isInteger(axes) || axes < 0 || axes > a.ndim || axes > b.ndim) throw new ShapeError(`tensordot: cannot contract ${axes} axes of ${fmtShape(a.shape)} with ${fmtShape(b.shape)}; expected an integer from 0 to ${Math.min(a.ndim, b.ndim)}`);
    ca = Array.from({ length: axes }, (_, i) => a.ndim - axes + i);
    cb = Array.from({ length: axes }, (_, i) => i);
  } else {
    if (!Array.isArray(axes) || axes.length !== 2) throw new ShapeError(`tensordot: axes must be a number or a pair [aAxes, bAxes], got ${JSON.stringify(axes)}`);
    const list = (v: number | readonly number[]) => (typeof v === 'number' ? [v] : [...v]);
    ca = list(axes[0]).map((i) => normalizeAxis('tensordot', i, a.ndim));
    cb = list(axes[1]).map((i) => normalizeAxis('tensordot', i, b.ndim));
    if (ca.length !== cb.length || ca.some((i, k) => a.shape[i] !== b.shape[cb[k]!])) {
      throw new ShapeError(`tensordot: axes ${JSON.stringify(ca)} of ${fmtShape(a.shape)} and ${JSON.stringify(cb)} of ${fmtShape(b.shape)} do not pair up; expected as many axes on each side, of equal sizes`);
    }
  }
  return boolIfAllBool([x, y], bind1('dot_general', [a, b], { contract: [ca, cb], batch: [[], []] }));
});

// ---------------------------------------------------------------------------------------------
// einsum

/** Einstein summation over any number of operands, e.g. `einsum('bij,bjk->bik', x, y)`; '...' stands for broadcast batch axes (`einsum('...qd,...kd->...qk', q, k)`). */
export const einsum = defop((spec: string, ...operands: ArrayLike[]): NDArray => {
  const s = spec.replace(/\s+/g, '');
  const [lhs, rhsWritten] = s.split('->') as [string, string | undefined];
  const written = lhs.split(',');
  if (written.length !== operands.length) throw new ShapeError(`einsum: '${spec}' names ${written.length} operand(s) but ${operands.length} were given`);
  const [inputs, rhsGiven, broadcastIdx] = expandEllipsis(spec, written, rhsWritten, operands.map((o) => asArray(o).ndim));
  if (inputs.some((t) => /[^a-zA-Z]/.test(t)) || (rhsGiven && /[^a-zA-Z]/.test(rhsGiven))) throw new ShapeError(`einsum: '${spec}': indices must be letters, with at most one '...' per operand`);
  const counts = new Map<string, number>();
  for (const t of inputs) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
  // Implicit output (NumPy): the broadcast ('...') axes first, then the indices named once, sorted.
  const rhs = rhsGiven ?? broadcastIdx + [...counts.keys()].filter((c) => counts.get(c) === 1 && !broadcastIdx.includes(c)).sort().join('');
  const repeated = [...rhs].find((c, j) => rhs.indexOf(c) !== j);
  if (repeated !== undefined) throw new ShapeError(`einsum: '${spec}': output index '${repeated}' appears more than once`);
  const unknown = [...rhs].find((c) => !counts.has(c));
  if (unknown !== undefined) throw new ShapeError(`einsum: '${spec}': output index '${unknown}' is not an index of any operand`);
  const sizes = new Map<string, number>();
  let arrays = operands.map((o, i) => {
    const a = asArray(o);
    const t = inputs[i]!;
    if (a.ndim !== t.length) throw new ShapeError(`einsum: operand ${i} has shape ${fmtShape(a.shape)} but '${t}' names ${t.length} axes`);
    [...t].forEach((c, j) => {
      const prev = sizes.get(c);
      if (prev !== undefined && prev !== a.shape[j] && prev !== 1 && a.shape[j] !== 1) {
        // (A '...' axis has a letter the spec never wrote: name it as '...'.)
        if (broadcastIdx.includes(c)) throw new ShapeError(`einsum: '${spec}': the axes '...' stands for do not broadcast: sizes ${prev} and ${a.shape[j]} (operand ${i} has shape ${fmtShape(a.shape)})`);
        throw new ShapeError(`einsum: index '${c}' has sizes ${prev} and ${a.shape[j]}`);
      }
      sizes.set(c, prev === undefined || prev === 1 ? a.shape[j]! : prev); // a size 1 broadcasts (to 0 too)
    });
    return a;
  });
  let terms = [...inputs];
  // Repeated indices inside one operand: take the diagonal first.
  arrays = arrays.map((a, i) => {
    let t = terms[i]!;
    for (;;) {
      const dup = [...t].find((c, j) => t.indexOf(c) !== j);
      if (dup === undefined) break;
      const j1 = t.indexOf(dup), j2 = t.indexOf(dup, j1 + 1);
      a = diagonal(a, 0, j1, j2);
      t = t.slice(0, j1) + t.slice(j1 + 1, j2) + t.slice(j2 + 1) + dup;
    }
    terms[i] = t;
    return a;
  });
  const needed = (exclude: number): Set<string> => {
    const set = new Set<string>(rhs);
    terms.forEach((t, i) => { if (i !== exclude) for (const c of t) set.add(c); });
    return set;
  };
  // Sum out indices that appear in one operand only and not in the output.
  arrays = arrays.map((a, i) => {
    const keep = needed(i);
    const t = terms[i]!;
    const axes = [...t].map((c, j) => (keep.has(c) ? -1 : j)).filter((j) => j >= 0);
    if (axes.length === 0) return a;
    terms[i] = [...t].filter((c) => keep.has(c)).join('');
    return sum(a, axes);
  });
  // Contract pairwise, left to right.
  let acc = arrays[0]!, accT = terms[0]!;
  for (let i = 1; i < arrays.length; i++) {
    const b = arrays[i]!, bT = terms[i]!;
    const later = new Set<string>(rhs);
    terms.slice(i + 1).forEach((t) => { for (const c of t) later.add(c); });
    const batchIdx = [...accT].filter((c) => bT.includes(c) && later.has(c));
    const contractIdx = [...accT].filter((c) => bT.includes(c) && !later.has(c));
    const [x, y] = sameDtype(broadcastEinsum(acc, accT, sizes, [...batchIdx, ...contractIdx]), broadcastEinsum(b, bT, sizes, [...batchIdx, ...contractIdx]));
    acc = bind1('dot_general', [x, y], {
      contract: [contractIdx.map((c) => accT.indexOf(c)), contractIdx.map((c) => bT.indexOf(c))],
      batch: [batchIdx.map((c) => accT.indexOf(c)), batchIdx.map((c) => bT.indexOf(c))],
    });
    accT = batchIdx.join('') + [...accT].filter((c) => !bT.includes(c)).join('') + [...bT].filter((c) => !accT.includes(c)).join('');
  }
  const extra = [...accT].map((c, j) => (rhs.includes(c) ? -1 : j)).filter((j) => j >= 0);
  if (extra.length) {
    acc = sum(acc, extra);
    accT = [...accT].filter((c) => rhs.includes(c)).join('');
  }
  for (const c of rhs) if (!accT.includes(c)) throw new ShapeError(`einsum: output index '${c}' does not appear in the inputs of '${spec}'`);
  return boolIfAllBool(operands, transpose(acc, [...rhs].map((c) => accT.indexOf(c))));
});

/**
 * Replaces each '...' by letters the spec does not use, one per broadcast axis, aligned from the
 * right as NumPy broadcasts them (an operand with fewer such axes gets the last letters). Returns
 * the operand and output specs and the letters of the broadcast axes.
 */
function expandEllipsis(spec: string, inputs: string[], rhs: string | undefined, ranks: number[]): [string[], string | undefined, string] {
  if (!spec.includes('.')) return [inputs, rhs, ''];
  const isEllipsis = (t: string) => t.split('...').length === 2 && !t.replace('...', '').includes('.');
  const bad = [...inputs, ...(rhs === undefined ? [] : [rhs])].find((t) => t.includes('.') && !isEllipsis(t));
  if (bad !== undefined) throw new ShapeError(`einsum: '${spec}': '${bad}' is not a valid subscript; expected letters with at most one '...'`);
  const counts = inputs.map((t, i) => {
    if (!t.includes('...')) return 0;
    const named = t.length - 3;
    if (ranks[i]! < named) throw new ShapeError(`einsum: operand ${i} has rank ${ranks[i]} but '${t}' names ${named} axes besides '...'`);
    return ranks[i]! - named;
  });
  const n = Math.max(...counts);
  const free = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'].filter((c) => !spec.includes(c));
  if (free.length < n) throw new ShapeError(`einsum: '${spec}': '...' stands for ${n} axes but only ${free.length} letters are unused`);
  const letters = free.slice(0, n).join('');
  const expanded = inputs.map((t, i) => t.replace('...', letters.slice(n - counts[i]!)));
  return [expanded, rhs?.replace('...', letters), letters];
}

function broadcastEinsum(a: NDArray, t: string, sizes: Map<string, number>, shared: string[]): NDArray {
  const target = [...t].map((c, j) => (shared.includes(c) ? sizes.get(c)! : a.shape[j]!));
  return shapesEqual(target, a.shape) ? a : broadcastTo(a, target);
}

// ---------------------------------------------------------------------------------------------
// Matrix helpers

/** The diagonal of the (axis1, axis2) planes, moved to the last axis (NumPy `diagonal`). */
export const diagonal = defop((x: ArrayLike, offset = 0, axis1 = 0, axis2 = 1): NDArray => {
  const a = asArray(x);
  const i1 = normalizeAxis('diagonal', axis1, a.ndim), i2 = normalizeAxis('diagonal', axis2, a.ndim);
  if (i1 === i2) throw new ShapeError('diagonal: axis1 and axis2 must differ');
  const rest = a.shape.map((_, i) => i).filter((i) => i !== i1 && i !== i2);
  const moved = transpose(a, [...rest, i1, i2]);
  const n = a.shape[i1]!, m = a.shape[i2]!;
  const len = Math.max(0, Math.min(n, m - offset, n + offset, m));
  const rows = Array.from({ length: len }, (_, k) => (offset >= 0 ? k : k - offset));
  const cols = rows.map((r) => r + offset);
  // Flatten the last two axes and gather the diagonal positions.
  const flat = reshape(moved, [...rest.map((i) => a.shape[i]!), n * m]);
  const idx = asArray(rows.map((r, k) => r * m + cols[k]!), 'int32');
  return bind1('gather', [flat, idx], { axis: rest.length });
});

/** Sum along the diagonals of the (axis1, axis2) planes, axes 0 and 1 by default (NumPy `trace`; `linalg.trace` takes the last two). */
export const trace = defop((x: ArrayLike, offset = 0, axis1 = 0, axis2 = 1): NDArray => {
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`trace: expected an array of at least 2 dimensions but got shape ${fmtShape(a.shape)}`);
  return sum(diagonal(a, offset, axis1, axis2), -1);
});

/** The trace of each matrix of a stack [..., n, m] (NumPy 2 `linalg.trace`: the last two axes). */
const linalgTrace = defop((x: ArrayLike, offset = 0): NDArray => {
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`linalg.trace: expected a stack of matrices [..., n, m] but got shape ${fmtShape(a.shape)}`);
  return sum(diagonal(a, offset, -2, -1), -1);
});

/** The diagonal of each matrix of a stack [..., n, m] (NumPy 2 `linalg.diagonal`: the last two axes). */
const linalgDiagonal = defop((x: ArrayLike, offset = 0): NDArray => {
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`linalg.diagonal: expected a stack of matrices [..., n, m] but got shape ${fmtShape(a.shape)}`);
  return diagonal(a, offset, -2, -1);
});

/** `diag(v)`: a 1-D input becomes a diagonal matrix; a 2-D input gives its diagonal. */
export const diag = defop((x: ArrayLike, k = 0): NDArray => {
  const a = asArray(x);
  if (a.ndim === 2) return diagonal(a, k, 0, 1);
  if (a.ndim !== 1) throw new ShapeError(`diag: expected a 1-D or 2-D array but got shape ${fmtShape(a.shape)}`);
  if (!Number.isInteger(k)) throw new ShapeError(`diag: the diagonal offset k must be an integer, got ${k}`);
  const n = a.shape[0]! + Math.abs(k);
  if (a.shape[0] === 0) return zeros([n, n], a.dtype); // nothing to place (NumPy: diag([], 1) is [[0]])
  return bandPlace(a, n, k);
});

function bandPlace(v: NDArray, n: number, k: number): NDArray {
  // Place v on diagonal k of an n×n matrix: pad a column vector with interior zeros, then reshape.
  // v_i sits at flat position (i + max(-k,0)) * n + i + max(k,0) = start + i*(n+1).
  const len = v.shape[0]!;
  const start = Math.max(-k, 0) * n + Math.max(k, 0);
  const total = n * n;
  const padded = bind1('pad', [v], { lo: [start], hi: [total - start - (len - 1) * (n + 1) - 1], interior: [n], value: 0 });
  return reshape(padded, [n, n]);
}

function triMask(n: number, m: number, k: number, lower: boolean): NDArray {
  // (An empty mask without a row loop: an empty matrix's other size may be 2⁴⁰, as in NumPy.)
  if (n === 0 || m === 0) return zeros([n, m], 'bool');
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from({ length: m }, (_, j) => (lower ? j - i <= k : j - i >= k) ? 1 : 0));
  return astypeRaw(asArray(rows, 'int32'), 'bool');
}
function checkMatrices(op: string, a: NDArray): void {
  if (a.ndim < 2) throw new ShapeError(`${op}: expected matrices [..., n, m], got shape ${fmtShape(a.shape)}`);
}
export const tril = defop((x: ArrayLike, k = 0): NDArray => {
  const a = asArray(x);
  checkMatrices('tril', a);
  return where(triMask(a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!, k, true), a, a.dtype === 'bool' ? false : 0);
});
export const triu = defop((x: ArrayLike, k = 0): NDArray => {
  const a = asArray(x);
  checkMatrices('triu', a);
  return where(triMask(a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!, k, false), a, a.dtype === 'bool' ? false : 0);
});

// ---------------------------------------------------------------------------------------------
// np.linalg

const floatMatrixStack = (op: string, x: ArrayLike): NDArray => floatMatrices(op, x, true);

export const inv = defop((x: ArrayLike): NDArray => bind1('matrix_inverse', [floatMatrixStack('inv', x)], {}));

/** `[sign, logabsdet]` of each matrix. */
export const slogdet = defop((x: ArrayLike): [NDArray, NDArray] => {
  const [s, l] = bind('slogdet', [floatMatrixStack('slogdet', x)], {});
  return [s!, l!];
});

/**
 * Determinant of each matrix. Its derivative is the adjugate (cofactor) rule, defined at singular
 * matrices too, as in JAX; so is its second derivative (the adjugate's, a float64 kernel over a
 * completely pivoted LU that divides by none of the two smallest pivots: finite and exact at rank
 * n − 1 and n − 2, where A⁻¹ does not exist). Third derivatives are a float64 kernel too, a
 * polynomial in A that divides by none of the three smallest pivots (finite and exact at singular A
 * down to rank n − 3, zero below); fourth ones float32 through adj/det (∞ or NaN at singular A);
 * 2×2 and 3×3 are exact everywhere at every order.
 */
export const det = defop((x: ArrayLike): NDArray => bind1('det', [floatMatrixStack('det', x)], {}));

/**
 * Solves a x = b. As in NumPy 2 (and JAX), only a 1-D b is a vector (broadcast over a's stack);
 * any other b is a stack of [n, k] matrices, whose batch dimensions broadcast with a's. (NumPy 1
 * also read b of rank a.ndim − 1 as a stack of vectors; for that, pass b[..., None].)
 */
export const solve = defop((a: ArrayLike, b: ArrayLike): NDArray => {
  let A = floatMatrixStack('solve', a);
  let B = asArray(b);
  if (B.dtype !== 'float32') B = astypeRaw(B, 'float32');
  const n = A.shape[A.ndim - 1]!;
  const vec = B.ndim === 1;
  if (vec) B = expandDims(B, -1);
  if (B.shape[B.ndim - 2] !== n) throw new ShapeError(`linalg.solve: b of shape ${fmtShape(asArray(b).shape)} does not match matrices ${fmtShape(A.shape)}; expected b.shape[${vec ? -1 : -2}] == ${n}`);
  const batch = broadcastShapes('linalg.solve', A.shape.slice(0, -2), B.shape.slice(0, -2));
  A = broadcastTo(A, [...batch, n, n]);
  B = broadcastTo(B, [...batch, n, B.shape[B.ndim - 1]!]);
  const out = bind1('linear_solve', [A, B], {});
  return vec ? squeeze(out, -1) : out;
});

/**
 * Lower-triangular L with L·Lᵀ = A for each symmetric positive-definite matrix of the stack
 * [..., n, n]. As in JAX (symmetrize_input), A's symmetric part (A + Aᵀ)/2 is factored, so the
 * gradient is symmetric too. A matrix that is not positive definite is a LinAlgError naming it (as
 * NumPy does, and as solve and inv treat singular matrices), where JAX returns NaNs.
 */
export const cholesky = defop((x: ArrayLike): NDArray => bind1('cholesky', [floatMatrixStack('cholesky', x)], {}));

/** Options of solveTriangular, named as in jax.scipy.linalg.solve_triangular. */
export interface SolveTriangularOptions {
  /** Solve op(a) x = b with op(a) = a for 0 or 'N', aᵀ for 1 or 'T' (and 2 or 'C', the same for real a). Default 0. */
  trans?: 0 | 1 | 2 | 'N' | 'T' | 'C';
  /** Use a's lower triangle (true) or its upper triangle (false, the default, as in SciPy and JAX); the other is never read. */
  lower?: boolean;
  /** Take a's diagonal as ones (it is not read). Default false. */
  unitDiagonal?: boolean;
}
const SOLVE_TRIANGULAR_OPTIONS = ['trans', 'lower', 'unitDiagonal'] as const satisfies readonly (keyof SolveTriangularOptions)[];

/**
 * Solves op(T) x = b by substitution, T the lower or upper triangle of a (jax.scipy.linalg.solve_triangular).
 * As in JAX, b is a stack of vectors when it has one axis fewer than a ([..., n]; a 1-D b is a
 * vector too, as in solve) and otherwise a stack of [n, k] matrices; the stacks broadcast, as in
 * solve. A zero on the diagonal is a LinAlgError (SciPy's behaviour; JAX gives infinities).
 */
export const solveTriangular = defop((a: ArrayLike, b: ArrayLike, options: SolveTriangularOptions = {}): NDArray => {
  checkOptions('linalg.solveTriangular', options, SOLVE_TRIANGULAR_OPTIONS);
  const { trans = 0, lower = false, unitDiagonal = false } = options;
  if (![0, 1, 2, 'N', 'T', 'C'].includes(trans)) throw new ValueError(`linalg.solveTriangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got ${JSON.stringify(trans)}`);
  if (typeof lower !== 'boolean' || typeof unitDiagonal !== 'boolean') {
    throw new ValueError(`linalg.solveTriangular: lower and unitDiagonal must be booleans, got lower ${JSON.stringify(lower)} and unitDiagonal ${JSON.stringify(unitDiagonal)}`);
  }
  let A = floatMatrixStack('solveTriangular', a);
  let B = asArray(b);
  if (B.dtype !== 'float32') B = astypeRaw(B, 'float32');
  const n = A.shape[A.ndim - 1]!;
  const vec = B.ndim === 1 || B.ndim === A.ndim - 1;
  if (vec) B = expandDims(B, -1);
  if (B.ndim < 2 || B.shape[B.ndim - 2] !== n) {
    throw new ShapeError(`linalg.solveTriangular: b of shape ${fmtShape(asArray(b).shape)} does not match matrices ${fmtShape(A.shape)}; expected b [..., ${n}] (one axis fewer than a, or 1-D) or [..., ${n}, k]`);
  }
  let batch: number[];
  try {
    batch = broadcastShapes('linalg.solveTriangular', A.shape.slice(0, -2), B.shape.slice(0, -2));
  } catch {
    throw new ShapeError(`linalg.solveTriangular: the stacks of a ${fmtShape(A.shape)} and b ${fmtShape(asArray(b).shape)} cannot be broadcast together (${fmtShape(A.shape.slice(0, -2))} vs ${fmtShape(B.shape.slice(0, -2))})`);
  }
  A = broadcastTo(A, [...batch, n, n]);
  B = broadcastTo(B, [...batch, n, B.shape[B.ndim - 1]!]);
  const transposeA = trans === 1 || trans === 2 || trans === 'T' || trans === 'C';
  const out = bind1('triangular_solve', [A, B], { lower, transposeA, unitDiagonal });
  return vec ? squeeze(out, -1) : out;
});

/**
 * Vector norms (one axis): any p, ±Infinity, 0; matrix norms (two axes): 1, −1, ±Infinity, 'fro',
 * and from the singular values 2 (the spectral norm, the largest), −2 (the smallest) and 'nuc'
 * (the nuclear norm, their sum). The default (ord omitted) is the 2-norm of all entries over `axis`
 * (all axes when omitted): Frobenius for matrices.
 */
export const norm = defop((x: ArrayLike, ord: number | 'fro' | 'nuc' | null = null, axis?: number | readonly number[] | null, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const axes = normalizeAxes('norm', axis, a.ndim);
  if ((ord === 'fro' || ord === 'nuc') && axes.length !== 2) throw new ShapeError(`linalg.norm: ord '${ord}' is a matrix norm and needs two axes, got ${axes.length} (${fmtShape(a.shape)}, axis ${JSON.stringify(axis)})`);
  if (ord === null || ord === 'fro' || (ord === 2 && axes.length === 1)) return sqrt(sum(multiply(a, a), axes, keepdims));
  if (axes.length === 1 && typeof ord === 'number') {
    if (ord === 1) return sum(abs(a), axes, keepdims);
    if (ord === Infinity) return max(abs(a), axes, keepdims);
    if (ord === -Infinity) return min(abs(a), axes, keepdims);
    if (ord === 0) return sum(astypeRaw(bind1('ne', [a, asArray(0, 'float32').reshape(a.shape.map(() => 1))], {}), 'float32'), axes, keepdims);
    return power(sum(power(abs(a), ord), axes, keepdims), 1 / ord);
  }
  if (axes.length === 2) {
    // The rows are the first axis given (NumPy: axis=(1, 0) is the transposed matrix).
    const given = Array.isArray(axis) ? axis.map((d) => normalizeAxis('norm', d, a.ndim)) : axes;
    const [rowAxis, colAxis] = [given[0]!, given[1]!];
    // Empty matrices as NumPy 2: a maximum over nothing is 0 (its initial=0; ord 1, ∞ and 2), a
    // minimum over nothing is a ValueError (ord −1, −∞ and −2), as NumPy's and JAX's min of nothing.
    const emptyMatrices = (why: string) => new ValueError(`linalg.norm: ord ${ord} of empty matrices (${fmtShape(a.shape)} over axes ${fmtShape([rowAxis, colAxis])}) is undefined: ${why}; NumPy raises too`);
    const zeroNorms = () => zeros(a.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d])));
    if (ord === 1 || ord === -1 || ord === Infinity || ord === -Infinity) {
      // 1 and −1: the max/min over columns of the column abs sums; ±∞: over rows of the row abs sums.
      const [sumAxis, overAxis] = Math.abs(ord) === 1 ? [rowAxis, colAxis] : [colAxis, rowAxis];
      if (a.shape[overAxis] === 0) {
        if (ord > 0) return zeroNorms();
        throw emptyMatrices(`the minimum over ${Math.abs(ord) === 1 ? 'columns' : 'rows'} of their abs sums has no ${Math.abs(ord) === 1 ? 'column' : 'row'} to take`);
      }
      return (ord > 0 ? max : min)(sum(abs(a), sumAxis, true), axes, keepdims);
    }
    if (ord === -2 && (a.shape[rowAxis] === 0 || a.shape[colAxis] === 0)) throw emptyMatrices('it is the smallest singular value of a matrix with no singular values');
    if (ord === 2 || ord === -2 || ord === 'nuc') {
      // The matrices to the last two axes (rows, then columns), the other axes in order.
      const rest = a.shape.map((_, i) => i).filter((i) => i !== rowAxis && i !== colAxis);
      const out = spectralNorm(transpose(a, [...rest, rowAxis, colAxis]), ord);
      return keepdims ? reshape(out, a.shape.map((d, i) => (axes.includes(i) ? 1 : d))) : out;
    }
  }
  throw new ShapeError(`linalg.norm: ord ${ord} over ${axes.length} axes is not supported; expected 1, -1, 2, -2, Infinity, -Infinity, 'fro' or 'nuc' (matrix norms), or any number (vector norms)`);
});

// Padé(7) coefficients b_k ∝ (14 − k)!/(k!·(7 − k)!) for the matrix exponential, and the bound θ7
// on ‖A/2^s‖₁ for single precision (Higham 2005; JAX's float32 path). Not Padé(13) in float32: the
// denominator V − U cancels by up to e^θ (e^θ13 ≈ 215, e^θ7 ≈ 51), so r₁₃ lost up to 150 ulp
// (exp(5) was 9e-6 off); measured on scalars and random 4×4 matrices, r₇'s error is 2–20× smaller
// from ‖A‖₁ ≈ 3 up and the same below, at one matrix product less.
const PADE7 = [17297280, 8648640, 1995840, 277200, 25200, 1512, 56, 1];
const THETA7 = 3.92572478313866;

/** Squaring steps the traced expm path takes at most (JAX's max_squarings): enough for 1-norms up to θ7·2¹⁶ ≈ 257,000. */
const MAX_TRACED_SQUARINGS = 16;

/**
 * Matrix exponential by scaling and squaring with a Padé(7) approximant (Higham 2005, with the
 * single-precision bound θ7 ≈ 3.93): A is scaled by 2^−s with s = max(0, ⌈log2(‖A‖₁/θ7)⌉), and the
 * approximant squared s times, each matrix of a stack with its own s, as in JAX. With a concrete
 * value s is computed in JS and has no limit. Under jit/vmap (a traced norm): step
 * i of 16 fixed squaring steps squares only where i < s, so the result is as accurate as the eager
 * one; a matrix that would need more than 16 squarings (‖A‖₁ above θ7·2¹⁶ ≈ 257,000) gives
 * infinities there, as JAX's max_squarings does.
 */
export const expm = defop((x: ArrayLike): NDArray => {
  const A = floatMatrixStack('expm', x);
  if (A.size === 0) return add(A, 0); // nothing to exponentiate (0×0 matrices, or an empty stack)
  const norm1 = max(sum(abs(A), -2), -1);
  const c = norm1.concreteValue();
  if (c === null) return expmTraced(A, norm1);
  const counts = Array.from(c.dataSync(), (v) => (Number.isFinite(v) && v > THETA7 ? Math.ceil(Math.log2(v / THETA7)) : 0));
  const most = counts.reduce((p, q) => Math.max(p, q), 0);
  if (counts.every((si) => si === most)) {
    let R = pade7(most > 0 ? divide(A, 2 ** most) : A);
    for (let i = 0; i < most; i++) R = matmul(R, R);
    return R;
  }
  // A stack whose matrices need different s: each is scaled by its own 2^−s (exact) and squared only
  // while i < s, as under jit and in JAX. One shared s (the largest) over-scaled the smaller matrices
  // and squared their error back up: a 1-norm-1.3 matrix beside a rotation by 1000 came out 3e-4 off.
  const s = reshape(asArray(counts, 'float32'), [...norm1.shape, 1, 1]);
  let R = pade7(multiply(A, reshape(asArray(counts.map((si) => 2 ** -si), 'float32'), [...norm1.shape, 1, 1])));
  for (let i = 0; i < most; i++) R = where(greater(s, i), matmul(R, R), R);
  return R;
});

/**
 * expm with a traced 1-norm: per matrix, s counts the thresholds θ7·2^i (i < 16) that ‖A‖₁
 * exceeds, which is ⌈log2(‖A‖₁/θ7)⌉ clipped to [0, 16]; A is scaled by exp2(−s) (exact at
 * integers) and squaring step i runs where i < s.
 */
function expmTraced(A: NDArray, norm1: NDArray): NDArray {
  const thresholds = asArray(Array.from({ length: MAX_TRACED_SQUARINGS + 1 }, (_, i) => THETA7 * 2 ** i), 'float32');
  const exceeded = astypeRaw(greater(expandDims(norm1, -1), thresholds), 'float32');
  const counts = reshape(sum(exceeded, -1), [...norm1.shape, 1, 1]); // 0..17; 17: beyond the last squaring
  const s = minimum(counts, MAX_TRACED_SQUARINGS);
  let R = pade7(multiply(A, exp2(negative(s))));
  for (let i = 0; i < MAX_TRACED_SQUARINGS; i++) R = where(greater(s, i), matmul(R, R), R);
  return where(greater(counts, MAX_TRACED_SQUARINGS), Infinity, R);
}

/** The Padé(7) approximant r₇(As) = (V − U)⁻¹(V + U) of exp(As), for ‖As‖₁ ≤ θ7 (Higham 2005, Algorithm 2.3). */
function pade7(As: NDArray): NDArray {
  const n = As.shape[As.ndim - 1]!;
  const I = broadcastTo(eye(n), As.shape);
  const A2 = matmul(As, As), A4 = matmul(A2, A2), A6 = matmul(A4, A2);
  const b = PADE7;
  const lincomb = (terms: [NDArray, number][]): NDArray => terms.map(([m, k]) => multiply(m, k)).reduce((p, q) => add(p, q));
  const U = matmul(As, lincomb([[A6, b[7]!], [A4, b[5]!], [A2, b[3]!], [I, b[1]!]]));
  const V = lincomb([[A6, b[6]!], [A4, b[4]!], [A2, b[2]!], [I, b[0]!]]);
  return bind1('linear_solve', [subtract(V, U), add(V, U)], {});
}

// ---------------------------------------------------------------------------------------------
// QR, Cholesky solves, chained products and matrix powers

/** The modes of linalg.qr (NumPy's, without 'raw'). */
export type QrMode = 'reduced' | 'complete' | 'r';
const QR_MODES: readonly QrMode[] = ['reduced', 'complete', 'r'];

/** np.linalg.qr's signature: `[q, r]` for 'reduced' (the default) and 'complete', `r` alone for 'r'. */
export interface Qr {
  (a: ArrayLike, mode?: 'reduced' | 'complete'): [NDArray, NDArray];
  (a: ArrayLike, mode: 'r'): NDArray;
  (a: ArrayLike, mode: QrMode): [NDArray, NDArray] | NDArray;
}

/**
 * QR factorisation of each matrix of a stack [..., m, n] (numpy.linalg.qr): 'reduced' gives
 * Q [..., m, k] with orthonormal columns and upper-trapezoidal R [..., k, n], k = min(m, n);
 * 'complete' gives the square orthogonal Q [..., m, m] and R [..., m, n]; 'r' gives R alone (as
 * 'reduced'). Householder reflections in float64 with LAPACK's signs, as NumPy: R's diagonal is not
 * forced positive (R[j][j] = −sign·‖column‖ of the pivot), e.g. qr([[3], [4]]) = ([[−0.6], [−0.8]], [[−5]]).
 * Derivatives follow JAX: defined for 'reduced' (and 'r') with m ≥ n and for 'complete' with m = n,
 * at matrices of full column rank; the other cases are a TransformError when differentiated. (These
 * signs jump where a column is exactly zero below the diagonal, e.g. [[2], [0]] gives R = [[2]] but
 * [[2], [ε]] gives R ≈ [[−2]]; the derivative there is that of the unreflected branch.)
 */
export const qr: Qr = defop((x: ArrayLike, mode: QrMode = 'reduced'): [NDArray, NDArray] | NDArray => {
  if (!QR_MODES.includes(mode)) throw new ValueError(`linalg.qr: mode must be 'reduced', 'complete' or 'r', got ${JSON.stringify(mode)}${mode === ('raw' as QrMode) ? " ('raw' returns LAPACK's Householder vectors, which gradus does not expose)" : ''}`);
  const a = floatMatrices('qr', x);
  const [q, r] = bind('qr', [a], { fullMatrices: mode === 'complete' }) as [NDArray, NDArray];
  return mode === 'r' ? r : [q, r];
}) as Qr;

/** Options of choFactor, named as in jax.scipy.linalg.cho_factor. */
export interface ChoFactorOptions {
  /** Return the lower factor L (A = L·Lᵀ) instead of the upper U = Lᵀ (A = Uᵀ·U, the default, as in SciPy). */
  lower?: boolean;
}

/**
 * Cholesky factor of each symmetric positive-definite matrix of a stack, as a `[c, lower]` pair for
 * choSolve (jax.scipy.linalg.cho_factor): c is L (lower) or Lᵀ (upper, the default), with zeros in
 * the other triangle. Built on linalg.cholesky, so it factors the symmetric part (A + Aᵀ)/2 and a
 * matrix that is not positive definite is a LinAlgError; its derivative is cholesky's.
 */
export const choFactor = defop((a: ArrayLike, options: ChoFactorOptions = {}): [NDArray, boolean] => {
  checkOptions('linalg.choFactor', options, ['lower']);
  const { lower = false } = options;
  if (typeof lower !== 'boolean') throw new ValueError(`linalg.choFactor: lower must be a boolean, got ${JSON.stringify(lower)}`);
  const L = bind1('cholesky', [floatMatrixStack('choFactor', a)], {});
  return [lower ? L : moveaxis(L, -1, -2), lower];
});

/**
 * Solves A x = b given choFactor's `[c, lower]` of A (jax.scipy.linalg.cho_solve): two triangular
 * solves, first with the lower factor, then with its transpose; only c's chosen triangle is read.
 * b is a vector or a stack as in solveTriangular (1-D, or one axis fewer than c: vectors; else
 * [..., n, k]); the stacks broadcast. Derivatives in c and b come from solveTriangular's rules.
 */
export const choSolve = defop((factor: readonly [ArrayLike, boolean], b: ArrayLike): NDArray => {
  if (!Array.isArray(factor) || factor.length !== 2 || typeof factor[1] !== 'boolean') {
    throw new ValueError(`linalg.choSolve: expected the pair [c, lower] that choFactor returns, got ${Array.isArray(factor) ? `a list of ${factor.length}` : typeof factor}`);
  }
  const [c, lower] = factor;
  const C = floatMatrixStack('choSolve', c);
  let B = asArray(b);
  const n = C.shape[C.ndim - 1]!;
  const vec = B.ndim === 1 || B.ndim === C.ndim - 1;
  if ((vec ? B.shape[B.ndim - 1] : B.shape[B.ndim - 2]) !== n) {
    throw new ShapeError(`linalg.choSolve: b of shape ${fmtShape(B.shape)} does not match the factor ${fmtShape(C.shape)}; expected b [..., ${n}] (one axis fewer than c, or 1-D) or [..., ${n}, k]`);
  }
  // A = L·Lᵀ: L y = b, then Lᵀ x = y; with the upper factor U = Lᵀ the same solves read U transposed.
  const y = solveTriangular(C, B, { lower, trans: lower ? 0 : 1 });
  return solveTriangular(C, y, { lower, trans: lower ? 1 : 0 });
});

/**
 * The product of two or more matrices in the cheapest order (numpy.linalg.multi_dot): the first
 * array may be 1-D (a row vector) and the last 1-D (a column vector), whose axis the result then
 * drops; the others must be 2-D. The order minimises scalar multiplications by the textbook
 * O(k³) dynamic programme over the chain's dimensions, as NumPy does.
 */
export const multiDot = defop((arrays: readonly ArrayLike[]): NDArray => {
  if (!Array.isArray(arrays) || arrays.length < 2) throw new ValueError(`linalg.multiDot: expected a list of at least two arrays, got ${Array.isArray(arrays) ? arrays.length : typeof arrays}`);
  const given = arrays.map((a) => asArray(a));
  const last = given.length - 1;
  const mats = given.map((a, i) => {
    if (a.ndim === 1 && i === 0) return reshape(a, [1, a.shape[0]!]);
    if (a.ndim === 1 && i === last) return reshape(a, [a.shape[0]!, 1]);
    if (a.ndim !== 2) {
      throw new ShapeError(`linalg.multiDot: array ${i} has shape ${fmtShape(a.shape)}; expected 2-D matrices (the first and last may also be 1-D vectors)`);
    }
    return a;
  });
  const dims = [mats[0]!.shape[0]!, ...mats.map((m) => m.shape[1]!)];
  mats.forEach((m, i) => {
    if (m.shape[0] !== dims[i]) throw new ShapeError(`linalg.multiDot: array ${i - 1} ${fmtShape(given[i - 1]!.shape)} and array ${i} ${fmtShape(given[i]!.shape)} are not aligned (${dims[i]} vs ${m.shape[0]})`);
  });
  const split = chainOrder(dims);
  const product = (i: number, j: number): NDArray => (i === j ? mats[i]! : matmul(product(i, split[i]![j]!), product(split[i]![j]! + 1, j)));
  let out = product(0, last);
  if (given[last]!.ndim === 1) out = squeeze(out, -1);
  if (given[0]!.ndim === 1) out = squeeze(out, 0);
  return out;
});

/** Matrix-chain order: split[i][j] is where the best product of matrices i..j splits (dims[i] × dims[i+1] is matrix i). */
function chainOrder(dims: readonly number[]): number[][] {
  const k = dims.length - 1;
  const cost = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const split = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let len = 1; len < k; len++) {
    for (let i = 0; i + len < k; i++) {
      const j = i + len;
      cost[i]![j] = Infinity;
      for (let s = i; s < j; s++) {
        const c = cost[i]![s]! + cost[s + 1]![j]! + dims[i]! * dims[s + 1]! * dims[j + 1]!;
        if (c < cost[i]![j]!) { cost[i]![j] = c; split[i]![j] = s; }
      }
    }
  }
  return split;
}

/**
 * A square matrix (or each of a stack [..., m, m]) raised to an integer power n
 * (numpy.linalg.matrix_power): n = 0 gives the identity, n < 0 the power −n of the inverse; the
 * power is formed by repeated squaring (about 2·log2|n| products).
 */
export const matrixPower = defop((x: ArrayLike, n: number): NDArray => {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ValueError(`linalg.matrixPower: the exponent must be an integer, got ${typeof n === 'number' ? n : typeof n}`);
  let a = asArray(x);
  if (a.ndim < 2 || a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) throw new ShapeError(`linalg.matrixPower: expected square matrices [..., m, m] but got ${fmtShape(a.shape)}`);
  if (n === 0) return broadcastTo(eye(a.shape[a.ndim - 1]!, undefined, 0, a.dtype), a.shape);
  if (n < 0) a = inv(a);
  let result: NDArray | null = null;
  let square = a;
  for (let e = Math.abs(n); ; ) {
    if (e % 2 === 1) result = result === null ? square : matmul(result, square);
    e = Math.floor(e / 2);
    if (e === 0) break;
    square = matmul(square, square);
  }
  return result!;
});

/** np.linalg: its `trace` and `diagonal` work on the last two axes (stacks of matrices), unlike np.trace and np.diagonal. */
export const linalg = {
  inv, slogdet, det, solve, cholesky, solveTriangular, norm, expm, trace: linalgTrace, diag, diagonal: linalgDiagonal,
  qr, choFactor, choSolve, multiDot, matrixPower,
  eigh, eigvalsh, svd, svdvals, pinv, lstsq, matrixRank, cond,
};
