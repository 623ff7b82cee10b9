// VQ-VAE's vector quantiser with the straight-through estimator (algorithms.md §7g; van den Oord
// et al., arXiv 1711.00937; Su, kexue.fm/archives/6760). z = enc(x) [..., d] (a grid m×m×d is just
// [..., m, m, d]: every vector is quantised separately), codebook e [K, d]:
//   k = argmin_j ||z − e_j||²,  z_q = e_k,  decoder input z + sg(z_q − z) (value z_q, Jacobian I),
//   L = ||x − dec(z + sg(z_q − z))||² + β·||sg(z) − z_q||² + γ·||z − sg(z_q)||².
// Naming: Su's β weighs the codebook term and γ = 0.25·β the commitment term; the paper writes
// ||sg(z) − e||² + β_paper·||z − sg(e)||² with β_paper = 0.25, i.e. Su's β = 1, γ = β_paper.
// Optional: an EMA codebook update (the paper's appendix) and a tiny MLP encoder/decoder pair.
import { np, random, stopGradient, type ArrayLike, type NDArray } from '../src/index.js';
import { mlp, type DenseParams } from './nn.js';
import { mlpLayers } from './mlp_layers.js';
import { Shapes, checkDenseStack } from './shapes.js';
import { checkLabels } from './losses.js';

const op = np.defop;
type Key = NDArray;

// Each public function checks its arguments once and runs the unchecked bodies (…Of) of those it
// builds on, so that nothing is checked twice and every error names the function called.

/** A codebook [K, d] (checked first) and vectors z [..., d]; a mismatch names `op` and the shapes. */
function checkCodebook(op: string, z: NDArray, codebook: NDArray, codebookPath = 'codebook'): Shapes {
  const s = new Shapes(`vqvae.${op}`);
  s.check(codebookPath, codebook, ['K', 'd']);
  s.check('z', z, ['...', 'd']);
  return s;
}

/** Squared distances ||z − e_j||² [..., K] between vectors z [..., d] and codebook rows e [K, d]. */
export const squaredDistances = op((z: ArrayLike, codebook: ArrayLike): NDArray => {
  const a = np.asArray(z), e = np.asArray(codebook);
  checkCodebook('squaredDistances', a, e);
  return distancesOf(a, e);
});

function distancesOf(a: NDArray, e: NDArray): NDArray {
  const zz = np.sum(np.square(a), -1, true);
  const ee = np.sum(np.square(e), -1);
  return zz.sub(np.matmul(a, e.T).mul(2)).add(ee);
}

export interface Quantized {
  /** The nearest codebook vectors e_k [..., d] (differentiable with respect to the codebook). */
  zq: NDArray;
  /** k, int32 [...]; ties go to the lowest index. */
  indices: NDArray;
}

/** Nearest codebook entry for every vector of z [..., d]. */
export const quantize = op((z: ArrayLike, codebook: ArrayLike): Quantized => {
  const a = np.asArray(z), e = np.asArray(codebook);
  checkCodebook('quantize', a, e);
  return quantizeOf(a, e);
});

function quantizeOf(a: NDArray, e: NDArray): Quantized {
  const indices = np.argmin(distancesOf(a, e), -1);
  return { zq: np.take(e, indices, 0), indices };
}

/**
 * The straight-through value z + sg(z_q − z): forward z_q, vector–Jacobian product the identity
 * to z, nothing to z_q. Computed as sg(z_q) + (z − sg(z)), which has the same derivatives and whose
 * value is z_q exactly (z − z = 0 in floating point, while z + (z_q − z) can be off by an ulp).
 */
export const straightThrough = op((z: ArrayLike, zq: ArrayLike): NDArray => {
  const a = np.asArray(z);
  return stopGradient(np.asArray(zq)).add(a.sub(stopGradient(a)));
});

/** Mean squared error ||a − b||² averaged over all entries. */
const mse = (a: ArrayLike, b: ArrayLike) => np.mean(np.square(np.subtract(a, b)));

/** The codebook term ||sg(z) − z_q||² (mean over entries): moves the codebook, not the encoder. */
export const codebookLoss = op((z: ArrayLike, zq: ArrayLike): NDArray => mse(stopGradient(np.asArray(z)), zq));

/** The commitment term ||z − sg(z_q)||² (mean over entries): moves the encoder, not the codebook. */
export const commitmentLoss = op((z: ArrayLike, zq: ArrayLike): NDArray => mse(z, stopGradient(np.asArray(zq))));

export interface QuantizerOptions {
  /** Su's β, the codebook-term weight; default 1 (the paper's fixed weight of that term). */
  beta?: number;
  /** Su's γ, the commitment weight; default 0.25·β (the paper's β = 0.25). */
  gamma?: number;
}

export interface QuantizerOutput extends Quantized {
  /** The decoder input z + sg(z_q − z). */
  zqSt: NDArray;
  /** β·codebook + γ·commitment. */
  loss: NDArray;
  codebookLoss: NDArray;
  commitmentLoss: NDArray;
}

/** Quantises z, returning the straight-through decoder input and the two auxiliary losses. */
export const vectorQuantize = op((z: ArrayLike, codebook: ArrayLike, options: QuantizerOptions = {}): QuantizerOutput => {
  const a = np.asArray(z), e = np.asArray(codebook);
  checkCodebook('vectorQuantize', a, e);
  return vectorQuantizeOf(a, e, options);
});

function vectorQuantizeOf(a: NDArray, e: NDArray, options: QuantizerOptions): QuantizerOutput {
  const beta = options.beta ?? 1;
  const gamma = options.gamma ?? 0.25 * beta;
  const { zq, indices } = quantizeOf(a, e);
  const cb = codebookLoss(a, zq), cm = commitmentLoss(a, zq);
  return { zq, indices, zqSt: straightThrough(a, zq), loss: cb.mul(beta).add(cm.mul(gamma)), codebookLoss: cb, commitmentLoss: cm };
}

// ---- EMA codebook (paper, appendix A.1) -----------------------------------------------------------------

export interface EmaCodebookState {
  /** Running count N_k of vectors assigned to each code [K]. */
  counts: NDArray;
  /** Running sum m_k of those vectors [K, d]. */
  sums: NDArray;
}

export const emaInit = np.defop(function emaInit(codebook: NDArray): EmaCodebookState {
  return { counts: np.ones([codebook.shape[0]!]), sums: np.multiply(codebook, 1) };
});

/**
 * One EMA step: N ← λN + (1 − λ)·n, m ← λm + (1 − λ)·Σ_{z→k} z, e_k = m_k / N_k with Laplace-smoothed
 * counts (ε = 1e-5; Sonnet's formula), which keeps the division finite. With λ = 0 this is one
 * k-means step. A dead code (no vectors assigned) keeps its vector only while its count is well
 * above ε: m_k and N_k decay together, but once λᵗN_k nears ε the smoothing takes over and e_k
 * shrinks towards 0 (measured at λ = 0.99 from N = 1: 0.81·e_k after 1000 steps, 2e-4·e_k after
 * 2000), as in Sonnet; re-seed dead codes if that matters. With λ = 0 a dead code becomes 0 at
 * once, and with ε = 0 it becomes NaN (0/0).
 * Concrete indices outside [0, K) are refused (a RangeError naming the index). Traced ones (under
 * jit or vmap) cannot be read: there, as with jax.nn.one_hot, an out-of-range index has an all-zero
 * one-hot row and its vector takes no part in the update.
 */
export const emaUpdate = op((state: EmaCodebookState, z: ArrayLike, indices: ArrayLike, decay = 0.99, eps = 1e-5): { state: EmaCodebookState; codebook: NDArray } => {
  if (!(decay >= 0 && decay <= 1)) throw new RangeError(`vqvae.emaUpdate: decay must lie in [0, 1], got ${decay}`);
  if (!(eps >= 0 && Number.isFinite(eps))) throw new RangeError(`vqvae.emaUpdate: eps must be a finite number ≥ 0, got ${eps}`);
  if (np.asArray(indices).dtype !== 'int32') throw new TypeError(`vqvae.emaUpdate: indices must be int32 codebook entries (as vectorQuantize returns), got ${np.asArray(indices).dtype}`);
  const a = np.asArray(z);
  const s = new Shapes('vqvae.emaUpdate');
  s.check('state.sums', state?.sums, ['K', 'd']);
  s.check('state.counts', state?.counts, ['K']);
  const zs = s.check('z', a, ['...', 'd']);
  // One index per vector of z: the indices' shape is z's batch axes (the message says where it comes from).
  s.check('indices', np.asArray(indices), zs.slice(0, -1), `one codebook index per vector of z [${zs.join(',')}]`);
  const d = a.shape[a.ndim - 1]!;
  // The check accepts nested JS arrays as well as arrays: read the leaves as arrays.
  const counts0 = np.asArray(state.counts), sums0 = np.asArray(state.sums);
  const K = counts0.shape[0]!;
  // Concrete indices outside [0, K) are refused: np.oneHot would drop their vectors silently.
  checkLabels('vqvae.emaUpdate', np.asArray(indices), K, { label: 'index', classes: 'codebook entries' });
  const flat = np.reshape(stopGradient(a), [-1, d]);
  const assign = np.oneHot(np.reshape(indices, [-1]), K); // [N, K]
  const counts = counts0.mul(decay).add(np.sum(assign, 0).mul(1 - decay));
  const sums = sums0.mul(decay).add(np.matmul(assign.T, flat).mul(1 - decay));
  const total = np.sum(counts);
  const smoothed = counts.add(eps).div(total.add(K * eps)).mul(total);
  return { state: { counts, sums }, codebook: sums.div(np.expandDims(smoothed, -1)) };
});

// ---- a tiny VQ-VAE (MLP encoder and decoder) ------------------------------------------------------------

export interface VqVaeParams {
  encoder: DenseParams[];
  decoder: DenseParams[];
  codebook: NDArray;
}

export interface VqVaeConfig {
  inputDim: number;
  latentDim: number;
  codebookSize: number;
  hidden?: number;
}

/** An MLP encoder [in → hidden → latent], decoder [latent → hidden → in] and a N(0, 1) codebook. */
export const init = np.defop(function init(key: Key, config: VqVaeConfig): VqVaeParams {
  const hidden = config.hidden ?? 32;
  const keys = random.split(key, 3);
  return {
    encoder: mlp.init(keys.at(0), [config.inputDim, hidden, config.latentDim]),
    decoder: mlp.init(keys.at(1), [config.latentDim, hidden, config.inputDim]),
    codebook: random.normal(keys.at(2), [config.codebookSize, config.latentDim]),
  };
});

export interface VqVaeOutput extends QuantizerOutput {
  reconstruction: NDArray;
  /** ||x − x̂||² (mean) + β·codebook + γ·commitment. */
  total: NDArray;
  reconstructionLoss: NDArray;
}

/** Encode, quantise (straight-through), decode; the full VQ-VAE objective for a batch x [..., in]. */
export const forward = op((params: VqVaeParams, x: ArrayLike, options: QuantizerOptions = {}): VqVaeOutput => {
  // The encoder maps x to the codebook's vectors and the decoder back to x's size: checked as one
  // chain, so a mismatch names the path in the parameter tree (not matmul or the loss's broadcast).
  const s = new Shapes('vqvae.forward');
  if (typeof params !== 'object' || params === null) s.fail(`params is ${String(params)}; expected { encoder, decoder, codebook }`);
  const a = np.asArray(x);
  // in and d are each carried by three leaves: where one disagrees, the message names it (not,
  // say, the codebook for an encoder whose last layer is wrong).
  const enc: readonly (DenseParams | undefined)[] = Array.isArray(params.encoder) ? params.encoder : [];
  const dec: readonly (DenseParams | undefined)[] = Array.isArray(params.decoder) ? params.decoder : [];
  if (enc.length > 0 && dec.length > 0) {
    s.agree('in', [['params.encoder[0].w', enc[0]?.w, 0], [`params.decoder[${dec.length - 1}].w`, dec[dec.length - 1]?.w, 1], ['x', a, -1]]);
    s.agree('d', [[`params.encoder[${enc.length - 1}].w`, enc[enc.length - 1]?.w, 1], ['params.codebook', params.codebook, 1], ['params.decoder[0].w', dec[0]?.w, 0]]);
  }
  checkDenseStack(s, 'params.encoder', params.encoder, { input: 'in', output: 'd', hidden: 'e' });
  s.check('params.codebook', params.codebook, ['K', 'd']);
  checkDenseStack(s, 'params.decoder', params.decoder, { input: 'd', output: 'in', hidden: 'h' });
  s.check('x', a, ['...', 'in']);
  // A stack with no layers is the identity, so its input size is its output size: x's features are
  // the codebook's (nothing else ties 'in' to 'd' then; with the checks done once here rather than
  // again in vectorQuantize, a mismatch would reach a matmul, or broadcast in the loss).
  if (enc.length === 0) s.check('x', a, ['...', 'd'], 'params.encoder has no layers: x is quantised as it is');
  if (dec.length === 0) s.check('x', a, ['...', 'd'], 'params.decoder has no layers: the quantised vectors are the reconstruction');
  // Checked above as one tree: the bodies run unchecked (mlp.apply and vectorQuantize would check again).
  const z = mlpLayers(params.encoder, a);
  const q = vectorQuantizeOf(z, np.asArray(params.codebook), options);
  const reconstruction = mlpLayers(params.decoder, q.zqSt);
  const reconstructionLoss = mse(x, reconstruction);
  return { ...q, reconstruction, reconstructionLoss, total: reconstructionLoss.add(q.loss) };
});

/** The scalar VQ-VAE loss (for grad). */
export const loss = op((params: VqVaeParams, x: ArrayLike, options: QuantizerOptions = {}): NDArray => forward(params, x, options).total);
