// checkGrads: forward and reverse mode against finite differences, at any order — the idea of
// JAX's `jax.test_util.check_grads`. Every evaluation runs in its own gradus scope and is read back
// into float64 JS arrays at once, so a check allocates no lasting tensors and never frees the
// caller's arrays (closed-over constants included).
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray, jvp, scope, tree, vjp } from '../index.js';
import type { DType } from '../index.js';
import { Rng } from './rng.js';
import { withArticle } from '../errors.js';

export type GradMode = 'fwd' | 'rev';

export interface CheckGradsOptions {
  /** Highest derivative order to check (1 = first derivatives; 2 also checks derivatives of jvp(f) / vjp(f); ...). */
  order?: number;
  /** 'fwd' checks jvp, 'rev' checks vjp; default both. */
  modes?: readonly GradMode[];
  /**
   * Finite-difference step along the (standard normal) random direction; default 2e-2. Differences
   * are taken at eps and eps/2: the finer one is compared, and their gap (an estimate of its
   * truncation error, as in Richardson extrapolation) widens the tolerance where f is too curved
   * for the step.
   */
  eps?: number;
  /** Absolute tolerance; default 1e-5. */
  atol?: number;
  /** Relative tolerance, against the largest magnitude compared; default 2e-3. */
  rtol?: number;
  /** Seed of the random directions (plain JS generator, independent of gradus's PRNG); default 0. */
  seed?: number;
  /**
   * Accuracy order of the central differences: 2 uses f(x ± h); 4 (default) also f(x ± 2h), which
   * in float32 allows a larger step and so less rounding noise for the same truncation error.
   */
  fdOrder?: 2 | 4;
}

interface Resolved {
  order: number;
  modes: readonly GradMode[];
  eps: number;
  atol: number;
  rtol: number;
  fdOrder: 2 | 4;
  /** The differences' rounding noise per unit of |f|: EVAL_NOISE·Σ|stencil weights|/(eps/2). */
  relativeNoise: number;
}

/** What checkGrads throws when a derivative disagrees with finite differences (or with the primal). */
export class GradCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GradCheckError';
  }
}

type Fn = (...args: never[]) => unknown;

// Rounding noise of one float32 evaluation, relative to the largest output (about 8 ulp).
const EVAL_NOISE = 1e-6;
// Rounding of the derivatives themselves (float32 sums of products), relative to Σ|terms| of an inner product.
const AD_NOISE = 1e-6;
// Above this, the finite differences' rounding noise (relative to f's magnitude) is too large to
// tell a gradient from one a few percent off: smaller steps are refused rather than passing anything.
const MAX_RELATIVE_NOISE = 0.05;

// ---------------------------------------------------------------------------------------------
// Flattened arguments and outputs

interface Args {
  def: tree.TreeDef;
  leaves: NDArray[];
  paths: string[];
}

function isDiff(x: { dtype: DType }): boolean {
  return x.dtype === 'float32';
}

/** Flattens the argument list; numbers and tensors become float32 arrays (freed by the enclosing scope). */
function prepareArgs(args: readonly unknown[]): Args {
  const [withPaths, def] = tree.flattenWithPath([...args]);
  const paths: string[] = [];
  const leaves = withPaths.map(([path, leaf]) => {
    const name = `args${tree.keystr(path)}`;
    paths.push(name);
    if (leaf instanceof NDArray) return leaf;
    if (typeof leaf === 'number') return new ConcreteArray(tf.scalar(leaf, 'float32'));
    if (leaf instanceof tf.Tensor) return new ConcreteArray(tf.clone(leaf));
    throw new GradCheckError(`checkGrads: the argument leaf at ${name} is ${describe(leaf)}; expected a gradus array, a tf.Tensor or a number`);
  });
  return { def, leaves, paths };
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'object') return withArticle((x as object).constructor?.name ?? 'object');
  return withArticle(typeof x);
}

/** An evaluated output tree: one float64 copy per leaf. */
interface Values {
  paths: string[];
  shapes: number[][];
  /** null for leaves that carry no derivative (int/bool arrays, JS numbers). */
  dtypes: (DType | null)[];
  data: Float64Array[];
}

function readValues(out: unknown, what: string): Values {
  const [withPaths] = tree.flattenWithPath(out);
  const v: Values = { paths: [], shapes: [], dtypes: [], data: [] };
  for (const [path, leaf] of withPaths) {
    v.paths.push(`${what}${tree.keystr(path)}`);
    if (leaf instanceof NDArray) {
      v.shapes.push(leaf.shape);
      v.dtypes.push(leaf.dtype);
      v.data.push(Float64Array.from(leaf.dataSync()));
    } else if (typeof leaf === 'number' || typeof leaf === 'boolean') {
      v.shapes.push([]);
      v.dtypes.push(null);
      v.data.push(Float64Array.of(Number(leaf)));
    } else {
      throw new GradCheckError(`checkGrads: the output leaf at ${what}${tree.keystr(path)} is ${describe(leaf)}; expected arrays`);
    }
  }
  return v;
}

function floatArray(data: ArrayLike<number>, shape: readonly number[]): NDArray {
  return new ConcreteArray(tf.tensor(Float32Array.from(data), [...shape], 'float32'));
}

function zerosLike(x: NDArray): NDArray {
  return new ConcreteArray(tf.zeros(x.shape, x.dtype));
}

/** Random standard-normal directions for the float leaves, empty for the others. */
function randomDirections(rng: Rng, leaves: readonly { size: number; dtype: DType | null }[]): Float64Array[] {
  return leaves.map((l) => (l.dtype === 'float32' ? rng.normals(l.size) : new Float64Array(0)));
}

function directionArrays(args: Args, dirs: Float64Array[]): NDArray[] {
  return args.leaves.map((l, i) => (isDiff(l) ? floatArray(dirs[i]!, l.shape) : zerosLike(l)));
}

function call(f: Fn, args: Args, leaves: readonly NDArray[]): unknown {
  return f(...(tree.unflatten(args.def, leaves) as never[]));
}

// ---------------------------------------------------------------------------------------------
// Finite differences

const STENCILS: Record<2 | 4, [number, number][]> = {
  2: [[1, 1 / 2], [-1, -1 / 2]],
  4: [[1, 8 / 12], [-1, -8 / 12], [2, -1 / 12], [-2, 1 / 12]],
};

/** f at x + step·v, read back. */
function evalShifted(f: Fn, args: Args, base: (Float64Array | null)[], dirs: Float64Array[], step: number): Values {
  return scope(() => {
    const shifted = args.leaves.map((l, i) => {
      if (!isDiff(l)) return l;
      const b = base[i]!, d = dirs[i]!;
      const v = new Float64Array(b.length);
      for (let j = 0; j < b.length; j++) v[j] = b[j]! + step * d[j]!;
      return floatArray(v, l.shape);
    });
    return readValues(call(f, args, shifted), 'out');
  });
}

function numericalJvpFlat(f: Fn, args: Args, dirs: Float64Array[], eps: number, fdOrder: 2 | 4): Values {
  const base = args.leaves.map((l) => (isDiff(l) ? Float64Array.from(l.dataSync()) : null));
  let acc: Values | null = null;
  for (const [k, w] of STENCILS[fdOrder]) {
    const v = evalShifted(f, args, base, dirs, k * eps);
    if (acc === null) {
      acc = { ...v, data: v.data.map((d) => d.map((x) => (w * x) / eps)) };
    } else {
      v.data.forEach((d, i) => {
        const a = acc!.data[i]!;
        for (let j = 0; j < d.length; j++) a[j] = a[j]! + (w * d[j]!) / eps;
      });
    }
  }
  return acc!;
}

/** Differences at step eps/2, with an estimate of their error from the step eps. */
interface Numeric {
  values: Values;
  /** Per element: |D(eps) − D(eps/2)|, which bounds D(eps/2)'s truncation error (2^p − 1 times over) and shows its rounding noise. */
  error: Float64Array[];
}

function numericalJvpChecked(f: Fn, args: Args, dirs: Float64Array[], eps: number, fdOrder: 2 | 4): Numeric {
  const coarse = numericalJvpFlat(f, args, dirs, eps, fdOrder);
  const fine = numericalJvpFlat(f, args, dirs, eps / 2, fdOrder);
  // The gap |D(eps) − D(eps/2)| itself, not divided by 2^p − 1 as a pure truncation estimate would
  // be: where f is a small difference of large intermediates (a confident cross-entropy), rounding
  // noise, not truncation, makes the gap, and the estimate from |f| alone misses it.
  const error = fine.data.map((d, i) => d.map((x, j) => Math.abs(coarse.data[i]![j]! - x)));
  return { values: fine, error };
}

// ---------------------------------------------------------------------------------------------
// Comparisons

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6) : String(x);
}

function preview(d: Float64Array, at: number): string {
  const lo = Math.max(0, at - 2), hi = Math.min(d.length, lo + 6);
  const items = Array.from(d.subarray(lo, hi), fmt);
  return `${lo > 0 ? '..., ' : ''}${items.join(', ')}${hi < d.length ? ', ...' : ''}`;
}

/** max |x| over the finite entries of one leaf (0 for non-float leaves). */
function leafInfNorm(vs: Values, i: number): number {
  if (vs.dtypes[i] !== 'float32') return 0;
  let m = 0;
  for (const x of vs.data[i]!) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  return m;
}

/**
 * Compares float leaves of `got` and `want` leaf by leaf (as JAX's check_grads maps over the output
 * tree), with an ∞-norm tolerance per leaf: every |got − want| must be at most
 * atol + rtol·max(‖got‖∞, ‖want‖∞) + noise[leaf] (the rounding noise of the finite differences), so
 * a large output cannot hide an error in a small one. NaN matches NaN, ±Infinity matches itself; a
 * NaN or infinite tolerance is a failure, never a pass.
 */
function compareValues(
  header: string,
  what: string,
  got: Values,
  want: Values,
  tol: { atol: number; rtol: number; noise: (leaf: number) => number; slack?: Float64Array[] },
  wantName: string,
): void {
  if (got.data.length !== want.data.length) {
    throw new GradCheckError(`${header}: the ${what} has ${got.data.length} leaves but f's output has ${want.data.length}`);
  }
  // The element that exceeds its tolerance by the most (a NaN or infinity mismatch wins outright).
  let worst: { leaf: number; index: number; err: number; tolerance: number; scale: number } | null = null;
  for (let i = 0; i < want.data.length && worst?.err !== Infinity; i++) {
    if (want.dtypes[i] !== 'float32') continue;
    if (got.shapes[i]!.join() !== want.shapes[i]!.join()) {
      throw new GradCheckError(`${header}: the ${what} at ${want.paths[i]} has shape [${got.shapes[i]}] but expected [${want.shapes[i]}]`);
    }
    const scale = Math.max(leafInfNorm(got, i), leafInfNorm(want, i));
    const bound = tol.atol + tol.rtol * scale + tol.noise(i);
    const g = got.data[i]!, w = want.data[i]!;
    for (let j = 0; j < w.length; j++) {
      const a = g[j]!, b = w[j]!;
      if ((Number.isNaN(a) && Number.isNaN(b)) || a === b) continue;
      const slack = tol.slack ? tol.slack[i]![j]! : 0;
      const tolerance: number = Number.isFinite(slack) ? bound + slack : Infinity;
      const err: number = Number.isFinite(a) && Number.isFinite(b) ? Math.abs(a - b) : Infinity;
      // Written so that a NaN error or tolerance fails: an element that cannot be compared is not a pass.
      const fails = !(err <= tolerance) || !Number.isFinite(tolerance);
      if (fails && (worst === null || !(err - tolerance <= worst.err - worst.tolerance))) worst = { leaf: i, index: j, err, tolerance, scale };
      if (err === Infinity || !Number.isFinite(tolerance)) break;
    }
  }
  if (worst === null) return;
  const { leaf, index, err, tolerance, scale } = worst;
  const g = got.data[leaf]!, w = want.data[leaf]!;
  const where = `the ${what} at ${want.paths[leaf]} (shape [${want.shapes[leaf]}])`;
  if (!Number.isFinite(w[index]!) || !Number.isFinite(tolerance)) {
    throw new GradCheckError(
      `${header}: ${where} cannot be checked at flat index ${index}: ${wantName} gave ${fmt(w[index]!)}` +
        `${Number.isFinite(tolerance) ? '' : ' (or a non-finite truncation estimate)'} where the derivative is ${fmt(g[index]!)}; ` +
        `a step of eps probably leaves f's domain or overflows: use a smaller eps or move the point away from the edge.`,
    );
  }
  const slack = tol.slack ? ` + |D(eps) − D(eps/2)| ${fmt(tol.slack[leaf]![index]!)}` : '';
  throw new GradCheckError(
    `${header}: ${where} disagrees with ${wantName} at flat index ${index}: ` +
      `got ${fmt(g[index]!)}, expected ${fmt(w[index]!)}; abs error ${fmt(err)} > tolerance ${fmt(tolerance)} ` +
      `(atol ${tol.atol} + rtol ${tol.rtol} × scale ${fmt(scale)} + finite-difference noise ${fmt(tol.noise(leaf))}${slack}); ` +
      `relative error ${fmt(err / Math.max(scale, Number.MIN_VALUE))}.\n  got:      [${preview(g, index)}]\n  expected: [${preview(w, index)}]`,
  );
}

function dot(a: Float64Array[], b: Float64Array[], use: (i: number) => boolean): { value: number; absSum: number } {
  let value = 0, absSum = 0;
  a.forEach((x, i) => {
    if (!use(i)) return;
    const y = b[i]!;
    for (let j = 0; j < x.length; j++) {
      value += x[j]! * y[j]!;
      absSum += Math.abs(x[j]! * y[j]!);
    }
  });
  return { value, absSum };
}

function describeArgs(args: Args): string {
  return args.leaves.map((l, i) => `${args.paths[i]}: ${l.aval.str()}`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// One-level checks

function checkJvpFlat(f: Fn, args: Args, opts: Resolved, rng: Rng, header: string): void {
  const dirs = randomDirections(rng, args.leaves);
  const [primalOut, tangentOut] = scope(() => {
    const tangents = directionArrays(args, dirs);
    const [y, t] = jvp(f, tree.unflatten(args.def, args.leaves) as never[], tree.unflatten(args.def, tangents) as never[]);
    return [readValues(y, 'out'), readValues(t, 'out')] as const;
  });
  const expected = scope(() => readValues(call(f, args, args.leaves), 'out'));
  const noise = (leaf: number) => opts.relativeNoise * leafInfNorm(expected, leaf);
  compareValues(header, 'primal output of jvp', primalOut, expected, { atol: opts.atol, rtol: opts.rtol, noise: () => 0 }, 'f(x)');
  const numeric = numericalJvpChecked(f, args, dirs, opts.eps, opts.fdOrder);
  compareValues(
    header,
    'tangent output of jvp',
    tangentOut,
    numeric.values,
    { atol: opts.atol, rtol: opts.rtol, noise, slack: numeric.error },
    `central differences (steps ${opts.eps} and ${opts.eps / 2})`,
  );
}

/**
 * Reverse mode: for each float output leaf k, a random cotangent u on that leaf alone (zeros on the
 * others), compared as ⟨v, Jᵀu⟩ from the pullback against ⟨J v, u⟩ from finite differences along a
 * random v. One leaf at a time, so a large output cannot hide an error in a small one (its noise
 * allowance is its own); the relative tolerance is against the inner products themselves, as in
 * JAX's check_vjp (Σ|terms| grows like n where the products grow like √n, which made the check
 * √n times looser than rtol), plus the float32 rounding of the sums.
 */
function checkVjpFlat(f: Fn, args: Args, opts: Resolved, rng: Rng, header: string): void {
  const { primalOut, cotangents, cotangentsIn } = scope(() => {
    const [out, pullback] = vjp(f as (...a: unknown[]) => unknown, ...(tree.unflatten(args.def, args.leaves) as unknown[]));
    const [outLeaves, outDef] = tree.flatten(out);
    const floatLeaves = outLeaves.flatMap((o, k) => (o instanceof NDArray && isDiff(o) ? [k] : []));
    const cts: Values[] = [], ctsIn: Values[] = [];
    for (const k of floatLeaves) {
      const ctLeaves = outLeaves.map((o, i) => {
        if (!(o instanceof NDArray)) return o;
        return i === k ? floatArray(rng.normals(o.size), o.shape) : zerosLike(o);
      });
      const ct = tree.unflatten(outDef, ctLeaves);
      cts.push(readValues(ct, 'cotangent'));
      ctsIn.push(readValues(pullback(ct), 'args'));
    }
    const result = { primalOut: readValues(out, 'out'), cotangents: cts.map((c, j) => ({ leaf: floatLeaves[j]!, values: c })), cotangentsIn: ctsIn };
    pullback.dispose();
    return result;
  });
  const expected = scope(() => readValues(call(f, args, args.leaves), 'out'));
  compareValues(header, 'primal output of vjp', primalOut, expected, { atol: opts.atol, rtol: opts.rtol, noise: () => 0 }, 'f(x)');
  for (const cotangentIn of cotangentsIn) {
    if (cotangentIn.data.length !== args.leaves.length) {
      throw new GradCheckError(`${header}: the pullback returned ${cotangentIn.data.length} cotangent leaves for ${args.leaves.length} argument leaves (${describeArgs(args)})`);
    }
    args.leaves.forEach((l, i) => {
      if (isDiff(l) && cotangentIn.shapes[i]!.join() !== l.shape.join()) {
        throw new GradCheckError(`${header}: the cotangent of ${args.paths[i]} has shape [${cotangentIn.shapes[i]}] but the argument is ${l.aval.str()}`);
      }
    });
  }
  const dirs = randomDirections(rng, args.leaves);
  const numeric = numericalJvpChecked(f, args, dirs, opts.eps, opts.fdOrder);
  cotangents.forEach(({ leaf, values: cotangent }, j) => {
    // ⟨v, Jᵀu⟩ (reverse mode) against ⟨J v, u⟩ (finite differences), u on output leaf `leaf` only.
    const onLeaf = (i: number) => i === leaf;
    const ad = dot(dirs, cotangentsIn[j]!.data, (i) => isDiff(args.leaves[i]!));
    const fd = dot(numeric.values.data, cotangent.data, onLeaf);
    // Each element's finite-difference error — rounding noise bounded from |f| (already a generous
    // 8 ulp), and the gap between the two steps — carried through ⟨·, u⟩: with u random the errors
    // add in quadrature (n errors times random signs grow like √n, as the inner product does), so
    // their root sums of squares, the gap's doubled.
    const u = cotangent.data[leaf]!, f = expected.data[leaf]!, gap = numeric.error[leaf]!;
    let evalSquares = 0, gapSquares = 0;
    for (let i = 0; i < u.length; i++) {
      evalSquares += (opts.relativeNoise * f[i]! * u[i]!) ** 2;
      gapSquares += (gap[i]! * u[i]!) ** 2;
    }
    const noise = Math.sqrt(evalSquares) + 2 * Math.sqrt(gapSquares) + AD_NOISE * (ad.absSum + fd.absSum);
    const scale = Math.max(Math.abs(ad.value), Math.abs(fd.value));
    const bound = opts.atol + opts.rtol * scale + noise;
    const err = Math.abs(ad.value - fd.value);
    const what = `output ${expected.paths[leaf]}`;
    if (!Number.isFinite(fd.value) && Number.isFinite(ad.value)) {
      throw new GradCheckError(
        `${header}: reverse mode at ${what} cannot be checked: the finite differences gave ⟨J v, u⟩ = ${fmt(fd.value)} where vjp gives ${fmt(ad.value)}; ` +
          `a step of eps probably leaves f's domain or overflows: use a smaller eps or move the point away from the edge. Arguments: ${describeArgs(args)}`,
      );
    }
    if (!(err <= bound) && !(Number.isNaN(ad.value) && Number.isNaN(fd.value))) {
      throw new GradCheckError(
        `${header}: reverse mode at ${what} disagrees with central differences (steps ${opts.eps} and ${opts.eps / 2}): ` +
          `⟨v, Jᵀu⟩ = ${fmt(ad.value)} from vjp, but ⟨J v, u⟩ = ${fmt(fd.value)} from finite differences, for random u, v; ` +
          `abs error ${fmt(err)} > tolerance ${fmt(bound)} (atol ${opts.atol} + rtol ${opts.rtol} × scale ${fmt(scale)} + finite-difference noise, truncation and rounding ${fmt(noise)}); ` +
          `relative error ${fmt(err / Math.max(scale, Number.MIN_VALUE))}. Arguments: ${describeArgs(args)}`,
      );
    }
  });
}

function fdWeight(order: 2 | 4): number {
  return STENCILS[order].reduce((s, [, w]) => s + Math.abs(w), 0);
}

// ---------------------------------------------------------------------------------------------
// Public API

function resolve(options: CheckGradsOptions): Resolved {
  const order = options.order ?? 1;
  if (!Number.isInteger(order) || order < 1) throw new GradCheckError(`checkGrads: order must be a positive integer, got ${order}`);
  const modes = options.modes ?? ['fwd', 'rev'];
  for (const m of modes) if (m !== 'fwd' && m !== 'rev') throw new GradCheckError(`checkGrads: unknown mode '${m as string}'; expected 'fwd' or 'rev'`);
  const eps = options.eps ?? 2e-2, atol = options.atol ?? 1e-5, rtol = options.rtol ?? 2e-3, fdOrder = options.fdOrder ?? 4;
  if (!(Number.isFinite(eps) && eps > 0)) throw new GradCheckError(`checkGrads: eps must be a finite number > 0, got ${eps}`);
  if (!(Number.isFinite(atol) && atol >= 0)) throw new GradCheckError(`checkGrads: atol must be a finite number ≥ 0, got ${atol}`);
  if (!(Number.isFinite(rtol) && rtol >= 0)) throw new GradCheckError(`checkGrads: rtol must be a finite number ≥ 0, got ${rtol}`);
  if (fdOrder !== 2 && fdOrder !== 4) throw new GradCheckError(`checkGrads: fdOrder must be 2 or 4, got ${String(fdOrder)}`);
  // The differences' rounding noise, relative to f. Past a few percent
  // the check could not tell a correct gradient from a wrong one, so it refuses instead of passing.
  const relativeNoise = (EVAL_NOISE * fdWeight(fdOrder)) / (eps / 2);
  if (relativeNoise > MAX_RELATIVE_NOISE) {
    const minEps = Math.ceil(((2 * EVAL_NOISE * fdWeight(fdOrder)) / MAX_RELATIVE_NOISE) * 1e6) / 1e6;
    throw new GradCheckError(
      `checkGrads: eps ${eps} is too small for float32 finite differences: their rounding noise would be ${fmt(relativeNoise)} of f's magnitude, ` +
        `too much to tell a gradient from a wrong one; use eps ≥ ${minEps} (default 2e-2; float32 needs larger steps than JAX's float64 default 1e-4)`,
    );
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw new GradCheckError(`checkGrads: seed must be an integer, got ${options.seed}`);
  return { order, modes, eps, atol, rtol, fdOrder, relativeNoise };
}

function headerOf(label: string, level: number): string {
  return `checkGrads (order ${level}, ${label})`;
}

function checkRec(f: Fn, argList: readonly unknown[], order: number, level: number, label: string, opts: Resolved, rng: Rng): void {
  const args = prepareArgs(argList);
  const argTree = tree.unflatten(args.def, args.leaves) as unknown[];
  if (opts.modes.includes('fwd')) {
    const l = label ? `JVP of ${label}` : 'JVP';
    checkJvpFlat(f, args, opts, rng, headerOf(l, level));
    if (order > 1) {
      const tangents = tree.unflatten(args.def, directionArrays(args, randomDirections(rng, args.leaves)));
      const fJvp = (primals: unknown[], ts: unknown[]) => jvp(f, primals as never[], ts as never[]);
      checkRec(fJvp, [argTree, tangents], order - 1, level + 1, l, opts, rng);
    }
  }
  if (opts.modes.includes('rev')) {
    const l = label ? `VJP of ${label}` : 'VJP';
    checkVjpFlat(f, args, opts, rng, headerOf(l, level));
    if (order > 1) {
      // The pullback applied to the primal output: nonlinear in the inputs, as in JAX.
      const fVjp = (...xs: unknown[]) => {
        const [out, pullback] = vjp(f as (...a: unknown[]) => unknown, ...xs);
        return pullback(out);
      };
      checkRec(fVjp, argTree, order - 1, level + 1, l, opts, rng);
    }
  }
}

/**
 * Checks the derivatives of `f` at `args` against central finite differences in random directions:
 * forward mode as J·v from `jvp`, reverse mode as ⟨v, Jᵀu⟩ from `vjp` against ⟨J·v, u⟩, recursively up
 * to `order` (order 2 checks the derivatives of `jvp(f)` and of `x => pullback(f(x))`, and so on).
 * `args` is the argument list; each argument may be a pytree. Float32 leaves are differentiated; int
 * and bool leaves are held fixed; JS numbers are treated as float32 scalars. Throws a GradCheckError
 * naming the order, the mode, the output leaf, expected and actual values and the relative error.
 *
 * Finite differences in float32 are noisy: keep `f` well scaled (values and derivatives of order 1)
 * and smooth near `args` (no kinks of abs/max/relu within ~2·eps of the point).
 *
 * @example
 * checkGrads((x) => np.sum(np.tanh(x)), [np.array([0.1, -0.4])], { order: 2 });
 */
export function checkGrads(f: Fn, args: readonly unknown[], options: CheckGradsOptions = {}): void {
  const opts = resolve(options);
  const rng = new Rng(options.seed ?? 0);
  scope(() => {
    checkRec(f, args, opts.order, 1, '', opts, rng);
    return null;
  });
}

/** Checks `jvp(f)` at `args` against finite differences along one random direction (first order only). */
export function checkJvp(f: Fn, args: readonly unknown[], options: Omit<CheckGradsOptions, 'order' | 'modes'> = {}): void {
  checkGrads(f, args, { ...options, order: 1, modes: ['fwd'] });
}

/** Checks `vjp(f)` at `args` against finite differences through random inner products (first order only). */
export function checkVjp(f: Fn, args: readonly unknown[], options: Omit<CheckGradsOptions, 'order' | 'modes'> = {}): void {
  checkGrads(f, args, { ...options, order: 1, modes: ['rev'] });
}

/**
 * The directional derivative of `f` at `args` along `tangents` (same tree structure as `args`) by
 * central differences, evaluated in float32 and combined in float64. Returns one flat float64 array
 * per output leaf (in tree.flatten order).
 */
export function numericalJvp(f: Fn, args: readonly unknown[], tangents: readonly unknown[], options: { eps?: number; fdOrder?: 2 | 4 } = {}): Float64Array[] {
  return scope(() => {
    const a = prepareArgs(args);
    const t = prepareArgs(tangents);
    if (!a.def.equals(t.def)) throw new GradCheckError(`numericalJvp: tangents have structure ${t.def} but args have ${a.def}`);
    a.leaves.forEach((l, i) => {
      if (isDiff(l) && t.leaves[i]!.shape.join() !== l.shape.join()) {
        throw new GradCheckError(`numericalJvp: the tangent at ${a.paths[i]} has shape [${t.leaves[i]!.shape}] but the argument is ${l.aval.str()}`);
      }
    });
    const eps = options.eps ?? 1e-2, fdOrder = options.fdOrder ?? 4;
    if (!(Number.isFinite(eps) && eps > 0)) throw new GradCheckError(`numericalJvp: eps must be a finite number > 0, got ${eps}`);
    if (fdOrder !== 2 && fdOrder !== 4) throw new GradCheckError(`numericalJvp: fdOrder must be 2 or 4, got ${String(fdOrder)}`);
    const dirs = t.leaves.map((l, i) => (isDiff(a.leaves[i]!) ? Float64Array.from(l.dataSync()) : new Float64Array(0)));
    return numericalJvpFlat(f, a, dirs, eps, fdOrder).data;
  });
}
