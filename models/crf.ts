// Linear-chain CRF and its locally normalised cousins MEMM / Bi-MEMM (algorithms.md §7e;
// kexue.fm/archives/5542 and /7213). Emissions h are [..., T, k] (T steps, k tags), tags are int
// [..., T], the transition matrix g is [k, k] with g[i, j] the score of tag i followed by tag j.
// An optional mask [..., T] (bool or 0/1) marks the real steps: masked steps are skipped entirely
// (the recursion keeps its previous state and the next real step links to the last real tag), so
// padding may sit anywhere, and a sequence with no real step has score 0, log Z 0 and loss 0.
// An empty sequence (T = 0) is the same case: one (empty) path of score 0, so log Z = 0, every loss
// is 0 and Viterbi returns [..., 0] tags (what a scan over no steps gives in JAX).
// The time loops are lax.scan, as a JAX CRF would write them: each recursion is one scan equation
// whatever T is (under jit, grad and vmap: the trace costs one step, not T), differentiable and
// batchable. Step 0 starts each carry and the scan runs over steps 1..T−1.
import { grad, np, scan, type ArrayLike, type NDArray } from '../src/index.js';
import { checkLabels } from './losses.js';
import { Shapes } from './shapes.js';

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

/**
 * The inputs time-major, for lax.scan: step t of every sequence at index t of axis 0. The mask is
 * broadcast to the emissions' batch first, so that the flags carried across steps keep one shape.
 */
interface Steps {
  e: NDArray; // the float32 emissions [..., T, k]
  T: number;
  h: NDArray; // [T, ..., k], 0 at masked steps
  m: NDArray | null; // bool [T, ...]
}

/**
 * The sum over no steps (T = 0): 0 of the batch shape [...], float32. Taken as a sum of the empty
 * emissions rather than np.zeros so that it stays a function of them (a zero gradient, like JAX's).
 */
const noSteps = (e: NDArray): NDArray => np.sum(e, [-2, -1]);

/** Called with the shapes already checked (checkShapes): emissions [..., T, k], mask [..., T]. */
function steps(emissions: ArrayLike, mask: ArrayLike | undefined): Steps {
  let e = np.asArray(emissions);
  if (e.dtype !== 'float32') e = e.astype('float32');
  const T = e.shape[e.ndim - 2]!;
  const h = np.moveaxis(e, -2, 0);
  if (mask === undefined) return { e, T, h, m: null };
  let ma = np.asArray(mask);
  if (ma.dtype !== 'bool') ma = np.notEqual(ma, 0);
  const m = np.moveaxis(np.broadcastTo(ma, [...e.shape.slice(0, -2), T]), -1, 0);
  // A masked step's emissions are padding that no result reads, but the recursions still compute
  // with them (a leading one starts α and δ; a masked step's candidate α is computed, then not
  // selected): −inf or NaN there made every gradient and the marginals NaN (0 × NaN in the
  // unselected branch). Replaced by 0 first, they take no part and get a zero gradient.
  return { e, T, h: np.where(expand(m), h, 0), m };
}

/** The tags as int32 [T, ...] (broadcast to the emissions' batch), refused if float or out of range. */
function tagSteps(name: string, tags: ArrayLike, e: NDArray, numTags: number): NDArray {
  let y = np.asArray(tags);
  // (A float tag such as 1.5 was truncated silently.)
  if (y.dtype === 'float32') throw new TypeError(`crf.${name}: tags must be integers (int32), got float32 values`);
  if (y.dtype !== 'int32') y = y.astype('int32');
  // Named as tags (a CRF labels positions with tags, K of them), not as a classifier's labels/classes.
  checkLabels(`crf.${name}`, y, numTags, { label: 'tag', classes: 'tags' });
  return np.moveaxis(np.broadcastTo(y, e.shape.slice(0, -1)), -1, 0);
}

/** Steps 1..T−1 of a time-major array: what the scans run over, step 0 starting their carries. */
const rest = (x: NDArray): NDArray => x.at([1, null]);

/**
 * Checks the shapes up front, so that a mismatch names the function and the argument rather than
 * surfacing in takeAlongAxis or a broadcast: transitions [K, K] (at `gPath`), emissions
 * [..., T, K], tags the emissions' [..., T] (of that rank; an axis of 1 broadcasts, as the
 * picks along the tag axis do), and a mask [..., T] whose leading axes
 * broadcast to the emissions' without enlarging them. Returns the transitions as an array.
 */
function checkShapes(name: string, emissions: ArrayLike, transitions: ArrayLike | undefined, tags?: ArrayLike, mask?: ArrayLike, gPath = 'transitions'): NDArray {
  return checker(name, emissions, transitions, tags, mask, gPath).g;
}

/** checkShapes, also returning the checker (K, T bound) for further arguments. */
function checker(name: string, emissions: ArrayLike, transitions: ArrayLike | undefined, tags?: ArrayLike, mask?: ArrayLike, gPath = 'transitions'): { g: NDArray; s: Shapes } {
  const s = new Shapes(`crf.${name}`);
  // Emissions first: they come from the network, so transitions of another size are what is wrong.
  const es = s.check('emissions', np.asArray(emissions), ['...', 'T', 'K']);
  const g = s.array(gPath, transitions === undefined ? undefined : np.asArray(transitions));
  s.check(gPath, g, ['K', 'K']);
  const batch = es.slice(0, -2);
  if (tags !== undefined) {
    const y = np.asArray(tags);
    // Tags of the emissions' rank may have axes of 1 that broadcast over the batch ([1, T] for
    // emissions [B, T, K]); anything else is checked against (and named as) exactly [..., T].
    const lead = y.shape.slice(0, -1);
    const fits = lead.length === batch.length && lead.every((d, i) => d === 1 || d === batch[i]);
    s.check('tags', y, [...(fits ? lead : batch), 'T']);
  }
  if (mask !== undefined) {
    const ms = s.check('mask', np.asArray(mask), ['...', 'T']);
    const lead = ms.slice(0, -1);
    if (lead.length > batch.length) {
      // Not broadcast (NumPy would enlarge the batch): the results are documented as the emissions'
      // [...], one per sequence, and tags may not add axes either.
      const axes = (n: number) => `${n} batch ${n === 1 ? 'axis' : 'axes'}`;
      s.fail(`mask has shape ${JSON.stringify(ms)}, ${axes(lead.length)} for emissions ${JSON.stringify(es)} with ${batch.length}; expected at most ${batch.length} (${batch.length === 0 ? '[T]' : `[${[...batch, 'T'].join(', ')}] or axes of 1 that broadcast to it`}): a mask may not add batch axes, as the results are the emissions' batch ${JSON.stringify(batch)} (vmap over the mask's extra axes instead)`);
    }
    if (lead.some((d, i) => d !== 1 && d !== batch[batch.length - lead.length + i])) {
      s.fail(`mask has shape ${JSON.stringify(ms)}; expected [${[...batch, 'T'].join(', ')}] (or axes of 1 that broadcast to it) for emissions ${JSON.stringify(es)}`);
    }
  }
  return { g, s };
}

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
  return sumOverRealSteps(name, g, emissions, tags, options, (ht, yt, prev, started) => {
    const emit = pick(ht, yt);
    if (prev === null) return emit;
    const linked = emit.add(pickTransition(g, prev, yt));
    return started === null ? linked : np.where(started, linked, emit);
  });
}

/**
 * Σ over the real steps of a term that may depend on the previous real step's tag: the scan behind
 * score and memmNll. `term(ht, yt, prev, started)` is step t's: `prev` null at step 0 (no step
 * before it); `started` null without a mask (every step is real), else whether a real step came
 * before (prev is then its tag, else the term must not use it). Returns [...] (0 where T = 0).
 */
function sumOverRealSteps(name: string, g: NDArray, emissions: ArrayLike, tags: ArrayLike, options: MaskOptions, term: (ht: NDArray, yt: NDArray, prev: NDArray | null, started: NDArray | null) => NDArray): NDArray {
  const { e, T, h, m } = steps(emissions, options.mask);
  const y = tagSteps(name, tags, e, g.shape[0]!); // read even at T = 0: a float or out-of-range tag is still refused
  if (T === 0) return noSteps(e);
  const first = term(h.at(0), y.at(0), null, null);
  if (!m) {
    // carry: the running total and the previous tag
    const [[total]] = scan(([total, prev]: NDArray[], [ht, yt]: NDArray[]) => [[total.add(term(ht, yt, prev, null)), yt], null] as [NDArray[], null], [first, y.at(0)], [rest(h), rest(y)]);
    return total;
  }
  // carry: the total, the last real tag, and whether a real step has been seen (the next one links to it)
  const m0 = m.at(0);
  const [[total]] = scan(([total, prev, started]: NDArray[], [ht, yt, mt]: NDArray[]) => {
    return [[total.add(np.where(mt, term(ht, yt, prev, started), 0)), np.where(mt, yt, prev), np.logicalOr(started, mt)], null] as [NDArray[], null];
  }, [np.where(m0, first, 0), y.at(0), m0], [rest(h), rest(y), rest(m)]);
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
  logPartitionOf(checkShapes('logPartition', emissions, transitions, undefined, options.mask), emissions, options),
);

/** logPartition with the shapes already checked (g the transitions array). */
function logPartitionOf(g: NDArray, emissions: ArrayLike, options: MaskOptions): NDArray {
  const { e, T, h, m } = steps(emissions, options.mask);
  if (T === 0) return noSteps(e); // log of the one empty path's e^0
  if (!m) {
    const [alpha] = scan((alpha: NDArray, ht: NDArray) => [propagate(alpha, g).add(ht), null] as const, h.at(0), rest(h));
    return np.logsumexp(alpha, -1);
  }
  // A masked step keeps α; the first real step starts it afresh from its emissions.
  const [[alpha, started]] = scan(([alpha, started]: NDArray[], [ht, mt]: NDArray[]) => {
    const next = np.where(expand(started), propagate(alpha, g).add(ht), ht);
    return [[np.where(expand(mt), next, alpha), np.logicalOr(started, mt)], null] as [NDArray[], null];
  }, [h.at(0), m.at(0)], [rest(h), rest(m)]);
  return np.where(started, np.logsumexp(alpha, -1), 0);
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
  return logPartitionOf(g, emissions, options).sub(pathScore);
}

/**
 * Per-step tag marginals p(y_t = j | x), as the gradient of log Z with respect to the emissions.
 * [..., T, k]; masked steps get 0.
 */
export const marginals = op((emissions: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): NDArray => {
  const e = np.asArray(emissions);
  const g = checkShapes('marginals', emissions, transitions, undefined, options.mask);
  return grad((h: NDArray) => np.sum(logPartitionOf(g, h, options)))(e.dtype === 'float32' ? e : e.astype('float32'));
});

export interface ViterbiResult {
  /**
   * The best tag sequence, int32 [..., T]; a masked step repeats the tag of the real step before it
   * (leading ones: the first real step's), and a sequence with no real step is all tag 0.
   */
  path: NDArray;
  /** Its score f(path; x) = max_y f(y; x), [...] (0 for a sequence with no real step). */
  score: NDArray;
}

/**
 * Viterbi decoding: the highest-scoring tag sequence and its score (ties go to the lowest tag).
 * A forward scan keeps the best score δ of each end tag and stacks the back pointers; a reverse scan
 * follows them from the best last tag.
 *
 * A sequence whose steps are all masked has no path to decode. Its tags are 0 (with score 0, as
 * log Z and the loss are 0): TF-addons' crf_decode pads the steps past a sequence's length with
 * tag 0, and pytorch-crf refuses a first step that is masked, so neither repeats a tag decoded
 * from padding (which argmax of the first, masked, step's emissions was).
 */
export const viterbi = op((emissions: ArrayLike, transitions: ArrayLike, options: MaskOptions = {}): ViterbiResult => {
  const g = checkShapes('viterbi', emissions, transitions, undefined, options.mask);
  const { e, T, h, m } = steps(emissions, options.mask);
  if (T === 0) return { path: np.zeros([...e.shape.slice(0, -2), 0], 'int32'), score: noSteps(e) };
  const identity = np.arange(g.shape[0]!);
  /** The step from δ: the best previous tag of each tag j (argmax, the lowest on ties) and the new δ. */
  const advance = (delta: NDArray, ht: NDArray): [NDArray, NDArray] => {
    const cand = np.expandDims(delta, -1).add(g); // [..., i, j]
    return [np.argmax(cand, -2), np.max(cand, -2).add(ht)];
  };
  let delta: NDArray, back: NDArray, started: NDArray | null = null;
  if (!m) {
    [delta, back] = scan((d: NDArray, ht: NDArray) => {
      const [ptr, next] = advance(d, ht);
      return [next, ptr] as const;
    }, h.at(0), rest(h));
  } else {
    // Before the first real step δ restarts from each step's emissions; a masked step keeps δ and
    // points each tag at itself, so the backtrack repeats the tag after it.
    [[delta, started], back] = scan(([d, s]: NDArray[], [ht, mt]: NDArray[]) => {
      const [ptr, next] = advance(d, ht);
      const linked = expand(np.logicalAnd(mt, s));
      return [[np.where(expand(mt), np.where(expand(s), next, ht), d), np.logicalOr(s, mt)], np.where(linked, ptr, identity)] as [NDArray[], NDArray];
    }, [h.at(0), m.at(0)], [rest(h), rest(m)]);
  }
  const best = np.argmax(delta, -1);
  // path[t] = back[t][path[t + 1]], from the last step down (ys stacked in step order).
  const [, earlier] = scan((next: NDArray, ptr: NDArray) => {
    const tag = pick(ptr, next);
    return [tag, tag] as const;
  }, best, back, { reverse: true });
  let path = np.moveaxis(np.concatenate([earlier, np.expandDims(best, 0)], 0), 0, -1);
  let score = np.max(delta, -1);
  if (started) {
    path = np.where(expand(started), path, 0);
    score = np.where(started, score, 0);
  }
  return { path, score };
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
  const stepLoss = (logits: NDArray, tag: NDArray) => np.logsumexp(logits, -1).sub(pick(logits, tag));
  // The logits are g[y_{t−1}, :] + h_t after a real step, h_t alone before the first.
  return sumOverRealSteps(name, g, emissions, tags, options, (ht, yt, prev, started) => {
    if (prev === null) return stepLoss(ht, yt);
    const linked = np.take(g, prev, 0).add(ht);
    return stepLoss(started === null ? linked : np.where(expand(started), linked, ht), yt);
  });
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
