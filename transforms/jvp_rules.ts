// JVP rules for the first-order primitives: given primals and tangents (null = symbolic zero),
// the primal outputs and their tangents. Rules are written with `bind`, so they are themselves
// differentiable: this is what makes grad(grad(f)) and jvp(grad(f)) work.
import type { NDArray } from '../src/array.js';
import { bind, bind1 } from '../src/core.js';
import { isDifferentiable } from '../src/dtype.js';
import { TransformError, fmtShape } from '../src/errors.js';
import type { BinaryPrimitive, ComparisonPrimitive, ParamsOf, Primitive, UnaryPrimitive } from '../src/primitives.js';
import {
  add, batchMatmul, broadcastToShape, constLike, convert, div, eyeLike, matrixTranspose, mul, neg, reduceSum, reshape, scale, select, sub, takeAlongAxis, triangleConst, zeros, addScalar,
} from './lax.js';

export type Tangent = NDArray | null;
export type JvpRule<P extends Primitive> = (primals: NDArray[], tangents: Tangent[], params: ParamsOf<P>) => [NDArray[], Tangent[]];

/** A zero tangent made concrete (when a rule needs an actual array). */
export function instantiate(t: Tangent, like: NDArray): NDArray {
  return t ?? zeros(like.aval);
}

/** Adds tangents, treating null as zero and broadcasting to `shape`. */
function addTangents(shape: readonly number[], ...ts: Tangent[]): Tangent {
  const present = ts.filter((t): t is NDArray => t !== null);
  if (present.length === 0) return null;
  return broadcastToShape(present.reduce((a, b) => add(a, b)), shape);
}

/** tangent_out = t · f'(x), with f' given in terms of the input x and the output y. */
function unary(prim: UnaryPrimitive, derivative: (x: NDArray, y: NDArray) => NDArray): JvpRule<UnaryPrimitive> {
  return ([x], [t]) => {
    const y = bind1(prim, [x!], {});
    return [[y], [t === null ? null : mul(t, derivative(x!, y))]];
  };
}

function zeroDerivative(prim: UnaryPrimitive): JvpRule<UnaryPrimitive> {
  return ([x]) => [[bind1(prim, [x!], {})], [null]];
}

const sqr = (x: NDArray): NDArray => mul(x, x);
const one = (x: NDArray): NDArray => constLike(x, 1);

const unaryRules: { [P in UnaryPrimitive]: JvpRule<P> } = {
  neg: ([x], [t]) => [[neg(x!)], [t === null ? null : neg(t)]],
  sin: unary('sin', (x) => bind1('cos', [x], {})),
  cos: unary('cos', (x) => neg(bind1('sin', [x], {}))),
  tan: unary('tan', (_x, y) => add(one(y), sqr(y))),
  asin: unary('asin', (x) => bind1('rsqrt', [sub(one(x), sqr(x))], {})),
  acos: unary('acos', (x) => neg(bind1('rsqrt', [sub(one(x), sqr(x))], {}))),
  atan: unary('atan', (x) => div(one(x), add(one(x), sqr(x)))),
  sinh: unary('sinh', (x) => bind1('cosh', [x], {})),
  cosh: unary('cosh', (x) => bind1('sinh', [x], {})),
  asinh: unary('asinh', (x) => bind1('rsqrt', [add(sqr(x), one(x))], {})),
  exp: unary('exp', (_x, y) => y),
  log: unary('log', (x) => div(one(x), x)),
  log1p: unary('log1p', (x) => div(one(x), add(one(x), x))),
  expm1: unary('expm1', (_x, y) => add(y, one(y))),
  tanh: unary('tanh', (_x, y) => sub(one(y), sqr(y))),
  logistic: unary('logistic', (_x, y) => mul(y, sub(one(y), y))),
  sqrt: unary('sqrt', (_x, y) => div(constLike(y, 0.5), y)),
  rsqrt: unary('rsqrt', (x, y) => div(scale(y, -0.5), x)),
  erf: unary('erf', (x) => scale(bind1('exp', [neg(sqr(x))], {}), 2 / Math.sqrt(Math.PI))),
  erfc: unary('erfc', (x) => scale(bind1('exp', [neg(sqr(x))], {}), -2 / Math.sqrt(Math.PI))),
  exp2: unary('exp2', (_x, y) => scale(y, Math.LN2)),
  // Φ′(x) = φ(x) = e^(−x²/2)/√(2π); (Φ⁻¹)′(p) = 1/φ(Φ⁻¹(p)) = √(2π)·e^(y²/2), y = Φ⁻¹(p).
  ndtr: unary('ndtr', (x) => scale(bind1('exp', [scale(sqr(x), -0.5)], {}), 1 / Math.sqrt(2 * Math.PI))),
  ndtri: unary('ndtri', (_x, y) => scale(bind1('exp', [scale(sqr(y), 0.5)], {}), Math.sqrt(2 * Math.PI))),
  // ln Γ′ = ψ, ψ′ = ψ₁ = polygamma(1, ·) (JAX's rules; ψ⁽ⁿ⁾′ = ψ⁽ⁿ⁺¹⁾ is polygamma's row).
  lgamma: unary('lgamma', (x) => bind1('digamma', [x], {})),
  digamma: unary('digamma', (x) => bind1('polygamma', [constLike(x, 1, 'int32'), x], {})),
  // JAX's jax.nn.relu: relu.defjvps(lambda g, ans, x: lax.select(x > 0, g, lax.full_like(g, 0))),
  // so 0 at 0 and at NaN (a select on x <= 0 passed NaN's tangent through).
  relu: ([x], [t]) => [[bind1('relu', [x!], {})], [t === null ? null : select(bind1('gt', [x!, constLike(x!, 0)], {}), t, constLike(t, 0))]],
  // As JAX: the derivative is 1 at 0 (select(x ≥ 0, t, −t)), not sign's 0.
  abs: ([x], [t]) => [[bind1('abs', [x!], {})], [t === null ? null : select(bind1('ge', [x!, zeros(x!.aval)], {}), t, neg(t))]],
  sign: zeroDerivative('sign'),
  floor: zeroDerivative('floor'),
  ceil: zeroDerivative('ceil'),
  round: zeroDerivative('round'),
};

/**
 * For max/min: x's weight, 1 where x wins, 0 where y wins, 1/2 on ties; y's is winnerWeight(y, x),
 * not 1 − this, so that where either is NaN (the result NaN) both weigh 0: JAX's _balanced_eq,
 * (x = z) / (y = z ? 2 : 1) with z the result.
 */
function winnerWeight(x: NDArray, y: NDArray, prim: 'max' | 'min'): NDArray {
  const wins = convert(bind1(prim === 'max' ? 'gt' : 'lt', [x, y], {}), 'float32');
  const ties = convert(bind1('eq', [x, y], {}), 'float32');
  return add(wins, scale(ties, 0.5));
}

/** The tangent of max/min(x, y) of shape `shape` from x's and y's (null: zero), each weighed by winnerWeight. */
function extremumTangent(prim: 'max' | 'min', x: NDArray, y: NDArray, tx: Tangent, ty: Tangent, shape: readonly number[]): Tangent {
  if (tx === null && ty === null) return null;
  const ta = tx === null ? null : mul(tx, winnerWeight(x, y, prim));
  const tb = ty === null ? null : mul(ty, winnerWeight(y, x, prim));
  return addTangents(shape, ta, tb);
}

function extremum(prim: 'max' | 'min'): JvpRule<BinaryPrimitive> {
  return ([x, y], [tx, ty]) => {
    const out = bind1(prim, [x!, y!], {});
    return [[out], [extremumTangent(prim, x!, y!, tx, ty, out.shape)]];
  };
}

const binaryRules: { [P in BinaryPrimitive]: JvpRule<P> } = {
  add: ([x, y], [tx, ty]) => {
    const out = add(x!, y!);
    return [[out], [addTangents(out.shape, tx, ty)]];
  },
  sub: ([x, y], [tx, ty]) => {
    const out = sub(x!, y!);
    return [[out], [addTangents(out.shape, tx, ty === null ? null : neg(ty))]];
  },
  mul: ([x, y], [tx, ty]) => {
    const out = mul(x!, y!);
    return [[out], [addTangents(out.shape, tx === null ? null : mul(tx, y!), ty === null ? null : mul(x!, ty))]];
  },
  div: ([x, y], [tx, ty]) => {
    const out = div(x!, y!);
    // d(x/y) = tx/y - (x/y) ty / y
    const ta = tx === null ? null : div(tx, y!);
    const tb = ty === null ? null : neg(div(mul(out, ty), y!));
    return [[out], [addTangents(out.shape, ta, tb)]];
  },
  pow: ([x, y], [tx, ty]) => {
    const out = bind1('pow', [x!, y!], {});
    // d/dx x^y = y x^(y-1). Where x = y = 0 that is 0·∞: x is replaced by 1 there, giving the
    // true 0 (x^0 is constant), so higher derivatives of polynomials stay finite at 0 (the pow
    // inside is handled by this same rule). Elsewhere the expression is untouched, so mixed
    // partials in y stay right (d²/dydx x^y = 1/x at y = 0).
    // d/dy x^y = log(x) x^y, with log(0) replaced by 0 (the term is 0 there).
    let ta: Tangent = null;
    if (tx !== null) {
      const shape = out.shape;
      const bothZero = bind1('and', [
        broadcastToShape(bind1('eq', [x!, constLike(x!, 0)], {}), shape),
        broadcastToShape(bind1('eq', [y!, constLike(y!, 0)], {}), shape),
      ], {});
      const safeX = select(bothZero, broadcastToShape(constLike(x!, 1), shape), broadcastToShape(x!, shape));
      ta = mul(tx, mul(y!, bind1('pow', [safeX, sub(y!, one(y!))], {})));
    }
    let tb: Tangent = null;
    if (ty !== null) {
      const isZero = bind1('eq', [x!, constLike(x!, 0)], {});
      const safeX = select(isZero, broadcastToShape(one(x!), x!.shape), x!);
      tb = mul(ty, mul(bind1('log', [safeX], {}), out));
    }
    return [[out], [addTangents(out.shape, ta, tb)]];
  },
  max: extremum('max'),
  min: extremum('min'),
  atan2: ([a, b], [ta, tb]) => {
    const out = bind1('atan2', [a!, b!], {});
    // d atan2(a, b) = (b da - a db) / (a² + b²)
    const den = add(sqr(a!), sqr(b!));
    const t1 = ta === null ? null : div(mul(b!, ta), den);
    const t2 = tb === null ? null : neg(div(mul(a!, tb), den));
    return [[out], [addTangents(out.shape, t1, t2)]];
  },
  rem: ([x, y], [tx, ty]) => {
    const out = bind1('rem', [x!, y!], {});
    if (!isDifferentiable(out.dtype)) return [[out], [null]];
    // x mod y = x - floor(x / y) y
    const t2 = ty === null ? null : neg(mul(ty, bind1('floor', [div(x!, y!)], {})));
    return [[out], [addTangents(out.shape, tx, t2)]];
  },
};

const comparisonRules = Object.fromEntries(
  (['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'is_finite'] as const).map((p) => [p, ((xs: NDArray[]) => [[bind1(p, xs, {})], [null]]) as JvpRule<ComparisonPrimitive>]),
) as { [P in ComparisonPrimitive]: JvpRule<P> };

/** A primitive linear in its first operand: apply it to the tangent with the same parameters. */
function linearUnary<P extends Primitive>(prim: P): JvpRule<P> {
  return ([x], [t], params) => [[bind1(prim, [x!], params)], [t === null ? null : bind1(prim, [t], params)]];
}

function noDerivative<P extends Primitive>(prim: P): JvpRule<P> {
  return (xs, _ts, params) => {
    const outs = bind(prim, xs, params);
    return [outs, outs.map(() => null)];
  };
}

type FirstOrder = Exclude<Primitive, 'jit_call' | 'remat' | 'custom_jvp_call' | 'custom_vjp_call' | 'custom_lin' | 'scan' | 'while' | 'cond'>;

export const firstOrderJvpRules: { [P in FirstOrder]: JvpRule<P> } = {
  ...unaryRules,
  ...binaryRules,
  ...comparisonRules,
  select: ([p, a, b], [, ta, tb]) => {
    const out = select(p!, a!, b!);
    if (ta === null && tb === null) return [[out], [null]];
    return [[out], [select(p!, instantiate(ta, a!), instantiate(tb, b!))]];
  },
  // np.clip's derivative, as max then min give it (not JAX's clamp's, which gives ties to no one):
  // y₁ = max(x, lo) takes w(x, lo) of x's tangent and w(lo, x) of lo's, then min(y₁, hi) takes
  // w(y₁, hi) of y₁'s and w(hi, y₁) of hi's (w(a, b): 1 where a wins, ½ on a tie, 0 where a loses
  // or a NaN is involved, so a NaN anywhere gives every operand 0, as jnp.clip), in the same
  // operations (extremumTangent, which max's and min's rules use), so the tangents agree bit for bit.
  clamp: ([lo, x, hi], [tlo, tx, thi]) => {
    const out = bind1('clamp', [lo!, x!, hi!], {});
    if (!isDifferentiable(out.dtype) || (tlo === null && tx === null && thi === null)) return [[out], [null]];
    const y1 = bind1('max', [x!, lo!], {});
    return [[out], [extremumTangent('min', y1, hi!, extremumTangent('max', x!, lo!, tx, tlo, y1.shape), thi, out.shape)]];
  },
  convert_element_type: ([x], [t], params) => {
    const out = bind1('convert_element_type', [x!], params);
    const keeps = isDifferentiable(x!.dtype) && isDifferentiable(params.dtype);
    return [[out], [keeps && t !== null ? convert(t, params.dtype) : null]];
  },
  reduce_sum: linearUnary('reduce_sum'),
  reduce_max: ([x], [t], params) => extremumReduce('reduce_max', x!, t, params.axes),
  reduce_min: ([x], [t], params) => extremumReduce('reduce_min', x!, t, params.axes),
  argmax: noDerivative('argmax'),
  // d/dx ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁺¹⁾(x) at every n (JAX's rule, also where n < 0 and the value is NaN); the int order has no tangent.
  polygamma: ([n, x], [, t]) => [[bind1('polygamma', [n!, x!], {})], [t === null ? null : mul(t, bind1('polygamma', [addScalar(n!, 1), x!], {}))]],
  softmax: ([x], [t], { axis }) => {
    const y = bind1('softmax', [x!], { axis });
    if (t === null) return [[y], [null]];
    // dy = y ⊙ (t − Σ_axis y ⊙ t)
    const kept = y.shape.map((d, i) => (i === axis ? 1 : d));
    const inner = broadcastToShape(reshape(reduceSum(mul(y, t), [axis]), kept), y.shape);
    return [[y], [mul(y, sub(t, inner))]];
  },
  argmin: noDerivative('argmin'),
  broadcast_in_dim: linearUnary('broadcast_in_dim'),
  reshape: linearUnary('reshape'),
  transpose: linearUnary('transpose'),
  rev: linearUnary('rev'),
  slice: linearUnary('slice'),
  pad: ([x], [t], params) => [[bind1('pad', [x!], params)], [t === null ? null : bind1('pad', [t], { ...params, value: 0 })]],
  concatenate: (xs, ts, params) => {
    const out = bind1('concatenate', xs, params);
    if (ts.every((t) => t === null)) return [[out], [null]];
    return [[out], [bind1('concatenate', ts.map((t, i) => instantiate(t, xs[i]!)), params)]];
  },
  gather: ([x, idx], [t], params) => [[bind1('gather', [x!, idx!], params)], [t === null ? null : bind1('gather', [t, idx!], params)]],
  scatter_add: ([idx, upd], [, t], params) => [[bind1('scatter_add', [idx!, upd!], params)], [t === null ? null : bind1('scatter_add', [idx!, t], params)]],
  cumsum: linearUnary('cumsum'),
  sort: ([x], [t], params) => {
    const [values, indices] = bind('sort', [x!], params);
    // JAX's rule: the tangent is gathered by the same permutation. At ties the stable permutation
    // decides which input feeds each output, so the derivative of a tied pair is not symmetric
    // (JAX's choice too; the sort is not differentiable there).
    return [[values!, indices!], [t === null ? null : takeAlongAxis(t, indices!, params.axis), null]];
  },
  dot_general: ([a, b], [ta, tb], params) => {
    const out = bind1('dot_general', [a!, b!], params);
    const t1 = ta === null ? null : bind1('dot_general', [ta, b!], params);
    const t2 = tb === null ? null : bind1('dot_general', [a!, tb], params);
    return [[out], [addTangents(out.shape, t1, t2)]];
  },
  conv2d: ([x, w], [tx, tw], params) => {
    const out = bind1('conv2d', [x!, w!], params);
    const t1 = tx === null ? null : bind1('conv2d', [tx, w!], params);
    const t2 = tw === null ? null : bind1('conv2d', [x!, tw], params);
    return [[out], [addTangents(out.shape, t1, t2)]];
  },
  stop_gradient: ([x]) => [[bind1('stop_gradient', [x!], {})], [null]],
  matrix_inverse: ([a], [t]) => {
    const y = bind1('matrix_inverse', [a!], {});
    // d(A^-1) = -A^-1 dA A^-1
    return [[y], [t === null ? null : neg(batchMatmul(batchMatmul(y, t), y))]];
  },
  slogdet: ([a], [t]) => {
    const [sign, logdet] = bind('slogdet', [a!], {});
    if (t === null) return [[sign!, logdet!], [null, null]];
    // d log|det A| = tr(A^-1 dA)
    return [[sign!, logdet!], [null, matrixTrace(bind1('linear_solve', [a!, t], {}))]];
  },
  det: ([a], [t]) => {
    const y = bind1('det', [a!], {});
    if (t === null) return [[y], [null]];
    // d det A = tr(adj(A) dA) = Σᵢⱼ adj(A)ⱼᵢ dAᵢⱼ: defined at singular matrices too (JAX's
    // cofactor rule), where tr(A⁻¹ dA)·det A would divide by zero.
    const adjT = matrixTranspose(bind1('adjugate', [a!], {}));
    return [[y], [reduceSum(mul(adjT, t), [a!.ndim - 2, a!.ndim - 1])]];
  },
  adjugate: ([a], [t]) => {
    const y = bind1('adjugate', [a!], {});
    return [[y], [t === null ? null : adjugateTangent(a!, t)]];
  },
  adjugate_tangent: ([a, t], [ta, tt]) => {
    const y = bind1('adjugate_tangent', [a!, t!], {});
    // Linear in T; in A its derivative is adj's second (see adjugateSecondTangent).
    const fromT = tt === null ? null : bind1('adjugate_tangent', [a!, tt], {});
    const fromA = ta === null ? null : adjugateSecondTangent(a!, t!, ta);
    return [[y], [addTangents(y.shape, fromT, fromA)]];
  },
  adjugate_second_tangent: ([a, t, s], [ta, tt, ts]) => {
    const y = bind1('adjugate_second_tangent', [a!, t!, s!], {});
    // Bilinear in T and S; in A its derivative is adj's third (see adjugateThirdTangent).
    const fromT = tt === null ? null : bind1('adjugate_second_tangent', [a!, tt, s!], {});
    const fromS = ts === null ? null : bind1('adjugate_second_tangent', [a!, t!, ts], {});
    const fromA = ta === null ? null : adjugateThirdTangent(a!, t!, s!, ta);
    return [[y], [addTangents(y.shape, fromT, fromS, fromA)]];
  },
  linear_solve: ([a, b], [ta, tb]) => {
    const x = bind1('linear_solve', [a!, b!], {});
    if (ta === null && tb === null) return [[x], [null]];
    // A x = b  =>  A dx = db - dA x
    let rhs = tb ?? null;
    if (ta !== null) rhs = rhs === null ? neg(batchMatmul(ta, x)) : sub(rhs, batchMatmul(ta, x));
    return [[x], [bind1('linear_solve', [a!, rhs!], {})]];
  },
  cholesky: ([a], [t]) => {
    const L = bind1('cholesky', [a!], {});
    if (t === null) return [[L], [null]];
    // Murray (2016), arXiv:1602.07527, eq. 9: dL = L·Φ(L⁻¹ dA L⁻ᵀ), Φ the lower triangle with the
    // diagonal halved. The primitive factors the symmetric part (A + Aᵀ)/2, so dA is symmetrised
    // first (JAX's symmetrize_input); then (L⁻¹ dA)ᵀ = dA L⁻ᵀ, and two lower solves give L⁻¹ dA L⁻ᵀ.
    const dA = scale(add(t, matrixTranspose(t)), 0.5);
    const lowerSolve = { lower: true, transposeA: false, unitDiagonal: false };
    const left = bind1('triangular_solve', [L, dA], lowerSolve);
    const middle = bind1('triangular_solve', [L, matrixTranspose(left)], lowerSolve);
    const n = a!.shape[a!.ndim - 1]!;
    return [[L], [batchMatmul(L, mul(middle, triangleConst(n, a!.ndim, 1, 0.5, 0)))]];
  },
  triangular_solve: ([a, b], [ta, tb], params) => {
    const x = bind1('triangular_solve', [a!, b!], params);
    if (ta === null && tb === null) return [[x], [null]];
    // op(T) x = b  =>  op(T) dx = db − op(dT) x, where dT is the part of dA the solve reads (its
    // triangle, without the diagonal when that is taken as ones): the rest does not move x.
    let rhs = tb;
    if (ta !== null) {
      const { lower, transposeA, unitDiagonal } = params;
      const n = a!.shape[a!.ndim - 1]!;
      const dT = mul(ta, triangleConst(n, ta.ndim, lower ? 1 : 0, unitDiagonal ? 0 : 1, lower ? 0 : 1));
      const dTx = batchMatmul(transposeA ? matrixTranspose(dT) : dT, x);
      rhs = rhs === null ? neg(dTx) : sub(rhs, dTx);
    }
    return [[x], [bind1('triangular_solve', [a!, rhs!], params)]];
  },
  eigh: ([a], [t], params) => {
    if (t === null) {
      const outs = bind('eigh', [a!], params);
      return [outs, outs.map(() => null)];
    }
    // The values' derivative needs the vectors too: computed here even when the primitive drops them.
    const [w, v] = bind('eigh', [a!], { lower: params.lower, computeVectors: true }) as [NDArray, NDArray];
    // JAX's eigh_jvp_rule: with Ā = Vᵀ·dA·V, dw = diag(Ā) and dV = V·(F∘Ā), F_ij = 1/(w_j − w_i)
    // off the diagonal and 0 on it. The primitive reads one triangle of A, so dA is that triangle
    // mirrored: the derivative of the function computed (for a symmetric dA, dA itself, as in JAX).
    const n = a!.shape[a!.ndim - 1]!, nd = a!.ndim;
    const [keep, mirror] = params.lower ? [triangleConst(n, nd, 1, 1, 0), triangleConst(n, nd, 1, 0, 0)] : [triangleConst(n, nd, 0, 1, 1), triangleConst(n, nd, 0, 0, 1)];
    const dA = add(mul(t, keep), matrixTranspose(mul(t, mirror)));
    const vtdAv = batchMatmul(batchMatmul(matrixTranspose(v), dA), v);
    if (!params.computeVectors) return [[w], [matrixDiagonal(vtdAv)]];
    // F built as JAX does, 1/(I + w_j − w_i) − I: a repeated eigenvalue makes it infinite, and dV NaN.
    const F = offDiagonalReciprocal(sub(reshape(w, [...w.shape.slice(0, -1), 1, n]), reshape(w, [...w.shape, 1])));
    return [[w, v], [matrixDiagonal(vtdAv), batchMatmul(v, mul(F, vtdAv))]];
  },
  svd: ([a], [t], { fullMatrices, computeUv }) => {
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!;
    if (computeUv && fullMatrices && m !== n) {
      throw new TransformError(`linalg.svd: the derivative of svd with fullMatrices true is only defined for square matrices, got ${a!.aval.str()} (JAX refuses it too: the extra columns of U or rows of Vᵀ are not determined by A); use fullMatrices: false`);
    }
    // For a square matrix the full and the reduced decompositions are the same.
    const [s, u, vh] = bind('svd', [a!], { fullMatrices: false, computeUv: true }) as [NDArray, NDArray, NDArray];
    const primals = computeUv ? [s, u, vh] : [s];
    if (t === null) return [primals, primals.map(() => null)];
    // JAX's svd_jvp_rule (real case): dS = Uᵀ·dA·V, ds = diag(dS); dU = U·(F∘(dS·S + S·dSᵀ)),
    // dV = V·(F∘(S·dS + dSᵀ·S)) with F_ij = 1/(s_j² − s_i²) off the diagonal, plus the parts of
    // dA·V (tall) or dAᵀ·U (wide) outside span(U) or span(V), divided by s.
    const v = matrixTranspose(vh), ut = matrixTranspose(u);
    const dS = batchMatmul(batchMatmul(ut, t), v);
    const ds = matrixDiagonal(dS);
    if (!computeUv) return [primals, [ds]];
    const k = s.shape[s.ndim - 1]!;
    const sRow = reshape(s, [...s.shape.slice(0, -1), 1, k]), sCol = reshape(s, [...s.shape, 1]);
    // F∘(dS·S + S·dSᵀ) as (dS∘R + dSᵀ∘Rᵀ)/(s_j − s_i) with R_ij = s_j/(s_i + s_j) ∈ [0, 1] (and
    // S·dS + dSᵀ·S with Rᵀ and R), never forming s_j² − s_i² as JAX does: in float32 the squares
    // overflow above s ≈ 1.8e19 (F = 0, a silently wrong dU) and underflow below 1e-19 (NaN), and a
    // product of the two reciprocals would overflow the cotangent in reverse mode. 1/(s_i + s_j + δ_ij)
    // keeps R's diagonal finite (a zero s_i), where 1/(s_j − s_i)'s diagonal is 0.
    const invDiff = offDiagonalReciprocal(sub(sRow, sCol));
    const invSum = div(constLike(dS, 1), add(add(sRow, sCol), eyeLike(dS.aval)));
    const R = mul(sRow, invSum), RT = mul(sCol, invSum), dST = matrixTranspose(dS);
    let dU = batchMatmul(u, mul(invDiff, add(mul(R, dS), mul(RT, dST))));
    let dV = batchMatmul(v, mul(invDiff, add(mul(RT, dS), mul(R, dST))));
    if (m > n) {
      const dAV = batchMatmul(t, v);
      dU = add(dU, div(sub(dAV, batchMatmul(u, batchMatmul(ut, dAV))), sRow));
    }
    if (n > m) {
      const dAtU = batchMatmul(matrixTranspose(t), u);
      dV = add(dV, div(sub(dAtU, batchMatmul(v, batchMatmul(vh, dAtU))), sRow));
    }
    return [primals, [ds, dU, matrixTranspose(dV)]];
  },
  random_bits: noDerivative('random_bits'),
  random_split: noDerivative('random_split'),
  random_fold_in: noDerivative('random_fold_in'),
  checkpoint_name: ([x], [t], params) => [[bind1('checkpoint_name', [x!], params)], [t]],
  // ---- QR
  qr: ([a], [t], params) => {
    const [q, r] = bind('qr', [a!], params) as [NDArray, NDArray];
    if (t === null) return [[q, r], [null, null]];
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!;
    if (m < n || (params.fullMatrices && m !== n)) {
      throw new TransformError(`linalg.qr: the derivative of ${params.fullMatrices ? 'complete' : 'reduced'} QR of ${fmtShape(a!.shape)} matrices (${m}×${n}) is not implemented, as in JAX; it exists for reduced QR with m ≥ n and for complete QR of square matrices`);
    }
    // JAX's qr_jvp_rule (j-towns.github.io/papers/qr-derivative.pdf): with C = Qᵀ dX R⁻¹ and Ω its
    // strictly lower part minus that part's transpose (skew-symmetric), dR = (C − Ω)·R and
    // dQ = Q·(Ω − C) + dX R⁻¹. dX R⁻¹ = (R⁻ᵀ dXᵀ)ᵀ: one upper triangular solve with Rᵀ.
    const singularHint = 'the derivative of linalg.qr solves with R: there A must have full column rank';
    const dxRinv = matrixTranspose(bind1('triangular_solve', [r, matrixTranspose(t)], { lower: false, transposeA: true, unitDiagonal: false, singularHint }));
    const c = batchMatmul(matrixTranspose(q), dxRinv);
    const strictlyLower = mul(c, triangleConst(n, c.ndim, 1, 0, 0));
    const omega = sub(strictlyLower, matrixTranspose(strictlyLower));
    return [[q, r], [add(batchMatmul(q, sub(omega, c)), dxRinv), batchMatmul(sub(c, omega), r)]];
  },
};

function extremumReduce(prim: 'reduce_max' | 'reduce_min', x: NDArray, t: Tangent, axes: number[]): [NDArray[], Tangent[]] {
  const out = bind1(prim, [x], { axes });
  if (t === null) return [[out], [null]];
  // The tangent is the average of the tangents at the positions that attain the extremum.
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const location = convert(bind1('eq', [x, reshape(out, keptShape)], {}), 'float32');
  const counts = reduceSum(location, axes);
  return [[out], [div(reduceSum(mul(t, location), axes), counts)]];
}

import { ConcreteArray } from '../src/array.js';
import * as tf from '@tensorflow/tfjs-core';
/**
 * d adj(A)[dA], defined at singular A too (so is det's second derivative). The textbook
 * adj·tr(A⁻¹dA) − A⁻¹dA·adj needs A⁻¹; the adjugate_tangent kernel instead pivots an LU completely
 * and divides only by its largest n − 2 pivots (exact at rank n − 1 and n − 2, zero below), in
 * float64. A 2×2 adjugate is linear, so its tangent is adj(dA), exact at every order (no A in it).
 */
function adjugateTangent(a: NDArray, t: NDArray): NDArray {
  const n = a.shape[a.ndim - 1]!, batch = a.shape.slice(0, -2), shape = a.shape;
  if (n <= 1) return zeros(t.aval); // adj is the constant [[1]] (or empty)
  if (n === 2) {
    // adj([[a, b], [c, d]]) = [[d, −b], [−c, a]] is linear: d adj[T] = adj(T), exact at every order.
    const flatT = reshape(t, [...batch, 4]);
    const swapped = bind1('gather', [flatT, new ConcreteArray(tf.tensor1d([3, 1, 2, 0], 'int32'))], { axis: flatT.ndim - 1 });
    return reshape(mul(swapped, broadcastToShape(new ConcreteArray(tf.tensor1d([1, -1, -1, 1], 'float32')), swapped.shape)), shape);
  }
  return bind1('adjugate_tangent', [a, t], {});
}

/**
 * d²adj(A)[T, S], the JVP of adjugate_tangent in A (det's third derivative). A 3×3 adjugate is a
 * quadratic form Q(A, A): d adj(A)[T] = 2Q(A, T) is linear in A, so d²adj[T, S] = 2Q(T, S) =
 * d adj(T)[S], the same at every A, singular ones included (exact, no A⁻¹). Past 3×3 it is the
 * adjugate_second_tangent kernel: float64, a polynomial in A over a completely pivoted LU that
 * divides by none of the three smallest pivots, so finite and exact at singular A too.
 */
function adjugateSecondTangent(a: NDArray, t: NDArray, s: NDArray): NDArray {
  if (a.shape[a.ndim - 1] === 3) return bind1('adjugate_tangent', [t, s], {});
  return bind1('adjugate_second_tangent', [a, t, s], {});
}

/**
 * d³adj(A)[T, S, R], the JVP of adjugate_second_tangent in A (det's fourth derivative), for n ≥ 4:
 * with X = A⁻¹ (taken as adj/det: ∞ or NaN at a singular A, and float32, so it loses accuracy near
 * one), G_S = d adj[S] and F = d²adj = tr(XT)·G_S − XT·G_S + (XSXT − tr(XSXT))·adj, dX = −XRX gives
 *   −tr(XRXT)·G_S + tr(XT)·F[S, R] + XRXT·G_S − XT·F[S, R]
 *   + (tr(XRXSXT + XSXRXT) − XRXSXT − XSXRXT)·adj + (XSXT − tr(XSXT))·G_R.
 */
function adjugateThirdTangent(a: NDArray, t: NDArray, s: NDArray, r: NDArray): NDArray {
  const batch = a.shape.slice(0, -2);
  const adj = bind1('adjugate', [a], {});
  const x = div(adj, broadcastToShape(reshape(bind1('det', [a], {}), [...batch, 1, 1]), a.shape));
  const col = (v: NDArray) => broadcastToShape(reshape(v, [...batch, 1, 1]), a.shape);
  const tr = (v: NDArray) => col(matrixTrace(v));
  const eye = eyeLike(a.aval);
  const xt = batchMatmul(x, t), xs = batchMatmul(x, s), xr = batchMatmul(x, r);
  const gs = bind1('adjugate_tangent', [a, s], {}), gr = bind1('adjugate_tangent', [a, r], {});
  const fsr = bind1('adjugate_second_tangent', [a, s, r], {});
  const xrxt = batchMatmul(xr, xt), xsxt = batchMatmul(xs, xt);
  const mixed = add(batchMatmul(xr, xsxt), batchMatmul(xs, xrxt)); // XRXSXT + XSXRXT
  const terms = [
    mul(tr(xrxt), gs), // subtracted below
    mul(tr(xt), fsr),
    batchMatmul(xrxt, gs),
    batchMatmul(xt, fsr), // subtracted
    batchMatmul(sub(mul(tr(mixed), eye), mixed), adj),
    batchMatmul(sub(xsxt, mul(tr(xsxt), eye)), gr),
  ];
  return add(add(sub(terms[1]!, terms[0]!), sub(terms[2]!, terms[3]!)), add(terms[4]!, terms[5]!));
}

/** The trace of each matrix of a stack [..., n, n]. */
function matrixTrace(x: NDArray): NDArray {
  const diag = matrixDiagonal(x);
  return reduceSum(diag, [diag.ndim - 1]);
}

/** The diagonal [..., n] of each matrix of a stack [..., n, n] (one gather, whose transpose is one scatter). */
function matrixDiagonal(x: NDArray): NDArray {
  const n = x.shape[x.ndim - 1]!;
  return bind1('gather', [reshape(x, [...x.shape.slice(0, -2), n * n]), diagonalIndices(n)], { axis: x.ndim - 2 });
}

/** 1/d off the diagonal and 0 on it, for a stack of differences d [..., n, n] whose diagonal is 0: 1/(I + d) − I, as JAX writes it (no division by the zero diagonal). */
function offDiagonalReciprocal(d: NDArray): NDArray {
  const eye = eyeLike(d.aval);
  return sub(div(constLike(d, 1), add(eye, d)), eye);
}

function diagonalIndices(n: number): NDArray {
  return new ConcreteArray(tf.tensor1d(Array.from({ length: n }, (_, i) => i * n + i), 'int32'));
}
void addScalar;
