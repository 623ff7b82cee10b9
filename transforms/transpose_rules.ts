// Transpose rules for the linear primitives: given the cotangents of the outputs and the operands
// (UndefPrimal for the linear ones being transposed, values for the rest), the cotangents of the
// undefined operands (null = zero). Reverse mode is JVP + partial evaluation + these rules.
import type { NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { bind1 } from '../src/core.js';
import { TransformError } from '../src/errors.js';
import type { LinearPrimitive, ParamsOf } from '../src/primitives.js';
import { invertPerm } from '../src/shape.js';
import { batchMatmul, convert, div, matrixTranspose, mul, neg, reduceSum, reshape, select, transpose, unbroadcast, zeros } from './lax.js';

/** Stands for a linear input whose cotangent is being computed. */
export class UndefPrimal {
  readonly kind = 'undefined-primal' as const;
  constructor(readonly aval: ShapedArray) {}
}

export type Operand = NDArray | UndefPrimal;
export type Cotangent = NDArray | null;
export type TransposeRule<P extends LinearPrimitive> = (cts: Cotangent[], args: Operand[], params: ParamsOf<P>) => Cotangent[];

export const isUndef = (x: Operand): x is UndefPrimal => x instanceof UndefPrimal;

function shapeOf(x: Operand): readonly number[] {
  return isUndef(x) ? x.aval.shape : x.shape;
}

function nonLinear(prim: string, what: string): never {
  throw new TransformError(`transpose of ${prim}: the ${what} is not linear in the differentiated inputs (internal error: a non-linear use of a tangent)`);
}

/** Cotangent of an elementwise operand: sum over the dimensions it was broadcast along. */
const unb = (ct: NDArray, x: Operand): NDArray => unbroadcast(ct, shapeOf(x));

export function dotGeneralTranspose(ct: NDArray, [x, y]: Operand[], { contract: [cx, cy], batch: [bx, by] }: ParamsOf<'dot_general'>): Cotangent[] {
  const xShape = shapeOf(x!), yShape = shapeOf(y!);
  const nb = bx.length;
  const fx = xShape.map((_, i) => i).filter((i) => !cx.includes(i) && !bx.includes(i));
  const fy = yShape.map((_, i) => i).filter((i) => !cy.includes(i) && !by.includes(i));
  const ctBatch = bx.map((_, i) => i);
  const ctXFree = fx.map((_, i) => nb + i);
  const ctYFree = fy.map((_, i) => nb + fx.length + i);
  const out: Cotangent[] = [null, null];
  if (isUndef(x!)) {
    if (isUndef(y!)) nonLinear('dot_general', 'product of two differentiated operands');
    // ct · y over y's free axes -> [batch, x free, y contract axes in increasing order] -> x's layout
    const r = bind1('dot_general', [ct, y!], { contract: [ctYFree, fy], batch: [ctBatch, [...by]] });
    const sortedCy = [...cy].sort((a, b) => a - b);
    const resultToX = [...bx, ...fx, ...sortedCy.map((d) => cx[cy.indexOf(d)]!)];
    out[0] = transpose(r, invertPerm(resultToX));
  } else if (isUndef(y!)) {
    const r = bind1('dot_general', [x!, ct], { contract: [fx, ctXFree], batch: [[...bx], ctBatch] });
    const sortedCx = [...cx].sort((a, b) => a - b);
    const resultToY = [...by, ...sortedCx.map((d) => cy[cx.indexOf(d)]!), ...fy];
    out[1] = transpose(r, invertPerm(resultToY));
  }
  return out;
}

/**
 * Convolution transposes, built from conv2d itself (plus pad, rev, transpose, slice) so that they
 * are differentiable again and need no backprop kernels (wasm has no Conv2DBackpropFilter).
 */
function conv2dTranspose(ct: NDArray, [x, w]: Operand[], { strides, padding, dilations }: ParamsOf<'conv2d'>): Cotangent[] {
  const xs = shapeOf(x!), ws = shapeOf(w!);
  const out: Cotangent[] = [null, null];
  if (isUndef(x!) && isUndef(w!)) nonLinear('conv2d', 'product of two differentiated operands');
  if (isUndef(x!)) {
    // Input gradient: dilate the cotangent by the stride, pad, and correlate with the flipped filter.
    const lo: number[] = [0], hi: number[] = [0], interior: number[] = [0];
    for (let i = 0; i < 2; i++) {
      const k = (ws[i]! - 1) * dilations[i]! + 1;
      const before = k - 1 - padding[i]![0];
      const dilatedCt = (ct.shape[1 + i]! - 1) * strides[i]! + 1;
      lo.push(before);
      hi.push(xs[1 + i]! + k - 1 - dilatedCt - before);
      interior.push(strides[i]! - 1);
    }
    lo.push(0); hi.push(0); interior.push(0);
    const ctp = bind1('pad', [ct], { lo, hi, interior, value: 0 });
    const wFlipped = transpose(bind1('rev', [w as NDArray], { axes: [0, 1] }), [0, 1, 3, 2]);
    out[0] = bind1('conv2d', [ctp, wFlipped], { strides: [1, 1], padding: [[0, 0], [0, 0]], dilations });
  } else {
    // Filter gradient: a convolution over the batch, with the input's channels as its batch.
    if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) {
      throw new TransformError('conv2d: gradients with respect to the filter need strides or dilations of 1 (not both above 1)');
    }
    const xp = bind1('pad', [x as NDArray], { lo: [0, padding[0][0], padding[1][0], 0], hi: [0, padding[0][1], padding[1][1], 0], interior: [0, 0, 0, 0], value: 0 });
    const lhs = transpose(xp, [3, 1, 2, 0]);
    const rhs = transpose(ct, [1, 2, 0, 3]);
    const r = bind1('conv2d', [lhs, rhs], { strides: dilations, padding: [[0, 0], [0, 0]], dilations: strides });
    const cropped = bind1('slice', [r], { start: [0, 0, 0, 0], limit: [r.shape[0]!, ws[0]!, ws[1]!, r.shape[3]!], strides: [1, 1, 1, 1] });
    out[1] = transpose(cropped, [1, 2, 0, 3]);
  }
  return out;
}

type FirstOrderLinear = Exclude<LinearPrimitive, 'jit_call' | 'remat' | 'custom_lin' | 'scan' | 'while' | 'cond'>;

export const firstOrderTransposeRules: { [P in FirstOrderLinear]: TransposeRule<P> } = {
  neg: ([ct]) => [neg(ct!)],
  add: ([ct], [x, y]) => [isUndef(x!) ? unb(ct!, x!) : null, isUndef(y!) ? unb(ct!, y!) : null],
  sub: ([ct], [x, y]) => [isUndef(x!) ? unb(ct!, x!) : null, isUndef(y!) ? unb(neg(ct!), y!) : null],
  mul: ([ct], [x, y]) => {
    if (isUndef(x!) && isUndef(y!)) nonLinear('mul', 'product of two differentiated operands');
    return isUndef(x!) ? [unb(mul(ct!, y as NDArray), x!), null] : [null, unb(mul(x as NDArray, ct!), y!)];
  },
  div: ([ct], [x, y]) => {
    if (isUndef(y!)) nonLinear('div', 'divisor');
    return [unb(div(ct!, y as NDArray), x!), null];
  },
  select: ([ct], [p, a, b]) => {
    if (isUndef(p!)) nonLinear('select', 'predicate');
    const z = zeros(ct!.aval);
    return [null, isUndef(a!) ? unb(select(p as NDArray, ct!, z), a!) : null, isUndef(b!) ? unb(select(p as NDArray, z, ct!), b!) : null];
  },
  convert_element_type: ([ct], [x]) => [convert(ct!, (x as UndefPrimal).aval.dtype)],
  reduce_sum: ([ct], [x], { axes }) => {
    const shape = shapeOf(x!);
    const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
    return [bind1('broadcast_in_dim', [ct!], { shape: [...shape], broadcastDimensions: kept })];
  },
  broadcast_in_dim: ([ct], [x], { shape, broadcastDimensions }) => {
    const xShape = shapeOf(x!);
    // Sum over the new axes and over operand axes of size 1 that were stretched.
    const summed = shape.map((_, i) => i).filter((i) => {
      const k = broadcastDimensions.indexOf(i);
      return k < 0 || (xShape[k] === 1 && shape[i] !== 1);
    });
    return [reshape(reduceSum(ct!, summed), xShape)];
  },
  reshape: ([ct], [x]) => [reshape(ct!, shapeOf(x!))],
  transpose: ([ct], _x, { perm }) => [transpose(ct!, invertPerm(perm))],
  rev: ([ct], _x, { axes }) => [bind1('rev', [ct!], { axes })],
  slice: ([ct], [x], { start, strides }) => {
    const shape = shapeOf(x!);
    const hi = shape.map((d, i) => d - (start[i]! + Math.max(ct!.shape[i]! - 1, 0) * strides[i]! + (ct!.shape[i]! > 0 ? 1 : 0)));
    return [bind1('pad', [ct!], { lo: [...start], hi, interior: strides.map((s) => s - 1), value: 0 })];
  },
  pad: ([ct], [x], { lo, hi, interior }) => {
    if (!isUndef(x!)) return [null];
    const shape = shapeOf(x!);
    // Undo cropping (negative padding) with zeros, then take every (interior+1)-th element.
    const unc = lo.some((l) => l < 0) || hi.some((h) => h < 0)
      ? bind1('pad', [ct!], { lo: lo.map((l) => Math.max(-l, 0)), hi: hi.map((h) => Math.max(-h, 0)), interior: lo.map(() => 0), value: 0 })
      : ct!;
    const start = lo.map((l) => Math.max(l, 0));
    const limit = shape.map((n, i) => start[i]! + Math.max(n - 1, 0) * (interior[i]! + 1) + (n > 0 ? 1 : 0));
    return [bind1('slice', [unc], { start, limit, strides: interior.map((k) => k + 1) })];
  },
  concatenate: ([ct], xs, { axis }) => {
    let offset = 0;
    return xs.map((x) => {
      const shape = shapeOf(x);
      const start = shape.map(() => 0), limit = [...ct!.shape];
      start[axis] = offset;
      limit[axis] = offset + shape[axis]!;
      offset += shape[axis]!;
      return isUndef(x) ? bind1('slice', [ct!], { start, limit, strides: shape.map(() => 1) }) : null;
    });
  },
  gather: ([ct], [x, idx], { axis }) => {
    if (isUndef(idx!)) nonLinear('gather', 'index operand');
    return [bind1('scatter_add', [idx as NDArray, ct!], { axis, axisSize: shapeOf(x!)[axis]! }), null];
  },
  scatter_add: ([ct], [idx], { axis }) => {
    if (isUndef(idx!)) nonLinear('scatter_add', 'index operand');
    return [null, bind1('gather', [ct!, idx as NDArray], { axis })];
  },
  cumsum: ([ct], _x, { axis, reverse }) => [bind1('cumsum', [ct!], { axis, reverse: !reverse })],
  dot_general: ([ct], args, params) => dotGeneralTranspose(ct!, args, params),
  conv2d: ([ct], args, params) => conv2dTranspose(ct!, args, params),
  linear_solve: ([ct], [a, b]) => {
    if (isUndef(a!)) nonLinear('linear_solve', 'matrix');
    void b;
    return [null, bind1('linear_solve', [matrixTranspose(a as NDArray), ct!], {})];
  },
  triangular_solve: ([ct], [a], params) => {
    if (isUndef(a!)) nonLinear('triangular_solve', 'matrix');
    // x = op(T)⁻¹ b is linear in b; its transpose applies op(T)⁻ᵀ: the same triangle, read the other way.
    return [null, bind1('triangular_solve', [a as NDArray, ct!], { ...params, transposeA: !params.transposeA })];
  },
  adjugate_tangent: ([ct], [a]) => {
    if (isUndef(a!)) nonLinear('adjugate_tangent', 'matrix');
    // d adj(A)[T]_ij = Σ_kl ∂²det/∂A_ji∂A_kl·T_kl, and the Hessian of det is symmetric, so
    // ⟨C, d adj(A)[T]⟩ = ⟨d adj(A)[Cᵀ]ᵀ, T⟩: the transpose is the same map on transposes.
    return [null, matrixTranspose(bind1('adjugate_tangent', [a as NDArray, matrixTranspose(ct!)], {}))];
  },
  adjugate_second_tangent: ([ct], [a, t, s]) => {
    if (isUndef(a!)) nonLinear('adjugate_second_tangent', 'matrix');
    if (isUndef(t!) && isUndef(s!)) nonLinear('adjugate_second_tangent', 'product of two differentiated tangents');
    // d²adj(A)[T, S]_ij = D³det(A)[E_ji, T, S], symmetric in its three directions, so
    // ⟨C, d²adj[T, S]⟩ = ⟨d²adj[Cᵀ, S]ᵀ, T⟩ = ⟨d²adj[T, Cᵀ]ᵀ, S⟩.
    const cT = matrixTranspose(ct!);
    return isUndef(t!)
      ? [null, matrixTranspose(bind1('adjugate_second_tangent', [a as NDArray, cT, s as NDArray], {})), null]
      : [null, null, matrixTranspose(bind1('adjugate_second_tangent', [a as NDArray, t as NDArray, cT], {}))];
  },
  checkpoint_name: ([ct]) => [ct!],
};

void batchMatmul;
