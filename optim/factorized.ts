// Adafactor's factored second moment (algorithms.md §4; Shazeer & Stern 2018, arXiv 1804.04235).
//
// For a leaf whose second-largest dimension is ≥ minDimSizeToFactor, only the EMAs of the row and
// column means of G² + ε₁ are kept (m + n floats for an m×n matrix instead of mn); the estimate is
// their rank-1 product V̂ = vr·vc / mean(vr), the I-divergence-optimal rank-1 fit, which reproduces
// the row and column sums (§4.1). Other leaves keep the full EMA.
//
// Axes (mesh-tf / bert4keras / Optax convention, §4.2): with d₁ the largest axis and d₀ the
// second-largest (ties: the later axis counts as larger), vr = mean of G² over d₁ and vc = mean over
// d₀, both stored with keepdims (a 3×3×256×512 kernel keeps vr 3×3×256×1 and vc 3×3×1×512); the other
// axes are treated like batch axes.
import { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation, type StateKind, type TreeLike } from './base.js';
import { checkInteger, checkNonNegative, checkPositive, checkUnitRate, scheduledValue } from './checks.js';
import { OptimError, align, asFloat, expectArrayLeaves, expectState, increment, leafPath, meanSquare, negate, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `scaleByFactoredRms`: trees like the parameters, with `null` where a leaf keeps no such buffer. */
export interface FactoredState<P = unknown> {
  count: NDArray;
  /** Row statistics (EMA of means over the largest axis) of factored leaves; null elsewhere. */
  vRow: TreeLike<P, NDArray | null>;
  /** Column statistics (EMA of means over the second-largest axis) of factored leaves; null elsewhere. */
  vCol: TreeLike<P, NDArray | null>;
  /** Full second-moment EMA of unfactored leaves; null where factored. */
  v: TreeLike<P, NDArray | null>;
}

/** The state kind of `scaleByFactoredRms`. */
export interface FactoredKind extends StateKind {
  readonly state: FactoredState<this['params']>;
}

export interface FactoredRmsOptions {
  /** Factor large matrices at all (default true). */
  factored?: boolean;
  /** The decay exponent c of β̂₂,t = 1 − t^−c (default 0.8; 1 gives the running mean). */
  decayRate?: Scalar;
  /**
   * Steps subtracted from t in the decay schedule (default 0), for fine-tuning: a state whose count has
   * reached it restarts the schedule; before that, each step counts as t = 1, so the power schedule
   * uses the current G² alone (β̂₂ = 0; Optax's t ≤ 0 there gives NaN) and a `decaySchedule` gets t = 1
   * (Optax hands its function the negative step itself).
   */
  stepOffset?: number;
  /** A leaf is factored when its second-largest dimension is at least this (default 128). */
  minDimSizeToFactor?: number;
  /** ε₁, added to G² (default 1e-30); a number or a 0-d array (e.g. injected). */
  epsilon?: Scalar;
  /**
   * Update clipping threshold d, fused into this step (§4.2 step 7: U ← U / max(1, RMS(U)/d)); the
   * same as following with `clipByBlockRms(d)`, with RMS(U) computed from the factors. Default: none.
   * A 0-d array works too, so that `injectHyperparams` can change it between steps.
   */
  clippingThreshold?: Scalar;
  /**
   * Replaces the decay schedule: β̂₂ as a function of t = 1, 2, ... (t = max(count − stepOffset, 1)),
   * a number or a 0-d array (e.g. `() => 0.999` for a constant β₂). Optax's `decay_rate_fn` gets t − 1.
   */
  decaySchedule?: (t: NDArray) => Scalar;
}

/** `[d0, d1]`: the second-largest and largest axes, or null when the leaf is not factored. */
export function factoredDims(shape: readonly number[], factored: boolean, minDimSizeToFactor: number): [number, number] | null {
  if (!factored || shape.length < 2) return null;
  const order = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [d0size, d0] = order[order.length - 2]!;
  const d1 = order[order.length - 1]![1];
  if (d0size < minDimSizeToFactor) return null;
  return [d0, d1];
}

/** The shape of a statistic averaged over `axis` (kept as size 1). */
const reducedShape = (shape: readonly number[], axis: number): number[] => shape.map((d, i) => (i === axis ? 1 : d));

/**
 * Adafactor's second-moment rescaling u = G / sqrt(V̂) with the factored estimate for large
 * matrices (§4.2 steps 3–6). β̂₂,t = 1 − max(t − stepOffset, 1)^−decayRate, so the first step uses G² alone.
 */
export function scaleByFactoredRms(options: FactoredRmsOptions = {}): GradientTransformation<FactoredKind> {
  const op = 'scaleByFactoredRms';
  const { factored = true, decayRate = 0.8, stepOffset = 0, minDimSizeToFactor = 128, epsilon = 1e-30, decaySchedule, clippingThreshold: clip } = options;
  if (clip !== undefined) checkPositive(op, 'clippingThreshold', clip);
  checkUnitRate(op, 'decayRate', decayRate); // (a 0-d array, e.g. injected, is trusted like other array hyperparameters)
  checkInteger(op, 'stepOffset', stepOffset, 0);
  checkInteger(op, 'minDimSizeToFactor', minDimSizeToFactor, 1);
  checkNonNegative(op, 'epsilon', epsilon);
  const dimsOf = (shape: readonly number[]) => factoredDims(shape, factored, minDimSizeToFactor);
  const cfg = { dimsOf, stepOffset, decayRate, decaySchedule, epsilon, clip };
  const step = <P>(updates: P, state: FactoredState, factors?: readonly Scalar[]) => factoredStep(op, cfg, updates, state, factors);
  return withStateKind<FactoredKind>({
    init: (params) => {
      expectArrayLeaves(op, params);
      const [leaves, def] = tree.flatten(params);
      const vRow: unknown[] = [];
      const vCol: unknown[] = [];
      const v: unknown[] = [];
      for (const p of leaves as NDArray[]) {
        const dims = dimsOf(p.shape);
        vRow.push(dims ? np.zeros(reducedShape(p.shape, dims[1])) : null);
        vCol.push(dims ? np.zeros(reducedShape(p.shape, dims[0])) : null);
        v.push(dims ? null : np.zeros(p.shape));
      }
      return { count: zeroCount(), vRow: tree.unflatten(def, vRow), vCol: tree.unflatten(def, vCol), v: tree.unflatten(def, v) };
    },
    update: (updates, state, _params) => step(updates, state),
    updateScaled: (updates, state, _params, factors) => step(updates, state, factors),
  });
}

/** The update of `scaleByFactoredRms`; trailing per-leaf `factors` (a fused learning rate) fold into U's small factors. */
function factoredStep<P>(
  op: string,
  cfg: { dimsOf: (shape: readonly number[]) => [number, number] | null; stepOffset: number; decayRate: Scalar; decaySchedule?: (t: NDArray) => Scalar; epsilon: Scalar; clip?: Scalar },
  updates: P,
  state: FactoredState,
  factors?: readonly Scalar[],
): [P, FactoredState] {
  const { dimsOf, stepOffset, decayRate, decaySchedule, epsilon, clip } = cfg;
  return scopedUpdate(() => {
    const s = expectState(op, state, ['count', 'vRow', 'vCol', 'v']);
    const { def, leaves, rest } = align(op, updates, [
      { name: 'the state vRow', tree: s.vRow, nullable: true, shapes: false },
      { name: 'the state vCol', tree: s.vCol, nullable: true, shapes: false },
      { name: 'the state v', tree: s.v, nullable: true },
    ]);
    const count = increment(s.count);
    // With an offset, steps up to it count as t = 1 (β̂₂ = 0: G² alone): Optax's t = count − offset + 1
    // is ≤ 0 there, and 0^−c = ∞ or a negative base to a fractional power made the state NaN for good
    // (a fresh state for fine-tuning with decayOffset set hit this on its first step).
    const t = stepOffset === 0 ? asFloat(count) : np.maximum(np.subtract(asFloat(count), stepOffset), 1);
    // β̂₂,t = 1 − t^−c, so 1 − β̂₂,t = t^−c exactly.
    let oneMinusBeta: NDArray;
    if (decaySchedule) {
      oneMinusBeta = np.subtract(1, scheduledValue(op, 'decaySchedule', decaySchedule, t));
    } else oneMinusBeta = np.power(t, negate(decayRate));
    const beta = np.subtract(1, oneMinusBeta);
    const vRow: unknown[] = [];
    const vCol: unknown[] = [];
    const v: unknown[] = [];
    const out = leaves.map((g, i) => {
      const f = factors?.[i] ?? 1;
      const dims = dimsOf(g.shape);
      const [r, c, full] = [rest[0]![i], rest[1]![i], rest[2]![i]];
      const g2 = np.square(g);
      if (dims) {
        const [d0, d1] = dims;
        if (!(r instanceof NDArray) || !(c instanceof NDArray) || full !== null) {
          throw new OptimError(`${op}: the leaf at ${leafPath(updates, i)} (shape [${g.shape.join(',')}]) is factored, but the state holds no row/column statistics for it; pass the state made by init() for these parameters`);
        }
        // (align cannot check these: they are shaped like the leaf with one axis reduced.)
        for (const [name, stat, axis] of [['vRow', r, d1], ['vCol', c, d0]] as const) {
          const want = reducedShape(g.shape, axis);
          if (stat.shape.length !== want.length || stat.shape.some((d, k) => d !== want[k])) {
            throw new OptimError(`${op}: the state ${name} has shape [${stat.shape.join(',')}] at ${leafPath(updates, i)} but the updates there have shape [${g.shape.join(',')}], which needs [${want.join(',')}]; pass the state made by init() for these parameters`);
          }
        }
        const { u, newR, newC } =
          g.ndim === 2 ? factoredMatrix(g, g2, r, c, d1, beta, oneMinusBeta, epsilon, clip, f) : factoredGeneral(g, g2, r, c, d0, d1, beta, oneMinusBeta, epsilon, clip, f);
        vRow.push(newR);
        vCol.push(newC);
        v.push(null);
        return u;
      }
      if (!(full instanceof NDArray)) {
        throw new OptimError(`${op}: the leaf at ${leafPath(updates, i)} (shape [${g.shape.join(',')}]) is not factored, but the state holds no second moment for it; pass the state made by init() for these parameters`);
      }
      const newV = np.add(np.multiply(full, beta), np.multiply(np.add(g2, epsilon), oneMinusBeta));
      vRow.push(null);
      vCol.push(null);
      v.push(newV);
      const u = np.multiply(g, np.rsqrt(newV));
      if (clip === undefined) return f === 1 ? u : np.multiply(u, f);
      return np.multiply(u, np.divide(f, clipDivisor(meanSquare(u), clip)));
    });
    return [
      tree.unflatten(def, out) as P,
      { count, vRow: tree.unflatten(def, vRow), vCol: tree.unflatten(def, vCol), v: tree.unflatten(def, v) },
    ];
  });
}

interface Factored {
  u: NDArray;
  newR: NDArray;
  newC: NDArray;
}

/** EMA step of a statistic: β·v + (1 − β)·(mean + ε₁). Adding ε₁ to the mean equals adding it to G². */
function emaStat(v: NDArray, mean: NDArray, beta: Scalar, oneMinusBeta: Scalar, eps: Scalar): NDArray {
  return np.add(np.multiply(v, beta), np.multiply(np.add(mean, eps), oneMinusBeta));
}

/**
 * Any rank: vr = EMA of mean(G²) over d₁, vc over d₀; V̂ = vr·vc / mean(vr over d₀), so
 * U = G · rsqrt(vr / mean(vr)) · rsqrt(vc) — two factors shaped like vr and vc.
 */
function factoredGeneral(g: NDArray, g2: NDArray, r: NDArray, c: NDArray, d0: number, d1: number, beta: Scalar, oneMinusBeta: Scalar, eps: Scalar, clip: Scalar | undefined, f: Scalar): Factored {
  const newR = emaStat(r, np.mean(g2, d1, true), beta, oneMinusBeta, eps);
  const newC = emaStat(c, np.mean(g2, d0, true), beta, oneMinusBeta, eps);
  let rowFactor = np.rsqrt(np.divide(newR, np.mean(newR, d0, true)));
  const colFactor = np.rsqrt(newC);
  if (clip !== undefined) rowFactor = np.divide(rowFactor, clipDivisor(np.mean(np.multiply(g2, np.square(np.multiply(rowFactor, colFactor)))), clip));
  if (f !== 1) rowFactor = np.multiply(rowFactor, f);
  return { u: np.multiply(g, np.multiply(rowFactor, colFactor)), newR, newC };
}

/**
 * The same for a matrix, arranged for TF.js's wasm kernels: the statistic over axis 0 is one
 * leading-axis sum (a pooling kernel on wasm, see src/kernels.ts), and one matrix product
 * G² @ [1/n, a²] gives both the statistic over axis 1 and, for the clipping,
 * RMS(U)² = Σᵢ bᵢ² Σⱼ G²ᵢⱼ aⱼ² / mn, where a (shape [1,n]) and b ([m,1]) are U's two factors.
 */
function factoredMatrix(g: NDArray, g2: NDArray, r: NDArray, c: NDArray, d1: number, beta: Scalar, oneMinusBeta: Scalar, eps: Scalar, clip: Scalar | undefined, f: Scalar): Factored {
  const [m, n] = g.shape as [number, number];
  const [firstColumn, secondColumn] = [np.array([[1, 0]], 'float32'), np.array([[0, 1]], 'float32')]; // selectors for Y's columns
  // d₁ = 1: vr is the statistic over axis 1 ([m,1]) and vc over axis 0 ([1,n]); d₁ = 0: the reverse.
  const rowsFirst = d1 === 1;
  const statOver0 = emaStat(rowsFirst ? c : r, np.multiply(sumLeadingAxis(g2), 1 / m), beta, oneMinusBeta, eps);
  // The factor shaped [1,n]: rsqrt(vc), or rsqrt(vr / mean(vr)) when vr is the [1,n] statistic.
  const a = rowsFirst ? np.rsqrt(statOver0) : np.rsqrt(np.divide(statOver0, np.mean(statOver0)));
  // W = [1/n, a²] as [n, 2] (built by broadcasting: a concatenation is slow on wasm); Y = G² @ W.
  const w = clip === undefined ? np.full([n, 1], 1 / n) : np.add(np.multiply(np.reshape(np.square(a), [n, 1]), secondColumn), np.array([[1 / n, 0]], 'float32'));
  const y = np.matmul(g2, w);
  const meanOver1 = clip === undefined ? y : np.sum(np.multiply(y, firstColumn), 1, true);
  const statOver1 = emaStat(rowsFirst ? r : c, meanOver1, beta, oneMinusBeta, eps);
  let b = rowsFirst ? np.rsqrt(np.divide(statOver1, np.mean(statOver1))) : np.rsqrt(statOver1);
  if (clip !== undefined) {
    // Σᵢ bᵢ² (G² @ a²)ᵢ / mn, read from Y's second column.
    const ms = np.divide(np.sum(np.multiply(y, np.multiply(np.square(b), secondColumn))), m * n);
    b = np.divide(b, clipDivisor(ms, clip));
  }
  if (f !== 1) b = np.multiply(b, f);
  const u = np.multiply(g, np.multiply(b, a));
  return rowsFirst ? { u, newR: statOver1, newC: statOver0 } : { u, newR: statOver0, newC: statOver1 };
}

/** Σ over the leading axis of a matrix, as [1, n]. */
function sumLeadingAxis(x: NDArray): NDArray {
  return np.sum(x, 0, true);
}

/** max(1, RMS/d) from the mean square. */
function clipDivisor(meanSquare: NDArray, d: Scalar): NDArray {
  return np.maximum(1, np.divide(np.sqrt(meanSquare), d));
}

/** The relative step size ρ_t = min(1e-2, 1/√t) with t = count + 1 (§4.2 step 1), as a schedule. */
export function adafactorRelativeStep(count: NDArray | number): NDArray {
  return np.minimum(1e-2, np.rsqrt(np.add(asFloat(count), 1)));
}
