// Structured control flow (JAX's lax.scan, lax.fori_loop, lax.while_loop, lax.cond and lax.switch):
// loops whose body is traced once into a program and run by the `scan` (or `while`) primitive, so
// a loop of any length is one equation under jit and its trace costs one body, not one body per
// step; and branches traced into a `cond` primitive that runs only the chosen one. The primitives'
// rules live with each transformation: JVP (jvp.ts), batching (vmap.ts), partial evaluation into a
// known and an unknown part (partial_eval_control_flow.ts, with loop-invariant residuals computed once:
// loop_invariant.ts), transposition (transpose.ts: a reverse scan, a cond over the transposed
// branches; a while loop cannot be transposed) and dead-code elimination (src/dce.ts: unused ys and
// the carries only they need; a while loop's carries that neither the condition nor a kept carry
// reads), as in JAX.
import { NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { ShapedArray as Aval } from '../src/aval.js';
import { bind } from '../src/core.js';
import { DTypeError, ShapeError, TransformError, fmtShape } from '../src/errors.js';
import { scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import { checkOptions, flattenArrays, freshResults, refuseFreedLeaves, leafArray, nextTensorId, unflatten, type ArraysOf, type Known, type TreeDef } from './api_util.js';
import { traceToJaxpr, withCommonConsts, type TracedProgram } from './jaxpr_trace.js';
import { add, constLike, convert } from './lax.js';
import { asArray } from '../src/np/convert.js';

export interface ScanOptions {
  /** Number of steps; required when `xs` is null, and must equal the xs' leading size otherwise. */
  length?: number;
  /** Run from the last slice to the first (ys are still stacked in slice order), as JAX's reverse=True. */
  reverse?: boolean;
  /**
   * JAX's unroll: how many steps of f each iteration of the loop runs (a positive integer, default
   * 1), or true for every step in one iteration (false is 1). It changes how the loop runs, never
   * its results: bit for bit those of unroll = 1, under every transformation (each carries it to
   * the scans it makes, the gradient's reverse scan included). The executor runs the body written
   * out `unroll` times as one program once per `unroll` steps (its rewrites may then fuse a step's
   * last kernel with the next step's first), and the body alone for the length mod unroll steps
   * left at the end. That saves the loop's bookkeeping between the steps of an iteration, not their
   * kernels, which cost most: on wasm it measured no faster (bench/scan_unroll.ts, an RNN cell, 128
   * steps: within ±5 % of unroll = 1 for 2 to 16 and true). It is accepted so that JAX code ports
   * as written; a large unroll makes a program that long to compile.
   */
  unroll?: number | boolean;
}

/**
 * What a carry's type parameter may be: anything (every type is assignable to {} | null |
 * undefined). The [] in the union makes TypeScript infer a list literal as a tuple, so
 * `scan((c: [NDArray, NDArray], x) => [[h, s], y], [h0, s0], xs)` compiles (JAX's tuple carries);
 * without it `[h0, s0]` was an NDArray[], which the body's tuple did not match.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type CarryLike = [] | {} | null | undefined;

/** The initial carry: its tree, where an array may be written as a JS number (weakly typed). */
export type ScanInit<Carry> = Carry extends NDArray ? Carry | number : Carry;

/** What f returned, flattened and checked. */
interface BodyTrace {
  program: TracedProgram;
  carryOut: ShapedArray[];
  yDef: TreeDef;
}

/**
 * `scan(f, init, xs, {length, reverse, unroll})` -> `[finalCarry, ys]`, JAX's lax.scan:
 *
 *     carry = init; for i in 0..length-1: [carry, ys[i]] = f(carry, xs[i])
 *
 * `init` (the carry) and `xs` are pytrees of arrays; `xs` is sliced along axis 0 of every leaf
 * (null for no xs, with `length`), and each leaf of `ys` is the per-step outputs stacked along a
 * new axis 0. `f` is traced once, so the loop is one `scan` equation under jit and in printed
 * programs, whatever its length. The carry `f` returns must have init's tree structure, shapes and
 * dtypes (as in JAX, except that a carry leaf given as a JS number is weakly typed and takes the
 * dtype f returns, as JAX promotes weakly typed inits). `unroll` (JAX's: k steps of f per iteration
 * of the loop, true for all of them) never changes the results; see ScanOptions.unroll for what it
 * does and costs here.
 */
export function scan<Carry extends CarryLike, X, Y>(f: ((carry: ArraysOf<Carry>, x: X) => readonly [NoInfer<Carry | ArraysOf<Carry>>, Y]) & Known<[Carry, Y]>, init: Carry, xs?: X | null, options?: ScanOptions): [ArraysOf<Carry>, ArraysOf<Y>];
/** In generic code (types with type parameters): the results typed as f's. */
export function scan<Carry, X, Y>(f: (carry: Carry, x: X) => readonly [Carry, Y], init: ScanInit<Carry>, xs?: X | null, options?: ScanOptions): [Carry, Y];
export function scan<Carry, X, Y>(f: (carry: Carry, x: X) => readonly [Carry, Y], init: ScanInit<Carry>, xs?: X | null, options: ScanOptions = {}): [Carry, Y] {
  checkOptions('scan', options, ['length', 'reverse', 'unroll'] satisfies (keyof ScanOptions)[]);
  if (typeof f !== 'function') throw new TransformError(`scan: f must be a function (carry, x) => [carry, y], got ${f === null ? 'null' : typeof f}`);
  const reverse = options.reverse ?? false;
  if (typeof reverse !== 'boolean') throw new TransformError(`scan: reverse must be a boolean, got ${JSON.stringify(reverse)}`);
  const name = f.name || 'scan';
  return scoped(() => {
    const [carryLeaves, carryDef] = flattenArrays('scan', init, 'carry (init)');
    const [xsWithPaths, xsDef] = tree.flattenWithPath(xs ?? null);
    const [xsLeaves] = flattenArrays('scan', xs ?? null, 'xs');
    const length = scanLength(xsLeaves, xsWithPaths.map(([p]) => tree.keystr(p) || 'xs'), options.length);
    const xAvals = xsLeaves.map((x) => new Aval(x.shape.slice(1), x.dtype));
    const callF = (ins: NDArray[]): readonly unknown[] => {
      const out = f(unflatten<Carry>(carryDef, ins.slice(0, carryLeaves.length)), unflatten<X>(xsDef, ins.slice(carryLeaves.length)));
      if (!Array.isArray(out) || out.length !== 2) {
        throw new TransformError(`scan: f must return [carry, y] (a list of two), got ${Array.isArray(out) ? `a list of ${out.length}` : out === null ? 'null' : typeof out}`);
      }
      return out;
    };
    const traceBody = (carry: NDArray[]): BodyTrace => {
      let carryOut: ShapedArray[] = [];
      let yDef: TreeDef | undefined;
      const program = traceToJaxpr((ins) => {
        const [newCarry, y] = callF(ins);
        const [cLeaves, cDef] = flattenArrays('scan', newCarry, 'carry output');
        if (!cDef.equals(carryDef)) {
          throw new TransformError(`scan: f returned a carry of structure ${cDef} but init has structure ${carryDef}; the carry must keep init's tree structure (JAX: "scan body function carry input and carry output must have the same pytree structure")`);
        }
        carryOut = cLeaves.map((c) => c.aval);
        const [yLeaves, def] = flattenArrays('scan', y, 'y output');
        yDef = def;
        return [...cLeaves, ...yLeaves];
      }, [...carry.map((c) => c.aval), ...xAvals]);
      return { program, carryOut, yDef: yDef! };
    };
    let carry = carryLeaves;
    let body = traceBody(carry);
    // A carry leaf written as a JS number takes the dtype f gives it (0 for a float sum): retrace once.
    const rawCarry = tree.leaves(init);
    const promoted = carry.map((c, i) => (typeof rawCarry[i] === 'number' && c.dtype !== body.carryOut[i]!.dtype && c.shape.length === body.carryOut[i]!.ndim ? convert(c, body.carryOut[i]!.dtype) : c));
    if (promoted.some((c, i) => c !== carry[i])) {
      carry = promoted;
      body = traceBody(carry);
    }
    const carryPaths = tree.flattenWithPath(init)[0].map(([p]) => tree.keystr(p) || '(root)');
    carry.forEach((c, i) => {
      const out = body.carryOut[i]!;
      // (shape first: a JS-number init whose shape f changes was not promoted, so its dtype differs too)
      if (c.shape.join() !== out.shape.join()) {
        throw new ShapeError(`scan: the carry at ${carryPaths[i]} is ${c.aval.str()} in init but f returns ${out.str()}; the carry must keep its shape (JAX: "the input carry component ${carryPaths[i]} has type ${c.aval.str()} but the corresponding output carry component has type ${out.str()}")`);
      }
      if (c.dtype !== out.dtype) {
        throw new DTypeError(`scan: the carry at ${carryPaths[i]} is ${c.aval.str()} in init but f returns ${out.str()}; the carry must keep its dtype (JAX: "the input carry component ${carryPaths[i]} has type ${c.aval.str()} but the corresponding output carry component has type ${out.str()}")`);
      }
    });
    const { jaxpr, consts } = body.program;
    const outs = bind('scan', [...consts, ...carry, ...xsLeaves], { jaxpr, numConsts: consts.length, numCarry: carry.length, length, reverse, unroll: scanUnroll(options.unroll, length), name });
    return [unflatten<Carry>(carryDef, outs.slice(0, carry.length)), unflatten<Y>(body.yDef, outs.slice(carry.length))];
  });
}

/** `unroll` as the scan primitive takes it, a positive integer (JAX: true is max(length, 1), false is 1). */
function scanUnroll(given: number | boolean | undefined, length: number): number {
  if (given === undefined || given === false) return 1;
  if (given === true) return Math.max(length, 1);
  if (!(typeof given === 'number' && Number.isInteger(given) && given >= 1)) {
    throw new TransformError(`scan: unroll must be a positive integer or a boolean, got ${typeof given === 'number' ? given : JSON.stringify(given)} (JAX: "\`unroll\` must be a \`bool\` or a positive \`int\`")`);
  }
  return given;
}

/** The number of steps: the common leading size of the xs, checked against `length` if given. */
function scanLength(xs: NDArray[], paths: string[], given: number | undefined): number {
  if (given !== undefined && !(typeof given === 'number' && Number.isInteger(given) && given >= 0)) {
    throw new TransformError(`scan: length must be a non-negative integer, got ${typeof given === 'number' ? given : JSON.stringify(given)}`);
  }
  xs.forEach((x, i) => {
    if (x.ndim === 0) throw new ShapeError(`scan: xs leaf ${paths[i]} is a scalar (${x.aval.str()}); every xs leaf must have a leading axis to slice`);
  });
  const sizes = new Map<number, string[]>();
  xs.forEach((x, i) => sizes.set(x.shape[0]!, [...(sizes.get(x.shape[0]!) ?? []), `${paths[i]} ${fmtShape(x.shape)}`]));
  if (sizes.size > 1) {
    const detail = [...sizes.entries()].map(([n, who]) => `${n}: ${who.join(', ')}`).join('; ');
    throw new ShapeError(`scan: the xs have different leading sizes (${detail}); expected every xs leaf to have the same length along axis 0`);
  }
  if (sizes.size === 1) {
    const n = [...sizes.keys()][0]!;
    if (given !== undefined && given !== n) throw new ShapeError(`scan: length ${given} differs from the xs' leading size ${n}`);
    return n;
  }
  if (given === undefined) throw new TransformError('scan: with no xs, pass {length} to say how many steps to run');
  return given;
}

/**
 * `foriLoop(lower, upper, body, init)`: JAX's lax.fori_loop with static bounds (JS integers),
 * `carry = body(i, carry)` for i = lower, …, upper − 1 with i an int32 scalar; returns the final
 * carry (init when upper <= lower). As in JAX with concrete bounds, it is a scan, so it is
 * differentiable in both modes and one equation under jit.
 */
export function foriLoop<T extends CarryLike>(lower: number, upper: number, body: ((i: NDArray, carry: ArraysOf<T>) => NoInfer<T | ArraysOf<T>>) & Known<T>, init: T): ArraysOf<T>;
/** In generic code (a carry type with type parameters): the result typed as the carry. */
export function foriLoop<T>(lower: number, upper: number, body: (i: NDArray, carry: T) => T, init: T): T;
export function foriLoop<T>(lower: number, upper: number, body: (i: NDArray, carry: T) => T, init: T): T {
  for (const [what, v] of [['lower', lower], ['upper', upper]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      // (An array bound, traced under jit or not, is the likeliest mistake: say so, with its type.)
      const got = typeof v === 'number' ? String(v) : (v as unknown) instanceof NDArray ? `an array ${(v as NDArray).aval.str()}` : typeof v;
      throw new TransformError(`foriLoop: ${what} must be a JS integer (gradus's foriLoop takes static bounds, as a scan; for a bound known only at run time use whileLoop), got ${got}`);
    }
  }
  if (typeof body !== 'function') throw new TransformError(`foriLoop: body must be a function (i, carry) => carry, got ${typeof body}`);
  const length = Math.max(0, upper - lower);
  const step = function foriLoop([i, carry]: [NDArray, T]): [[NDArray, T], null] {
    return [[add(i, constLike(i, 1)), body(i, carry)], null];
  };
  // A scope frees the counter's final value, which is not returned.
  return scoped(() => scan(step, [asArray(lower, 'int32'), init] as [NDArray, T], null, { length })[0][1]);
}

/** The tree paths of a pytree's leaves, for error messages ('(root)' for a bare leaf). */
function leafPaths(value: unknown): string[] {
  return tree.flattenWithPath(value)[0].map(([p]) => tree.keystr(p) || '(root)');
}

/**
 * `whileLoop(condFun, bodyFun, init)`: JAX's lax.while_loop,
 *
 *     carry = init; while (condFun(carry)) carry = bodyFun(carry); return carry
 *
 * with the condition and the body traced once into a `while` primitive, so the loop is one
 * equation under jit however many times it runs; eager and under jit the condition's boolean is
 * read back each iteration. `condFun` must return a bool scalar array, `bodyFun` a carry of init's
 * tree structure, shapes and dtypes (a JS-number init leaf is weak and takes the body's dtype, as
 * in scan). Forward-mode differentiation (jvp, jacfwd) and vmap work (with a predicate that differs
 * per example, the loop runs until every example is done and finished examples keep their carry,
 * as in JAX); reverse mode (grad, vjp) does not, as in JAX: its error says to use scan or foriLoop
 * with static bounds instead.
 */
export function whileLoop<T extends CarryLike>(condFun: (carry: ArraysOf<T>) => NDArray, bodyFun: ((carry: ArraysOf<T>) => NoInfer<T | ArraysOf<T>>) & Known<T>, init: ScanInit<T>): ArraysOf<T>;
/** In generic code (a carry type with type parameters): the result typed as the carry. */
export function whileLoop<T>(condFun: (carry: T) => NDArray, bodyFun: (carry: T) => T, init: ScanInit<T>): T;
export function whileLoop<T>(condFun: (carry: T) => NDArray, bodyFun: (carry: T) => T, init: ScanInit<T>): T {
  if (typeof condFun !== 'function') throw new TransformError(`whileLoop: condFun must be a function carry => bool scalar, got ${condFun === null ? 'null' : typeof condFun}`);
  if (typeof bodyFun !== 'function') throw new TransformError(`whileLoop: bodyFun must be a function carry => carry, got ${bodyFun === null ? 'null' : typeof bodyFun}`);
  const name = bodyFun.name || 'whileLoop';
  return scoped(() => {
    const [initLeaves, carryDef] = flattenArrays('whileLoop', init, 'carry (init)');
    const paths = leafPaths(init);
    const traceBody = (carry: NDArray[]): { program: TracedProgram; out: ShapedArray[] } => {
      let out: ShapedArray[] = [];
      const program = traceToJaxpr((ins) => {
        const [leaves, def] = flattenArrays('whileLoop', bodyFun(unflatten<T>(carryDef, ins)), 'body output');
        if (!def.equals(carryDef)) {
          throw new TransformError(`whileLoop: bodyFun returned a carry of structure ${def} but init has structure ${carryDef}; the carry must keep init's tree structure (JAX: "body_fun output and input must have identical types")`);
        }
        out = leaves.map((l) => l.aval);
        return leaves;
      }, carry.map((c) => c.aval));
      return { program, out };
    };
    let carry = initLeaves;
    let body = traceBody(carry);
    // A carry leaf written as a JS number takes the dtype the body gives it: retrace once (as scan).
    const raw = tree.leaves(init);
    const promoted = carry.map((c, i) => (typeof raw[i] === 'number' && c.dtype !== body.out[i]!.dtype && c.ndim === body.out[i]!.ndim ? convert(c, body.out[i]!.dtype) : c));
    if (promoted.some((c, i) => c !== carry[i])) {
      carry = promoted;
      body = traceBody(carry);
    }
    carry.forEach((c, i) => {
      const out = body.out[i]!;
      if (c.dtype === out.dtype && c.shape.join() === out.shape.join()) return;
      const Err = c.dtype !== out.dtype ? DTypeError : ShapeError;
      throw new Err(`whileLoop: the carry at ${paths[i]} is ${c.aval.str()} in init but bodyFun returns ${out.str()}; the carry must keep its ${c.dtype !== out.dtype ? 'dtype' : 'shape'} (JAX: "body_fun output and input must have identical types")`);
    });
    const cond = traceToJaxpr((ins) => {
      const pred = condFun(unflatten<T>(carryDef, ins));
      if (!(pred instanceof NDArray) || pred.dtype !== 'bool' || pred.ndim !== 0) {
        const got = pred instanceof NDArray ? pred.aval.str() : pred === null ? 'null' : typeof pred;
        throw new DTypeError(`whileLoop: condFun must return a boolean scalar (an array of dtype bool and shape []), but got ${got} (JAX: "cond_fun must return a boolean scalar")`);
      }
      return [pred];
    }, carry.map((c) => c.aval));
    const outs = bind('while', [...cond.consts, ...body.program.consts, ...carry], {
      cond: cond.jaxpr,
      body: body.program.jaxpr,
      numCondConsts: cond.consts.length,
      numBodyConsts: body.program.consts.length,
      name,
    });
    return unflatten<T>(carryDef, outs);
  });
}

/**
 * What `cond`'s and `switchCase`'s branches receive for operands `A`: the operands as arrays (a JS
 * number, boolean or tf.Tensor leaf is one by then, as `ArraysOf` says). The operands alone decide
 * `A` (NoInfer): inferring it from the branches' parameters as well made `() => zeros` beside
 * `(x) => f(x)` take no operand, a number leaf inside a tree operand a type error, and an
 * unannotated branch see a JS number operand as a number though it receives an array.
 */
export type BranchOperands<A extends readonly unknown[]> = { [K in keyof A]: NoInfer<ArraysOf<A[K]>> };
/** The operands as passed, for the generic overloads (again decided by the operands alone). */
export type OperandsAsPassed<A extends readonly unknown[]> = { [K in keyof A]: NoInfer<A[K]> };

/** A cond predicate or switch index: a scalar array, or a JS boolean / number. */
export type Scalar = NDArray | number | boolean;

/**
 * Traces every branch on the operands and binds one `cond` on `index` (an int32 scalar). The
 * branches must return the same tree structure, shapes and dtypes; the error names the leaf.
 */
function bindCond<R>(op: string, index: NDArray, branches: readonly ((...operands: any[]) => R)[], labels: string[], operands: unknown[]): R {
  const [leaves, def] = flattenArrays(op, operands, 'operand');
  const traced = branches.map((fn, j) => {
    let outDef: TreeDef | undefined;
    let outPaths: string[] = [];
    const program = traceToJaxpr((ins) => {
      const out = fn(...unflatten<unknown[]>(def, ins));
      const [outs, d] = flattenArrays(op, out, `${labels[j]} output`);
      outDef = d;
      outPaths = leafPaths(out);
      return outs;
    }, leaves.map((l) => l.aval));
    return { program, def: outDef!, paths: outPaths };
  });
  const first = traced[0]!;
  traced.forEach((t, j) => {
    if (!t.def.equals(first.def)) {
      throw new TransformError(`${op}: ${labels[j]} returns a tree of structure ${t.def} but ${labels[0]} returns ${first.def}; every branch must return the same tree structure, shapes and dtypes (JAX: "branch outputs must have the same pytree structure")`);
    }
    t.program.jaxpr.outAvals.forEach((a, i) => {
      const want = first.program.jaxpr.outAvals[i]!;
      if (a.equals(want)) return;
      const Err = a.dtype !== want.dtype ? DTypeError : ShapeError;
      throw new Err(`${op}: the output at ${t.paths[i]} is ${want.str()} in ${labels[0]} but ${a.str()} in ${labels[j]}; every branch must return the same tree structure, shapes and dtypes (JAX: "branches must have equal types")`);
    });
  });
  const { jaxprs, consts } = withCommonConsts(traced.map((t) => t.program));
  const name = branches.map((b, j) => b.name || labels[j]).join('|');
  const outs = bind('cond', [index, ...consts, ...leaves], { branches: jaxprs, name });
  return unflatten<R>(first.def, outs);
}

/**
 * `cond(pred, trueFun, falseFun, ...operands)`: JAX's lax.cond, `pred ? trueFun(...operands) :
 * falseFun(...operands)`, as one `cond` equation that runs only the chosen branch (also under
 * jit; the predicate is read back). `pred` is a scalar: bool, or a number (nonzero is true, as in
 * JAX). Both branches are traced, and must return the same tree structure, shapes and dtypes.
 * Differentiable in both modes (the gradient is a cond over the chosen branch's transpose, as in
 * JAX); under vmap, a predicate that differs per example runs both branches and selects, as JAX does.
 */
export function cond<R, A extends readonly unknown[] = any[]>(pred: Scalar, trueFun: ((...operands: BranchOperands<A>) => R) & Known<R>, falseFun: (...operands: BranchOperands<A>) => R, ...operands: A): ArraysOf<R>;
/**
 * In generic code (an output type or operands with type parameters), and for branches that declare
 * an operand as it was passed (`(n: number) => …` for a 3): the operands' and the results' own types.
 */
export function cond<R, A extends readonly unknown[] = any[]>(pred: Scalar, trueFun: (...operands: OperandsAsPassed<A>) => R, falseFun: (...operands: OperandsAsPassed<A>) => R, ...operands: A): R;
export function cond<R>(pred: Scalar, trueFun: (...operands: any[]) => R, falseFun: (...operands: any[]) => R, ...operands: unknown[]): R {
  for (const [what, fn] of [['trueFun', trueFun], ['falseFun', falseFun]] as const) {
    if (typeof fn !== 'function') throw new TransformError(`cond: ${what} must be a function, got ${fn === null ? 'null' : typeof fn}`);
  }
  return scoped(() => {
    const p = leafArray('cond', [], pred, 'pred');
    if (p.ndim !== 0) throw new ShapeError(`cond: the predicate must be a scalar, got ${p.aval.str()} (JAX: "Pred must be a scalar, got ... of shape ${fmtShape(p.shape)}"); to choose per element, use np.where`);
    // A bool predicate converts to 0/1; a number is true when nonzero (JAX: "Pred type must be either boolean or number").
    const truth = p.dtype === 'bool' ? p : bind('ne', [p, constLike(p, 0)], {})[0]!;
    return bindCond('cond', convert(truth, 'int32'), [falseFun, trueFun], ['falseFun', 'trueFun'], operands);
  });
}

/**
 * `switchCase(index, branches, ...operands)`: JAX's lax.switch (`switch` is a JS keyword, so the
 * function is named switchCase; `lax.switch` works too), `branches[clamp(index, 0, n − 1)](...operands)`
 * as one `cond` equation. The index is an integer scalar; out-of-range indices are clamped, as in
 * JAX. Every branch must return the same tree structure, shapes and dtypes. Transformations as for `cond`.
 */
export function switchCase<R, A extends readonly unknown[] = any[]>(index: Scalar, branches: readonly (((...operands: BranchOperands<A>) => R) & Known<R>)[], ...operands: A): ArraysOf<R>;
/** In generic code, and for branches that declare operands as passed: as cond's second overload. */
export function switchCase<R, A extends readonly unknown[] = any[]>(index: Scalar, branches: readonly ((...operands: OperandsAsPassed<A>) => R)[], ...operands: A): R;
export function switchCase<R>(index: Scalar, branches: readonly ((...operands: any[]) => R)[], ...operands: unknown[]): R {
  if (!Array.isArray(branches) || branches.length === 0) throw new TransformError(`switchCase: branches must be a non-empty list of functions, got ${Array.isArray(branches) ? 'an empty list' : typeof branches}`);
  branches.forEach((b, j) => {
    if (typeof b !== 'function') throw new TransformError(`switchCase: branch ${j} must be a function, got ${b === null ? 'null' : typeof b}`);
  });
  const firstNew = nextTensorId();
  return scoped(() => {
    if (typeof index === 'number' && !Number.isInteger(index)) throw new DTypeError(`switchCase: the index must be an integer scalar, got the JS number ${index} (JAX: "Index type must be an integer")`);
    // A JS number is clamped here, before int32 would wrap 2³¹ and beyond into another branch.
    const i = typeof index === 'number' ? asArray(Math.min(Math.max(index, 0), branches.length - 1), 'int32') : leafArray('switchCase', [], index, 'index');
    if (i.ndim !== 0 || i.dtype !== 'int32') {
      throw new DTypeError(`switchCase: the index must be an integer scalar, got ${i.aval.str()} (JAX: "Index type must be an integer")`);
    }
    // One branch needs no choice (JAX calls it directly); its results are still new arrays, so
    // freeing one never frees an operand or a closed-over array it passed through.
    if (branches.length === 1) {
      refuseFreedLeaves('switchCase', operands, tree.leaves(operands), 'operand');
      return freshResults(branches[0]!(...operands), operands, firstNew, 'switchCase');
    }
    return bindCond('switchCase', i, branches, branches.map((_, j) => `branch ${j}`), operands);
  });
}

// JAX's name, for `lax.switch(...)`.
export { switchCase as switch };
