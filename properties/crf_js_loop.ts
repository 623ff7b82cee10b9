// The CRF as it was before its time loops became lax.scan (models/crf.ts at 3357451): the same
// recursions written as JS loops over np ops, kept verbatim as the oracle that crf_scan.test.ts
// compares the scan version against (values and gradients, masks and broadcasting included).
// Only the imports and the shape checks (crf.ts's own, dropped here) are changed.
// Linear-chain CRF and its locally normalised cousins MEMM / Bi-MEMM (algorithms.md §7e;
// kexue.fm/archives/5542 and /7213). Emissions h are [..., T, k] (T steps, k tags), tags are int
// [..., T], the transition matrix g is [k, k] with g[i, j] the score of tag i followed by tag j.
// An optional mask [..., T] (bool or 0/1) marks the real steps: masked steps are skipped entirely
// (the recursion keeps its previous state and the next real step links to the last real tag), so
// padding may sit anywhere, and a sequence with no real step has score 0, log Z 0 and loss 0.
// An empty sequence (T = 0) is the same case: one (empty) path of score 0, so log Z = 0, every loss
// is 0 and Viterbi returns [..., 0] tags (what a scan over no steps gives in JAX).
// The time loops are JS loops over np ops: differentiable, and batched by vmap like any other code.
import { ShapeError, grad, np, type ArrayLike, type NDArray } from '../src/index.js';
import { checkLabels } from '../models/losses.js';
import { Shapes } from '../models/shapes.js';

const op = np.defop;

export interface CrfParams {
  /** g[i, j]: score of tag i followed by tag j. */
  transitions: NDArray;
}

/** CRF parameters for `numTags` tags: zero transitions (every tag sequence equally likely a priori). */
export function init(numTags: number): CrfParams {
  return { transitions: np.zeros([numTags, numTags]) };
}

export interface MaskOptions {
  /**
   * [..., T], true (or nonzero) on real steps. Its batch axes broadcast to the emissions' (axes of 1,
   * or fewer axes) but may not add to them: the results are one per sequence of the emissions.
   */
  mask?: ArrayLike;
}

interface Steps {
  e: NDArray; // the float32 emissions [..., T, k]
  h: NDArray[]; // per step [..., k]
  m: NDArray[] | null; // per step bool [...]
}

/**
 * The sum over no steps (T = 0): 0 of the batch shape [...], float32. Taken as a sum of the empty
 * emissions rather than np.zeros so that it stays a function of them (a zero gradient, like JAX's).
 */
const noSteps = (e: NDArray): NDArray => np.sum(e, [-2, -1]);

function steps(name: string, emissions: ArrayLike, mask: ArrayLike | undefined): Steps {
  let e = np.asArray(emissions);
  if (e.dtype !== 'float32') e = e.astype('float32');
  if (e.ndim < 2) throw new ShapeError(`crf.${name}: emissions must be [..., T, k], got ${JSON.stringify(e.shape)}`);
  const T = e.shape[e.ndim - 2]!;
  const et = np.moveaxis(e, -2, 0);
  const h = Array.from({ length: T }, (_, t) => et.at(t));
  if (mask === undefined) return { e, h, m: null };
  let ma = np.asArray(mask);
  if (ma.dtype !== 'bool') ma = np.notEqual(ma, 0);
  const mt = np.moveaxis(ma, -1, 0);
  return { e, h, m: Array.from({ length: T }, (_, t) => mt.at(t)) };
}

function tagSteps(name: string, tags: ArrayLike, T: number, numTags: number): NDArray[] {
  let y = np.asArray(tags);
  // (A float tag such as 1.5 was truncated silently.)
  if (y.dtype === 'float32') throw new TypeError(`crf.${name}: tags must be integers (int32), got float32 values`);
  if (y.dtype !== 'int32') y = y.astype('int32');
  checkLabels(`crf.${name}`, y, numTags);
  const yt = np.moveaxis(y, -1, 0);
  return Array.from({ length: T }, (_, t) => yt.at(t));
}

// The shape checks are crf.ts's (the oracle is only given inputs crf.ts accepts): here they just
// turn the transitions into an array, as crf.ts's did.
function checker(_name: string, _emissions: ArrayLike, transitions: ArrayLike | undefined, _tags?: ArrayLike, _mask?: ArrayLike, _gPath?: string): { g: NDArray; s: Shapes } {
  return { g: np.asArray(transitions!), s: new Shapes('crf oracle') };
}
const checkShapes = (...args: Parameters<typeof checker>): NDArray => checker(...args).g;

/** x[..., idx] for an int index array idx [...]: one entry per leading position. */
function pick(x: NDArray, idx: NDArray): NDArray {
  return np.squeeze(np.takeAlongAxis(x, np.expandDims(idx, -1), -1), -1);
}

/** g[i, j] for int arrays i, j of one shape. */
function pickTransition(g: NDArray, i: NDArray, j: NDArray): NDArray {
  const k = g.shape[1]!;
  return np.take(np.ravel(g), np.add(np.multiply(i, k), j), 0);
}

const expand = (m: NDArray) => np.expandDims(m, -1);

/**
 * The path score f(y; x) = Σ_t h_t(y_t) + Σ_t g(y_t, y_{t+1}) over the real steps. Returns [...].
 */
export const score = op((emissions: ArrayLike, tags: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray =>
  scoreOf('score', checkShapes('score', emissions, transitions, tags, options.mask), emissions, tags, options),
);

/** score with the shapes already checked (g the transitions array); `name` is the public function's. */
function scoreOf(name: string, g: NDArray, emissions: ArrayLike, tags: ArrayLike, options: MaskOptions): NDArray {
  const { e, h, m } = steps(name, emissions, options.mask);
  const y = tagSteps(name, tags, h.length, g.shape[0]!); // read even at T = 0: a float or out-of-range tag is still refused
  if (h.length === 0) return noSteps(e);
  let total = pick(h[0]!, y[0]!);
  if (m) total = np.where(m[0]!, total, 0);
  let prev = y[0]!;
  let started = m ? m[0]! : null;
  for (let t = 1; t < h.length; t++) {
    const term = pick(h[t]!, y[t]!).add(pickTransition(g, prev, y[t]!));
    if (m && started) {
      const noLink = pick(h[t]!, y[t]!);
      total = total.add(np.where(m[t]!, np.where(started, term, noLink), 0));
      prev = np.where(m[t]!, y[t]!, prev);
      started = np.logicalOr(started, m[t]!);
    } else {
      total = total.add(term);
      prev = y[t]!;
    }
  }
  return total;
}

/** logsumexp_i(α(i) + g[i, j]) over [..., k] → [..., k]. */
function propagate(alpha: NDArray, g: NDArray): NDArray {
  return np.logsumexp(np.expandDims(alpha, -1).add(g), -2);
}

/**
 * log Z(x) = log Σ_y e^{f(y; x)} by the forward recursion in log space,
 * α_{t+1}(j) = logsumexp_i(α_t(i) + g_ij) + h_{t+1}(j), log Z = logsumexp_j α_T(j). Returns [...].
 */
export const logPartition = op((emissions: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray =>
  logPartitionOf('logPartition', checkShapes('logPartition', emissions, transitions, undefined, options.mask), emissions, options),
);

/** logPartition with the shapes already checked (g the transitions array). */
function logPartitionOf(name: string, g: NDArray, emissions: ArrayLike, options: MaskOptions): NDArray {
  const { e, h, m } = steps(name, emissions, options.mask);
  if (h.length === 0) return noSteps(e); // log of the one empty path's e^0
  let alpha = h[0]!;
  let started = m ? m[0]! : null;
  for (let t = 1; t < h.length; t++) {
    const next = propagate(alpha, g).add(h[t]!);
    if (m && started) {
      alpha = np.where(expand(m[t]!), np.where(expand(started), next, h[t]!), alpha);
      started = np.logicalOr(started, m[t]!);
    } else {
      alpha = next;
    }
  }
  const logZ = np.logsumexp(alpha, -1);
  return started ? np.where(started, logZ, 0) : logZ;
}

/** The CRF loss −log p(y | x) = log Z(x) − f(y; x) ≥ 0. Returns [...]. */
export const nll = op((emissions: ArrayLike, tags: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray =>
  nllOf('nll', checkShapes('nll', emissions, transitions, tags, options.mask), emissions, tags, options),
);

/** `nll` with a parameter tree ({ transitions }). */
export const loss = op((params: CrfParams, emissions: ArrayLike, tags: ArrayLike, options: MaskOptions = {}): NDArray =>
  nllOf('loss', checkShapes('loss', emissions, params?.transitions, tags, options.mask, 'params.transitions'), emissions, tags, options),
);

/** nll with the shapes checked once (errors name the public function; the tags are read once). */
function nllOf(name: string, g: NDArray, emissions: ArrayLike, tags: ArrayLike, options: MaskOptions): NDArray {
  const pathScore = scoreOf(name, g, emissions, tags, options); // first: bad tags fail before the recursion runs
  return logPartitionOf(name, g, emissions, options).sub(pathScore);
}

/**
 * Per-step tag marginals p(y_t = j | x), as the gradient of log Z with respect to the emissions.
 * [..., T, k]; masked steps get 0.
 */
export const marginals = op((emissions: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray => {
  const e = np.asArray(emissions);
  const g = checkShapes('marginals', emissions, transitions, undefined, options.mask);
  return grad((h: NDArray) => np.sum(logPartitionOf('marginals', g, h, options)))(e.dtype === 'float32' ? e : e.astype('float32'));
});

export interface ViterbiResult {
  /** The best tag sequence, int32 [..., T]; a masked step repeats the tag of the real step before it (leading ones: the first real step's). */
  path: NDArray;
  /** Its score f(path; x) = max_y f(y; x), [...]. */
  score: NDArray;
}

/** Viterbi decoding: the highest-scoring tag sequence and its score (ties go to the lowest tag). */
export const viterbi = op((emissions: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): ViterbiResult => {
  const g = checkShapes('viterbi', emissions, transitions, undefined, options.mask);
  const { e, h, m } = steps('viterbi', emissions, options.mask);
  if (h.length === 0) return { path: np.zeros([...e.shape.slice(0, -2), 0], 'int32'), score: noSteps(e) };
  const k = g.shape[0]!;
  const identity = np.arange(k);
  let delta = h[0]!;
  let started = m ? m[0]! : null;
  const back: NDArray[] = [];
  for (let t = 1; t < h.length; t++) {
    const cand = np.expandDims(delta, -1).add(g); // [..., i, j]
    let ptr = np.argmax(cand, -2); // [..., j]
    let next = np.max(cand, -2).add(h[t]!);
    if (m && started) {
      next = np.where(expand(started), next, h[t]!);
      ptr = np.where(expand(np.logicalAnd(m[t]!, started)), ptr, identity);
      delta = np.where(expand(m[t]!), next, delta);
      started = np.logicalOr(started, m[t]!);
    } else {
      delta = next;
    }
    back.push(ptr);
  }
  let best = np.argmax(delta, -1);
  let bestScore = np.max(delta, -1);
  if (started) bestScore = np.where(started, bestScore, 0);
  const path: NDArray[] = [best];
  for (let t = back.length - 1; t >= 0; t--) {
    best = pick(back[t]!, best);
    path.unshift(best);
  }
  return { path: np.stack(path, -1), score: bestScore };
});

/**
 * MEMM loss (locally normalised): −Σ_t log softmax_j(g(y_{t−1}, j) + h_t(j))[y_t], the first step
 * softmax(h_1). Returns [...]. With g = 0 it is the per-frame softmax cross-entropy, as is the CRF.
 */
export const memmNll = op((emissions: ArrayLike, tags: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray =>
  memmNllOf('memmNll', checkShapes('memmNll', emissions, transitions, tags, options.mask), emissions, tags, options),
);

/** memmNll with the shapes already checked (g the transitions array); `name` is the public function's. */
function memmNllOf(name: string, g: NDArray, emissions: ArrayLike, tags: ArrayLike, options: MaskOptions): NDArray {
  const { e, h, m } = steps(name, emissions, options.mask);
  const y = tagSteps(name, tags, h.length, g.shape[0]!);
  if (h.length === 0) return noSteps(e); // no step, no cross-entropy term
  const stepLoss = (logits: NDArray, tag: NDArray) => np.logsumexp(logits, -1).sub(pick(logits, tag));
  let total = stepLoss(h[0]!, y[0]!);
  if (m) total = np.where(m[0]!, total, 0);
  let prev = y[0]!;
  let started = m ? m[0]! : null;
  for (let t = 1; t < h.length; t++) {
    const linked = np.take(g, prev, 0).add(h[t]!); // g[y_{t−1}, :] + h_t
    if (m && started) {
      const logits = np.where(expand(started), linked, h[t]!);
      total = total.add(np.where(m[t]!, stepLoss(logits, y[t]!), 0));
      prev = np.where(m[t]!, y[t]!, prev);
      started = np.logicalOr(started, m[t]!);
    } else {
      total = total.add(stepLoss(linked, y[t]!));
      prev = y[t]!;
    }
  }
  return total;
}

export interface BiMemmOptions extends MaskOptions {
  /**
   * Transitions of the right-to-left model, g'[j, i] scoring tag j followed (leftwards) by tag i.
   * Default: the transpose of `transitions`, so both directions share one pair score g(y_t, y_{t+1}).
   */
  reverseTransitions?: ArrayLike;
}

/**
 * Bi-MEMM loss (kexue.fm/archives/7213): the average of the left-to-right MEMM loss and the
 * right-to-left one (the sequence reversed, transitions transposed unless given). Returns [...].
 */
export const biMemmNll = op((emissions: ArrayLike, tags: ArrayLike, transitions: ArrayLike, options: BiMemmOptions = {}): NDArray => {
  // Checked once (the reverse transitions against the K the emissions bound); both directions run
  // unchecked, their errors (a bad tag) named biMemmNll.
  const { g, s } = checker('biMemmNll', emissions, transitions, tags, options.mask);
  const reverse = options.reverseTransitions === undefined ? np.transpose(g) : np.asArray(options.reverseTransitions);
  if (options.reverseTransitions !== undefined) s.check('options.reverseTransitions', reverse, ['K', 'K']);
  const forward = memmNllOf('biMemmNll', g, emissions, tags, { mask: options.mask });
  const rev = (x: ArrayLike, axis: number) => np.flip(x, axis);
  const mask = options.mask === undefined ? undefined : rev(options.mask, -1);
  const backward = memmNllOf('biMemmNll', reverse, rev(emissions, -2), rev(tags, -1), { mask });
  return forward.add(backward).mul(0.5);
});
