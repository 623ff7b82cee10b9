// Log-determinants of residual maps F(x) = x + g(x) (algorithms.md §3.4): exact (Jacobian by
// forward mode + slogdet, small dimensions only), the truncated power series with exact traces
// (for checking), and the same series with Hutchinson trace estimates, the i-ResNet estimator.
// `g` always maps a batch [N, ...event] to [N, ...event] example by example.
import { jacfwd, np, random, vjp, vmap, type NDArray } from '../../src/index.js';
import { eager, sumEvent, type Key } from './layer.js';

/** Distribution of the Hutchinson probes u (both have E[uuᵀ] = I). */
export type Probe = 'gaussian' | 'rademacher';

export interface ResidualLogdetOptions {
  /**
   * 'hutchinson' (default): truncated series, traces estimated with probes (needs a key);
   * 'series': truncated series with exact traces (forms J; small dimensions);
   * 'exact': slogdet(I + J_g) (forms J; small dimensions);
   * 'none': zeros — for sampling, where the log-det is not wanted.
   */
  method?: 'hutchinson' | 'series' | 'exact' | 'none';
  /** Series terms n (default 5, the i-ResNet density-estimation script). */
  terms?: number;
  /** Probes per example k (default 1, the i-ResNet code). */
  samples?: number;
  /** Probe distribution (default 'gaussian', as in §3.4). */
  probe?: Probe;
}

export const DEFAULT_LOGDET: Required<ResidualLogdetOptions> = { method: 'hutchinson', terms: 5, samples: 1, probe: 'gaussian' };

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
  const samples = options.samples ?? DEFAULT_LOGDET.samples;
  const u = probes(key, x.shape, samples, options.probe ?? DEFAULT_LOGDET.probe);
  const [gx, pullback] = vjp(g, x);
  let total: NDArray = np.zeros([x.shape[0]!]);
  for (let s = 0; s < samples; s++) {
    const us = u.at(s);
    let v = us;
    for (let j = 1; j <= terms; j++) {
      [v] = pullback(v) as [NDArray];
      total = np.add(total, np.multiply(sumEvent(np.multiply(v, us)), (j % 2 === 1 ? 1 : -1) / j));
    }
  }
  return { gx, logdet: np.divide(total, samples) };
});

/**
 * g(x) and ln det(I + J_g(x)) per example by the chosen method (see ResidualLogdetOptions).
 * 'hutchinson' needs `key`.
 */
export const residualLogdet = eager((
  g: (x: NDArray) => NDArray, x: NDArray, options: ResidualLogdetOptions = {}, key?: Key,
): { gx: NDArray; logdet: NDArray } => {
  const method = options.method ?? DEFAULT_LOGDET.method;
  switch (method) {
    case 'hutchinson':
      if (key === undefined) throw new Error("residualLogdet: method 'hutchinson' needs a key for its probes; pass options.key (or use method 'exact' / 'series')");
      return hutchinsonResidualLogdet(g, x, key, options);
    case 'series':
      return { gx: g(x), logdet: powerSeriesLogdet(batchJacobian(g, x), options.terms ?? DEFAULT_LOGDET.terms) };
    case 'exact':
      return { gx: g(x), logdet: exactResidualLogdet(g, x) };
    case 'none':
      return { gx: g(x), logdet: np.zeros([x.shape[0]!]) };
    default:
      throw new Error(`residualLogdet: unknown method '${String(method)}'; expected 'hutchinson', 'series', 'exact' or 'none'`);
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
