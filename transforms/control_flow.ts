// Structured control flow (JAX's lax.scan and lax.fori_loop): loops whose body is traced once into
// a program and run by the `scan` primitive, so a loop of any length is one equation under jit
// and its trace costs one body, not one body per step. The primitive's rules live with each
// transformation: JVP (jvp.ts), batching (vmap.ts), partial evaluation into a known and an unknown
// scan (partial_eval.ts) and transposition into a reverse scan (transpose.ts), as in JAX.
import type { NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { ShapedArray as Aval } from '../src/aval.js';
import { bind } from '../src/core.js';
import { DTypeError, ShapeError, TransformError, fmtShape } from '../src/errors.js';
import { scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import { checkOptions, flattenArrays, unflatten, type TreeDef } from './api_util.js';
import { traceToJaxpr, type TracedProgram } from './jaxpr_trace.js';
import { add, constLike, convert } from './lax.js';
import { asArray } from '../src/np/convert.js';

export interface ScanOptions {
  /** Number of steps; required when `xs` is null, and must equal the xs' leading size otherwise. */
  length?: number;
  /** Run from the last slice to the first (ys are still stacked in slice order), as JAX's reverse=True. */
  reverse?: boolean;
}

/** The initial carry: its tree, where an array may be written as a JS number (weakly typed). */
export type ScanInit<Carry> = Carry extends NDArray ? Carry | number : Carry;

/** What f returned, flattened and checked. */
interface BodyTrace {
  program: TracedProgram;
  carryOut: ShapedArray[];
  yDef: TreeDef;
}

/**
 * `scan(f, init, xs, {length, reverse})` -> `[finalCarry, ys]`, JAX's lax.scan:
 *
 *     carry = init; for i in 0..length-1: [carry, ys[i]] = f(carry, xs[i])
 *
 * `init` (the carry) and `xs` are pytrees of arrays; `xs` is sliced along axis 0 of every leaf
 * (null for no xs, with `length`), and each leaf of `ys` is the per-step outputs stacked along a
 * new axis 0. `f` is traced once, so the loop is one `scan` equation under jit and in printed
 * programs, whatever its length. The carry `f` returns must have init's tree structure, shapes and
 * dtypes (as in JAX, except that a carry leaf given as a JS number is weakly typed and takes the
 * dtype f returns, as JAX promotes weakly typed inits).
 */
export function scan<Carry, X, Y>(f: (carry: Carry, x: X) => readonly [Carry, Y], init: ScanInit<Carry>, xs?: X | null, options: ScanOptions = {}): [Carry, Y] {
  checkOptions('scan', options, ['length', 'reverse'] satisfies (keyof ScanOptions)[]);
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
      if (c.dtype !== out.dtype) {
        throw new DTypeError(`scan: the carry at ${carryPaths[i]} is ${c.aval.str()} in init but f returns ${out.str()}; the carry must keep its dtype (JAX: "the input carry component ${carryPaths[i]} has type ${c.aval.str()} but the corresponding output carry component has type ${out.str()}")`);
      }
      if (c.shape.join() !== out.shape.join()) {
        throw new ShapeError(`scan: the carry at ${carryPaths[i]} is ${c.aval.str()} in init but f returns ${out.str()}; the carry must keep its shape (JAX: "the input carry component ${carryPaths[i]} has type ${c.aval.str()} but the corresponding output carry component has type ${out.str()}")`);
      }
    });
    const { jaxpr, consts } = body.program;
    const outs = bind('scan', [...consts, ...carry, ...xsLeaves], { jaxpr, numConsts: consts.length, numCarry: carry.length, length, reverse, name });
    return [unflatten<Carry>(carryDef, outs.slice(0, carry.length)), unflatten<Y>(body.yDef, outs.slice(carry.length))];
  });
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
export function foriLoop<T>(lower: number, upper: number, body: (i: NDArray, carry: T) => T, init: T): T {
  for (const [what, v] of [['lower', lower], ['upper', upper]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new TransformError(`foriLoop: ${what} must be a JS integer (gradus's foriLoop takes static bounds, as a scan), got ${typeof v === 'number' ? v : typeof v}`);
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
