// Vectorising map: the batching interpreter. A BatchTracer carries a value with one extra
// dimension (the batch) at a known position, or none; each primitive's rule maps the whole batch
// at once. vmap composes with every other transformation (vmap(grad(f)), grad(vmap(f)), ...).
import type * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray } from '../src/array.js';
import { ShapedArray } from '../src/aval.js';
import { Trace, Tracer, bind, bind1, fullRaise, withNewMain } from '../src/core.js';
import { ShapeError, TransformError, fmtShape } from '../src/errors.js';
import { abstractEval } from '../src/eval.js';
import { evalJaxpr, type Jaxpr } from '../src/jaxpr.js';
import { PROGRAM_PRIMITIVES, type CustomBwd, type CustomFwd, type CustomJvpRule, type ParamsOf, type Primitive } from '../src/primitives.js';
import { collectTensors, createdByCall, scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import { checkOptions, flattenArrays, freshResults, refuseFreedLeaves, isTensor, leafArray, leafWhere, nextTensorId, unflatten, type ArraysOf, type Known } from './api_util.js';
import { branchFixpoint, traceToJaxpr, withCommonConsts, type TracedProgram } from './jaxpr_trace.js';
import { constLike, convert, zeros } from './lax.js';
import { batchedAtFront, firstOrderBatchRules, moveBatchAxis, type BatchDim, type BatchRule } from './vmap_rules.js';

interface BatchInfo {
  axisSize: number;
}

export class BatchTracer extends Tracer {
  constructor(
    readonly trace: BatchTrace,
    readonly val: NDArray,
    readonly batchDim: BatchDim,
  ) {
    super();
  }
  get aval(): ShapedArray {
    if (this.batchDim === null) return this.val.aval;
    const shape = this.val.shape.filter((_, i) => i !== this.batchDim);
    return new ShapedArray(shape, this.val.dtype);
  }
  override fullLower(): NDArray {
    return this.batchDim === null ? this.val : this;
  }
  override abstractIn(): string {
    return 'vmap (a batched value: one per example)';
  }
  concreteValue(): null {
    // Each example has its own value: there is no single concrete value to branch on.
    return null;
  }
  collectTensors(out: Set<tf.Tensor>): void {
    collectTensors(this.val, out);
  }
}

export class BatchTrace extends Trace {
  get axisSize(): number {
    return (this.main.globalData as BatchInfo).axisSize;
  }
  lift(val: NDArray): NDArray {
    return new BatchTracer(this, val, null);
  }
  processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
    const tracers = args as BatchTracer[];
    const vals = tracers.map((t) => t.val);
    const dims = tracers.map((t) => t.batchDim);
    if (dims.every((d) => d === null)) return bind(prim, vals, params);
    // Check the shapes one example sees, so a mistake is reported in the caller's terms (the
    // batching rule would otherwise fail later on reshaped, batch-folded operands).
    if (!PROGRAM_PRIMITIVES.has(prim)) {
      abstractEval(prim, vals.map((v, i) => (dims[i] === null ? v.aval : new ShapedArray(v.shape.filter((_, k) => k !== dims[i]), v.dtype))), params);
    }
    const rule = batchRules[prim] as BatchRule<P>;
    const [outs, outDims] = rule(vals, dims, params, this.axisSize);
    return outs.map((o, i) => new BatchTracer(this, o, outDims[i]!));
  }
}

/** Runs `f` batched: inputs carry their batch dimension at `inDims`; outputs come back at `outDims` (null = must not be batched). */
export function vmapFlat(f: (xs: NDArray[]) => NDArray[], args: NDArray[], inDims: BatchDim[], axisSize: number, outDims: (BatchDim | 'any')[] | ((i: number) => BatchDim), describeOut: (i: number) => string = () => ''): NDArray[] {
  return withNewMain(BatchTrace, { axisSize } satisfies BatchInfo, (main) => {
    const trace = new BatchTrace(main);
    const tracersIn = args.map((a, i) => (inDims[i] === null ? a : new BatchTracer(trace, a, inDims[i]!)));
    const outs = f(tracersIn);
    return outs.map((o, i) => {
      const t = fullRaise(trace, o) as BatchTracer;
      const want = typeof outDims === 'function' ? outDims(i) : outDims[i]!;
      if (want === null) {
        if (t.batchDim !== null) throw new TransformError(`vmap: output ${i}${describeOut(i)} is batched (${t.val.aval.str()}) but its outAxes entry is null; expected an output that does not depend on the batch`);
        return t.val;
      }
      if (want === 'any') return batchedAtFront(t.val, t.batchDim, axisSize);
      const front = batchedAtFront(t.val, t.batchDim, axisSize);
      return moveBatchAxis(front, 0, want < 0 ? want + front.ndim : want);
    });
  });
}

/** A program batched along axis 0 of the inputs marked in `batched`; every output batched at 0. */
export function vmapJaxpr(jaxpr: Jaxpr, batched: boolean[], axisSize: number): TracedProgram {
  const avals = jaxpr.inAvals.map((a, i) => (batched[i] ? new ShapedArray([axisSize, ...a.shape], a.dtype) : a));
  return traceToJaxpr((xs) => vmapFlat((ys) => evalJaxpr(jaxpr, ys), xs, batched.map((b) => (b ? 0 : null)), axisSize, () => 0), avals);
}

// Batched programs, per program and (batched inputs, batch size): vmap(jit(f)) called again with
// the same signature reuses the batched program (and so its compiled plan) instead of re-batching.
// Only programs whose constants all outlive the call are kept: constants made while batching
// (index arrays, say) would need an owner to free them, and are made afresh each time instead.
const batchedPrograms = new WeakMap<Jaxpr, Map<string, TracedProgram>>();

function batchedProgram(jaxpr: Jaxpr, batched: boolean[], size: number): TracedProgram {
  const key = `${size}|${batched.map((b) => (b ? 1 : 0)).join('')}`;
  const cached = batchedPrograms.get(jaxpr)?.get(key);
  if (cached && !cached.consts.some((c) => c instanceof ConcreteArray && c.isDisposed)) return cached;
  const firstNew = nextTensorId();
  const program = vmapJaxpr(jaxpr, batched, size);
  const reusable = program.consts.every((c) => c instanceof ConcreteArray && !createdByCall(c.tensor, firstNew));
  if (reusable) {
    let perProgram = batchedPrograms.get(jaxpr);
    if (!perProgram) batchedPrograms.set(jaxpr, (perProgram = new Map()));
    perProgram.set(key, program);
  }
  return program;
}

function programBatchRule(prim: 'jit_call' | 'remat'): BatchRule<'jit_call' | 'remat'> {
  return (vals, dims, params, size) => {
    const moved = vals.map((v, i) => (dims[i] === null ? v : moveBatchAxis(v, dims[i]!, 0)));
    const { jaxpr, consts } = batchedProgram(params.jaxpr, dims.map((d) => d !== null), size);
    const outs = bind(prim, [...consts, ...moved], { ...params, jaxpr, numConsts: consts.length } as ParamsOf<'jit_call'>);
    return [outs, outs.map(() => 0)];
  };
}

/**
 * A program batched along axis 0 of the inputs marked in `batched`, whose outputs stay unbatched
 * where the trace leaves them so, except those marked in `forceOuts` (broadcast to the batch).
 * `outBatched` says which outputs come out batched (at axis 0).
 */
export function vmapJaxprKeepingUnbatched(jaxpr: Jaxpr, batched: boolean[], axisSize: number, forceOuts: boolean[]): TracedProgram & { outBatched: boolean[] } {
  const avals = jaxpr.inAvals.map((a, i) => (batched[i] ? new ShapedArray([axisSize, ...a.shape], a.dtype) : a));
  let outBatched: boolean[] = [];
  const program = traceToJaxpr(
    (xs) =>
      withNewMain(BatchTrace, { axisSize } satisfies BatchInfo, (main) => {
        const trace = new BatchTrace(main);
        const tracersIn = xs.map((x, i) => (batched[i] ? new BatchTracer(trace, x, 0) : x));
        const outs = evalJaxpr(jaxpr, tracersIn).map((o) => fullRaise(trace, o) as BatchTracer);
        outBatched = outs.map((o, i) => o.batchDim !== null || forceOuts[i]!);
        return outs.map((o, i) => (outBatched[i] ? batchedAtFront(o.val, o.batchDim, axisSize) : o.val));
      }),
    avals,
  );
  return { ...program, outBatched };
}

/**
 * Batching a scan (JAX's _scan_batching_rule): one scan whose body is the batched body. Batched
 * consts and carries carry the batch at axis 0; batched xs at axis 1 (axis 0 is the one scanned),
 * so each slice has it at 0, and batched ys come out at axis 1. A carry the body mixes with a
 * batched value becomes batched, so which carries are batched is a fixpoint, as in the JVP rule.
 */
const scanBatch: BatchRule<'scan'> = (vals, dims, params, size) => {
  const { jaxpr, numConsts: nC, numCarry: nK } = params;
  const isBatched = dims.map((d) => d !== null);
  let carryB = isBatched.slice(nC, nC + nK);
  let body: ReturnType<typeof vmapJaxprKeepingUnbatched>;
  for (;;) {
    body = vmapJaxprKeepingUnbatched(jaxpr, [...isBatched.slice(0, nC), ...carryB, ...isBatched.slice(nC + nK)], size, jaxpr.outs.map((_, i) => i < nK && carryB[i]!));
    const grown = body.outBatched.slice(0, nK).map((b, i) => b || carryB[i]!);
    if (grown.every((b, i) => b === carryB[i])) break;
    carryB = grown;
  }
  const operands = vals.map((v, i) => {
    const d = dims[i]!;
    if (i < nC) return d === null ? v : moveBatchAxis(v, d, 0);
    if (i < nC + nK) return carryB[i - nC] ? batchedAtFront(v, d, size) : v;
    return d === null ? v : moveBatchAxis(v, d, 1);
  });
  const { jaxpr: batchedBody, consts, outBatched } = body;
  const outs = bind('scan', [...consts, ...operands], { ...params, jaxpr: batchedBody, numConsts: consts.length + nC });
  return [outs, outs.map((_, i) => (i < nK ? (carryB[i] ? 0 : null) : outBatched[i] ? 1 : null))];
};

/**
 * Batching a while loop (JAX's _while_loop_batching_rule). Which carries are batched is a
 * fixpoint, as for scan. If the predicate is not batched (every example stops at the same
 * iteration), the result is a while over the batched condition and body. If it is (the trip count
 * differs per example), every carry is batched and the loop runs while any example's predicate
 * holds; each iteration updates only the examples still running (a select on their predicate), so
 * a finished example keeps its carry. The finished ones still go through the body (discarded), as
 * in JAX.
 */
const whileBatch: BatchRule<'while'> = (vals, dims, params, size) => {
  const { cond, body, numCondConsts: nC, numBodyConsts: nB } = params;
  const isBatched = dims.map((d) => d !== null);
  const condConstB = isBatched.slice(0, nC), bodyConstB = isBatched.slice(nC, nC + nB);
  let carryB = isBatched.slice(nC + nB);
  let condB: ReturnType<typeof vmapJaxprKeepingUnbatched>;
  let bodyB: ReturnType<typeof vmapJaxprKeepingUnbatched>;
  for (;;) {
    condB = vmapJaxprKeepingUnbatched(cond, [...condConstB, ...carryB], size, [false]);
    const want = condB.outBatched[0] ? carryB.map(() => true) : carryB;
    bodyB = vmapJaxprKeepingUnbatched(body, [...bodyConstB, ...want], size, want);
    const grown = bodyB.outBatched.map((b, i) => b || want[i]!);
    if (grown.every((b, i) => b === carryB[i])) break;
    carryB = grown;
  }
  const atFront = (v: NDArray, i: number): NDArray => (dims[i] === null ? v : moveBatchAxis(v, dims[i]!, 0));
  const condConsts = vals.slice(0, nC).map((v, i) => atFront(v, i));
  const bodyConsts = vals.slice(nC, nC + nB).map((v, i) => atFront(v, nC + i));
  const carry = vals.slice(nC + nB).map((v, k) => (carryB[k] ? batchedAtFront(v, dims[nC + nB + k]!, size) : v));
  const outDims = carryB.map((b) => (b ? 0 : null));
  if (!condB.outBatched[0]) {
    const outs = bind('while', [...condB.consts, ...condConsts, ...bodyB.consts, ...bodyConsts, ...carry], {
      ...params,
      cond: condB.jaxpr,
      body: bodyB.jaxpr,
      numCondConsts: condB.consts.length + nC,
      numBodyConsts: bodyB.consts.length + nB,
    });
    return [outs, outDims];
  }
  // A batched predicate: loop while any example runs, select the running examples' updates.
  const condIns = [...condB.consts, ...condConsts];
  const bodyIns = [...bodyB.consts, ...bodyConsts];
  const carryAvals = carry.map((c) => c.aval);
  const anyRunning = traceToJaxpr((ins) => {
    const [pred] = evalJaxpr(condB.jaxpr, ins);
    return [bind1('gt', [bind1('reduce_max', [convert(pred!, 'float32')], { axes: [0] }), constLike(new ShapedArray([], 'float32'), 0)], {})];
  }, [...condIns, ...carry].map((a) => a.aval));
  const maskedBody = traceToJaxpr((ins) => {
    const cIns = ins.slice(0, condIns.length), bIns = ins.slice(condIns.length, condIns.length + bodyIns.length), c = ins.slice(condIns.length + bodyIns.length);
    const [pred] = evalJaxpr(condB.jaxpr, [...cIns, ...c]);
    const next = evalJaxpr(bodyB.jaxpr, [...bIns, ...c]);
    return next.map((n, k) => bind1('select', [bind1('broadcast_in_dim', [pred!], { shape: [...n.shape], broadcastDimensions: [0] }), n, c[k]!], {}));
  }, [...condIns.map((a) => a.aval), ...bodyIns.map((a) => a.aval), ...carryAvals]);
  const outs = bind('while', [...anyRunning.consts, ...condIns, ...maskedBody.consts, ...condIns, ...bodyIns, ...carry], {
    ...params,
    cond: anyRunning.jaxpr,
    body: maskedBody.jaxpr,
    numCondConsts: anyRunning.consts.length + condIns.length,
    numBodyConsts: maskedBody.consts.length + condIns.length + bodyIns.length,
  });
  return [outs, outDims];
};

/**
 * Batching a cond (JAX's _cond_batching_rule). With an unbatched index every example takes the
 * same branch: a cond over the batched branches (an output batched in any branch is batched in
 * all). With a batched index (the branch differs per example) every branch runs on the whole
 * batch and each example's outputs are selected from its branch (JAX converts to select_n the
 * same way), so a batched cond costs every branch.
 */
const condBatch: BatchRule<'cond'> = (vals, dims, params, size) => {
  const { branches } = params;
  const [index, ...ops] = vals;
  const opsB = dims.slice(1).map((d) => d !== null);
  const operands = ops.map((v, i) => (dims[i + 1] === null ? v : moveBatchAxis(v, dims[i + 1]!, 0)));
  const outAvals = branches[0]!.outAvals;
  if (dims[0] === null) {
    const [programs, force] = branchFixpoint(outAvals.length, (forced) => branches.map((b) => vmapJaxprKeepingUnbatched(b, opsB, size, forced)), (p) => p.outBatched);
    const { jaxprs, consts } = withCommonConsts(programs);
    const outs = bind('cond', [index!, ...consts, ...operands], { ...params, branches: jaxprs });
    return [outs, force.map((b) => (b ? 0 : null))];
  }
  const idx = moveBatchAxis(index!, dims[0]!, 0);
  const results = branches.map((b) => {
    const p = vmapJaxprKeepingUnbatched(b, opsB, size, outAvals.map(() => true));
    return evalJaxpr(p.jaxpr, [...p.consts, ...operands]);
  });
  // Example e takes branch clamp(idx[e], 0, n − 1): the last branch j with idx[e] >= j (j >= 1), else branch 0.
  const outs = outAvals.map((_, k) =>
    results.slice(1).reduce((acc, r, j) => {
      const take = bind1('ge', [idx, constLike(idx, j + 1)], {});
      return bind1('select', [bind1('broadcast_in_dim', [take], { shape: [...r[k]!.shape], broadcastDimensions: [0] }), r[k]!, acc], {});
    }, results[0]![k]!),
  );
  return [outs, outs.map(() => 0)];
};

/** Vectorises a user rule on flat lists, all arguments and results batched at axis 0. */
function batchedFn(fn: (...lists: NDArray[][]) => NDArray[] | [NDArray[], NDArray[]], size: number) {
  return (...lists: NDArray[][]) => {
    const counts = lists.map((l) => l.length);
    const flat = lists.flat();
    let shape: number[] = [];
    const outs = vmapFlat(
      (xs) => {
        let k = 0;
        const parts = counts.map((c) => xs.slice(k, (k += c)));
        const r = fn(...parts);
        if (r.length === 2 && Array.isArray(r[0])) {
          shape = [(r[0] as NDArray[]).length];
          return [...(r[0] as NDArray[]), ...(r[1] as NDArray[])];
        }
        shape = [];
        return r as NDArray[];
      },
      flat,
      flat.map(() => 0),
      size,
      () => 0,
    );
    return shape.length ? [outs.slice(0, shape[0]), outs.slice(shape[0])] : outs;
  };
}

const customJvpBatch: BatchRule<'custom_jvp_call'> = (vals, dims, params, size) => {
  const all = vals.map((v, i) => batchedAtFront(v, dims[i]!, size));
  const { jaxpr, consts } = vmapJaxpr(params.jaxpr, all.map(() => true), size);
  const nc = params.numConsts;
  const jvp = batchedFn((p, t) => params.jvp(p!, t!), size) as unknown as CustomJvpRule;
  const outs = bind('custom_jvp_call', [...consts, ...all], { ...params, jaxpr, numConsts: consts.length + nc, jvp });
  return [outs, outs.map(() => 0)];
};

const customVjpBatch: BatchRule<'custom_vjp_call'> = (vals, dims, params, size) => {
  const all = vals.map((v, i) => batchedAtFront(v, dims[i]!, size));
  const { jaxpr, consts } = vmapJaxpr(params.jaxpr, all.map(() => true), size);
  const fwd = batchedFn((p) => params.fwd(p!), size) as unknown as CustomFwd;
  const argAvals = params.jaxpr.inAvals.slice(params.numConsts);
  const bwd = batchedFn((r, c) => params.bwd(r!, c!).map((x, i) => x ?? zeros(argAvals[i]!)), size) as unknown as CustomBwd;
  const outs = bind('custom_vjp_call', [...consts, ...all], { ...params, jaxpr, numConsts: consts.length + params.numConsts, fwd, bwd });
  return [outs, outs.map(() => 0)];
};

const customLinBatch: BatchRule<'custom_lin'> = (vals, dims, params, size) => {
  const all = vals.map((v, i) => batchedAtFront(v, dims[i]!, size));
  const bwd = batchedFn((r, c) => params.bwd(r!, c!) as NDArray[], size) as unknown as CustomBwd;
  const outAvals = params.outAvals.map((a) => new ShapedArray([size, ...a.shape], a.dtype));
  const outs = bind('custom_lin', all, { ...params, bwd, outAvals });
  return [outs, outs.map(() => 0)];
};

export const batchRules: { [P in Primitive]: BatchRule<P> } = {
  ...firstOrderBatchRules,
  jit_call: programBatchRule('jit_call') as BatchRule<'jit_call'>,
  remat: programBatchRule('remat') as BatchRule<'remat'>,
  custom_jvp_call: customJvpBatch,
  custom_vjp_call: customVjpBatch,
  custom_lin: customLinBatch,
  scan: scanBatch,
  while: whileBatch,
  cond: condBatch,
};

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * An axis for every array of a tree of type T, given as a prefix of it: a number or null covers the
 * whole subtree below it (`{ w: 0, b: null }` for `{ w, b }`, or just `0`).
 */
export type AxisTree<T> = 0 extends 1 & T
  ? LooseAxisTree // T is any
  : unknown extends T
    ? LooseAxisTree
    : number | null | (T extends NDArray ? never : T extends readonly unknown[] ? { readonly [K in keyof T]: AxisTree<T[K]> } : T extends object ? { readonly [K in keyof T]?: AxisTree<T[K]> } : never);
/** Axes for a tree of unknown type: numbers and nulls in lists and objects. */
export type LooseAxisTree = number | null | readonly LooseAxisTree[] | { readonly [key: string]: LooseAxisTree };

export interface VmapOptions<Args extends readonly unknown[] = unknown[], Out = unknown> {
  /** Batch axis of each argument: a number, null (not batched), or a pytree prefix of the arguments (one entry per argument). */
  inAxes?: number | null | { readonly [K in keyof Args]: AxisTree<Args[K]> } | readonly (number | null)[];
  /** Where the batch axis goes in each output: a number, null, or a pytree prefix of the output. */
  outAxes?: AxisTree<Out>;
  /** The batch size, needed only when no argument is batched. */
  axisSize?: number;
}

function axesFor(op: string, axes: unknown, value: unknown, what: string): (number | null)[] {
  if (axes === null || typeof axes === 'number') {
    const n = tree.leaves(value).length;
    return new Array<number | null>(n).fill(axes as number | null);
  }
  const [, def] = tree.flatten(axes, { isLeaf: (x) => x === null });
  void def;
  try {
    // Broadcast each prefix leaf over the subtree it covers.
    const prefixDef = tree.structure(axes, { isLeaf: (x) => x === null });
    const subtrees = tree.flattenUpTo(prefixDef, value, { isLeaf: (x) => x === null });
    const prefixLeaves = tree.leaves(axes, { isLeaf: (x) => x === null }) as (number | null)[];
    return subtrees.flatMap((sub, i) => {
      const a = prefixLeaves[i]!;
      if (a !== null && typeof a !== 'number') throw new TransformError(`${op}: ${what} entries must be numbers or null, got ${typeof a}`);
      return new Array<number | null>(tree.leaves(sub).length).fill(a);
    });
  } catch (e) {
    if (e instanceof TransformError) throw e;
    const values = what === 'inAxes' ? 'arguments' : 'outputs';
    // tree's "expected X but got Y": X is the axes tree's node, Y the values'.
    const msg = (e as Error).message.replace(/^tree\.\w+: /, '').replace(/: expected (.*) but got (.*)$/s, (_, want: string, got: string) => `: ${what} has ${want} but the ${values} have ${got}`);
    throw new TransformError(`${op}: ${what} ${JSON.stringify(axes)} does not match the structure of the ${values}: ${msg}`);
  }
}

/**
 * `vmap(f, {inAxes, outAxes, axisSize})` maps `f` over a batch axis of its arguments without a
 * loop: `vmap(f)(xs)` equals stacking `f(x)` for each x in xs along axis 0.
 */
export function vmap<F extends (...args: never[]) => unknown>(f: F & Known<ReturnType<F>>, options?: VmapOptions<Parameters<F>, ReturnType<F>>): (...args: Parameters<F>) => ArraysOf<ReturnType<F>>;
/** In generic code (a result type with type parameters): the result typed as f's. */
export function vmap<F extends (...args: never[]) => unknown>(f: F, options?: VmapOptions<Parameters<F>, ReturnType<F>>): (...args: Parameters<F>) => ReturnType<F>;
export function vmap<F extends (...args: never[]) => unknown>(f: F, options: VmapOptions<Parameters<F>, ReturnType<F>> = {}): (...args: Parameters<F>) => ArraysOf<ReturnType<F>> {
  checkOptions('vmap', options, ['inAxes', 'outAxes', 'axisSize'] satisfies (keyof VmapOptions)[]);
  const inAxesOpt = options.inAxes === undefined ? 0 : options.inAxes;
  const outAxesOpt = options.outAxes === undefined ? 0 : options.outAxes;
  const given: unknown = options.axisSize;
  // (A negative or fractional size reaches the kernels as a shape: wasm then writes out of bounds.)
  if (given !== undefined && !(typeof given === 'number' && Number.isInteger(given) && given >= 0)) {
    throw new TransformError(`vmap: axisSize must be a non-negative integer, got ${typeof given === 'number' ? given : `${typeof given} ${JSON.stringify(given)}`}`);
  }
  return (...args: Parameters<F>) => {
    const firstNew = nextTensorId();
    return scoped(() => {
      const inAxes = axesFor('vmap', Array.isArray(inAxesOpt) ? inAxesOpt : inAxesOpt, args, 'inAxes');
      const [withPaths, argDef] = tree.flattenWithPath(args);
      // Unmapped leaves that are not arrays (flags, option objects, numbers) reach f as they are, as in JAX.
      const passThrough = withPaths.map(([, leaf], i) => (inAxes[i] ?? null) === null && !((leaf as unknown) instanceof NDArray) && !isTensor(leaf));
      const leaves = withPaths.map(([path, leaf], i) => (passThrough[i] ? null : leafArray('vmap', path, leaf, 'argument')));
      refuseFreedLeaves('vmap', args, leaves, 'argument');
      const dims = leaves.map((x, i) => {
        const a = inAxes[i] ?? null;
        if (a === null || x === null) return null;
        if (!Number.isInteger(a)) throw new TransformError(`vmap: inAxes ${a} for argument ${tree.keystr(withPaths[i]![0])} is not an integer; expected an axis of its shape ${fmtShape(x.shape)} or null`);
        if (a < -x.ndim || a >= x.ndim) {
          throw new ShapeError(`vmap: inAxes ${a} is out of range for argument ${tree.keystr(withPaths[i]![0])} of shape ${fmtShape(x.shape)}; expected an integer in [${-x.ndim}, ${x.ndim - 1}] or null`);
        }
        return a < 0 ? a + x.ndim : a;
      });
      const sizes = new Map<number, string[]>();
      dims.forEach((d, i) => {
        if (d === null) return;
        const x = leaves[i]!;
        sizes.set(x.shape[d]!, [...(sizes.get(x.shape[d]!) ?? []), `${tree.keystr(withPaths[i]![0]) || 'arg'} (axis ${d} of ${fmtShape(x.shape)})`]);
      });
      if (sizes.size > 1) {
        const detail = [...sizes.entries()].map(([n, who]) => `size ${n}: ${who.join(', ')}`).join('; ');
        throw new ShapeError(`vmap: arguments have different sizes along their mapped axes — ${detail}; expected one batch size`);
      }
      let axisSize = sizes.size === 1 ? [...sizes.keys()][0]! : options.axisSize;
      if (options.axisSize !== undefined && axisSize !== options.axisSize) throw new ShapeError(`vmap: axisSize ${options.axisSize} differs from the mapped arguments' size ${axisSize}`);
      if (axisSize === undefined) throw new TransformError('vmap: no argument is mapped (all inAxes are null); pass axisSize to say how many times to map');
      let outDef: tree.TreeDef | undefined;
      let outTree: unknown;
      let outAxes: (number | null)[] = [];
      const describeOut = (i: number) => leafWhere(outTree, i, 'the output');
      const outs = vmapFlat(
        (xs) => {
          let k = 0;
          const out = f(...unflatten<never[]>(argDef, withPaths.map(([, leaf], i) => (passThrough[i] ? leaf : xs[k++]))));
          const [outLeaves, def] = flattenArrays('vmap', out, 'output');
          refuseFreedLeaves('vmap', out, outLeaves, 'output');
          outDef = def;
          outTree = out;
          outAxes = axesFor('vmap', outAxesOpt, out, 'outAxes');
          return outLeaves;
        },
        leaves.filter((x): x is NDArray => x !== null),
        dims.filter((_, i) => !passThrough[i]),
        axisSize!,
        (i) => {
          const a = outAxes[i] ?? null;
          return a;
        },
        describeOut,
      );
      outs.forEach((o, i) => {
        const a = outAxes[i];
        if (a !== null && a !== undefined && (!Number.isInteger(a) || a < -o.ndim || a >= o.ndim)) throw new ShapeError(`vmap: outAxes ${a} is out of range (not a valid axis) for output ${i}${describeOut(i)}, of rank ${o.ndim} with the batch axis; expected an integer in [${-o.ndim}, ${o.ndim - 1}] or null`);
      });
      return freshResults(unflatten(outDef!, outs) as ArraysOf<ReturnType<F>>, args, firstNew, 'vmap');
    });
  };
}
