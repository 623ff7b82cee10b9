// Shape and dtype rules: for every primitive, the avals of its outputs given the avals of its
// operands. They validate operands too, so a bad call fails here with a message naming the
// primitive, the shapes and what was expected, before any kernel runs or any program is recorded.
import { ShapedArray } from './aval.js';
import type { DType } from './dtype.js';
import { DTypeError, ShapeError, fmtShape } from './errors.js';
import {
  BINARY_PRIMITIVES, COMPARISON_PRIMITIVES, UNARY_PRIMITIVES,
  type BinaryPrimitive, type ComparisonPrimitive, type ParamsOf, type Primitive, type UnaryPrimitive,
} from './primitives.js';
import { broadcastShapes, shapesEqual } from './shape.js';
import type { Jaxpr } from './jaxpr.js';

export type ShapeRule<P extends Primitive> = (avals: ShapedArray[], params: ParamsOf<P>) => ShapedArray[];

const INT_OK_UNARY = new Set<UnaryPrimitive>(['neg', 'abs', 'sign', 'relu']);
const INT_OK_BINARY = new Set<BinaryPrimitive>(['add', 'sub', 'mul', 'max', 'min', 'rem']);

function expectArity(prim: string, avals: ShapedArray[], n: number): void {
  if (avals.length !== n) throw new ShapeError(`${prim}: expected ${n} operand(s) but got ${avals.length}`);
}

function unaryRule(prim: UnaryPrimitive): ShapeRule<UnaryPrimitive> {
  return (avals) => {
    expectArity(prim, avals, 1);
    const x = avals[0]!;
    const ok = x.dtype === 'float32' || (x.dtype === 'int32' && INT_OK_UNARY.has(prim));
    if (!ok) throw new DTypeError(`${prim}: expected a float32 operand${INT_OK_UNARY.has(prim) ? ' or int32' : ''} but got ${x.str()}`);
    return [x];
  };
}

/** Elementwise operands share a rank; each dimension is equal or 1 (the np layer aligns ranks). */
function elementwiseShape(prim: string, avals: ShapedArray[]): readonly number[] {
  const first = avals[0]!.shape;
  let same = true;
  // (An index loop: a for-of allocated an iterator per eager op.)
  for (let i = 0; i < avals.length; i++) {
    const a = avals[i]!;
    if (a.shape.length !== first.length) {
      throw new ShapeError(`${prim}: operands must have equal rank, got ${avals.map((a) => a.str()).join(', ')}`);
    }
    if (same && a.shape !== first && !shapesEqual(a.shape, first)) same = false;
  }
  // Operands of one shape (the usual case) need no broadcast pass; the frozen shape is shared.
  if (same) return first;
  // So for two operands where one stretches to the other's shape (a bias row, a (1, …, 1) scale).
  if (avals.length === 2) {
    const second = avals[1]!.shape;
    if (stretchesTo(second, first)) return first;
    if (stretchesTo(first, second)) return second;
  }
  return broadcastShapes(prim, ...avals.map((a) => a.shape));
}

/** Whether `s` broadcasts to `t` of the same rank (each size 1 or t's): then `t` is their broadcast shape. */
function stretchesTo(s: readonly number[], t: readonly number[]): boolean {
  for (let i = 0; i < s.length; i++) if (s[i] !== 1 && s[i] !== t[i]) return false;
  return true;
}

function sameDtype(prim: string, avals: ShapedArray[]): DType {
  const d = avals[0]!.dtype;
  if (!allOfDtype(avals, d)) {
    throw new DTypeError(`${prim}: operands must share a dtype, got ${avals.map((a) => a.str()).join(', ')}`);
  }
  return d;
}

function allOfDtype(avals: readonly ShapedArray[], d: DType): boolean {
  for (let i = 1; i < avals.length; i++) if (avals[i]!.dtype !== d) return false;
  return true;
}

function binaryRule(prim: BinaryPrimitive): ShapeRule<BinaryPrimitive> {
  return (avals) => {
    expectArity(prim, avals, 2);
    const d = sameDtype(prim, avals);
    if (!(d === 'float32' || (d === 'int32' && INT_OK_BINARY.has(prim)))) {
      throw new DTypeError(`${prim}: expected float32${INT_OK_BINARY.has(prim) ? ' or int32' : ''} operands but got ${avals.map((a) => a.str()).join(', ')}`);
    }
    // An operand with the result's shape gives its aval again (the operands share the dtype).
    const shape = elementwiseShape(prim, avals);
    return [shape === avals[0]!.shape ? avals[0]! : shape === avals[1]!.shape ? avals[1]! : new ShapedArray(shape, d)];
  };
}

function comparisonRule(prim: ComparisonPrimitive): ShapeRule<ComparisonPrimitive> {
  return (avals) => {
    if (prim === 'not' || prim === 'is_finite') {
      expectArity(prim, avals, 1);
      const want = prim === 'not' ? 'bool' : 'float32';
      if (avals[0]!.dtype !== want) throw new DTypeError(`${prim}: expected a ${want} operand but got ${avals[0]!.str()}`);
      return [new ShapedArray(avals[0]!.shape, 'bool')];
    }
    expectArity(prim, avals, 2);
    const d = sameDtype(prim, avals);
    if ((prim === 'and' || prim === 'or') && d !== 'bool') throw new DTypeError(`${prim}: expected bool operands but got ${avals.map((a) => a.str()).join(', ')}`);
    return [new ShapedArray(elementwiseShape(prim, avals), 'bool')];
  };
}

function checkAxes(prim: string, axes: readonly number[], ndim: number, x: ShapedArray): void {
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new ShapeError(`${prim}: axis ${a} is out of range for ${x.str()}`);
  }
  // (A pair loop rather than a Set: axis lists are short and this runs for every reduction and product.)
  for (let i = 1; i < axes.length; i++) for (let j = 0; j < i; j++) if (axes[i] === axes[j]) throw new ShapeError(`${prim}: repeated axes ${fmtShape(axes)}`);
}

function reduceRule<P extends 'reduce_sum' | 'reduce_max' | 'reduce_min'>(prim: P): ShapeRule<P> {
  return (avals, { axes }) => {
    expectArity(prim, avals, 1);
    const x = avals[0]!;
    if (x.dtype === 'bool') throw new DTypeError(`${prim}: expected a numeric operand but got ${x.str()}`);
    checkAxes(prim, axes, x.ndim, x);
    if (prim !== 'reduce_sum') {
      for (const a of axes) if (x.shape[a] === 0) throw new ShapeError(`${prim}: cannot reduce over the empty axis ${a} of ${x.str()} (no identity element)`);
    }
    return [new ShapedArray(x.shape.filter((_, i) => !axes.includes(i)), x.dtype)];
  };
}

function argRule<P extends 'argmax' | 'argmin'>(prim: P): ShapeRule<P> {
  return (avals, { axis }) => {
    expectArity(prim, avals, 1);
    const x = avals[0]!;
    checkAxes(prim, [axis], x.ndim, x);
    if (x.shape[axis] === 0) throw new ShapeError(`${prim}: cannot take ${prim} over the empty axis ${axis} of ${x.str()}`);
    return [new ShapedArray(x.shape.filter((_, i) => i !== axis), 'int32')];
  };
}

function higherOrderRule<P extends 'jit_call' | 'remat' | 'custom_jvp_call' | 'custom_vjp_call'>(prim: P): ShapeRule<P> {
  return (avals, { jaxpr }) => {
    const want = jaxpr.inAvals;
    if (avals.length !== want.length || avals.some((a, i) => !a.equals(want[i]!))) {
      throw new ShapeError(`${prim}: operands ${avals.map((a) => a.str()).join(', ')} do not match the program's inputs ${want.map((a) => a.str()).join(', ')}`);
    }
    return jaxpr.outAvals;
  };
}

/**
 * scan: consts and carry must match the body's inputs exactly, each xs must be `length` stacked
 * copies of the body's slice, and the body's new carry must match the carry it was given.
 */
const scanRule: ShapeRule<'scan'> = (avals, { jaxpr, numConsts, numCarry, length, name }) => {
  const want = jaxpr.inAvals;
  const op = `scan(${name})`;
  if (avals.length !== want.length) throw new ShapeError(`${op}: ${avals.length} operands for a body with ${want.length} inputs`);
  avals.forEach((a, i) => {
    const isX = i >= numConsts + numCarry;
    const expected = isX ? new ShapedArray([length, ...want[i]!.shape], want[i]!.dtype) : want[i]!;
    if (!a.equals(expected)) {
      const what = i < numConsts ? `constant ${i}` : isX ? `xs ${i - numConsts - numCarry}` : `carry ${i - numConsts}`;
      throw new ShapeError(`${op}: ${what} is ${a.str()}; expected ${expected.str()}${isX ? ` (length ${length} along axis 0)` : ''}`);
    }
  });
  const outs = jaxpr.outAvals;
  outs.slice(0, numCarry).forEach((o, k) => {
    if (!o.equals(want[numConsts + k]!)) throw new ShapeError(`${op}: the body returns carry ${k} as ${o.str()} but takes it as ${want[numConsts + k]!.str()}`);
  });
  return [...outs.slice(0, numCarry), ...outs.slice(numCarry).map((y) => new ShapedArray([length, ...y.shape], y.dtype))];
};

/**
 * while: the consts and carry must match the condition's and the body's inputs, the condition
 * must return a bool scalar and the body the carry it was given.
 */
const whileRule: ShapeRule<'while'> = (avals, { cond, body, numCondConsts: nC, numBodyConsts: nB, name }) => {
  const op = `while(${name})`;
  const carry = avals.slice(nC + nB);
  const expectInputs = (what: string, program: Jaxpr, ins: ShapedArray[]): void => {
    const want = program.inAvals;
    if (ins.length !== want.length) throw new ShapeError(`${op}: ${ins.length} operands for a ${what} with ${want.length} inputs`);
    ins.forEach((a, i) => {
      if (!a.equals(want[i]!)) throw new ShapeError(`${op}: ${what} input ${i} is ${a.str()}; expected ${want[i]!.str()}`);
    });
  };
  expectInputs('condition', cond, [...avals.slice(0, nC), ...carry]);
  expectInputs('body', body, [...avals.slice(nC, nC + nB), ...carry]);
  const pred = cond.outAvals;
  if (pred.length !== 1 || pred[0]!.dtype !== 'bool' || pred[0]!.ndim !== 0) {
    throw new ShapeError(`${op}: the condition must return one bool scalar, got [${pred.map((p) => p.str()).join(', ')}]`);
  }
  body.outAvals.forEach((o, k) => {
    if (!o.equals(carry[k]!)) throw new ShapeError(`${op}: the body returns carry ${k} as ${o.str()} but takes it as ${carry[k]!.str()}`);
  });
  if (body.outAvals.length !== carry.length) throw new ShapeError(`${op}: the body returns ${body.outAvals.length} carries for ${carry.length}`);
  return carry;
};

/** cond: an int32 scalar index, operands matching every branch's inputs, branches with the same outputs. */
const condRule: ShapeRule<'cond'> = (avals, { branches, name }) => {
  const op = `cond(${name})`;
  const [index, ...ops] = avals;
  if (index === undefined || index.dtype !== 'int32' || index.ndim !== 0) throw new ShapeError(`${op}: the index must be an int32 scalar, got ${index?.str() ?? 'nothing'}`);
  if (branches.length === 0) throw new ShapeError(`${op}: no branches`);
  const outs = branches[0]!.outAvals;
  branches.forEach((b, j) => {
    const want = b.inAvals;
    if (ops.length !== want.length || ops.some((a, i) => !a.equals(want[i]!))) {
      throw new ShapeError(`${op}: branch ${j} takes [${want.map((a) => a.str()).join(', ')}] but the operands are [${ops.map((a) => a.str()).join(', ')}]`);
    }
    const got = b.outAvals;
    if (got.length !== outs.length || got.some((a, i) => !a.equals(outs[i]!))) {
      throw new ShapeError(`${op}: branch ${j} returns [${got.map((a) => a.str()).join(', ')}] but branch 0 returns [${outs.map((a) => a.str()).join(', ')}]`);
    }
  });
  return outs;
};

function randomKeyCheck(prim: string, key: ShapedArray): void {
  if (key.dtype !== 'int32' || key.ndim < 1 || key.shape[key.ndim - 1] !== 2) {
    throw new DTypeError(`${prim}: expected a PRNG key (int32 with last dimension 2, from random.key) but got ${key.str()}`);
  }
}

function squareMatrixCheck(prim: string, a: ShapedArray): void {
  if (a.dtype !== 'float32' || a.ndim < 2 || a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) {
    throw new ShapeError(`${prim}: expected a float32 stack of square matrices [..., n, n] but got ${a.str()}`);
  }
}

/** A float32 stack of matrices [..., m, n] (a wrong dtype is a DTypeError, too few axes a ShapeError). */
function floatMatricesCheck(prim: string, a: ShapedArray): void {
  if (a.dtype !== 'float32') throw new DTypeError(`${prim}: expected float32 matrices but got ${a.str()}`);
  if (a.ndim < 2) throw new ShapeError(`${prim}: expected a stack of matrices [..., m, n] (at least 2 dimensions) but got ${a.str()}`);
}

type ShapeRules = { [P in Primitive]: ShapeRule<P> };

const elementwise = Object.fromEntries([
  ...UNARY_PRIMITIVES.map((p) => [p, unaryRule(p)]),
  ...BINARY_PRIMITIVES.map((p) => [p, binaryRule(p)]),
  ...COMPARISON_PRIMITIVES.map((p) => [p, comparisonRule(p)]),
]) as Pick<ShapeRules, UnaryPrimitive | BinaryPrimitive | ComparisonPrimitive>;

export const shapeRules: ShapeRules = {
  ...elementwise,
  select: (avals) => {
    expectArity('select', avals, 3);
    const [p, a, b] = avals as [ShapedArray, ShapedArray, ShapedArray];
    if (p.dtype !== 'bool') throw new DTypeError(`select: expected a bool predicate but got ${p.str()}`);
    const d = sameDtype('select', [a, b]);
    return [new ShapedArray(elementwiseShape('select', avals), d)];
  },
  clamp: (avals) => {
    expectArity('clamp', avals, 3);
    const d = sameDtype('clamp', avals);
    if (d !== 'float32' && d !== 'int32') throw new DTypeError(`clamp: expected float32 or int32 operands [lo, x, hi] but got ${avals.map((a) => a.str()).join(', ')}`);
    return [new ShapedArray(elementwiseShape('clamp', avals), d)];
  },
  convert_element_type: (avals, { dtype }) => [new ShapedArray(avals[0]!.shape, dtype)],
  reduce_sum: reduceRule('reduce_sum'),
  reduce_max: reduceRule('reduce_max'),
  reduce_min: reduceRule('reduce_min'),
  argmax: argRule('argmax'),
  polygamma: (avals) => {
    expectArity('polygamma', avals, 2);
    const [n, x] = avals as [ShapedArray, ShapedArray];
    if (n.dtype !== 'int32' || x.dtype !== 'float32') throw new DTypeError(`polygamma: expected an int32 order n and float32 x but got ${n.str()}, ${x.str()}`);
    return [new ShapedArray(elementwiseShape('polygamma', avals), 'float32')];
  },
  softmax: (avals, { axis }) => {
    expectArity('softmax', avals, 1);
    const x = avals[0]!;
    checkAxes('softmax', [axis], x.ndim, x);
    if (x.dtype !== 'float32') throw new ShapeError(`softmax: expected float32 but got ${x.str()}`);
    return [x];
  },
  argmin: argRule('argmin'),
  broadcast_in_dim: (avals, { shape, broadcastDimensions: bd }) => {
    const x = avals[0]!;
    const bad = () =>
      new ShapeError(`broadcast_in_dim: cannot broadcast ${x.str()} to ${fmtShape(shape)} with dimensions ${fmtShape(bd)}; expected each operand dimension to equal its target or be 1`);
    if (bd.length !== x.ndim) throw bad();
    for (let i = 0; i < bd.length; i++) {
      const t = bd[i]!;
      if (t < 0 || t >= shape.length || (i > 0 && t <= bd[i - 1]!)) throw bad();
      if (x.shape[i] !== 1 && x.shape[i] !== shape[t]) throw bad();
    }
    return [new ShapedArray(shape, x.dtype)];
  },
  reshape: (avals, { shape }) => {
    const x = avals[0]!;
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== x.size || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`reshape: cannot reshape ${x.str()} (${x.size} elements) to ${fmtShape(shape)} (${n} elements)`);
    }
    return [new ShapedArray(shape, x.dtype)];
  },
  transpose: (avals, { perm }) => {
    const x = avals[0]!;
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x.ndim || sorted.some((p, i) => p !== i)) {
      throw new ShapeError(`transpose: ${fmtShape(perm)} is not a permutation of the ${x.ndim} axes of ${x.str()}`);
    }
    return [new ShapedArray(perm.map((p) => x.shape[p]!), x.dtype)];
  },
  rev: (avals, { axes }) => {
    checkAxes('rev', axes, avals[0]!.ndim, avals[0]!);
    return [avals[0]!];
  },
  slice: (avals, { start, limit, strides }) => {
    const x = avals[0]!;
    if (start.length !== x.ndim || limit.length !== x.ndim || strides.length !== x.ndim) {
      throw new ShapeError(`slice: start ${fmtShape(start)}, limit ${fmtShape(limit)} and strides ${fmtShape(strides)} must each have one entry per axis of ${x.str()}`);
    }
    const shape = x.shape.map((d, i) => {
      const s = start[i]!, l = limit[i]!, st = strides[i]!;
      if (s < 0 || l > d || s > l || st < 1) {
        throw new ShapeError(`slice: invalid bounds on axis ${i} of ${x.str()}: start ${s}, limit ${l}, stride ${st}; expected 0 <= start <= limit <= ${d} and stride >= 1`);
      }
      return Math.ceil((l - s) / st);
    });
    return [new ShapedArray(shape, x.dtype)];
  },
  pad: (avals, { lo, hi, interior }) => {
    const x = avals[0]!;
    if (lo.length !== x.ndim || hi.length !== x.ndim || interior.length !== x.ndim) {
      throw new ShapeError(`pad: lo ${fmtShape(lo)}, hi ${fmtShape(hi)} and interior ${fmtShape(interior)} must each have one entry per axis of ${x.str()}`);
    }
    const shape = x.shape.map((d, i) => {
      const n = lo[i]! + hi[i]! + d + Math.max(0, d - 1) * interior[i]!;
      if (interior[i]! < 0 || n < 0) throw new ShapeError(`pad: invalid padding on axis ${i} of ${x.str()} (lo ${lo[i]}, hi ${hi[i]}, interior ${interior[i]})`);
      return n;
    });
    return [new ShapedArray(shape, x.dtype)];
  },
  concatenate: (avals, { axis }) => {
    if (avals.length === 0) throw new ShapeError('concatenate: expected at least one array');
    const first = avals[0]!;
    const d = sameDtype('concatenate', avals);
    checkAxes('concatenate', [axis], first.ndim, first);
    let total = 0;
    for (const a of avals) {
      if (a.ndim !== first.ndim || a.shape.some((s, i) => i !== axis && s !== first.shape[i])) {
        throw new ShapeError(`concatenate: shapes ${avals.map((x) => fmtShape(x.shape)).join(', ')} differ outside axis ${axis}`);
      }
      total += a.shape[axis]!;
    }
    const shape = [...first.shape];
    shape[axis] = total;
    return [new ShapedArray(shape, d)];
  },
  gather: (avals, { axis }) => {
    expectArity('gather', avals, 2);
    const [x, idx] = avals as [ShapedArray, ShapedArray];
    if (idx.dtype !== 'int32') throw new DTypeError(`gather: expected int32 indices but got ${idx.str()}`);
    checkAxes('gather', [axis], x.ndim, x);
    return [new ShapedArray([...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], x.dtype)];
  },
  scatter_add: (avals, { axis, axisSize }) => {
    expectArity('scatter_add', avals, 2);
    const [idx, upd] = avals as [ShapedArray, ShapedArray];
    if (idx.dtype !== 'int32') throw new DTypeError(`scatter_add: expected int32 indices but got ${idx.str()}`);
    const k = idx.ndim;
    if (upd.ndim < axis + k || !shapesEqual(upd.shape.slice(axis, axis + k), idx.shape)) {
      throw new ShapeError(`scatter_add: updates ${upd.str()} must have the index shape ${fmtShape(idx.shape)} at axis ${axis}`);
    }
    return [new ShapedArray([...upd.shape.slice(0, axis), axisSize, ...upd.shape.slice(axis + k)], upd.dtype)];
  },
  sort: (avals, { axis, k }) => {
    expectArity('sort', avals, 1);
    const x = avals[0]!;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new DTypeError(`sort: expected a float32 or int32 operand but got ${x.str()}`);
    checkAxes('sort', [axis], x.ndim, x);
    if (k === undefined) return [x, new ShapedArray(x.shape, 'int32')];
    if (!Number.isInteger(k) || k < 0 || k > x.shape[axis]!) throw new ShapeError(`sort: k must be an integer in [0, ${x.shape[axis]}] for ${x.str()} along axis ${axis}, got ${k}`);
    const shape = x.shape.map((d, i) => (i === axis ? k : d));
    return [new ShapedArray(shape, x.dtype), new ShapedArray(shape, 'int32')];
  },
  cumsum: (avals, { axis }) => {
    const x = avals[0]!;
    checkAxes('cumsum', [axis], x.ndim, x);
    if (x.dtype === 'bool') throw new DTypeError(`cumsum: expected a numeric operand but got ${x.str()}`);
    return [x];
  },
  dot_general: (avals, { contract, batch }) => {
    expectArity('dot_general', avals, 2);
    const [a, b] = avals as [ShapedArray, ShapedArray];
    const d = sameDtype('dot_general', avals);
    if (d === 'bool') throw new DTypeError(`dot_general: expected numeric operands but got ${a.str()} and ${b.str()}`);
    const [ca, cb] = contract, [ba, bb] = batch;
    // (Plain loops: this runs for every eager matmul.)
    checkAxes('dot_general', ca.concat(ba), a.ndim, a);
    checkAxes('dot_general', cb.concat(bb), b.ndim, b);
    if (ca.length !== cb.length || ba.length !== bb.length) throw new ShapeError(`dot_general: contracting/batch dimension lists differ in length`);
    for (let i = 0; i < ca.length; i++) {
      const x = ca[i]!;
      if (a.shape[x] !== b.shape[cb[i]!]) {
        throw new ShapeError(`dot_general: contracting dimensions do not match: ${a.str()} axis ${x} has size ${a.shape[x]} but ${b.str()} axis ${cb[i]} has size ${b.shape[cb[i]!]}`);
      }
    }
    for (let i = 0; i < ba.length; i++) {
      const x = ba[i]!;
      if (a.shape[x] !== b.shape[bb[i]!]) throw new ShapeError(`dot_general: batch dimensions do not match: ${a.str()} axis ${x} vs ${b.str()} axis ${bb[i]}`);
    }
    const out: number[] = [];
    for (const x of ba) out.push(a.shape[x]!);
    for (let i = 0; i < a.ndim; i++) if (!ca.includes(i) && !ba.includes(i)) out.push(a.shape[i]!);
    for (let i = 0; i < b.ndim; i++) if (!cb.includes(i) && !bb.includes(i)) out.push(b.shape[i]!);
    return [new ShapedArray(out, d)];
  },
  conv2d: (avals, { strides, padding, dilations }) => {
    expectArity('conv2d', avals, 2);
    const [x, w] = avals as [ShapedArray, ShapedArray];
    sameDtype('conv2d', avals);
    if (x.ndim !== 4 || w.ndim !== 4 || x.shape[3] !== w.shape[2]) {
      throw new ShapeError(`conv2d: expected input [N,H,W,C] and filter [kh,kw,C,O] with matching C, got ${x.str()} and ${w.str()}`);
    }
    const out = [0, 1].map((i) => {
      const size = x.shape[1 + i]! + padding[i]![0] + padding[i]![1];
      const k = (w.shape[i]! - 1) * dilations[i]! + 1;
      const o = Math.floor((size - k) / strides[i]!) + 1;
      if (o < 0) throw new ShapeError(`conv2d: the filter ${w.str()} (dilated size ${k}) is larger than the padded input size ${size} on spatial axis ${i}`);
      return o;
    });
    return [new ShapedArray([x.shape[0]!, out[0]!, out[1]!, w.shape[3]!], x.dtype)];
  },
  stop_gradient: (avals) => [avals[0]!],
  matrix_inverse: (avals) => {
    squareMatrixCheck('matrix_inverse', avals[0]!);
    return [avals[0]!];
  },
  det: (avals) => {
    const a = avals[0]!;
    squareMatrixCheck('det', a);
    return [new ShapedArray(a.shape.slice(0, -2), 'float32')];
  },
  adjugate: (avals) => {
    squareMatrixCheck('adjugate', avals[0]!);
    return [avals[0]!];
  },
  adjugate_tangent: (avals) => {
    expectArity('adjugate_tangent', avals, 2);
    const [a, t] = avals as [ShapedArray, ShapedArray];
    squareMatrixCheck('adjugate_tangent', a);
    if (!a.equals(t)) throw new ShapeError(`adjugate_tangent: expected a tangent of the matrices' shape and dtype ${a.str()} but got ${t.str()}`);
    return [a];
  },
  adjugate_second_tangent: (avals) => {
    expectArity('adjugate_second_tangent', avals, 3);
    const [a, t, s] = avals as [ShapedArray, ShapedArray, ShapedArray];
    squareMatrixCheck('adjugate_second_tangent', a);
    for (const x of [t, s]) if (!a.equals(x)) throw new ShapeError(`adjugate_second_tangent: expected tangents of the matrices' shape and dtype ${a.str()} but got ${t.str()}, ${s.str()}`);
    return [a];
  },
  slogdet: (avals) => {
    const a = avals[0]!;
    squareMatrixCheck('slogdet', a);
    const s = new ShapedArray(a.shape.slice(0, -2), 'float32');
    return [s, s];
  },
  linear_solve: (avals) => {
    expectArity('linear_solve', avals, 2);
    const [a, b] = avals as [ShapedArray, ShapedArray];
    squareMatrixCheck('linear_solve', a);
    if (b.dtype !== 'float32' || b.ndim !== a.ndim || !shapesEqual(b.shape.slice(0, -2), a.shape.slice(0, -2)) || b.shape[b.ndim - 2] !== a.shape[a.ndim - 1]) {
      throw new ShapeError(`linear_solve: expected right-hand sides [..., n, k] matching the matrices ${a.str()} but got ${b.str()}`);
    }
    return [b];
  },
  cholesky: (avals) => {
    expectArity('cholesky', avals, 1);
    squareMatrixCheck('cholesky', avals[0]!);
    return [avals[0]!];
  },
  triangular_solve: (avals, { lower, transposeA, unitDiagonal }) => {
    expectArity('triangular_solve', avals, 2);
    const [a, b] = avals as [ShapedArray, ShapedArray];
    squareMatrixCheck('triangular_solve', a);
    if (typeof lower !== 'boolean' || typeof transposeA !== 'boolean' || typeof unitDiagonal !== 'boolean') {
      throw new ShapeError(`triangular_solve: expected boolean parameters lower, transposeA and unitDiagonal but got ${JSON.stringify({ lower, transposeA, unitDiagonal })}`);
    }
    if (b.dtype !== 'float32' || b.ndim !== a.ndim || !shapesEqual(b.shape.slice(0, -2), a.shape.slice(0, -2)) || b.shape[b.ndim - 2] !== a.shape[a.ndim - 1]) {
      throw new ShapeError(`triangular_solve: expected right-hand sides [..., n, k] matching the matrices ${a.str()} but got ${b.str()}`);
    }
    return [b];
  },
  eigh: (avals, { lower, computeVectors }) => {
    expectArity('eigh', avals, 1);
    const a = avals[0]!;
    floatMatricesCheck('eigh', a);
    if (a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) throw new ShapeError(`eigh: expected a stack of square matrices [..., n, n] but got ${a.str()}`);
    if (typeof lower !== 'boolean' || typeof computeVectors !== 'boolean') {
      throw new ShapeError(`eigh: expected boolean parameters lower and computeVectors but got ${JSON.stringify({ lower, computeVectors })}`);
    }
    const w = new ShapedArray(a.shape.slice(0, -1), 'float32');
    return computeVectors ? [w, a] : [w];
  },
  svd: (avals, { fullMatrices, computeUv }) => {
    expectArity('svd', avals, 1);
    const a = avals[0]!;
    floatMatricesCheck('svd', a);
    if (typeof fullMatrices !== 'boolean' || typeof computeUv !== 'boolean') {
      throw new ShapeError(`svd: expected boolean parameters fullMatrices and computeUv but got ${JSON.stringify({ fullMatrices, computeUv })}`);
    }
    const batch = a.shape.slice(0, -2), m = a.shape[a.ndim - 2]!, n = a.shape[a.ndim - 1]!, k = Math.min(m, n);
    const s = new ShapedArray([...batch, k], 'float32');
    if (!computeUv) return [s];
    return [s, new ShapedArray([...batch, m, fullMatrices ? m : k], 'float32'), new ShapedArray([...batch, fullMatrices ? n : k, n], 'float32')];
  },
  random_bits: (avals, { shape, distribution }) => {
    const key = avals[0]!;
    randomKeyCheck('random_bits', key);
    const dtype: DType = distribution === 'uniform' || distribution === 'normal' ? 'float32' : 'int32';
    return [new ShapedArray([...key.shape.slice(0, -1), ...shape], dtype)];
  },
  random_split: (avals, { num }) => {
    const key = avals[0]!;
    randomKeyCheck('random_split', key);
    if (!Number.isInteger(num) || num < 0) throw new ShapeError(`random.split: expected a non-negative integer count but got ${num}`);
    return [new ShapedArray([...key.shape.slice(0, -1), num, 2], 'int32')];
  },
  random_fold_in: (avals) => {
    const [key, data] = avals as [ShapedArray, ShapedArray];
    randomKeyCheck('random_fold_in', key);
    if (data.dtype !== 'int32' || !shapesEqual(data.shape, key.shape.slice(0, -1))) {
      throw new ShapeError(`random.foldIn: expected int32 data of shape ${fmtShape(key.shape.slice(0, -1))} but got ${data.str()}`);
    }
    return [key];
  },
  checkpoint_name: (avals) => [avals[0]!],
  jit_call: higherOrderRule('jit_call'),
  remat: higherOrderRule('remat'),
  custom_jvp_call: higherOrderRule('custom_jvp_call'),
  custom_vjp_call: higherOrderRule('custom_vjp_call'),
  custom_lin: (_avals, { outAvals }) => outAvals,
  scan: scanRule,
  while: whileRule,
  cond: condRule,
  // ---- QR
  qr: (avals, { fullMatrices }) => {
    expectArity('qr', avals, 1);
    const a = avals[0]!;
    floatMatricesCheck('qr', a);
    if (typeof fullMatrices !== 'boolean') throw new ShapeError(`qr: expected a boolean parameter fullMatrices but got ${JSON.stringify(fullMatrices)}`);
    const m = a.shape[a.ndim - 2]!, n = a.shape[a.ndim - 1]!;
    const k = fullMatrices ? m : Math.min(m, n);
    const batch = a.shape.slice(0, -2);
    return [new ShapedArray([...batch, m, k], 'float32'), new ShapedArray([...batch, k, n], 'float32')];
  },
};
