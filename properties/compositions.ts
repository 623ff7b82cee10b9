// Random compositions of gradus ops for the autodiff properties: expression trees of smooth unary,
// binary, reduction and shape ops over a few inputs. Every node has a shape that broadcasts against
// the inputs' common shape (reductions keep their dimensions), so any two nodes can be combined.
// Ops with kinks (abs, max, relu) are left out: finite differences cannot see through a kink.
import fc from 'fast-check';
import { np, type NDArray } from '../src/index.js';

export const UNARY = [
  'sin', 'cos', 'tanh', 'sigmoid', 'softplus', 'gelu', 'square', 'exp', 'atan', 'asinh', 'erf', 'sinh',
  'log1pSq', 'sqrt1pSq', 'rsqrt', 'recip', 'expm1', 'neg', 'powHalf', 'logSigmoid', 'silu',
] as const;
export const BINARY = ['add', 'sub', 'mul', 'div', 'pow', 'atan2', 'where'] as const;
export const REDUCE = ['sum', 'mean', 'logsumexp', 'prod', 'var', 'softmax', 'logSoftmax', 'vecdot'] as const;
export const SHAPE = ['flip', 'cumsum', 'permute', 'shift', 'transposeCumsum', 'concatSlice', 'reverseAt', 'matmulConst', 'reshapeCumsum', 'einsumConst'] as const;

export type Expr =
  | { kind: 'input'; index: number }
  | { kind: 'unary'; op: (typeof UNARY)[number]; x: Expr }
  | { kind: 'binary'; op: (typeof BINARY)[number]; x: Expr; y: Expr }
  | { kind: 'reduce'; op: (typeof REDUCE)[number]; axis: number; x: Expr }
  | { kind: 'shape'; op: (typeof SHAPE)[number]; axis: number; x: Expr };

export function showExpr(e: Expr): string {
  switch (e.kind) {
    case 'input': return `x${e.index}`;
    case 'unary': return `${e.op}(${showExpr(e.x)})`;
    case 'binary': return `${e.op}(${showExpr(e.x)}, ${showExpr(e.y)})`;
    case 'reduce': return `${e.op}[axis ${e.axis}](${showExpr(e.x)})`;
    case 'shape': return `${e.op}[axis ${e.axis}](${showExpr(e.x)})`;
  }
}

/** Expression trees over `numInputs` inputs, at most `maxDepth` ops deep. */
export function arbExpr(numInputs: number, maxDepth = 3, exclude: readonly string[] = []): fc.Arbitrary<Expr> {
  const unary = UNARY.filter((op) => !exclude.includes(op));
  const binary = BINARY.filter((op) => !exclude.includes(op));
  const reduce = REDUCE.filter((op) => !exclude.includes(op));
  const shape = SHAPE.filter((op) => !exclude.includes(op));
  const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
    expr: fc.oneof(
      { maxDepth, depthSize: 'large', withCrossShrink: true },
      { weight: 2, arbitrary: fc.nat(numInputs - 1).map((index): Expr => ({ kind: 'input', index })) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('unary' as const), op: fc.constantFrom(...unary), x: tie('expr') }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('binary' as const), op: fc.constantFrom(...binary), x: tie('expr'), y: tie('expr') }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('reduce' as const), op: fc.constantFrom(...reduce), axis: fc.integer({ min: -3, max: 2 }), x: tie('expr') }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('shape' as const), op: fc.constantFrom(...shape), axis: fc.integer({ min: -3, max: 2 }), x: tie('expr') }) },
    ) as fc.Arbitrary<Expr>,
  }));
  return expr;
}

/**
 * Input shapes for a composition: the first input has the full shape (rank 0..maxRank, dimensions
 * 1..maxDim), the others broadcast against it (some dimensions 1, some leading ones dropped).
 */
export function arbInputShapes(count: number, { maxRank = 3, maxDim = 3 } = {}): fc.Arbitrary<number[][]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { maxLength: maxRank }).chain((full) => {
    const other = fc
      .tuple(fc.integer({ min: 0, max: full.length }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: full.length, maxLength: full.length }))
      .map(([drop, r]) => full.map((d, i) => (r[i] === 0 ? 1 : d)).slice(Math.min(drop, r.filter((v) => v === 0).length)));
    return fc.tuple(fc.constant(full), ...Array.from({ length: count - 1 }, () => other));
  });
}

/** A deterministic, well-scaled constant array (the same for the same shape). */
function constant(shape: number[]): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.3) * 0.8);
  return np.reshape(np.array(vals.length ? vals : [], 'float32'), shape);
}

function axisOf(x: NDArray, axis: number): number | null {
  if (x.ndim === 0) return null;
  return ((axis % x.ndim) + x.ndim) % x.ndim;
}

/** Evaluates an expression with gradus ops (works under any transformation). */
export function evalExpr(e: Expr, xs: readonly NDArray[]): NDArray {
  switch (e.kind) {
    case 'input':
      return xs[e.index % xs.length]!;
    case 'unary': {
      const x = evalExpr(e.x, xs);
      switch (e.op) {
        case 'sin': return np.sin(x);
        case 'cos': return np.cos(x);
        case 'tanh': return np.tanh(x);
        case 'sigmoid': return np.sigmoid(x);
        case 'softplus': return np.softplus(x);
        case 'gelu': return np.gelu(x);
        case 'square': return np.square(x);
        case 'exp': return np.exp(x);
        case 'atan': return np.arctan(x);
        case 'asinh': return np.arcsinh(x);
        case 'erf': return np.erf(x);
        case 'sinh': return np.sinh(x);
        case 'log1pSq': return np.log1p(np.square(x));
        case 'sqrt1pSq': return np.sqrt(np.add(np.square(x), 1));
        case 'rsqrt': return np.rsqrt(np.add(np.square(x), 0.5));
        case 'recip': return np.reciprocal(np.add(np.square(x), 1));
        case 'expm1': return np.expm1(x);
        case 'neg': return np.negative(x);
        case 'powHalf': return np.power(np.add(np.square(x), 1), 1.5);
        case 'logSigmoid': return np.logSigmoid(x);
        case 'silu': return np.silu(x);
      }
      break;
    }
    case 'binary': {
      const x = evalExpr(e.x, xs), y = evalExpr(e.y, xs);
      switch (e.op) {
        case 'add': return np.add(x, y);
        case 'sub': return np.subtract(x, y);
        case 'mul': return np.multiply(x, y);
        case 'div': return np.divide(x, np.add(np.square(y), 1.5));
        case 'pow': return np.power(np.add(np.square(x), 0.5), np.tanh(y));
        case 'atan2': return np.arctan2(x, np.add(np.square(y), 1));
        case 'where': {
          // A fixed mask (not data-dependent), so the function stays smooth.
          const shape = broadcast(x.shape, y.shape);
          const n = shape.reduce((a, b) => a * b, 1);
          const mask = np.reshape(np.array(Array.from({ length: n }, (_, i) => (i * 7) % 3 !== 0), 'bool'), shape);
          return np.where(mask, x, np.cos(y));
        }
      }
      break;
    }
    case 'reduce': {
      const x = evalExpr(e.x, xs);
      const ax = axisOf(x, e.axis);
      if (e.op === 'vecdot') return np.dot(np.ravel(x), np.ravel(np.sin(x))); // a full contraction (scalar)
      if (ax === null) return e.op === 'var' || e.op === 'softmax' || e.op === 'logSoftmax' ? np.sin(x) : x;
      // Negative axes on purpose half of the time.
      const a = e.axis < 0 ? ax - x.ndim : ax;
      switch (e.op) {
        case 'sum': return np.sum(x, a, true);
        case 'mean': return np.mean(x, [a], true);
        case 'logsumexp': return np.logsumexp(x, a, true);
        case 'prod': return np.prod(x, a, true);
        case 'var': return np.var(x, a, true);
        case 'softmax': return np.softmax(x, a);
        case 'logSoftmax': return np.logSoftmax(x, a);
      }
      break;
    }
    case 'shape': {
      const x = evalExpr(e.x, xs);
      const ax = axisOf(x, e.axis);
      if (ax === null) return np.multiply(x, 0.5);
      const n = x.shape[ax]!;
      switch (e.op) {
        case 'flip': return np.flip(x, ax);
        case 'cumsum': return np.cumsum(x, ax, e.axis < 0);
        case 'permute': {
          // Gather with a fixed permutation of the flattened array, then restore the shape.
          const size = x.size;
          const perm = Array.from({ length: size }, (_, i) => i).sort((i, j) => ((i * 5 + 3) % 7) - ((j * 5 + 3) % 7) || i - j);
          return np.reshape(np.take(np.reshape(x, [-1]), np.array(perm.length ? perm : [], 'int32')), x.shape);
        }
        case 'shift': {
          // pad one zero in front along the axis and drop the last element: x shifted by one.
          const widths = x.shape.map((_, i) => (i === ax ? [1, 0] : [0, 0]) as [number, number]);
          const padded = np.pad(x, widths);
          return np.slice(padded, x.shape.map(() => 0), x.shape);
        }
        case 'transposeCumsum': {
          const perm = np.moveaxis(x, ax, -1);
          return np.moveaxis(np.cumsum(perm, -1), -1, ax);
        }
        case 'concatSlice': {
          const both = np.concatenate([x, np.flip(np.sin(x), ax)], ax);
          const [, second] = np.split(np.cumsum(both, ax), 2, ax);
          return second!;
        }
        case 'reverseAt': {
          const spec = x.shape.map((_, i) => (i === ax ? ([null, null, -1] as const) : null));
          return x.at(...spec);
        }
        case 'matmulConst': {
          if (x.ndim < 2) return np.multiply(x, constant(x.shape));
          const k = x.shape[x.ndim - 1]!;
          return np.matmul(x, constant([k, k]));
        }
        case 'reshapeCumsum': {
          const flat = np.reshape(x, [-1]);
          return np.reshape(np.cumsum(flat), x.shape);
        }
        case 'einsumConst': {
          if (x.ndim === 1) return np.einsum('i,ij->j', x, constant([n, n]));
          if (x.ndim === 2) return np.einsum('ij,jk->ik', x, constant([x.shape[1]!, x.shape[1]!]));
          return np.einsum('bij,jk->bik', np.reshape(x, [-1, x.shape[x.ndim - 2]!, x.shape[x.ndim - 1]!]), constant([x.shape[x.ndim - 1]!, x.shape[x.ndim - 1]!])).reshape(x.shape);
        }
      }
      break;
    }
  }
  throw new Error(`evalExpr: unknown node ${JSON.stringify(e)}`);
}

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const nd = Math.max(a.length, b.length);
  return Array.from({ length: nd }, (_, i) => {
    const x = a[a.length - nd + i] ?? 1, y = b[b.length - nd + i] ?? 1;
    return x === 1 ? y : x;
  });
}

/** Counts the op nodes of an expression. */
export function exprSize(e: Expr): number {
  switch (e.kind) {
    case 'input': return 0;
    case 'unary': case 'reduce': case 'shape': return 1 + exprSize(e.x);
    case 'binary': return 1 + exprSize(e.x) + exprSize(e.y);
  }
}
