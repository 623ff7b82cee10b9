// scan, while and cond at the eval level (see executor.ts): the loops run their bodies (and cond
// its branch) through runners the executor hands them, which share the bodies' literal tensors
// over the loop; here, each carry and slice is freed as soon as it has been replaced or read.
import * as tf from '@tensorflow/tfjs-core';
import { shareTensor } from './kernels.js';
import { ConcreteArray, type NDArray } from './array.js';
import type { Jaxpr } from './jaxpr.js';
import { unrolledScanBody } from './scan_unroll.js';
import { wasmReadSlice, wasmUninitialized, wasmWriteSlice } from './wasm_kernels.js';
import type { ParamsOf } from './primitives.js';
import { forgetFreedTensorsPerStep } from './scope.js';
import { sizeOf } from './shape.js';

/** Runs a program on arguments; its results are new arrays owned by the caller. */
export type RunProgram = (args: ConcreteArray[]) => NDArray[];

/** Runs a program on bare tensors; its results are new tensors owned by the caller. */
export type RunOnTensors = (args: readonly tf.Tensor[]) => tf.Tensor[];

/**
 * How a scan reads slice `i` of `x` along axis 0, without that axis, as a new tensor: chosen once per
 * call. On wasm, one copy in the backend's memory; on cpu, a copy of that part of x's values (the cpu
 * backend keeps them in a JS typed array, read back without a copy), so a step makes no Slice and
 * Reshape kernels in a tidy scope; elsewhere those kernels. (A copy, not a view with `subarray`: a
 * slice the body passes through to a carry would otherwise keep all of x's buffer alive after x is
 * freed, unseen by tf.memory(), and share its values with x, which dataSync() exposes for writing.)
 */
function sliceReader(x: tf.Tensor): (i: number) => tf.Tensor {
  const rest = x.shape.slice(1);
  if (rest.some((d) => d === 0)) return () => tf.zeros(rest, x.dtype);
  if (tf.getBackend() === 'cpu') {
    const values = x.dataSync() as Float32Array | Int32Array | Uint8Array;
    const n = sizeOf(rest);
    return (i) => tf.tensor(values.slice(i * n, (i + 1) * n), rest, x.dtype);
  }
  const begin = rest.map(() => 0), size = [1, ...rest];
  return (i) => wasmReadSlice(x, i) ?? tf.tidy(() => tf.reshape(tf.slice(x, [i, ...begin], size), rest));
}

/**
 * A scan at the eval level: the body runs as a compiled program `length` times, or with `unroll` =
 * k > 1, the body written out k times (scan_unroll.ts) once per k steps and the body alone for the
 * length mod k steps left at the end. Each step's slices of xs and the carry it replaces are freed
 * at once, so the loop holds one carry, the operands and the ys made so far (written into their
 * stacked outputs on wasm, stacked at the end elsewhere); the body's own intermediates are freed by
 * the compiled program as it goes.
 */
export function runScan(args: ConcreteArray[], params: ParamsOf<'scan'>, compile: (program: Jaxpr) => RunOnTensors): NDArray[] {
  // (The freed carries and slices are also dropped from the enclosing TF.js scope's list as the
  // loop goes, so host memory does not grow with the length of a carry-only loop.)
  const { jaxpr, numConsts, numCarry, length, reverse } = params;
  const tensors = args.map((a) => a.tensor);
  const xs = tensors.slice(numConsts + numCarry);
  const numXs = xs.length;
  const readSlice = xs.map(sliceReader);
  const yAvals = jaxpr.outAvals.slice(numCarry);
  const numYs = yAvals.length;
  const unroll = Math.min(params.unroll, length);
  const body = compile(jaxpr);
  const block = unroll > 1 ? compile(unrolledScanBody(jaxpr, numConsts, numCarry, unroll)) : body;
  // The arguments of the body and of the block, each one list reused by every run: the consts stay,
  // the carry and the slices are replaced (a program reads its arguments and keeps none of them).
  // The slots of the slices start empty, not holding the operands xs: the finally below frees
  // whatever a failed read left there, and must never free the caller's xs.
  const carryAt = numConsts, xsAt = numConsts + numCarry;
  const bodyArgs = [...tensors.slice(0, xsAt), ...new Array<tf.Tensor>(numXs)];
  const blockArgs = unroll > 1 ? [...tensors.slice(0, xsAt), ...new Array<tf.Tensor>(unroll * numXs)] : bodyArgs;
  let carry = tensors.slice(carryAt, xsAt);
  let ownsCarry = false;
  // Each y goes straight into its stacked output where the backend lets us write one (wasm), so
  // the loop never holds the ys twice; elsewhere the ys are kept and stacked at the end.
  const stackedYs = yAvals.map((a) => (length === 0 ? null : wasmUninitialized([length, ...a.shape], a.dtype)));
  const ys: tf.Tensor[][] = yAvals.map(() => new Array<tf.Tensor>(length));
  const forgetFreed = forgetFreedTensorsPerStep();
  try {
    for (let step = 0; step < length; ) {
      forgetFreed();
      // (A whole block while one fits; the steps left over one at a time.)
      const width = step + unroll <= length ? unroll : 1;
      const [run, runArgs] = width === unroll ? [block, blockArgs] : [body, bodyArgs];
      for (let k = 0; k < numCarry; k++) runArgs[carryAt + k] = carry[k]!;
      const index = (j: number) => (reverse ? length - 1 - (step + j) : step + j);
      let outs: tf.Tensor[];
      try {
        for (let j = 0; j < width; j++) for (let m = 0; m < numXs; m++) runArgs[xsAt + j * numXs + m] = readSlice[m]!(index(j));
        outs = run(runArgs);
      } finally {
        // (After an error in reading, some are the last run's slices, freed already: disposing is then a no-op.)
        for (let n = xsAt; n < xsAt + width * numXs; n++) runArgs[n]?.dispose();
      }
      if (ownsCarry) for (const t of carry) t.dispose();
      carry = outs.slice(0, numCarry);
      ownsCarry = true;
      for (let j = 0; j < width; j++) {
        const i = index(j);
        for (let m = 0; m < numYs; m++) {
          const y = outs[numCarry + j * numYs + m]!;
          const into = stackedYs[m];
          if (into === null || into === undefined) {
            ys[m]![i] = y;
            continue;
          }
          try {
            wasmWriteSlice(into, i, y);
          } finally {
            y.dispose();
          }
        }
      }
      step += width;
    }
  } catch (e) {
    if (ownsCarry) for (const t of carry) t.dispose();
    for (const list of ys) for (const t of list) t?.dispose();
    for (const t of stackedYs) t?.dispose();
    throw e;
  }
  const stacked = ys.map((list, k) => {
    if (stackedYs[k] !== null && stackedYs[k] !== undefined) return stackedYs[k]!;
    if (length === 0) return tf.zeros([0, ...yAvals[k]!.shape], yAvals[k]!.dtype);
    const out = tf.stack(list);
    for (const t of list) t.dispose();
    return out;
  });
  // The outputs are new tensors: a carry that never ran (length 0) is a copy of the operand.
  const finalCarry = ownsCarry ? carry : carry.map((t) => shareTensor(t));
  return [...finalCarry, ...stacked].map((t) => new ConcreteArray(t));
}

/**
 * A while loop at the eval level: the condition and the body run as compiled programs; the
 * condition's boolean is read back each iteration (one scalar), and each carry is freed as soon
 * as the body has replaced it, so the loop holds one carry whatever its trip count.
 */
export function runWhile(args: ConcreteArray[], params: ParamsOf<'while'>, condProgram: RunProgram, bodyProgram: RunProgram): NDArray[] {
  const { numCondConsts: nC, numBodyConsts: nB } = params;
  const condConsts = args.slice(0, nC);
  const bodyConsts = args.slice(nC, nC + nB);
  let carry = args.slice(nC + nB);
  let ownsCarry = false;
  const forgetFreed = forgetFreedTensorsPerStep();
  try {
    for (;;) {
      forgetFreed();
      const [pred] = condProgram([...condConsts, ...carry]) as ConcreteArray[];
      const keepGoing = pred!.tensor.dataSync()[0] !== 0;
      pred!.dispose();
      if (!keepGoing) break;
      const next = bodyProgram([...bodyConsts, ...carry]) as ConcreteArray[];
      if (ownsCarry) for (const c of carry) c.dispose();
      carry = next;
      ownsCarry = true;
    }
  } catch (e) {
    if (ownsCarry) for (const c of carry) c.dispose();
    throw e;
  }
  // The outputs are new tensors: a loop that never ran returns copies of its operands.
  return ownsCarry ? carry : carry.map((c) => new ConcreteArray(shareTensor(c.tensor)));
}

/**
 * A cond at the eval level: reads the index (one scalar) and runs only that branch, compiled.
 * The index is clamped to the branches (lax.switch clamps; cond's index is 0 or 1 already).
 */
export function runCond(args: ConcreteArray[], params: ParamsOf<'cond'>, runBranch: (branch: Jaxpr, args: ConcreteArray[]) => NDArray[]): NDArray[] {
  const { branches } = params;
  const raw = args[0]!.tensor.dataSync()[0]!;
  const index = Math.min(Math.max(Math.trunc(raw), 0), branches.length - 1);
  return runBranch(branches[index]!, args.slice(1));
}
