// PRNG properties at the API level (issue 2); the Threefry kernels themselves are covered by
// threefry.test.ts. The same key gives the same numbers; split and foldIn give independent
// streams; samplers have the right moments and frequencies; keys are ordinary values under grad.
// Statistical bounds sit at about 5 standard errors: not flaky, yet a wrong scale or a stream
// reused across keys fails at once.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NDArray, grad, jvp, np, random, vjp } from '../src/index.js';
import { arbShape } from '../src/testing/index.js';
import { FC_SEED, expectClose, inScope, values } from './helpers.js';

const arbSeed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function centralMoment(xs: readonly number[], k: number): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** k, 0) / xs.length;
}
function corr(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}
/** Upper critical value of chi-square with `dof` degrees of freedom at z = 5 (Wilson–Hilferty). */
function chiCritical(dof: number, z = 5): number {
  const c = 2 / (9 * dof);
  return dof * (1 - c + z * Math.sqrt(c)) ** 3;
}

describe('determinism', () => {
  it('the same key gives the same samples; different seeds give different samples', () => {
    fc.assert(
      fc.property(arbSeed, arbSeed, arbShape({ minRank: 0, maxRank: 3, minDim: 1, maxDim: 4 }), (s1, s2, shape) =>
        inScope(() => {
          for (const sample of [random.normal, random.uniform] as const) {
            const a = sample(random.key(s1), shape), b = sample(random.key(s1), shape);
            expect(a.shape).toEqual(shape);
            expect(a.dtype).toBe('float32');
            expect(values(a)).toEqual(values(b));
          }
          const size = shape.reduce((p, q) => p * q, 1);
          if (s1 !== s2 && size >= 2) expect(values(random.normal(random.key(s1), shape))).not.toEqual(values(random.normal(random.key(s2), shape)));
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('split and foldIn are deterministic and give distinct keys', () => {
    fc.assert(
      fc.property(arbSeed, fc.integer({ min: 1, max: 8 }), (s, n) =>
        inScope(() => {
          const k = random.key(s);
          const keys = random.split(k, n);
          expect(keys.shape).toEqual([n, 2]);
          expect(keys.dtype).toBe('int32');
          expect(values(keys)).toEqual(values(random.split(random.key(s), n)));
          const rows = new Set([JSON.stringify(values(k)), ...Array.from({ length: n }, (_, i) => JSON.stringify(values(keys.at(i))))]);
          expect(rows.size).toBe(n + 1);
          const folded = new Set([0, 1, 2, 3].map((d) => JSON.stringify(values(random.foldIn(k, d)))));
          expect(folded.size).toBe(4);
          expect(values(random.foldIn(k, 7))).toEqual(values(random.foldIn(random.key(s), 7)));
        }),
      ),
      { seed: FC_SEED, numRuns: 25 },
    );
  });

  it('a key array of shape [2] from key(), split rows and foldIn all work as sampler keys', () => {
    inScope(() => {
      const k = random.key(0);
      const [k1, k2] = [random.split(k).at(0), random.split(k).at(1)];
      expect(random.normal(k1!, [3]).shape).toEqual([3]);
      expect(random.uniform(random.foldIn(k2!, 3), [2, 2]).shape).toEqual([2, 2]);
      expect(() => random.normal(np.array([1.5, 2]), [2])).toThrow(/random\.normal.*key.*f32\[2\]/);
    });
  });
});

describe('independence', () => {
  const N = 4000;
  const bound = 5 / Math.sqrt(N);

  it('streams from split keys, foldIn keys and the parent key are uncorrelated', () => {
    fc.assert(
      fc.property(arbSeed, (s) =>
        inScope(() => {
          const k = random.key(s);
          const ks = random.split(k, 3);
          const streams = [
            values(random.normal(k, [N])),
            values(random.normal(ks.at(0), [N])),
            values(random.normal(ks.at(1), [N])),
            values(random.normal(ks.at(2), [N])),
            values(random.normal(random.foldIn(k, 101), [N])),
            values(random.normal(random.foldIn(k, 202), [N])),
          ];
          for (let i = 0; i < streams.length; i++) {
            for (let j = i + 1; j < streams.length; j++) {
              const r = corr(streams[i]!, streams[j]!);
              if (!(Math.abs(r) < bound)) throw new Error(`streams ${i} and ${j} have correlation ${r} (bound ${bound})`);
            }
          }
          // Consecutive samples of one stream are uncorrelated too (lag-1 autocorrelation).
          const a = streams[0]!;
          expect(Math.abs(corr(a.slice(1), a.slice(0, -1)))).toBeLessThan(bound);
        }),
      ),
      { seed: FC_SEED, numRuns: 5 },
    );
  });

  // JAX's partitionable Threefry: split(k, n)[j] and foldIn(k, j) are the same key (both are
  // threefry(k, (0, j))), so mixing the two with overlapping j reuses a stream — as in JAX.
  it('split(k, n)[j] equals foldIn(k, j), as in JAX with partitionable Threefry', () => {
    inScope(() => {
      const k = random.key(42);
      const ks = random.split(k, 4);
      for (let j = 0; j < 4; j++) expect(values(ks.at(j))).toEqual(values(random.foldIn(k, j)));
    });
  });

  it('the two halves of a larger sample are not the same stream shifted (no reuse across shapes)', () => {
    inScope(() => {
      const k = random.key(11);
      const small = values(random.uniform(k, [100]));
      const big = values(random.uniform(k, [200]));
      expect(big.slice(100)).not.toEqual(small);
    });
  });
});

describe('moments and frequencies', () => {
  const N = 20000;

  it('normal: mean 0, variance 1, skewness 0, kurtosis 3', () => {
    for (const s of [0, 1, 12345]) {
      inScope(() => {
        const x = values(random.normal(random.key(s), [N]));
        const m = mean(x), v = centralMoment(x, 2);
        expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(N));
        expect(Math.abs(v - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
        expect(Math.abs(centralMoment(x, 3) / v ** 1.5)).toBeLessThan(5 * Math.sqrt(6 / N));
        expect(Math.abs(centralMoment(x, 4) / v ** 2 - 3)).toBeLessThan(5 * Math.sqrt(24 / N));
      });
    }
  });

  it('uniform: values in [min, max), mean and variance of the uniform distribution, flat histogram', () => {
    for (const [s, lo, hi] of [[0, 0, 1], [3, -2, 5]] as const) {
      inScope(() => {
        const x = values(random.uniform(random.key(s), [N], lo, hi));
        const w = hi - lo;
        expect(Math.min(...x)).toBeGreaterThanOrEqual(lo);
        expect(Math.max(...x)).toBeLessThan(hi);
        expect(Math.abs(mean(x) - (lo + hi) / 2)).toBeLessThan(5 * w * Math.sqrt(1 / 12 / N));
        expect(Math.abs(centralMoment(x, 2) - (w * w) / 12)).toBeLessThan(5 * w * w * Math.sqrt(1 / 180 / N));
        const bins = 20;
        const counts = new Array<number>(bins).fill(0);
        for (const v of x) counts[Math.min(bins - 1, Math.floor(((v - lo) / w) * bins))]!++;
        const chi = counts.reduce((a, c) => a + (c - N / bins) ** 2 / (N / bins), 0);
        expect(chi).toBeLessThan(chiCritical(bins - 1));
      });
    }
  });

  it('bernoulli: frequency p, with p broadcast as an array', () => {
    inScope(() => {
      for (const p of [0.1, 0.5, 0.9]) {
        const b = random.bernoulli(random.key(5), p, [N]);
        expect(b.dtype).toBe('bool');
        const f = mean(values(b));
        expect(Math.abs(f - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
      }
      const ps = [0.2, 0.5, 0.7];
      const b = values(random.bernoulli(random.key(6), np.array(ps, 'float32'), [N / 4, 3]));
      ps.forEach((p, j) => {
        const f = mean(b.filter((_, i) => i % 3 === j));
        expect(Math.abs(f - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / (N / 4)));
      });
    });
  });

  it('categorical: class frequencies follow softmax(logits) (chi-square)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -20, max: 20 }).map((v) => v / 10), { minLength: 2, maxLength: 5 }), arbSeed, (logits, s) =>
        inScope(() => {
          const m = Math.max(...logits);
          const e = logits.map((l) => Math.exp(l - m));
          const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
          const samples = values(random.categorical(random.key(s), np.array(logits, 'float32'), -1, [N]));
          const counts = p.map((_, c) => samples.filter((v) => v === c).length);
          expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
          const chi = counts.reduce((a, c, i) => a + (c - N * p[i]!) ** 2 / (N * p[i]!), 0);
          expect(chi).toBeLessThan(chiCritical(p.length - 1));
        }),
      ),
      { seed: FC_SEED, numRuns: 5 },
    );
  });

  it('categorical over a batch of logits samples each row from its own distribution', () => {
    inScope(() => {
      const logits = np.array([[0, 0, 5], [5, 0, 0]], 'float32');
      const s = random.categorical(random.key(2), logits);
      expect(s.shape).toEqual([2]);
      const many = values(random.categorical(random.key(3), logits, -1, [2000, 2]));
      const rowMode = [0, 1].map((r) => {
        const counts = [0, 1, 2].map((c) => many.filter((v, i) => i % 2 === r && v === c).length);
        return counts.indexOf(Math.max(...counts));
      });
      expect(rowMode).toEqual([2, 0]);
    });
  });

  it('randint: int32 values in [min, max) with every value hit', () => {
    inScope(() => {
      const x = random.randint(random.key(9), [5000], -3, 4);
      expect(x.dtype).toBe('int32');
      const v = values(x);
      expect(Math.min(...v)).toBe(-3);
      expect(Math.max(...v)).toBe(3);
    });
  });
});

describe('permutation', () => {
  it('permutation(key, n) is a permutation of 0..n-1', () => {
    fc.assert(
      fc.property(arbSeed, fc.integer({ min: 0, max: 64 }), (s, n) =>
        inScope(() => {
          const p = random.permutation(random.key(s), n);
          expect(p.dtype).toBe('int32');
          expect(p.shape).toEqual([n]);
          expect([...values(p)].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('permutation(key, x) permutes the rows of x', () => {
    fc.assert(
      fc.property(arbSeed, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), (s, n, m) =>
        inScope(() => {
          const x = np.reshape(np.arange(n * m), [n, m]);
          const y = random.permutation(random.key(s), x);
          expect(y.shape).toEqual([n, m]);
          const rows = (a: NDArray) => (a.toArray() as number[][]).map((r) => JSON.stringify(r)).sort();
          expect(rows(y)).toEqual(rows(x));
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });

  it('every position is equally likely for each element (chi-square over many keys)', () => {
    inScope(() => {
      const n = 5, trials = 2000;
      const keys = random.split(random.key(4), trials);
      const counts = new Array<number>(n).fill(0);
      for (let t = 0; t < trials; t++) counts[values(random.permutation(keys.at(t), n)).indexOf(0)]!++;
      const chi = counts.reduce((a, c) => a + (c - trials / n) ** 2 / (trials / n), 0);
      expect(chi).toBeLessThan(chiCritical(n - 1));
    });
  });
});

describe('keys are ordinary values under transformations', () => {
  it('grad through a function that samples with a closed-over key: the noise is a constant', () => {
    fc.assert(
      fc.property(arbSeed, arbShape({ minRank: 1, maxRank: 2, maxDim: 4 }), (s, shape) =>
        inScope(() => {
          const key = random.key(s);
          const x = np.ones(shape);
          const g = grad((v: NDArray) => np.sum(np.multiply(v, random.normal(key, shape))))(x);
          expectClose(g, random.normal(key, shape), { rtol: 0, atol: 0 });
          // The key as an argument left out of argnums, and split inside the function.
          const f = (v: NDArray, k: NDArray) => np.sum(np.multiply(np.square(v), random.uniform(random.split(k).at(1), shape)));
          const u = random.uniform(random.split(key).at(1), shape);
          expectClose(grad(f)(x, key), np.multiply(u, 2), { rtol: 1e-6, atol: 0 });
          const [, t] = jvp((v: NDArray) => f(v, key), [x], [np.onesLike(x)]);
          expectClose(t, np.sum(np.multiply(u, 2)), { rtol: 1e-5, atol: 1e-6 });
          const [, pullback] = vjp((v: NDArray) => np.multiply(v, random.normal(random.foldIn(key, 3), shape)), x);
          expectClose(pullback(np.onesLike(x))[0]!, random.normal(random.foldIn(key, 3), shape), { rtol: 0, atol: 0 });
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });

  it('differentiating with respect to a key is a clear dtype error', () => {
    inScope(() => {
      expect(() => grad((k: NDArray) => np.sum(random.normal(k, [2])))(random.key(0))).toThrow(/i32\[2\].*float32/);
    });
  });

  it('reparameterised sampling: d/dμ E[μ + σ ε] = 1 and d/dσ = ε', () => {
    inScope(() => {
      const eps = random.normal(random.key(21), [1000]);
      const f = (mu: NDArray, sigma: NDArray) => np.mean(np.add(mu, np.multiply(sigma, eps)));
      const [gmu, gsigma] = grad(f, { argnums: [0, 1] })(np.array(0.5, 'float32'), np.array(2, 'float32')) as unknown as NDArray[];
      expectClose(gmu!, 1, { rtol: 1e-5 });
      expectClose(gsigma!, mean(values(eps)), { rtol: 1e-4, atol: 1e-6 });
    });
  });
});

describe('integers', () => {
  it('foldIn takes data as uint32, like JAX: 2³² − 1 and −1 are the same word, and differ from 0', () => {
    inScope(() => {
      const k = random.key(3);
      expect(values(random.foldIn(k, 2 ** 32 - 1))).toEqual(values(random.foldIn(k, -1)));
      expect(values(random.foldIn(k, 2 ** 31))).toEqual(values(random.foldIn(k, -(2 ** 31))));
      expect(values(random.foldIn(k, 2 ** 32 - 1))).not.toEqual(values(random.foldIn(k, 0)));
      expect(() => random.foldIn(k, 2 ** 32)).toThrow(/foldIn: expected an integer in/);
    });
  });

  it('randint over wide ranges uses every bit (odd values appear), stays in range and is int32', () => {
    inScope(() => {
      const k = random.key(3);
      for (const [lo, hi] of [[0, 2 ** 30], [-(2 ** 31) + 1, 0], [-5, 2 ** 25]]) {
        const v = random.randint(k, [20000], lo!, hi!);
        expect(v.dtype).toBe('int32');
        const xs = values(v);
        expect(Math.min(...xs)).toBeGreaterThanOrEqual(lo!);
        expect(Math.max(...xs)).toBeLessThan(hi!);
        const odd = xs.filter((x) => Math.abs(x) % 2 === 1).length / xs.length;
        expect(odd).toBeGreaterThan(0.45);
        expect(odd).toBeLessThan(0.55);
      }
      expect(() => random.randint(k, [2], -(2 ** 31), 2 ** 31 - 1)).toThrow(/randint: the range/);
    });
  });

  it('gumbel samples are finite even where the uniform draw is exactly 0', () => {
    inScope(() => {
      // Key 0 draws a uniform of exactly 0 at index 4,276,093 of 2²⁴ (found by a review).
      const g = random.gumbel(random.key(0), [1 << 24]);
      expect(Number(np.all(np.isfinite(g)).item())).toBe(1);
    });
  });
});

describe('bad distribution parameters are errors naming the sampler', () => {
  it('uniform bounds, bernoulli probabilities, randint bounds, categorical shapes and axes', () => {
    inScope(() => {
      const k = random.key(0);
      expect(() => random.uniform(k, [3], NaN, 1)).toThrow(/random.uniform: expected finite bounds with minval ≤ maxval, got \[NaN, 1\)/);
      expect(() => random.uniform(k, [3], 2, 1)).toThrow(/random.uniform: expected finite bounds/);
      expect(() => random.bernoulli(k, NaN, [3])).toThrow(/random.bernoulli: expected a probability p in \[0, 1\], got NaN/);
      expect(() => random.bernoulli(k, 1.5)).toThrow(/random.bernoulli: expected a probability/);
      expect(() => random.bernoulli(k, np.array([0.5, 0.5], 'float32'), [3])).toThrow(/random.bernoulli/);
      expect(random.bernoulli(k, np.array([0.5, 0.5], 'float32'), [4, 2]).shape).toEqual([4, 2]);
      expect(() => random.randint(k, [3], 0.2, 0.7)).toThrow(/random.randint: expected integer bounds, got \[0.2, 0.7\)/);
      const logits = np.zeros([2, 3]);
      expect(() => random.categorical(k, logits, -1, [4, 7])).toThrow(/random.categorical: shape \[4,7\] must end with a shape the logits' batch shape \[2\] broadcasts to/);
      expect(() => random.categorical(k, logits, -1, [])).toThrow(/the logits' batch shape \[2\] broadcasts to/);
      // A batch dimension of 1 broadcasts (JAX): each of the 5 draws is independent.
      const draws = random.categorical(k, np.zeros([1, 50]), -1, [5]);
      expect(draws.shape).toEqual([5]);
      expect(new Set(values(draws)).size).toBeGreaterThan(1);
      expect(() => random.categorical(k, logits, 5)).toThrow(/random.categorical: axis 5 is out of range for logits of shape \[2,3\]/);
      expect(random.categorical(k, logits, -1, [4, 2]).shape).toEqual([4, 2]);
      expect(() => random.foldIn(k, np.array([1.7], 'float32'))).toThrow(/random.foldIn: expected integer data, got f32\[1\]/);
      expect(() => random.permutation(k, np.array(3))).toThrow(/random.permutation: expected a count or an array with a first axis to permute, got a scalar array/);
      expect(random.categorical(k, logits, 0, [5, 3]).shape).toEqual([5, 3]);
    });
  });
});
