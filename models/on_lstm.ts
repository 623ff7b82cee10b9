// ON-LSTM: ordered neurons (algorithms.md §7d; Shen et al., arXiv 1810.09536; Su,
// kexue.fm/archives/6621). Master gates built from cumax = cumsum∘softmax split the cell into
// a high-level part that keeps its history and a low-level part that takes the new input:
//   f̃ = cumax(·) (increasing), ĩ = ←cumsum(softmax(·)) (Su's symmetric choice, decreasing) or
//   1 − cumax(·) (the paper's), ω = f̃∘ĩ,
//   c_t = ω∘(f∘c_{t−1} + i∘ĉ) + (f̃ − ω)∘c_{t−1} + (ĩ − ω)∘ĉ,  h_t = o∘tanh(c_t).
// Chunking: the n cells form p chunks of q (n = p·q); master gates have p entries, each repeated q
// times. The level of a step, d_t = Σ_k k·p_f(k) = p·(1 − mean f̃) + 1, parses a sentence by greedy
// splitting at the largest level.
import { ShapeError, np, random, scan, type ArrayLike, type NDArray } from '../src/index.js';
import * as init from './init.js';
import { Shapes } from './shapes.js';

const op = np.defop;
type Key = NDArray;

/** cumax(x) = cumsum(softmax(x)) along `axis`: non-decreasing, in (0, 1], last entry 1. */
export const cumax = op((x: ArrayLike, axis = -1): NDArray => np.cumsum(np.softmax(x, axis), axis));

/** ←cumsum(softmax(x)): the mirror image of cumax (non-increasing, first entry 1). */
export const reverseCumax = op((x: ArrayLike, axis = -1): NDArray => np.cumsum(np.softmax(x, axis), axis, true));

export type MasterInput = 'symmetric' | 'paper';

export interface OnLstmConfig {
  /** q, the cells per chunk (n = p·q); default 1 (no chunking). */
  chunkSize?: number;
  /** ĩ = ←cumsum(softmax) ('symmetric', Su; default) or 1 − cumax ('paper', Shen et al.). */
  masterInput?: MasterInput;
}

/**
 * Parameters of one fused affine map x·wx + h·wh + b → [f̃ (p) | ĩ (p) | f | i | o | ĉ (n each)].
 */
export interface OnLstmParams {
  wx: NDArray;
  wh: NDArray;
  b: NDArray;
}

export interface OnLstmState {
  h: NDArray;
  c: NDArray;
}

function chunks(name: string, hidden: number, chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || hidden % chunkSize !== 0) {
    throw new RangeError(`onLstm.${name}: the hidden size ${hidden} must be a multiple of chunkSize ${chunkSize}`);
  }
  return hidden / chunkSize;
}

/** Glorot-uniform input weights, orthogonal recurrent weights, zero biases. */
export const initParams = op(function initParams(key: Key, inputDim: number, hiddenDim: number, config: OnLstmConfig = {}): OnLstmParams {
  const p = chunks('init', hiddenDim, config.chunkSize ?? 1);
  const width = 4 * hiddenDim + 2 * p;
  const keys = random.split(key, 2);
  return { wx: init.glorotUniform(keys.at(0), [inputDim, width]), wh: init.orthogonal()(keys.at(1), [hiddenDim, width]), b: np.zeros([width]) };
});
export { initParams as init };

/** A zero state for a batch shape (e.g. [] or [batch]). */
export function initialState(hiddenDim: number, batchShape: readonly number[] = []): OnLstmState {
  return { h: np.zeros([...batchShape, hiddenDim]), c: np.zeros([...batchShape, hiddenDim]) };
}

/** The master gates (chunk level, [..., p]) from their logits. */
export const masterGates = op((forgetLogits: ArrayLike, inputLogits: ArrayLike, masterInput: MasterInput = 'symmetric'): { fTilde: NDArray; iTilde: NDArray } => ({
  fTilde: cumax(forgetLogits),
  iTilde: masterInput === 'paper' ? np.subtract(1, cumax(inputLogits)) : reverseCumax(inputLogits),
}));

export interface CellUpdateInputs {
  /** Master gates at cell level [..., n] (already repeated over chunks). */
  fTilde: ArrayLike;
  iTilde: ArrayLike;
  f: ArrayLike;
  i: ArrayLike;
  cPrev: ArrayLike;
  cHat: ArrayLike;
}

/** c_t = ω∘(f∘c_{t−1} + i∘ĉ) + (f̃ − ω)∘c_{t−1} + (ĩ − ω)∘ĉ with ω = f̃∘ĩ. */
export const cellUpdate = op((g: CellUpdateInputs): NDArray => {
  const fT = np.asArray(g.fTilde), iT = np.asArray(g.iTilde), cPrev = np.asArray(g.cPrev), cHat = np.asArray(g.cHat);
  const w = fT.mul(iT);
  const lstm = np.multiply(g.f, cPrev).add(np.multiply(g.i, cHat));
  return w.mul(lstm).add(fT.sub(w).mul(cPrev)).add(iT.sub(w).mul(cHat));
});

export interface CellOutput {
  state: OnLstmState;
  /** Chunk-level master gates [..., p]. */
  fTilde: NDArray;
  iTilde: NDArray;
}

/** One ON-LSTM step: x [..., in], state {h, c} [..., n]. */
export const cell = op((params: OnLstmParams, state: OnLstmState, x: ArrayLike, config: OnLstmConfig = {}): CellOutput => {
  const s = checkParams('cell', params);
  params = asArrays(params);
  const st = checkState(s, 'state', state);
  s.broadcastable('x', s.check('x', np.asArray(x), ['...', 'in']).slice(0, -1), st.path, st.batch);
  checkChunks('cell', params, config);
  return cellStep(params, state, x, config);
});

/**
 * The number of chunks p for the config's chunkSize, checked against the parameters' width
 * 4n + 2p (run once by the public functions, after checkParams).
 */
function checkChunks(name: string, params: OnLstmParams, config: OnLstmConfig): number {
  const [n, width] = params.wh.shape as [number, number];
  const q = config.chunkSize ?? 1;
  const p = chunks(name, n, q);
  if (width !== 4 * n + 2 * p) {
    // The parameters do not record their chunk size: a width 4n + 2p' tells which one they were made with.
    const made = (width - 4 * n) / 2;
    if (!(Number.isInteger(made) && made >= 1 && n % made === 0)) {
      // No chunk count gives this width: the parameters' shape is wrong, not the config.
      const widths = Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0).map((d) => `${4 * n + 2 * d} for p = ${d}`);
      throw new ShapeError(`onLstm.${name}: params.wh has shape [${n},${width}]; expected a width 4n + 2p for n = ${n} hidden cells in p chunks (${widths.join(', ')}); config.chunkSize ${q} gives ${p}, a width ${4 * n + 2 * p}`);
    }
    throw new RangeError(`onLstm.${name}: the parameters were made for ${made} chunks (chunkSize ${n / made}) but config.chunkSize ${q} gives ${p}; pass the config used with init`);
  }
  return p;
}

/** The step itself, shapes and chunks already checked (apply checks its sequence once, not once a step). */
const cellStep = op((params: OnLstmParams, state: OnLstmState, x: ArrayLike, config: OnLstmConfig): CellOutput => {
  const n = params.wh.shape[0]!;
  const q = config.chunkSize ?? 1;
  const p = n / q;
  const z = np.matmul(x, params.wx).add(np.matmul(state.h, params.wh)).add(params.b);
  const [fm, im, f, i, o, ch] = np.split(z, [p, 2 * p, 2 * p + n, 2 * p + 2 * n, 2 * p + 3 * n], -1) as [NDArray, NDArray, NDArray, NDArray, NDArray, NDArray];
  const { fTilde, iTilde } = masterGates(fm, im, config.masterInput ?? 'symmetric');
  const c = cellUpdate({
    fTilde: q === 1 ? fTilde : np.repeat(fTilde, q, -1),
    iTilde: q === 1 ? iTilde : np.repeat(iTilde, q, -1),
    f: np.sigmoid(f),
    i: np.sigmoid(i),
    cPrev: state.c,
    cHat: np.tanh(ch),
  });
  const h = np.sigmoid(o).mul(np.tanh(c));
  return { state: { h, c }, fTilde, iTilde };
});

/**
 * The parameters' shapes (wx [in, width], wh [n, width], b [width]), checked before any matmul so
 * that a mismatch names the function and the path; returns the checker with in, n, width bound.
 */
function checkParams(name: string, params: OnLstmParams): Shapes {
  const s = new Shapes(`onLstm.${name}`);
  if (typeof params !== 'object' || params === null) s.fail(`params is ${String(params)}; expected { wx, wh, b }`);
  // Three leaves carry the width: where one disagrees, the message names it, not one of the two that agree.
  s.agree('width', [['params.wh', params.wh, 1], ['params.wx', params.wx, 1], ['params.b', params.b, 0]]);
  s.check('params.wh', params.wh, ['n', 'width']);
  s.check('params.wx', params.wx, ['in', 'width']);
  s.check('params.b', params.b, ['width']);
  return s;
}

/** The parameters' leaves as arrays (checkParams accepts nested JS arrays, as it does for the state). */
const asArrays = (params: OnLstmParams): OnLstmParams => ({ wx: np.asArray(params.wx), wh: np.asArray(params.wh), b: np.asArray(params.b) });

/**
 * A state { h, c }: both [..., n] (arrays or nested JS arrays), their batch axes broadcasting
 * together (a c [n] shared by a batch of h [B, n] is the broadcast the cell computes). Returns
 * the state's batch axes (h's and c's broadcast together).
 */
function checkState(s: Shapes, path: string, state: OnLstmState | undefined): { path: string; batch: number[] } {
  if (typeof state !== 'object' || state === null) s.fail(`${path} is ${String(state)}; expected { h, c } (onLstm.initialState)`);
  const h = s.check(`${path}.h`, state.h, ['...', 'n']);
  const c = s.check(`${path}.c`, state.c, ['...', 'n']);
  const hb = h.slice(0, -1);
  const batch = s.broadcastable(`${path}.h`, hb, `${path}.c`, c.slice(0, -1));
  // Named by the part whose batch axes are the state's (h, unless a c with more axes widens it).
  return { path: batch.join() === hb.join() ? `${path}.h` : `${path}.c`, batch };
}

/** The level d = Σ_k k·p_f(k) = p·(1 − mean f̃) + 1 of chunk-level master forget gates [..., p] → [...]. */
export const levels = op((fTilde: ArrayLike): NDArray => {
  const f = np.asArray(fTilde);
  const p = f.shape[f.ndim - 1]!;
  return np.subtract(1, np.mean(f, -1)).mul(p).add(1);
});

export interface SequenceOutput {
  /** Hidden states [..., T, n]. */
  h: NDArray;
  /** Chunk-level master forget gates [..., T, p]. */
  fTilde: NDArray;
  /** Levels d_t [..., T] (parse distances). */
  levels: NDArray;
  /** The state after the last (real) step. */
  state: OnLstmState;
}

/**
 * Runs the cell over xs [..., T, in] (batch-major, time on axis −2). Masked steps (mask [..., T]
 * false or 0) keep the state and report the previous hidden state. The time loop is one lax.scan:
 * a single equation under jit and in traced programs, whatever T is.
 */
export const apply = op((params: OnLstmParams, xs: ArrayLike, config: OnLstmConfig & { initialState?: OnLstmState; mask?: ArrayLike } = {}): SequenceOutput => {
  const x = np.asArray(xs);
  const s = checkParams('apply', params);
  params = asArrays(params);
  const batch = s.check('xs', x, ['...', 'T', 'in']).slice(0, -2);
  // The batch of the outputs: xs's, the initial state's and the mask's broadcast together. A step
  // after the first sees the state of the step before, which the mask (selecting between states)
  // and c have widened to that batch; the initial state is widened to it up front, so that every
  // step's gates have it too (the first step's would otherwise have only xs's and h's).
  const mb = config.mask === undefined ? null : s.check('mask', np.asArray(config.mask), ['...', 'T']).slice(0, -1);
  if (mb) s.broadcastable('mask', mb, 'xs', batch);
  let full = batch;
  if (config.initialState !== undefined) {
    const st = checkState(s, 'config.initialState', config.initialState);
    full = s.broadcastable(st.path, st.batch, 'xs', batch);
  }
  if (mb) full = s.broadcastable('mask', mb, 'the batch of xs and config.initialState', full);
  const p = checkChunks('apply', params, config);
  const n = params.wh.shape[0]!;
  const T = x.shape[x.ndim - 2]!;
  const init = config.initialState;
  const widen = (v: ArrayLike) => {
    const a = np.asArray(v);
    return a.shape.slice(0, -1).join() === full.join() ? a : np.broadcastTo(a, [...full, n]);
  };
  // The state the steps start from: the initial state widened to the full batch, or zeros of it.
  // The carry must keep its dtype, and a step's state is float32 (sigmoid and tanh of the gates): an
  // initial state given as ints (nested JS integers, say) starts as float32, as the loop promoted
  // it (at T = 0 too, so the state's dtype does not depend on the length).
  const float = (a: NDArray) => (a.dtype === 'float32' ? a : a.astype('float32'));
  const state = init === undefined ? initialState(n, full) : { h: float(widen(init.h)), c: float(widen(init.c)) };
  if (T === 0) {
    // A scan over no steps (as in JAX, whose carry has the widened shape): empty outputs of the
    // batch the steps would have had, and the state they would have started from (the initial
    // state broadcast to that batch, its gradient summed back; it used to come back as given,
    // [n] for xs [2, 0, in] while T = 1 gave [2, n]).
    const fTilde = np.zeros([...full, 0, p]);
    return { h: np.zeros([...full, 0, n]), fTilde, levels: levels(fTilde), state };
  }
  // One lax.scan over time (traced once, so the program does not grow with T). The carry is the
  // state at the full batch (every step's output has it: xs's batch broadcast with the widened
  // state's); the xs are time-major, step t of every sequence at index t of axis 0.
  const xt = np.moveaxis(x, -2, 0);
  const step = (st: OnLstmState, xi: NDArray): [OnLstmState, [NDArray, NDArray]] => {
    const out = cellStep(params, st, xi, config);
    return [out.state, [out.state.h, out.fTilde]];
  };
  const maskedStep = (st: OnLstmState, [xi, mi]: [NDArray, NDArray]): [OnLstmState, [NDArray, NDArray]] => {
    // A masked step keeps the state and reports the previous hidden state (its fTilde is still the step's).
    const out = cellStep(params, st, xi, config);
    const keep = np.expandDims(mi, -1);
    const next = { h: np.where(keep, out.state.h, st.h), c: np.where(keep, out.state.c, st.c) };
    return [next, [next.h, out.fTilde]];
  };
  const [last, [hs, fs]] = config.mask === undefined
    ? scan(step, state, xt)
    : scan(maskedStep, state, [xt, np.moveaxis(np.notEqual(config.mask, 0), -1, 0)] as [NDArray, NDArray]);
  const fTilde = np.moveaxis(fs, 0, -2);
  return { h: np.moveaxis(hs, 0, -2), fTilde, levels: levels(fTilde), state: last };
});

/** A binary-ish parse tree: a token, or a list of subtrees. */
export type Tree<T> = T | Tree<T>[];

/**
 * Greedy top-down parse from levels (ON-LSTM's `build_tree`): split at the token with the
 * largest level (the first on ties) into [left part, [that token, right part]], and recurse.
 */
export function buildTree<T>(levelsOf: readonly number[], tokens: readonly T[]): Tree<T> {
  if (levelsOf.length !== tokens.length) throw new RangeError(`onLstm.buildTree: ${levelsOf.length} levels for ${tokens.length} tokens`);
  if (tokens.length === 0) return [];
  if (tokens.length === 1) return tokens[0]!;
  let at = 0;
  for (let i = 1; i < levelsOf.length; i++) if (levelsOf[i]! > levelsOf[at]!) at = i;
  const right: Tree<T> = at + 1 < tokens.length ? [tokens[at]!, buildTree(levelsOf.slice(at + 1), tokens.slice(at + 1))] : tokens[at]!;
  return at > 0 ? [buildTree(levelsOf.slice(0, at), tokens.slice(0, at)), right] : right;
}
