// Losses and smooth surrogates: softmax / sigmoid cross-entropy, the ZLPR multi-label loss
// (algorithms.md §7b), smooth max / argmax / accuracy / F1 and a soft top-k (§7a), and the mixup /
// SamplePairing helpers with a Beta sampler (§7f). Every function is built from np ops, so it works
// under grad, vmap and jit; at the top level of user code its intermediates are freed (np.defop).
// Cross-entropies return one loss per example, as in Optax: reduce with np.mean yourself.
import { DTypeError, ShapeError, np, random, stopGradient, type ArrayLike, type NDArray } from '../src/index.js';

type Key = NDArray;
const op = np.defop;

function floatArray(x: ArrayLike): NDArray {
  const a = np.asArray(x);
  return a.dtype === 'float32' ? a : a.astype('float32');
}

// ---- cross-entropy -------------------------------------------------------------------------------

/** Label smoothing (Optax's `smooth_labels`): (1 − α)·t + α/K over the last axis of K classes. */
export const smoothLabels = op((targets: ArrayLike, alpha: number): NDArray => {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`smoothLabels: alpha must lie in [0, 1] (above 1 the labels flip), got ${alpha}`);
  const t = floatArray(targets);
  return t.mul(1 - alpha).add(alpha / t.shape[t.ndim - 1]!);
});

export interface CrossEntropyOptions {
  /** Label smoothing α in [0, 1): the target becomes (1 − α)·t + α/K. Default 0. */
  labelSmoothing?: number;
}

/**
 * Softmax cross-entropy −Σ_c t_c·log softmax(logits)_c over the last axis, for one-hot or soft
 * targets of the logits' shape. Stable for any logits (log-softmax via logsumexp). Returns
 * logits.shape[:-1].
 */
export const softmaxCrossEntropy = op((logits: ArrayLike, targets: ArrayLike, options: CrossEntropyOptions = {}): NDArray => {
  const l = floatArray(logits);
  const given = checkTargetsFit('softmaxCrossEntropy', 'logits', l, targets, 'a distribution over the last axis', true);
  const t = options.labelSmoothing ? smoothLabels(given, options.labelSmoothing) : floatArray(given);
  return np.sum(t.mul(np.logSoftmax(l, -1)), -1).neg();
});

/**
 * Targets must broadcast to the logits' (scores') shape without changing it: a mismatch was reported
 * by `multiply`, and for softmax, class ids [B] against logits [B, K] with B = K broadcast silently
 * as a row (int ids of the batch shape are refused for that reason, with the way to say what was
 * meant). Returns the targets as an array, so that JS targets are converted once.
 */
function checkTargetsFit(op: string, name: 'logits' | 'scores', logits: NDArray, targets: ArrayLike, what: string, ids: boolean): NDArray {
  const given = np.asArray(targets);
  const s = logits.shape, t = given.shape;
  const fits = t.length <= s.length && t.every((d, i) => d === 1 || d === s[s.length - t.length + i]);
  const batchShaped = t.length === s.length - 1 && t.every((d, i) => d === s[i]);
  if (fits && !(ids && batchShaped && given.dtype === 'int32')) return given;
  const hint = ids && batchShaped ? `; these look like class ids (one per example): use ${op}WithIntegerLabels, or np.oneHot(labels, ${s[s.length - 1]})` : '';
  throw new ShapeError(`${op}: targets ${JSON.stringify(t)} must have the ${name}' shape ${JSON.stringify(s)} (or broadcast to it), ${what}${hint}`);
}

/**
 * Softmax cross-entropy with integer class labels (labels.shape = logits.shape[:-1]):
 * logsumexp(logits) − logits[label], with optional label smoothing.
 */
export const softmaxCrossEntropyWithIntegerLabels = op((logits: ArrayLike, labels: ArrayLike, options: CrossEntropyOptions = {}): NDArray => {
  const l = floatArray(logits);
  const logp = np.logSoftmax(l, -1);
  const given = np.asArray(labels);
  // As Optax (chex.assert_type(labels, int)): a float label would be truncated, so 0.9999 from float arithmetic silently meant class 0.
  if (given.dtype !== 'int32') throw new DTypeError(`softmaxCrossEntropyWithIntegerLabels: labels must be integers, got ${given.aval.str()}; convert them with .astype('int32') if truncation is meant, or use softmaxCrossEntropy for soft targets`);
  const y = given;
  checkLabels('softmaxCrossEntropyWithIntegerLabels', y, l.shape[l.ndim - 1]!);
  const picked = np.squeeze(np.takeAlongAxis(logp, np.expandDims(y, -1), -1), -1);
  const a = options.labelSmoothing ?? 0;
  if (a === 0) return picked.neg();
  // (1 − α)·(−log p_y) + α·mean_c(−log p_c): the smoothed target without building it.
  return picked.mul(-(1 - a)).sub(np.mean(logp, -1).mul(a));
});

/**
 * Labels must index a class: take would clip 5 to the last class and wrap −1, a plausible but wrong
 * loss. Checked where the labels are concrete (eager code, and labels passed as constants).
 */
export function checkLabels(op: string, labels: NDArray, numClasses: number, names: { label: string; classes: string } = { label: 'label', classes: 'classes' }): void {
  const c = labels.concreteValue();
  if (c === null) return;
  for (const v of c.dataSync()) {
    if (!(v >= 0 && v < numClasses)) throw new RangeError(`${op}: ${names.label} ${v} is out of range for ${numClasses} ${names.classes}; expected integers in [0, ${numClasses - 1}]`);
  }
}

/**
 * Binary cross-entropy on logits, elementwise: −y·log σ(s) − (1 − y)·log(1 − σ(s)) =
 * softplus(s) − y·s, exact for any s. Targets may be soft (in [0, 1]).
 */
export const sigmoidBinaryCrossEntropy = op((logits: ArrayLike, targets: ArrayLike, options: CrossEntropyOptions = {}): NDArray => {
  const s = floatArray(logits);
  let y = floatArray(checkTargetsFit('sigmoidBinaryCrossEntropy', 'logits', s, targets, 'one target in [0, 1] per logit', false));
  if (options.labelSmoothing) y = y.mul(1 - options.labelSmoothing).add(options.labelSmoothing / 2);
  // np.softplus's derivative is smooth through 0 (σ(0) = ½ and σ'(0) = ¼, as jax.nn.softplus), so
  // Newton steps and Hessians of logistic regression at w = 0 see the curvature.
  return np.softplus(s).sub(y.mul(s));
});

// ---- regression and divergences (Optax's names and formulas) ------------------------------------

/** ½(predictions − targets)² elementwise (Optax's `l2_loss`; targets default to 0). */
export const l2Loss = op((predictions: ArrayLike, targets: ArrayLike = 0): NDArray => np.square(np.subtract(floatArray(predictions), targets)).mul(0.5));

/** (predictions − targets)² elementwise (Optax's `squared_error`; targets default to 0). */
export const squaredError = op((predictions: ArrayLike, targets: ArrayLike = 0): NDArray => np.square(np.subtract(floatArray(predictions), targets)));

/**
 * Huber loss elementwise (Optax's `huber_loss`): ½e² for |e| ≤ δ, δ(|e| − ½δ) beyond, with
 * e = predictions − targets; written as ½q² + δ(|e| − q) with q = min(|e|, δ), so its derivative
 * is e inside and ±δ outside.
 */
export const huberLoss = op((predictions: ArrayLike, targets: ArrayLike = 0, delta = 1): NDArray => {
  if (!(delta > 0)) throw new RangeError(`huberLoss: delta must be > 0, got ${delta}`);
  const e = np.abs(np.subtract(floatArray(predictions), targets));
  const q = np.minimum(e, delta);
  return np.square(q).mul(0.5).add(np.subtract(e, q).mul(delta));
});

/**
 * KL(targets ‖ predictions) over the last axis, from log-predictions and target probabilities
 * (Optax's `kl_divergence`): Σ t·(log t − log p), with 0·log 0 = 0.
 */
export const klDivergence = op((logPredictions: ArrayLike, targets: ArrayLike): NDArray => {
  const t = floatArray(targets);
  const zero = np.equal(t, 0);
  // (log of a safe 1 where t = 0, so the derivative there is 0, not NaN)
  const logT = np.where(zero, 0, np.log(np.where(zero, 1, t)));
  return np.sum(t.mul(np.subtract(logT, floatArray(logPredictions))), -1);
});

// ---- ZLPR multi-label loss (§7b) -------------------------------------------------------------------

// Dominates any logit: e^{s − 1e12} underflows to exactly 0 in float32 for |s| ≪ 1e12.
const MASK = 1e12;

export interface ZlprOptions {
  /** Decision threshold s₀: labels with score > s₀ are predicted positive. Default 0. */
  threshold?: number;
}

/**
 * ZLPR ("softmax + cross-entropy" for multi-label; Su, kexue.fm/archives/7359; arXiv 2208.02955):
 *   L = log(e^{s₀} + Σ_{i∈neg} e^{s_i}) + log(e^{−s₀} + Σ_{j∈pos} e^{−s_j})
 * over the last axis, `targets` 0/1 of the scores' shape. Scores are raw logits (no sigmoid).
 * Implemented with Su's masking trick: s' = (1 − 2y)·s, the positives masked out of the first
 * logsumexp by −1e12 and the negatives out of the second, and the threshold appended as one more
 * logit to each. An empty class set contributes log e^{±s₀}, i.e. 0 at the default threshold.
 */
export const zlpr = op((scores: ArrayLike, targets: ArrayLike, options: ZlprOptions = {}): NDArray => {
  const s = floatArray(scores);
  const y = floatArray(checkTargetsFit('zlpr', 'scores', s, targets, 'one 0/1 target per class', false));
  const s0 = options.threshold ?? 0;
  if (typeof s0 !== 'number' || !Number.isFinite(s0)) throw new RangeError(`zlpr: threshold must be a finite number, got ${s0}`);
  // Targets known now (not traced) are checked: a 2, or class ids instead of a 0/1 mask, would mix
  // the mask arithmetic below into a wrong loss without any error.
  const known = y.concreteValue();
  if (known !== null) {
    const bad = (known.dataSync() as Float32Array).find((v) => v !== 0 && v !== 1);
    if (bad !== undefined) throw new RangeError(`zlpr: targets must be 0/1 masks (one per class, of the scores' shape ${JSON.stringify(s.shape)}), got a value ${bad}; for class ids use np.oneHot first`);
  }
  const signed = y.mul(-2).add(1).mul(s); // negatives keep s, positives become −s
  const negatives = signed.sub(y.mul(MASK));
  const positives = signed.sub(y.mul(-1).add(1).mul(MASK));
  const lastPad = (v: number, x: NDArray) => np.pad(x, [...x.shape.slice(0, -1).map(() => [0, 0] as const), [0, 1] as const], v);
  return np.logsumexp(lastPad(s0, negatives), -1).add(np.logsumexp(lastPad(-s0, positives), -1));
});
/** Su's name for the ZLPR loss (bert4keras `multilabel_categorical_crossentropy`). */
export const multilabelCategoricalCrossEntropy = zlpr;

/** Labels ZLPR predicts: score > threshold (default 0). */
export const zlprPredict = op((scores: ArrayLike, threshold = 0): NDArray => np.greater(scores, threshold));

export interface ElementarySymmetricOptions {
  /**
   * 'recursive' (default): the log-space recursion e_j ← logaddexp(e_j, s_i + e_{j−1}) over the n
   * scores, O(n·k) small ops, every term positive, so it is exact to float32 rounding.
   * 'newton': Newton's identities on power sums (the form in §7b), O(k²) ops whatever n is, but
   * the alternating sum cancels: in float32 its relative error grows like 1e-7·(max term)/Z_k.
   */
  method?: 'recursive' | 'newton';
}

/**
 * log Z_k, Z_k = e_k(e^{s_1}, …, e^{s_n}) the k-th elementary symmetric polynomial over the last
 * axis: the partition function of "exactly k labels" (§7b). Needs an integer 0 ≤ k ≤ n.
 */
export const logElementarySymmetric = op((scores: ArrayLike, k: number, options: ElementarySymmetricOptions = {}): NDArray => {
  const s = floatArray(scores);
  const n = s.shape[s.ndim - 1]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`logElementarySymmetric: expected an integer 0 <= k <= ${n} (the size of the last axis of ${JSON.stringify(s.shape)}), got ${k}`);
  if (k === 0) return np.zerosLike(np.sum(s, -1));
  return options.method === 'newton' ? newtonLogE(s, k) : recursiveLogE(s, k);
});

function recursiveLogE(s: NDArray, k: number): NDArray {
  const n = s.shape[s.ndim - 1]!;
  const cols = np.split(s, n, -1).map((c) => np.squeeze(c, -1));
  const logaddexp = (a: NDArray, b: NDArray) => np.logsumexp(np.stack([a, b], -1), -1);
  // e[j] = log e_j of the scores seen so far; e[0] = log 1. Entry j first appears after j scores,
  // so no −∞ ever enters a logsumexp (whose gradient would then be 0/0).
  const e: (NDArray | 0)[] = [0];
  cols.forEach((si, i) => {
    for (let j = Math.min(i + 1, k); j >= 1; j--) {
      const prev = e[j - 1]!;
      const extend = prev === 0 ? si : si.add(prev);
      e[j] = j === i + 1 ? extend : logaddexp(e[j] as NDArray, extend);
    }
  });
  return e[k] as NDArray;
}

function newtonLogE(s: NDArray, k: number): NDArray {
  // Shift by the (constant) maximum so that no power overflows: e_k(e^{s}) = e^{k·m}·e_k(e^{s−m}).
  const m = stopGradient(np.max(s, -1, true));
  const x = np.exp(s.sub(m));
  const powers: NDArray[] = [];
  for (let i = 1; i <= k; i++) powers.push(np.sum(np.power(x, i), -1));
  // k·Z_k = Σ_{i=1}^{k} (−1)^{i−1} Z_{k−i} S_i, S_i = Σ x^i.
  const z: NDArray[] = [np.onesLike(powers[0]!)];
  for (let j = 1; j <= k; j++) {
    let acc = z[j - 1]!.mul(powers[0]!);
    for (let i = 2; i <= j; i++) {
      const term = z[j - i]!.mul(powers[i - 1]!);
      acc = i % 2 === 0 ? acc.sub(term) : acc.add(term);
    }
    z.push(acc.div(j));
  }
  return np.log(z[k]!).add(np.squeeze(m, -1).mul(k));
}

/**
 * The fixed-k multi-label loss of §7b: log Z_k − Σ_{j∈pos} s_j, the negative log-likelihood of the
 * target set under p(set) ∝ e^{Σ_{j∈set} s_j} restricted to sets of size k (every target row must
 * have exactly k positives).
 */
export const fixedKMultilabelLoss = op((scores: ArrayLike, targets: ArrayLike, k: number, options: ElementarySymmetricOptions = {}): NDArray => {
  const s = floatArray(scores);
  return logElementarySymmetric(s, k, options).sub(np.sum(s.mul(floatArray(targets)), -1));
});

// ---- smoothing of non-differentiable functions (§7a) -------------------------------------------------

export interface SmoothOptions {
  /** Sharpness K (inverse temperature); default 1 (temperature folded into the network). */
  k?: number;
  /** Axis to reduce; default −1. */
  axis?: number;
}

/** Smooth max (1/K)·logsumexp(K·x), between max(x) and max(x) + ln(n)/K; its gradient is softmax(K·x). */
export const smoothMax = op((x: ArrayLike, options: SmoothOptions = {}): NDArray => {
  const k = options.k ?? 1;
  return np.logsumexp(floatArray(x).mul(k), options.axis ?? -1).div(k);
});

/** Smooth min −smoothMax(−x). */
export const smoothMin = op((x: ArrayLike, options: SmoothOptions = {}): NDArray => smoothMax(floatArray(x).neg(), options).neg());

/** Smooth onehot(argmax x) = softmax(K·x). */
export const softOneHot = op((x: ArrayLike, options: SmoothOptions = {}): NDArray => np.softmax(floatArray(x).mul(options.k ?? 1), options.axis ?? -1));

/**
 * Soft argmax Σ_i i·softmax(K·x)_i, with indices counted from `start` (default 1 as in §7a, so the
 * result lies in [1, n]; pass 0 for 0-based). A tie between maximisers tends to their mean index.
 */
export const softArgmax = op((x: ArrayLike, options: SmoothOptions & { start?: number } = {}): NDArray => {
  const a = floatArray(x);
  const axis = options.axis ?? -1;
  const ax = axis < 0 ? axis + a.ndim : axis;
  const n = a.shape[ax]!;
  const idx = np.reshape(np.arange(n).astype('float32').add(options.start ?? 1), a.shape.map((d, i) => (i === ax ? n : 1)));
  return np.sum(softOneHot(a, options).mul(idx), ax);
});

/**
 * Soft accuracy (1/|B|)·Σ_x ⟨onehot(y_x), p(x)⟩ for probabilities `probs` [..., C] and integer labels
 * [...] or one-hot labels [..., C]. Equals the accuracy of argmax when `probs` is one-hot.
 */
export const softAccuracy = op((probs: ArrayLike, labels: ArrayLike): NDArray => {
  const p = floatArray(probs);
  const l = np.asArray(labels);
  const target = l.ndim === p.ndim ? floatArray(l) : np.oneHot(l, p.shape[p.ndim - 1]!);
  return np.mean(np.sum(p.mul(target), -1));
});

export interface SoftF1Options {
  /** Axes summed over (default: all, the "micro" F1 of the positive class). */
  axis?: number | number[];
  /** Smoothing ε in (2Σtp + ε)/(Σ(t + p) + ε): F1 = 1 when there are no positives and no predictions. Default 1e-7. */
  eps?: number;
}

/**
 * Soft F1 of the positive class, 2Σ t·p / Σ(t + p) (§7a), with probabilities p and 0/1 targets t.
 * Equals the hard F1 when p is binary (up to ε).
 */
export const softF1 = op((probs: ArrayLike, targets: ArrayLike, options: SoftF1Options = {}): NDArray => {
  const p = floatArray(probs), t = floatArray(targets);
  const eps = options.eps ?? 1e-7;
  const axis = options.axis ?? null;
  return np.sum(t.mul(p), axis).mul(2).add(eps).div(np.sum(t.add(p), axis).add(eps));
});

/** 1 − softF1: a loss that maximises F1 directly. */
export const softF1Loss = op((probs: ArrayLike, targets: ArrayLike, options: SoftF1Options = {}): NDArray => np.subtract(1, softF1(probs, targets, options)));

/**
 * Soft top-k mask ("s-k-max", §7a): p⁽¹⁾ = softmax(K·x); then x ← x + log(1 − p⁽ʲ⁾) takes the
 * extracted component out before the next softmax; returns Σ_{j≤k} p⁽ʲ⁾ over `axis`.
 * Verified properties: it sums to k exactly; k = 1 is softmax(K·x); as K → ∞ it tends to the hard
 * top-k multi-hot mask (for distinct values). The mask enters x before the scaling by K (the
 * weight is (1 − p)^K): applied after the scaling the second pick of two entries stays ½/½ for
 * every K. At small K an entry can exceed 1 (the reconstruction in §7a does not bound it).
 */
export const softTopK = op((x: ArrayLike, topK: number, options: SmoothOptions = {}): NDArray => {
  const a = floatArray(x);
  const k = options.k ?? 1;
  const axis = options.axis ?? -1;
  const n = a.shape[axis < 0 ? axis + a.ndim : axis]!;
  if (!Number.isInteger(topK) || topK < 1 || topK > n) throw new RangeError(`softTopK: expected an integer 1 <= k <= ${n} (size of axis ${axis} of ${JSON.stringify(a.shape)}), got ${topK}`);
  let z = a;
  let p = np.softmax(z.mul(k), axis);
  let total = p;
  for (let j = 1; j < topK; j++) {
    // 1 − p is clamped away from 0 so that the log (and its derivative) stays finite.
    z = z.add(np.log(np.maximum(np.subtract(1, p), 1e-30)));
    p = np.softmax(z.mul(k), axis);
    total = total.add(p);
  }
  return total;
});

// ---- random Beta draws and mixup / SamplePairing (§7f) --------------------------------------------------

// Marsaglia–Tsang accepts with probability > 0.95 for shape >= 1; with 16 proposals per draw a
// draw fails (and falls back to the mode) with probability < 1e-20.
const PROPOSALS = 16;

/**
 * log of Gamma(shape, 1) samples (log-space, so that tiny shapes do not underflow). Marsaglia–Tsang
 * with a fixed batch of proposals per draw (the first accepted one is kept), which keeps it a
 * plain array program (vmap- and jit-friendly); shapes < 1 use Gamma(a) = Gamma(a + 1)·U^{1/a}.
 */
export const logGammaSample = op((key: Key, shape: number, size: readonly number[] = []): NDArray => {
  if (!(shape > 0)) throw new RangeError(`logGammaSample: the shape parameter must be > 0, got ${shape}`);
  const boost = shape < 1;
  const a = boost ? shape + 1 : shape;
  const d = a - 1 / 3, c = 1 / Math.sqrt(9 * d);
  const keys = random.split(key, 3);
  const x = random.normal(keys.at(0), [...size, PROPOSALS]);
  const v1 = x.mul(c).add(1);
  const v = v1.mul(v1).mul(v1);
  const logV = np.log(np.maximum(v, 1e-30));
  const u = random.uniform(keys.at(1), [...size, PROPOSALS]);
  const accept = np.logicalAnd(np.greater(v1, 0), np.less(np.log(u), x.mul(x).mul(0.5).add(d).sub(v.mul(d)).add(logV.mul(d))));
  const first = np.argmax(accept.astype('int32'), -1, true);
  const chosen = np.squeeze(np.takeAlongAxis(logV, first, -1), -1);
  let out = np.where(np.any(accept, -1), chosen, 0).add(Math.log(d));
  if (boost) out = out.add(np.log(np.subtract(1, random.uniform(keys.at(2), [...size]))).div(shape));
  return out;
});

/** Beta(a, b) samples as X/(X + Y), X ~ Gamma(a), Y ~ Gamma(b), computed as sigmoid(log X − log Y). */
export const betaSample = op((key: Key, a: number, b: number, size: readonly number[] = []): NDArray => {
  const keys = random.split(key, 2);
  return np.sigmoid(logGammaSample(keys.at(0), a, size).sub(logGammaSample(keys.at(1), b, size)));
});

/** λ·a + (1 − λ)·b, with λ a scalar or one value per example (broadcast over the trailing axes). */
export const mixPair = op((a: ArrayLike, b: ArrayLike, lambda: ArrayLike): NDArray => {
  const x = floatArray(a), y = floatArray(b);
  let l = floatArray(lambda);
  if (l.ndim > 0 && l.ndim < x.ndim) l = np.reshape(l, [...l.shape, ...new Array<number>(x.ndim - l.ndim).fill(1)]);
  return l.mul(x).add(np.subtract(1, l).mul(y));
});

export interface MixupOptions {
  /** Beta(α, α) concentration: 1 for CIFAR (and the IGEBM code), 0.2 for ImageNet. Default 1. */
  alpha?: number;
  /** One λ per example instead of one per batch (the paper uses one per batch). Default false. */
  perExample?: boolean;
  /** With integer labels y [batch], the number of classes to one-hot them into before mixing. */
  numClasses?: number;
}

export interface Mixed {
  x: NDArray;
  y: NDArray;
  /** λ: a scalar, or [batch] with `perExample`. */
  lambda: NDArray;
  /** The partner of example i is example permutation[i]. */
  permutation: NDArray;
}

/**
 * mixup (arXiv 1710.09412): λ ~ Beta(α, α), x̃ = λ·x + (1 − λ)·x[perm], ỹ = λ·y + (1 − λ)·y[perm], the
 * partners drawn by a random permutation of the batch (axis 0). `y` holds one-hot or soft targets;
 * since cross-entropy is linear in the target, CE(f(x̃), ỹ) = λ·CE(f(x̃), y) + (1 − λ)·CE(f(x̃), y[perm]).
 */
export const mixup = op((key: Key, x: ArrayLike, y: ArrayLike, options: MixupOptions = {}): Mixed => {
  const xa = floatArray(x);
  let ya = np.asArray(y);
  if (ya.dtype !== 'float32') {
    if (options.numClasses === undefined) throw new TypeError(`mixup: labels of dtype ${ya.dtype} ${JSON.stringify(ya.shape)} cannot be mixed; pass one-hot / soft float32 targets, or integer labels with { numClasses }`);
    ya = np.oneHot(ya, options.numClasses);
  }
  const alpha = options.alpha ?? 1;
  const keys = random.split(key, 2);
  const n = xa.shape[0]!;
  const perm = random.permutation(keys.at(0), n);
  const lambda = betaSample(keys.at(1), alpha, alpha, options.perExample ? [n] : []);
  return {
    x: mixPair(xa, np.take(xa, perm, 0), lambda),
    y: mixPair(ya, np.take(ya, perm, 0), lambda),
    lambda,
    permutation: perm,
  };
});

/**
 * SamplePairing (arXiv 1801.02929): x̃ = (x + x[perm])/2 keeping the label of the first sample.
 * Averaged over both orders of a pair its loss is the λ = ½ mixup loss (§7f).
 */
export const samplePairing = op((key: Key, x: ArrayLike, y: ArrayLike): Mixed => {
  const xa = floatArray(x);
  const perm = random.permutation(key, xa.shape[0]!);
  return { x: xa.add(np.take(xa, perm, 0)).mul(0.5), y: np.asArray(y), lambda: np.array(0.5, 'float32'), permutation: perm };
});
