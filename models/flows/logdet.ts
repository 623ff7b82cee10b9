// Log-determinants of residual maps F(x) = x + g(x) (algorithms.md §3.4): exact (Jacobian by
// forward mode + slogdet, small dimensions only), the truncated power series with exact traces
// (for checking), the same series with Hutchinson trace estimates (the i-ResNet estimator), and
// the unbiased Russian-roulette estimate of the whole series (Residual Flows).
// `g` always maps a batch [N, ...event] to [N, ...event] example by example.
import { ConcretizationError, ValueError, jacfwd, np, random, vjp, vmap, type NDArray } from '../../src/index.js';
import { eager, sumEvent, type Key } from './layer.js';

/** Distribution of the Hutchinson probes u (both have E[uuᵀ] = I). */
export type Probe = 'gaussian' | 'rademacher';

export interface ResidualLogdetOptions {
  /**
   * 'hutchinson' (default): truncated series, traces estimated with probes (needs a key);
   * 'series': truncated series with exact traces (forms J; small dimensions);
   * 'exact': slogdet(I + J_g) (forms J; small dimensions);
   * 'none': zeros — for sampling, where the log-det is not wanted;
   * 'roulette': the unbiased Russian-roulette estimate of the whole series (Residual Flows, Chen
   *   et al. 2019; needs a key; eager or under grad, not under jit: it draws its number of terms
   *   on the host).
   */
  method?: 'hutchinson' | 'series' | 'exact' | 'none' | 'roulette';
  /** Series terms n (default 5, the i-ResNet density-estimation script). */
  terms?: number;
  /** Probes per example k (default 1, the i-ResNet code). */
  samples?: number;
  /** Probe distribution (default 'gaussian', as in §3.4). */
  probe?: Probe;
  /** 'roulette': terms always computed before the random ones begin (default 2, as Residual Flows). */
  exactTerms?: number;
  /**
   * 'roulette': the random count N of further terms is geometric, P(N ≥ k) = (1 − p)^(k−1)
   * (default p = 0.5, as Residual Flows). The variance is finite only when the terms shrink faster
   * than P(N ≥ k): roughly (1 − p) > ρ(J_g)², so lower p for blocks close to Lip 1.
   */
  stopProbability?: number;
}

export const DEFAULT_LOGDET: Required<ResidualLogdetOptions> = { method: 'hutchinson', terms: 5, samples: 1, probe: 'gaussian', exactTerms: 2, stopProbability: 0.5 };

/** Per-example Jacobians J_f(x_i), flattened to [N, D, D] (D = event size), by vmap of jacfwd. */
export const batchJacobian = eager((g: (x: NDArray) => NDArray, x: NDArray): NDArray => {
  const event = x.shape.slice(1);
  const d = event.reduce((a, b) => a * b, 1);
  // One example as a flat [D] vector through the batched g (as a batch of one).
  const single = (xi: NDArray): NDArray => np.reshape(g(np.reshape(xi, [1, ...event])), [d]);
  return vmap(jacfwd(single))(np.reshape(x, [x.shape[0]!, d]));
});

/** ln|det J_f(x_i)| per example for any example-wise map f (explicit Jacobian; small event sizes only). */
export const exactLogdet = eager((f: (x: NDArray) => NDArray, x: NDArray): NDArray => {
  const [, logabsdet] = np.linalg.slogdet(batchJacobian(f, x));
  return logabsdet;
});

/** ln|det(I + J_g(x_i))| per example, from the explicit Jacobian (small event sizes only). */
export const exactResidualLogdet = eager((g: (x: NDArray) => NDArray, x: NDArray): NDArray => {
  const J = batchJacobian(g, x);
  const d = J.shape[1]!;
  const [, logabsdet] = np.linalg.slogdet(np.add(np.eye(d), J));
  return logabsdet;
});

/**
 * The truncated log series with exact traces, Σ_{k=1}^{n} (−1)^{k+1} tr(J^k)/k, for a stack of
 * square matrices J [..., D, D] (§3.4; equals ln det(I + J) as n → ∞ when ||J||₂ < 1).
 */
export const powerSeriesLogdet = eager((J: NDArray, terms: number): NDArray => {
  let power = J;
  let acc = np.linalg.trace(J);
  for (let k = 2; k <= terms; k++) {
    power = np.matmul(power, J);
    acc = np.add(acc, np.multiply(np.linalg.trace(power), (k % 2 === 1 ? 1 : -1) / k));
  }
  return acc;
});

/** k probes shaped like x: [k, ...x.shape], Gaussian or Rademacher (±1). */
export const probes = eager((key: Key, shape: readonly number[], samples: number, probe: Probe): NDArray => {
  const full = [samples, ...shape];
  if (probe === 'gaussian') return random.normal(key, full);
  return np.where(random.bernoulli(key, 0.5, full), np.ones(full), np.full(full, -1));
});

/**
 * g(x) and the Hutchinson estimate of the truncated series (§3.4, i-ResNet):
 *   ln det(I + J_g) ≈ (1/k) Σ_probes Σ_{j=1}^{n} (−1)^{j+1} vⱼᵀu / j,   v₀ = u, vⱼᵀ = vⱼ₋₁ᵀ J_g,
 * so vⱼᵀu = uᵀJ_g^j u, each vⱼ one vector-Jacobian product (J is never formed). The products
 * run through `vjp` inside whatever is being differentiated, so the estimate has gradients with
 * respect to g's parameters (this is where second-order autodiff is needed, §3.6). Unbiased for
 * the truncated series; biased for ln det itself (§7i).
 */
export const hutchinsonResidualLogdet = eager((
  g: (x: NDArray) => NDArray, x: NDArray, key: Key, options: ResidualLogdetOptions = {},
): { gx: NDArray; logdet: NDArray } => {
  const terms = options.terms ?? DEFAULT_LOGDET.terms;
  return weightedTraceSeries(g, x, key, options, Array.from({ length: terms }, (_, i) => ((i + 1) % 2 === 1 ? 1 : -1) / (i + 1)));
});

/**
 * g(x) and Σ_j weights[j−1]·uᵀJ_g^j u averaged over probes u: the Hutchinson u-chain of the series
 * with the given weight per term (each term one vector-Jacobian product).
 */
function weightedTraceSeries(g: (x: NDArray) => NDArray, x: NDArray, key: Key, options: ResidualLogdetOptions, weights: readonly number[]): { gx: NDArray; logdet: NDArray } {
  const samples = options.samples ?? DEFAULT_LOGDET.samples;
  const u = probes(key, x.shape, samples, options.probe ?? DEFAULT_LOGDET.probe);
  const [gx, pullback] = vjp(g, x);
  let total: NDArray = np.zeros([x.shape[0]!]);
  for (let s = 0; s < samples; s++) {
    const us = u.at(s);
    let v = us;
    weights.forEach((w) => {
      [v] = pullback(v) as [NDArray];
      total = np.add(total, np.multiply(sumEvent(np.multiply(v, us)), w));
    });
  }
  return { gx, logdet: np.divide(total, samples) };
}

/**
 * g(x) and the Russian-roulette estimate of ln det(I + J_g) (Residual Flows, Chen et al. 2019):
 * the first m = exactTerms terms of the series, then N more with N geometric, each term k > m
 * divided by P(N ≥ k − m):
 *   E_N[Σ_{k ≤ m+N} (−1)^{k+1} tr(J^k)/k / P(N ≥ k − m)] = Σ_{k ≥ 1} (−1)^{k+1} tr(J^k)/k = ln det(I + J_g),
 * so, unlike the truncated series (§7i), it has no bias for training to exploit. One N per call,
 * drawn on the host from `key` (the probes use another key split from it).
 */
export const rouletteResidualLogdet = eager((
  g: (x: NDArray) => NDArray, x: NDArray, key: Key, options: ResidualLogdetOptions = {},
): { gx: NDArray; logdet: NDArray } => {
  const m = options.exactTerms ?? DEFAULT_LOGDET.exactTerms;
  const p = options.stopProbability ?? DEFAULT_LOGDET.stopProbability;
  if (!(Number.isInteger(m) && m >= 0) || !(p > 0 && p < 1)) {
    throw new ValueError(`residualLogdet 'roulette': expected exactTerms an integer ≥ 0 and stopProbability in (0, 1), got ${m} and ${p}`);
  }
  const [probeKey, countKey] = [random.foldIn(key, 0), random.foldIn(key, 1)];
  let uniform: number;
  try {
    uniform = random.uniform(countKey, []).item() as number;
  } catch (e) {
    throw new ConcretizationError(`residualLogdet 'roulette' draws its number of terms on the host, so its key must be a concrete array (not under jit or vmap); use method 'hutchinson' there (${(e as Error).message})`);
  }
  // N ≥ 1 with P(N ≥ k) = (1 − p)^(k−1): N = 1 + ⌊ln(1 − U) / ln(1 − p)⌋.
  const n = 1 + Math.floor(Math.log1p(-uniform) / Math.log1p(-p));
  const weights = Array.from({ length: m + n }, (_, i) => {
    const k = i + 1;
    const survival = k <= m ? 1 : (1 - p) ** (k - m - 1);
    return (k % 2 === 1 ? 1 : -1) / k / survival;
  });
  return weightedTraceSeries(g, x, probeKey, options, weights);
});

/**
 * g(x) and ln det(I + J_g(x)) per example by the chosen method (see ResidualLogdetOptions).
 * 'hutchinson' needs `key`.
 */
export const residualLogdet = eager((
  g: (x: NDArray) => NDArray, x: NDArray, options: ResidualLogdetOptions = {}, key?: Key,
): { gx: NDArray; logdet: NDArray } => {
  const method = options.method ?? DEFAULT_LOGDET.method;
  // (samples 0 gave NaN, terms 0 a log-det of 0, 2.5 terms 2, and a typo in the probe the default.)
  for (const name of ['terms', 'samples'] as const) {
    const v = options[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new RangeError(`residualLogdet: ${name} must be an integer ≥ 1, got ${v}`);
  }
  if (options.probe !== undefined && options.probe !== 'gaussian' && options.probe !== 'rademacher') {
    throw new RangeError(`residualLogdet: probe must be 'gaussian' or 'rademacher', got ${JSON.stringify(options.probe)}`);
  }
  switch (method) {
    case 'hutchinson':
      if (key === undefined) throw new ValueError("residualLogdet: method 'hutchinson' needs a key for its probes; pass options.key (or use method 'exact' / 'series')");
      return hutchinsonResidualLogdet(g, x, key, options);
    case 'series':
      return { gx: g(x), logdet: powerSeriesLogdet(batchJacobian(g, x), options.terms ?? DEFAULT_LOGDET.terms) };
    case 'exact':
      return { gx: g(x), logdet: exactResidualLogdet(g, x) };
    case 'none':
      return { gx: g(x), logdet: np.zeros([x.shape[0]!]) };
    case 'roulette':
      if (key === undefined) throw new ValueError("residualLogdet: method 'roulette' needs a key for its probes and its number of terms; pass options.key");
      return rouletteResidualLogdet(g, x, key, options);
    default:
      throw new ValueError(`residualLogdet: unknown method '${String(method)}'; expected 'hutchinson', 'roulette', 'series', 'exact' or 'none'`);
  }
});

/**
 * The truncation bound of §3.4 (i-ResNet paper / code `weak_bound`):
 * |ln det(I + J) − Σ_{k≤n} (−1)^{k+1} tr(J^k)/k| ≤ d·(−ln(1 − L) − Σ_{k=1}^{n} L^k/k), L = Lip(g) < 1.
 */
export function truncationBound(dim: number, lipschitz: number, terms: number): number {
  if (!(lipschitz >= 0 && lipschitz < 1)) return Infinity;
  let partial = 0;
  for (let k = 1; k <= terms; k++) partial += lipschitz ** k / k;
  return dim * Math.max(0, -Math.log1p(-lipschitz) - partial);
}
