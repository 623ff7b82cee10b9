// Special functions in float64 JS: the standard normal CDF Φ and its inverse (the kernels of
// `np.ndtr`/`np.ndtri`, JAX's jax.scipy.special.ndtr/ndtri, and the quantile behind the normal
// sampler's erfinv), erf and erfc (`np.erf`, `np.erfc`, jax.lax.erf/erfc) and 2^x (`np.exp2`).
// Pure functions on numbers, no tfjs. float32 callers round once, at the end.

/**
 * Wichura's normal quantile AS241 (Applied Statistics 37(3), 1988; relative error about 1e-16),
 * taking p as `centred` = p − 1/2 and `tail` = min(p, 1 − p), both given exactly by the caller:
 * computing either from the other would lose the tail's precision (1 − p rounds where p is tiny).
 */
export function normalQuantile(centred: number, tail: number): number {
  if (Math.abs(centred) <= 0.425) {
    const r = 0.180625 - centred * centred;
    const num =
      ((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r + 6.7265770927008700853e4) * r +
        4.5921953931549871457e4) * r + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r +
        1.3314166789178437745e2) * r + 3.387132872796366608;
    const den =
      ((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r + 3.9307895800092710610e4) * r +
        2.1213794301586595867e4) * r + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r +
        4.2313330701600911252e1) * r + 1;
    return (centred * num) / den;
  }
  if (!(tail >= 0)) return NaN;
  if (tail === 0) return centred > 0 ? Infinity : -Infinity;
  let r = Math.sqrt(-Math.log(tail));
  let val: number;
  if (r <= 5) {
    r -= 1.6;
    val =
      (((((((7.7454501427834140764e-4 * r + 2.27238449892691845833e-2) * r + 2.4178072517745061177e-1) * r +
        1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r +
        4.6303378461565452959) * r + 1.42343711074968357734) /
      (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 1.51986665636164571966e-2) * r +
        1.4810397642748007459e-1) * r + 6.8976733498510000455e-1) * r + 1.6763848301838038494) * r +
        2.05319162663775882187) * r + 1);
  } else {
    r -= 5;
    val =
      (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 1.2426609473880784386e-3) * r +
        2.6532189526576123093e-2) * r + 2.9656057182850489123e-1) * r + 1.7848265399172913358) * r +
        5.4637849111641143699) * r + 6.6579046435011037772) /
      (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r +
        7.868691311456132591e-4) * r + 1.48753612908506148525e-2) * r + 1.3692988092273580531e-1) * r +
        5.9983220655588793769e-1) * r + 1);
  }
  return centred < 0 ? -val : val;
}

/**
 * Φ⁻¹(p), the standard normal quantile (scipy's ndtri): ±Infinity at 1 and 0, NaN outside [0, 1].
 * Full relative precision for tiny p (ndtri(1e-300) ≈ −37.0); near 1 it is limited by how
 * precisely p itself can sit next to 1.
 * @example ndtri(0.975) // 1.959963984540054
 */
export function ndtri(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  // 1 − p is exact for p ≥ 1/2 (Sterbenz), so the upper tail is as exact as p.
  return normalQuantile(p - 0.5, p < 0.5 ? p : 1 - p);
}

const INV_SQRT_2PI = 0.3989422804014327;

/**
 * Φ(x), the standard normal CDF (scipy's ndtr), with full relative precision in the lower tail
 * (ndtr(−30) ≈ 4.9e-198, where 1/2·(1 + erf(x/√2)) is 0) until Φ underflows below x ≈ −38.5.
 * |x| < 3: Marsaglia's series Φ(x) = 1/2 + φ(x)·Σ x^(2n+1)/(1·3·…·(2n+1)) (JSS 11(4), 2004;
 * all terms one sign, so it is the cancellation in 1/2 − … that costs at most 9 bits, at x = −3).
 * |x| ≥ 3: the Mills ratio by Laplace's continued fraction Φ(−x) = φ(x)/(x + 1/(x + 2/(x + 3/(x + …)))),
 * evaluated bottom-up from a depth where it has converged to double precision.
 * @example ndtr(1.959963984540054) // 0.975
 */
export function ndtr(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let k = 3; Math.abs(term) > 1e-17 * Math.abs(sum); k += 2) {
      term *= (x * x) / k;
      sum += term;
    }
    return 0.5 + INV_SQRT_2PI * Math.exp(-0.5 * x * x) * sum;
  }
  if (ax === Infinity) return x > 0 ? 1 : 0;
  // At x = 3 about 70 levels give 1e-16; deeper levels only cost time (they converge faster further out).
  let t = ax;
  for (let k = 90; k >= 1; k--) t = ax + k / t;
  const lower = (INV_SQRT_2PI * Math.exp(-0.5 * ax * ax)) / t;
  return x < 0 ? lower : 1 - lower;
}

/**
 * erf(x) with full relative precision everywhere, down to the subnormals (TF.js's float32 kernel
 * has an absolute error near 1e-9, so its erf(1e-30) was 1e-9 and erf(1e-4) 1.5e-5 relative off).
 * |x| < 2.5: the series erf(x) = 2/√π·e^{−x²}·Σ (2x²)^n·x/(1·3·…·(2n+1)), whose terms all have x's
 * sign (no cancellation; −0 stays −0); further out ±(1 − erfc(|x|)), where erfc(|x|) < 4.1e-4.
 * @example erf(1e-30) // 1.1283791670955126e-30
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 2.5) return x > 0 ? 1 - erfc(ax) : erfc(ax) - 1;
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/**
 * erfc(x) = 1 − erf(x) = 2·Φ(−√2·x), with full relative precision in the upper tail (erfc(9) ≈
 * 4.1e-37, where 1 − erf(x) in float32 is 0 from x ≈ 4) until erfc underflows float64 near x = 26.5.
 * √2·x rounds once (relative error ≤ 2⁻⁵³), which moves Φ(−z) by a relative z²·2⁻⁵³: below 1e-13
 * while erfc is a float32 (z < 14.3), far under float32's rounding.
 * @example erfc(3) // 0.00002209049699858544
 */
export function erfc(x: number): number {
  return 2 * ndtr(-Math.SQRT2 * x);
}

/**
 * 2^x, exact where x is an integer (Math.pow returns the power of two itself; exp(x·ln 2) in
 * float32 is off by up to 34 ulp there) and correctly rounded to float32 elsewhere but for double
 * rounding (Math.pow is within 1 float64 ulp of 2^x).
 * @example exp2(-126) // 1.1754943508222875e-38
 */
export function exp2(x: number): number {
  return Math.pow(2, x);
}

// Lanczos' coefficients for g = 7, n = 9 (Numerical Recipes 3rd ed. §6.1; Godfrey's set): the
// sum approximates Γ(x + 1)·e^(x+g+1/2)/((x + g + 1/2)^(x+1/2)·√(2π)) to about 1e-15 relative for x ≥ 0.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const LOG_SQRT_2PI = 0.9189385332046728;
const LOG_PI = 1.1447298858494002;

/**
 * ln|Γ(x)| (scipy's gammaln, jax.lax.lgamma): Lanczos' approximation for x ≥ 1/2, the reflection
 * ln|Γ(x)| = ln π − ln|sin(πx)| − ln|Γ(1 − x)| below. +inf at 0, the negative integers and ±inf
 * (as JAX), NaN at NaN. Absolute error about 1e-15·max(1, |lgamma(x)|), so relative precision is
 * lost only next to lgamma's zeros at 1 and 2, where the float32 result is still within its spacing.
 * @example lgamma(0.5) // 0.5723649429247001 (ln √π)
 */
export function lgamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (!Number.isFinite(x)) return Infinity;
  if (x < 0.5) {
    if (x === Math.floor(x)) return Infinity;
    // sin(πx) from x reduced to [−1, 1]: sin(π·x) for large |x| would lose the fraction first.
    const s = Math.abs(Math.sin(Math.PI * (x - 2 * Math.round(x / 2))));
    return LOG_PI - Math.log(s) - lgamma(1 - x);
  }
  const z = x - 1;
  let a = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** π·cot(πx), with the argument reduced to (−1/2, 1/2] first (cot has period π) so that large |x| keeps its fraction. */
function piCot(x: number): number {
  const r = x - Math.round(x);
  return Math.PI / Math.tan(Math.PI * r);
}

/**
 * ψ(x) = d/dx ln Γ(x) (scipy's psi, jax.scipy.special.digamma): the recurrence ψ(x) = ψ(x + 1) − 1/x
 * up to x ≥ 10, then the asymptotic series ln x − 1/(2x) − Σ B₂ₖ/(2k·x²ᵏ) (six terms: error below
 * 1e-16 there); the reflection ψ(x) = ψ(1 − x) − π·cot(πx) for x < 0. NaN at 0 and the negative
 * integers (XLA's Digamma), at NaN and at −inf; +inf at +inf.
 * @example digamma(1) // -0.5772156649015329 (−γ)
 */
export function digamma(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return Infinity;
  if (x <= 0) {
    if (x === Math.floor(x)) return NaN;
    return digamma(1 - x) - piCot(x);
  }
  let acc = 0;
  while (x < 10) {
    acc -= 1 / x;
    x += 1;
  }
  const r = 1 / (x * x);
  const series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132 - r * (691 / 32760))))));
  return acc + Math.log(x) - 0.5 / x - series;
}

/**
 * ψ₁(x) = d²/dx² ln Γ(x) = Σₙ 1/(x + n)² (scipy's polygamma(1, x)), the n = 1 case of polygamma
 * below (recurrence, asymptotic series, reflection for x < 0). +inf at 0 and the negative integers
 * (a double pole, positive on both sides); NaN at NaN and −inf; 0 at +inf.
 * @example trigamma(1) // 1.6449340668482264 (π²/6)
 */
export function trigamma(x: number): number {
  return polygamma(1, x);
}

/** B₂, B₄, …, B₂₀: the Bernoulli numbers of polygamma's asymptotic series. */
const BERNOULLI_EVEN = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798, -174611 / 330];

/** Coefficients (index = power of c) of Pₙ(c) = dⁿ/dθⁿ cot θ at c = cot θ, by Pₙ₊₁ = −(1 + c²)Pₙ′; cached per n. */
const COT_DERIVATIVES: number[][] = [[0, 1]];
/** Pₙ's coefficients: every one has the sign (−1)ⁿ and only powers of the parity of n + 1 occur, so Pₙ(c) never cancels. */
function cotDerivative(n: number): number[] {
  while (COT_DERIVATIVES.length <= n) {
    const p = COT_DERIVATIVES[COT_DERIVATIVES.length - 1]!;
    const q = new Array<number>(p.length + 1).fill(0);
    for (let k = 1; k < p.length; k++) {
      q[k - 1]! -= k * p[k]!;
      q[k + 1]! -= k * p[k]!;
    }
    COT_DERIVATIVES.push(q);
  }
  return COT_DERIVATIVES[n]!;
}

/** Orders up to this one take π cot⁽ⁿ⁾(πx) from Pₙ; above it from the sum over the nearest poles. */
const COT_POLYNOMIAL_MAX_ORDER = 40;

/**
 * πⁿ⁺¹ cot⁽ⁿ⁾(πx) = (−1)ⁿ n! Σₖ 1/(x + k)ⁿ⁺¹ (the n-th derivative of π cot πx = Σₖ 1/(x + k)) for
 * non-integer x, read at r = x − round(x) ∈ [−½, ½] (exact). Up to order 40, πⁿ⁺¹ Pₙ(cot πr), with
 * cot πr = tan(π(½ − |r|)) near ±½ so that it is exactly 0 at half-integers; above, the poles
 * |k| ≤ 3 (the rest is below 2⁻²ⁿ of the nearest pole's term), summed in pairs r + k, r − k − 1 so
 * that at half-integers (r = ½) each pair cancels exactly.
 */
function piCotDerivative(n: number, x: number, term: (y: number) => number): number {
  // (Math.round takes half-integers up, to r = −½: taken as +½, so that the pairs below are ±y.)
  const r = x - Math.round(x) === -0.5 ? 0.5 : x - Math.round(x);
  if (n > COT_POLYNOMIAL_MAX_ORDER) {
    // As multiples of the nearest pole's term n!/rⁿ⁺¹, which may overflow where the sum is 0.
    let s = 0;
    for (let k = 0; k <= 3; k++) s += (r / (r + k)) ** (n + 1) + (r / (r - k - 1)) ** (n + 1);
    return s === 0 ? 0 : (n % 2 === 0 ? 1 : -1) * term(r) * s;
  }
  const c = Math.abs(r) < 0.25 ? 1 / Math.tan(Math.PI * r) : Math.sign(r) * Math.tan(Math.PI * (0.5 - Math.abs(r)));
  // Horner in c² over the powers of n + 1's parity, from the top one (Pₙ has degree n + 1), so
  // that c² = inf gives ±inf and no 0 · inf: no coefficient of those powers is 0.
  const p = cotDerivative(n), c2 = c * c;
  let acc = p[n + 1]!;
  for (let k = n - 1; k >= 0; k -= 2) acc = acc * c2 + p[k]!;
  return Math.PI ** (n + 1) * (n % 2 === 0 ? acc * c : acc);
}

/** Orders up to this one take n!/yⁿ⁺¹ from n! and a power by squaring; above it from its logarithm. */
const RUNNING_PRODUCT_MAX_ORDER = 100;

/**
 * ln(n!/yⁿ⁺¹) for n > 100 and y > 0, by Stirling's series for ln n! (error below 1e-17 there)
 * written as (n + 1)·ln(n/y) − n + ½ ln(2π/n) + 1/(12n) − …, so that where the value is near 1
 * (y ≈ n/e) the large terms cancel with an error of n·ε, not n·ln n·ε.
 */
function logFactorialOver(n: number, y: number): number {
  const n2 = n * n;
  const correction = (1 / (12 * n)) * (1 - (1 / (30 * n2)) * (1 - 2 / (7 * n2)));
  return (n + 1) * Math.log(n / y) - n + 0.5 * Math.log((2 * Math.PI) / n) + correction;
}

/**
 * n! ζ(n + 1, x) for n > 100 and x > 0. Below n + 10 the terms (x + k)^−(n+1) fall at least like
 * e^−(n+1)k/x, so the direct sum ends within ~60 terms, once the tail Σⱼ≥ₖ ≤ (x + k)^−(n+1)·(1 + (x + k)/n)
 * is below 1e-17 of it; from n + 10 up the asymptotic series in 1/x, its lead (n − 1)!/xⁿ from
 * its logarithm. Each term is a ratio to the first, exp(−(n + 1)·log1p(k/x)), so the sum is near
 * 1 and its scale n!/xⁿ⁺¹ is applied once, in the exponent: it overflows or underflows only where
 * the value does.
 */
function hurwitzLargeOrder(n: number, x: number): number {
  const logScale = logFactorialOver(n, x);
  if (x < n + 10) {
    let sum = 0;
    for (let k = 0; ; k++) {
      const r = Math.exp(-(n + 1) * Math.log1p(k / x));
      sum += r;
      if (r * (1 + (x + k) / n) < 1e-17 * sum) break;
    }
    return Math.exp(logScale + Math.log(sum));
  }
  // (n−1)!/xⁿ = (n!/xⁿ⁺¹)·x/n times the series as in polygamma (ten terms suffice from n + 10).
  return Math.exp(logScale + Math.log(x / n) + Math.log(asymptoticSeries(n, x, BERNOULLI_EVEN)));
}

/**
 * The asymptotic series of ψ⁽ⁿ⁾(w) over its lead (n−1)!/wⁿ: 1 + n/(2w) + Σₖ B₂ₖ tₖ with
 * tₖ = (2k+n−1)!/((n−1)!(2k)! w²ᵏ), each term from its ratio to the one before, until a term no
 * longer counts (below 1e-17 of the sum) or the coefficients run out.
 */
function asymptoticSeries(n: number, w: number, bernoulliEven: readonly number[]): number {
  let series = 1 + n / (2 * w);
  let t = 1;
  const r = 1 / (w * w);
  for (let k = 1; k <= bernoulliEven.length; k++) {
    t *= ((2 * k + n - 2) * (2 * k + n - 1)) / ((2 * k - 1) * (2 * k)) * r;
    const next = bernoulliEven[k - 1]! * t;
    series += next;
    if (Math.abs(next) < 1e-17 * series) break;
  }
  return series;
}

/**
 * c/yᵐ for an exact y and an integer m ≥ 1, the power by squaring (only the squarings round); where
 * yᵐ is subnormal, c times the power of 1/y instead, which overflows only where the value does.
 */
function overPower(c: number, y: number, m: number): number {
  const p = powInt(y, m);
  return Math.abs(p) >= 2.2250738585072014e-308 ? c / p : c * powInt(1 / y, m);
}

/** B₂, …, B₄₀: twenty terms of the asymptotic series for orders up to 100 (exact ratios, rounded once or twice). */
const BERNOULLI_EVEN_40 = [
  ...BERNOULLI_EVEN, 854513 / 138, -236364091 / 2730, 8553103 / 6, -23749461029 / 870, 8615841276005 / 14322,
  -7709321041217 / 510, 2577687858367 / 6, -26315271553053477373 / 1919190, 2929993913841559 / 6, -261082718496449122051 / 13530,
];

/** n! for n ≤ 100, each correctly rounded (from BigInt products). */
const FACTORIALS: number[] = (() => {
  const out = [1];
  let f = 1n;
  for (let k = 1n; k <= 100n; k++) out.push(Number((f *= k)));
  return out;
})();

/**
 * The least w from which twenty terms of the asymptotic series give ψ⁽ⁿ⁾(w) to 1e-17 of its lead
 * (n−1)!/wⁿ: where the twentieth term |B₄₀| (n+39)!/((n−1)! 40! w⁴⁰) is below that (the terms
 * still fall there, so the remainder is smaller still). About 7 + 0.43n: 7.4 at n = 2, 49 at
 * n = 100, against the n + 10 that ten terms need (and each step below it costs a power).
 */
const ASYMPTOTIC_START: number[] = [];
function asymptoticStart(n: number): number {
  let w = ASYMPTOTIC_START[n];
  if (w === undefined) {
    let c = Math.abs(BERNOULLI_EVEN_40[19]!);
    for (let i = 1; i <= 40; i++) c *= (n + i - 1) / i;
    w = ASYMPTOTIC_START[n] = Math.ceil((c / 1e-17) ** (1 / 40));
  }
  return w;
}

/** bᵉ for an integer e ≥ 1 by squaring (about 2·log₂ e products; relative error below e·2⁻⁵² for the rounded b). */
function powInt(b: number, e: number): number {
  let out = 1;
  for (;;) {
    if (e & 1) out *= b;
    e >>= 1;
    if (e === 0) return out;
    b *= b;
  }
}

/**
 * ψ⁽ⁿ⁾(x), the n-th derivative of digamma (jax.scipy.special.polygamma, which is (−1)ⁿ⁺¹ n! ζ(n + 1, x)
 * for n ≥ 1): digamma at n = 0, NaN for a negative or non-integer n (as XLA's, which takes natural
 * orders only). For 1 ≤ n ≤ 100 the recurrence ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + 1) + (−1)ⁿ⁺¹ n!/xⁿ⁺¹ up to
 * x ≥ w(n) ≈ 7 + 0.43n (`asymptoticStart`), then the asymptotic series (−1)ⁿ⁺¹ [(n−1)!/xⁿ + n!/(2xⁿ⁺¹) +
 * Σₖ B₂ₖ (2k+n−1)!/((2k)! x²ᵏ⁺ⁿ)] (up to twenty terms: below 1e-17 relative there). Each step's
 * xⁿ⁺¹ is a power by squaring (~14 products at n = 100) and the lead (n−1)!/xⁿ a running product, so
 * they overflow only where the value does. (With ten terms the series needed x ≥ n + 10, and each
 * step's n!/xⁿ⁺¹ as a running product of n factors: ~11,000 products per element at n = 100, x < 1.)
 * Above order 100 (an int32 array may hold any order) the product would pass through e^(−x) on its
 * way (0 for x ≳ 745, where ψ⁽²⁷¹⁸⁾(1000) ≈ −0.106 came out −0): there the terms are
 * exp(ln n! − (n + 1) ln y) (Stirling) and the Hurwitz sum Σₖ (x + k)^−(n+1) is cut where its tail is
 * below 1e-17 (at most ~60 terms when x < n + 10), so any order takes O(1).
 * For x < 0 the reflection ψ⁽ⁿ⁾(x) = (−1)ⁿ ψ⁽ⁿ⁾(1 − x) − πⁿ⁺¹ cot⁽ⁿ⁾(πx):
 * summing the recurrence up from x < 0 instead cancels terms of up to n!·2ⁿ⁺¹ (for even n the poles
 * on either side have opposite signs), so that ψ⁽¹⁰⁾(−100.5) came out 4e-7 for −3e-15, and a far
 * x had to be cut short.
 * At 0 and the negative integers (poles of order n + 1): (−1)ⁿ⁺¹·inf, as JAX and SciPy (n!·ζ(n + 1, q)
 * is +inf there; for even n the sign flips across the pole and this is the limit from the right);
 * NaN at NaN and −inf; 0 at +inf.
 * @example polygamma(2, 1) // -2.4041138063191885 (−2ζ(3))
 */
export function polygamma(n: number, x: number): number {
  if (!(Number.isInteger(n) && n >= 0)) return NaN;
  if (n === 0) return digamma(x);
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return 0;
  const sign = n % 2 === 1 ? 1 : -1;
  if (x <= 0 && x === Math.floor(x)) return sign * Infinity;
  /** n!/yⁿ⁺¹ for |y| ≤ ½ (the reflection's nearest poles; no underflow, so it overflows only where the value does), from its logarithm above order 100. */
  const term = n > RUNNING_PRODUCT_MAX_ORDER
    ? (y: number): number => (y < 0 && n % 2 === 0 ? -1 : 1) * Math.exp(logFactorialOver(n, Math.abs(y)))
    : (y: number): number => overPower(FACTORIALS[n]!, y, n + 1);
  if (x < 0) {
    // (Where πⁿ⁺¹ cot⁽ⁿ⁾ overflows it outweighs ψ⁽ⁿ⁾(1 − x), which may overflow too once n! does.)
    const poles = piCotDerivative(n, x, term);
    return Number.isFinite(poles) ? (n % 2 === 0 ? 1 : -1) * polygamma(n, 1 - x) - poles : -poles;
  }
  if (n > RUNNING_PRODUCT_MAX_ORDER) return sign * hurwitzLargeOrder(n, x);
  // n!·Σₖ<N (x + k)^−(n+1) up to w = x + N ≥ the order's threshold, each power by squaring.
  let acc = 0;
  const start = asymptoticStart(n);
  while (x < start) {
    // (x + k is exact for a float32 x but a tiny one; y^(n+1) cannot overflow below the threshold.)
    acc += overPower(1, x, n + 1);
    x += 1;
  }
  // (n−1)!/wⁿ as a running product, then the series.
  let lead = 1 / x;
  for (let j = 1; j < n; j++) lead *= j / x;
  return sign * (FACTORIALS[n]! * acc + lead * asymptoticSeries(n, x, BERNOULLI_EVEN_40));
}
