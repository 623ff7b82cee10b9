// MCMC samplers for energy models (algorithms.md §6.2), pure functions of an explicit key:
// unadjusted Langevin (ULA) in the "theory" and the IGEBM "practical" forms, and MALA. The gradient
// is taken with respect to the samples x (never θ); the chains are plain loops over `steps`, so
// `jit` of a whole sampler call traces all steps into one program.
import { ConcreteArray, dispose, grad, np, random, scan, scope, vjp, type ArrayLike, type NDArray } from '../../src/index.js';
import { currentTraceStack } from '../../src/core.js';
import type { EnergyFn } from './energy.js';
import type { Key } from '../nn.js';

export interface LangevinOptions {
  /**
   * The step. Theory form: ε in x ← x − (ε/2)∇E(x) + √ε·ξ. IGEBM form: η in x ← x − η·∇E(x)
   * (IGEBM `step_lr`: 10 on CIFAR-10, 1 in the code's defaults).
   */
  stepSize: number;
  /** Number of Langevin steps K (IGEBM: 60 on CIFAR-10, 20 in the code's defaults). */
  steps: number;
  /**
   * The noise standard deviation σ. Theory form: √ε unless given (giving it sets a temperature).
   * Giving it without `form` selects the IGEBM form (where σ = 0.005 in the paper's code) and with
   * it that form's defaults: the gradient clipped to ±0.01 and the samples to [0, 1]. For a
   * temperature on data outside [0, 1], pass `form: 'theory'` as well.
   */
  noiseScale?: number;
  /**
   * Clip the energy gradient before the step. IGEBM form: 0.01 by default (by value, as the paper's
   * CIFAR-10 runs' `proj_norm` and the spec's §6.4 defaults); `null` turns it off. Theory form: off
   * unless given (a clip would change the stationary law that form exists for).
   */
  gradClip?: number | null;
  /** 'value': each entry to ±gradClip (IGEBM's 'li'); 'norm': each example's gradient to norm ≤ gradClip ('l2'). */
  gradClipMode?: 'value' | 'norm';
  /**
   * Clip the samples to [lo, hi] after every step. IGEBM form: [0, 1] by default (the data range the
   * paper's code always clips to, the spec's §6.4 default); `null` turns it off, for data outside
   * [0, 1]. Theory form: off unless given.
   */
  clipRange?: readonly [number, number] | null;
  /**
   * 'theory' (6331): x ← x − (ε/2)∇E(x) + σξ, σ = √ε; ULA, stationary law → e^{−E}/Z as ε → 0.
   * 'igebm' (openai/ebm_code_release `train.py`): x ← x + σξ, then x ← x − η·clip(∇E(x), ±0.01), then
   * clip(x, 0, 1); step and noise decoupled, with σ = 0.005, `gradClip` = 0.01 and `clipRange` =
   * [0, 1] unless given (§6.4). Default: 'igebm' if `noiseScale` is given, else 'theory'.
   */
  form?: 'theory' | 'igebm';
}

export interface MalaOptions {
  /** ε of the Langevin proposal x̃ = x − (ε/2)∇E(x) + √ε·ξ. */
  stepSize: number;
  steps: number;
}

export interface MalaResult {
  /** The final states of the chains. */
  x: NDArray;
  /** Accepted proposals / (chains × steps), a scalar in [0, 1]. */
  acceptRate: NDArray;
}

/** ∇ₓ Σᵢ E(xᵢ): per-example gradients, since examples do not interact in a batched energy. */
export const energyGrad = np.defop(function energyGrad(energyFn: EnergyFn, x: ArrayLike): NDArray {
  return grad((y: NDArray) => np.sum(energyFn(y)))(floatSamples(x));
});

/** Samples as float32 (integer-valued JS arrays infer int32, which has no gradient). */
function floatSamples(x: ArrayLike): NDArray {
  const a = np.asArray(x);
  return a.dtype === 'float32' ? a : np.astype(a, 'float32');
}

/**
 * [E(x) per example, ∇ₓE(x)] in one pass (a vjp with a ones cotangent). Not `valueAndGrad` with
 * `hasAux`: its aux comes back as a tracer of the finished transformation (a core bug, reported).
 */
export function energyAndGrad(energyFn: EnergyFn, x: ArrayLike): [NDArray, NDArray] {
  return scope(() => {
    const [e, pullback] = vjp(energyFn, floatSamples(x));
    const [g] = pullback(np.onesLike(e));
    return [e, g] as [NDArray, NDArray];
  });
}

/** x reshaped so that a per-example value [N] broadcasts against x [N, ...]. */
function perExample(v: NDArray, x: NDArray): NDArray {
  return v.reshape(x.shape[0]!, ...x.shape.slice(1).map(() => 1));
}

/** The IGEBM form's defaults (algorithms.md §6.2, §6.4; openai/ebm_code_release). */
export const IGEBM_DEFAULTS = Object.freeze({ noiseScale: 0.005, gradClip: 0.01, clipRange: Object.freeze([0, 1] as const) });

/** The gradient clip and sample range a step uses: the options', else the form's defaults (none for 'theory'). */
function effectiveClips(options: LangevinOptions): { gradClip: number | null; clipRange: readonly [number, number] | null } {
  const igebm = langevinForm(options) === 'igebm';
  return {
    gradClip: options.gradClip !== undefined ? options.gradClip : igebm ? IGEBM_DEFAULTS.gradClip : null,
    clipRange: options.clipRange !== undefined ? options.clipRange : igebm ? IGEBM_DEFAULTS.clipRange : null,
  };
}

function clipGrad(g: NDArray, c: number | null, options: LangevinOptions): NDArray {
  if (c === null) return g;
  // (A clip given as an array or a traced value — tuned under jit, vmap or grad — is negated as an array: `-c` of an object is NaN.)
  if ((options.gradClipMode ?? 'value') === 'value') return np.clip(g, typeof c === 'number' ? -c : np.negative(c), c);
  const axes = g.shape.slice(1).map((_, i) => i + 1);
  const norm = np.sqrt(np.sum(np.square(g), axes, true));
  return g.mul(np.minimum(1, np.divide(c, np.maximum(norm, 1e-12))));
}

function checkSteps(op: string, stepSize: number, steps: number): void {
  if (!(stepSize > 0) || !Number.isFinite(stepSize)) throw new RangeError(`ebm.${op}: stepSize must be a positive number, got ${stepSize}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`ebm.${op}: steps must be a non-negative integer, got ${steps}`);
}

/** The form `options` select (see `LangevinOptions.form`). */
export function langevinForm(options: LangevinOptions): 'theory' | 'igebm' {
  return options.form ?? (options.noiseScale === undefined ? 'theory' : 'igebm');
}

/** Options a sampler would otherwise misread: a typo in a mode falling back to the default, a NaN noise, a reversed range. */
function checkLangevinOptions(op: string, options: LangevinOptions): void {
  const oneOf = (name: string, value: unknown, allowed: readonly string[]) => {
    if (value !== undefined && !allowed.includes(value as string)) throw new RangeError(`ebm.${op}: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  };
  oneOf('form', options.form, ['theory', 'igebm']);
  oneOf('gradClipMode', options.gradClipMode, ['value', 'norm']);
  // (Only JS numbers are checked: an array or a traced value — a temperature tuned under jit, vmap or grad — is the caller's.)
  const { noiseScale, gradClip, clipRange } = options;
  if (typeof noiseScale === 'number' && !(noiseScale >= 0 && Number.isFinite(noiseScale))) throw new RangeError(`ebm.${op}: noiseScale must be a finite number ≥ 0, got ${noiseScale}`);
  // An array or traced clip is the caller's (as noiseScale); a string or boolean is a mistake. (Not JSON of the value: a tracer's is its whole trace.)
  if (gradClip !== undefined && gradClip !== null && typeof gradClip !== 'number' && typeof gradClip !== 'object') throw new TypeError(`ebm.${op}: gradClip must be a number or null (no clip), got ${typeof gradClip} ${JSON.stringify(gradClip)}`);
  if (typeof gradClip === 'number' && !(gradClip > 0 && Number.isFinite(gradClip))) throw new RangeError(`ebm.${op}: gradClip must be a finite number > 0 (or null for no clip), got ${gradClip}`);
  // A NaN bound passes a bare `lo > hi` test and np.clip then turns every sample into NaN, so a JS-number
  // bound must be a number that compares (±Infinity is fine: a one-sided range).
  const badBound = (b: unknown) => typeof b === 'number' && Number.isNaN(b);
  if (clipRange !== undefined && clipRange !== null && !(Array.isArray(clipRange) && clipRange.length === 2 && !badBound(clipRange[0]) && !badBound(clipRange[1]) && !(typeof clipRange[0] === 'number' && typeof clipRange[1] === 'number' && clipRange[0] > clipRange[1]))) {
    throw new RangeError(`ebm.${op}: clipRange must be [lo, hi] with lo ≤ hi (or null for no clip), got ${JSON.stringify(clipRange)}`);
  }
}

/** One ULA step (either form; see `LangevinOptions`). */
export const langevinStep = np.defop(function langevinStep(energyFn: EnergyFn, x: ArrayLike, key: Key, options: LangevinOptions): NDArray {
  checkLangevinOptions('langevinStep', options);
  const a = floatSamples(x);
  const eps = options.stepSize;
  const { gradClip, clipRange } = effectiveClips(options);
  let out: NDArray;
  if (langevinForm(options) === 'theory') {
    const sigma = options.noiseScale ?? Math.sqrt(eps);
    const g = clipGrad(energyGrad(energyFn, a), gradClip, options);
    out = a.sub(g.mul(eps / 2)).add(random.normal(key, a.shape).mul(sigma));
  } else {
    const sigma = options.noiseScale ?? IGEBM_DEFAULTS.noiseScale;
    const noisy = a.add(random.normal(key, a.shape).mul(sigma));
    out = noisy.sub(clipGrad(energyGrad(energyFn, noisy), gradClip, options).mul(eps));
  }
  return clipRange ? np.clip(out, clipRange[0], clipRange[1]) : out;
});

/**
 * Runs `step` `steps` times from `init` with keys split from `key`, as one `scan`: the step is
 * traced once, so under jit a chain of any length is one loop (not `steps` copies of the step), and
 * eagerly it runs compiled, each step's replaced state freed as the next exists.
 */
export function iterateChain<S>(init: S, key: Key, steps: number, step: (state: S, key: NDArray) => S): S {
  return scope(() => {
    if (steps === 0) return init;
    const keys = random.split(key, steps);
    return scan((state: S, k: NDArray) => [step(state, k), null] as const, init as never, keys)[0];
  });
}

function isConcreteTree(s: unknown): boolean {
  if (s instanceof ConcreteArray) return true;
  if (Array.isArray(s)) return s.every(isConcreteTree);
  if (s !== null && typeof s === 'object') return Object.values(s).every(isConcreteTree);
  return typeof s !== 'object' || s === null;
}

/**
 * Unadjusted Langevin dynamics (§6.2) for `steps` steps from x0 [N, ...], with per-example energies
 * `energyFn(x)` [N]. Returns the final samples (not detached: pass them to `contrastiveLoss`, which
 * stops their gradient, or wrap them in `stopGradient`).
 *
 * Theory form (ε, σ = √ε): on E(x) = ‖x − μ‖²/(2s²) the chain is AR(1) with coefficient
 * a = 1 − ε/(2s²), stationary mean μ and variance s²/(1 − ε/(4s²)) (§6.6.1): the ε-bias MALA removes.
 *
 * @example const xNeg = langevin((x) => mlpEnergy.apply(params, x), x0, key, { stepSize: 0.01, steps: 20 });
 */
export function langevin(energyFn: EnergyFn, x0: ArrayLike, key: Key, options: LangevinOptions): NDArray {
  checkSteps('langevin', options.stepSize, options.steps);
  checkLangevinOptions('langevin', options);
  return scope(() => {
    // Samples are float32 (integer-valued starts are fine): a chain's state keeps one dtype.
    const x = np.asArray(x0, 'float32');
    if (x.ndim < 1) throw new RangeError(`ebm.langevin: x0 must be a batch [N, ...], got shape [${x.shape.join(',')}]`);
    const out = iterateChain(x, key, options.steps, (xs, k) => langevinStep(energyFn, xs, k, options));
    return out === x ? x.add(0) : out;
  });
}

interface MalaState {
  x: NDArray;
  e: NDArray;
  g: NDArray;
  accepted: NDArray;
}

/**
 * Metropolis-adjusted Langevin (§6.2, 6331): propose x̃ = x − (ε/2)∇E(x) + √ε·ξ and accept with
 * probability min{1, e^{−E(x̃)} k(x|x̃) / (e^{−E(x)} k(x̃|x))}, k(x'|x) ∝ exp(−‖x' − x + (ε/2)∇E(x)‖²/(2ε)),
 * independently per chain. The chain leaves e^{−E}/Z exactly invariant for any ε (on a Gaussian
 * energy the stationary variance is s², without ULA's bias).
 */
export function mala(energyFn: EnergyFn, x0: ArrayLike, key: Key, options: MalaOptions): MalaResult {
  checkSteps('mala', options.stepSize, options.steps);
  const eps = options.stepSize;
  return scope(() => {
    const x = np.asArray(x0, 'float32');
    if (x.ndim < 1) throw new RangeError(`ebm.mala: x0 must be a batch [N, ...], got shape [${x.shape.join(',')}]`);
    const n = x.shape[0]!;
    const axes = x.shape.slice(1).map((_, i) => i + 1);
    const [e0, g0] = energyAndGrad(energyFn, x);
    // The accept/reject test compares each chain's own energies: a summed (scalar) energy would still
    // give the right gradient but a meaningless acceptance rate.
    if (e0.ndim !== 1 || e0.shape[0] !== n) throw new RangeError(`ebm.mala: the energy function must return one energy per example, shape [${n}], got shape [${e0.shape.join(',')}]`);
    const init: MalaState = { x, e: e0, g: g0, accepted: np.zeros([n]) };
    const final = iterateChain(init, key, options.steps, (s, k) => {
      const ks = random.split(k);
      const xi = random.normal(ks.at(0), s.x.shape);
      const prop = s.x.sub(s.g.mul(eps / 2)).add(xi.mul(Math.sqrt(eps)));
      const [eP, gP] = energyAndGrad(energyFn, prop);
      // log k(x̃|x) = −‖√ε ξ‖²/(2ε) = −‖ξ‖²/2 (computed from ξ for accuracy); log k(x|x̃) from the reverse drift.
      const logFwd = np.sum(np.square(xi), axes).mul(-0.5);
      const logBwd = np.sum(np.square(s.x.sub(prop).add(gP.mul(eps / 2))), axes).mul(-1 / (2 * eps));
      const logRatio = s.e.sub(eP).add(logBwd).sub(logFwd);
      // u ∈ [0, 1): log u < log ratio accepts with probability min(1, ratio); NaN ratios reject.
      const accept = np.less(np.log(random.uniform(ks.at(1), [n])), logRatio);
      const acceptX = perExample(accept, s.x);
      return {
        x: np.where(acceptX, prop, s.x),
        e: np.where(accept, eP, s.e),
        g: np.where(acceptX, gP, s.g),
        accepted: s.accepted.add(accept.astype('float32')),
      };
    });
    const acceptRate = options.steps === 0 ? np.zeros([]) : np.mean(final.accepted).div(options.steps);
    return { x: final.x === x ? x.add(0) : final.x, acceptRate };
  });
}
