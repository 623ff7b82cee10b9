// Losses and smooth surrogates (algorithms.md §7a, §7b, §7f, §7i): cross-entropies against float64
// references, the ZLPR identities, smoothing bounds, the Beta sampler behind mixup, mixup and
// SamplePairing identities, and biased vs unbiased variance in expectation.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, dispose, grad, hessian, jit, np, random, scope, tree, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import * as losses from '../models/losses.js';
import * as nn from '../models/nn.js';

const FC = { seed: 42, numRuns: 25 };

// ---- helpers ---------------------------------------------------------------------------------------

const f32 = (x: unknown) => np.array(x as number[], 'float32');
const vals = (x: NDArray) => Array.from(x.dataSync());

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-5, label = 'values'): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) throw new Error(`${label}[${i}]: got ${g}, want ${w}`);
  }
}

/** Runs `fn` in a scope and returns what it returns (plain JS values only). */
const run = <T>(fn: () => T): T => scope(fn);

const lse64 = (xs: readonly number[]) => {
  const m = Math.max(...xs);
  return m === -Infinity ? m : m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};
const softplus64 = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

// Logits on a 1/64 grid: no subnormal floats (the wasm Sign kernel flushes them to 0, see the report).
const logitsArb = (n: number, scale = 6) => fc.array(fc.integer({ min: -64 * scale, max: 64 * scale }).map((v) => v / 64), { minLength: n, maxLength: n });
const rowsArb = fc.integer({ min: 1, max: 4 }).chain((b) => fc.integer({ min: 2, max: 6 }).chain((n) =>
  fc.tuple(fc.array(logitsArb(n), { minLength: b, maxLength: b }), fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), { minLength: b, maxLength: b }))));

/** The ZLPR set formula in float64: log(e^{s₀} + Σ_neg e^{s}) + log(e^{−s₀} + Σ_pos e^{−s}). */
function zlprSet(s: readonly number[], y: readonly boolean[], s0 = 0): number {
  const neg = [s0, ...s.filter((_, i) => !y[i])];
  const pos = [-s0, ...s.filter((_, i) => y[i]).map((v) => -v)];
  return lse64(neg) + lse64(pos);
}

/** All k-subsets of 0..n-1. */
function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const rec = (start: number, cur: number[]) => {
    if (cur.length === k) { out.push([...cur]); return; }
    for (let i = start; i < n; i++) rec(i + 1, [...cur, i]);
  };
  rec(0, []);
  return out;
}

// ---- cross-entropy ---------------------------------------------------------------------------------------

describe('softmax cross-entropy', () => {
  it('with integer labels, one-hot targets and −log softmax[y] (float64) all agree', () => {
    fc.assert(fc.property(rowsArb, fc.nat(), ([rows], seed) => {
      const n = rows[0]!.length;
      const labels = rows.map((_, i) => (seed + 7 * i) % n);
      const want = rows.map((r, i) => lse64(r) - r[labels[i]!]!);
      const [a, b] = run(() => {
        const l = f32(rows), y = np.array(labels, 'int32');
        return [vals(losses.softmaxCrossEntropyWithIntegerLabels(l, y)), vals(losses.softmaxCrossEntropy(l, np.oneHot(y, n)))];
      });
      close(a, want, 1e-5, 1e-5, 'integer');
      close(b, want, 1e-5, 1e-5, 'one-hot');
    }), FC);
  });

  it('is stable for huge logits', () => {
    const [ce, bce] = run(() => [
      vals(losses.softmaxCrossEntropyWithIntegerLabels(f32([[1e4, -1e4, 0], [-3e4, 3e4, 3e4]]), np.array([1, 0]))),
      vals(losses.sigmoidBinaryCrossEntropy(f32([1e4, -1e4, 100]), f32([1, 1, 0]))),
    ]);
    close(ce, [2e4, 6e4 + Math.LN2], 1e-6, 0, 'softmax CE');
    close(bce, [0, 1e4, 100], 1e-6, 1e-6, 'sigmoid BCE');
  });

  it('label smoothing with integer labels equals soft targets (1 − α)·onehot + α/K', () => {
    fc.assert(fc.property(rowsArb, fc.double({ min: 0, max: 0.5, noNaN: true }), ([rows], alpha) => {
      const n = rows[0]!.length;
      const labels = rows.map((_, i) => i % n);
      const [a, b] = run(() => {
        const l = f32(rows), y = np.array(labels, 'int32');
        return [
          vals(losses.softmaxCrossEntropyWithIntegerLabels(l, y, { labelSmoothing: alpha })),
          vals(losses.softmaxCrossEntropy(l, np.oneHot(y, n), { labelSmoothing: alpha })),
        ];
      });
      const want = rows.map((r, i) => { const z = lse64(r); return r.reduce((acc, v, c) => acc - ((c === labels[i] ? 1 - alpha : 0) + alpha / n) * (v - z), 0); });
      close(a, want, 1e-5, 1e-5, 'integer');
      close(b, want, 1e-5, 1e-5, 'soft');
    }), FC);
  });

  it('its gradient is softmax(logits) − target, and matches finite differences', () => {
    fc.assert(fc.property(rowsArb, ([rows]) => {
      run(() => {
        const n = rows[0]!.length;
        const l = f32(rows);
        const t = np.softmax(f32(rows.map((r) => r.map((v) => -v))), -1); // a soft target
        const g = grad((x: NDArray) => np.sum(losses.softmaxCrossEntropy(x, t)))(l);
        close(vals(g), vals(np.softmax(l, -1).sub(t)), 1e-5, 1e-6, 'grad');
        checkGrads((x: NDArray) => losses.softmaxCrossEntropyWithIntegerLabels(x, np.array(rows.map((_, i) => i % n))), [l], { order: 2 });
        return null;
      });
    }), { ...FC, numRuns: 8 });
  });

  it('sigmoid BCE has the gradient σ(s) − y also for logits within 1e-7 of 0', () => {
    const g = run(() => vals(grad((x: NDArray) => np.sum(losses.sigmoidBinaryCrossEntropy(x, f32([0, 1, 0, 1, 0]))))(f32([1e-8, 1e-8, -1e-8, -3e-8, 0]))));
    close(g, [0.5, -0.5, 0.5, -0.5, 0.5], 1e-6, 1e-6);
  });

  it("sigmoid BCE has the second derivative σ(s)(1 − σ(s)) at every logit, 0 included (logistic regression's Hessian at w = 0 is XᵀX/4n)", () => {
    const d2 = run(() => vals(vmap(grad(grad((x: NDArray) => losses.sigmoidBinaryCrossEntropy(x, 1))))(f32([0, 1e-30, -1e-30, 0.5, -3]))));
    close(d2, [0, 1e-30, -1e-30, 0.5, -3].map((v) => { const p = 1 / (1 + Math.exp(-v)); return p * (1 - p); }), 1e-5, 1e-6);
    const x = [[1, 2], [0.5, -1], [-2, 0.3]], y = f32([1, 0, 1]);
    const h = run(() => vals(hessian((w: NDArray) => np.mean(losses.sigmoidBinaryCrossEntropy(np.matmul(f32(x), w), y)))(f32([0, 0]))));
    const xtx = [0, 1].flatMap((i) => [0, 1].map((j) => x.reduce((acc, r) => acc + r[i]! * r[j]!, 0) / (4 * x.length)));
    close(h, xtx, 1e-5, 1e-6);
  });

  it('sigmoid BCE equals −y·log σ(s) − (1 − y)·log(1 − σ(s)), with gradient σ(s) − y', () => {
    fc.assert(fc.property(logitsArb(5, 8), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 5, maxLength: 5 }), (s, y) => {
      const [v, g] = run(() => {
        const ys = f32(y);
        return [vals(losses.sigmoidBinaryCrossEntropy(f32(s), ys)), vals(grad((x: NDArray) => np.sum(losses.sigmoidBinaryCrossEntropy(x, ys)))(f32(s)))];
      });
      close(v, s.map((x, i) => y[i]! * softplus64(-x) + (1 - y[i]!) * softplus64(x)), 1e-5, 1e-5, 'value');
      close(g, s.map((x, i) => 1 / (1 + Math.exp(-x)) - y[i]!), 1e-5, 1e-6, 'grad');
    }), FC);
  });
});

// ---- ZLPR -------------------------------------------------------------------------------------------------

describe('regression losses and KL (Optax l2_loss, squared_error, huber_loss, kl_divergence)', () => {
  it('match their closed forms; huber\'s derivative is e clipped to ±δ; KL takes 0·log 0 = 0 with finite gradients', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: 1, maxLength: 6 }), fc.double({ min: 0.2, max: 3, noNaN: true }), (es, delta) =>
        run(() => {
          const e = es.map(Math.fround);
          const x = f32(e);
          close(vals(losses.l2Loss(x)), e.map((v) => 0.5 * v * v), 1e-6);
          close(vals(losses.squaredError(x, f32(e.map(() => 1)))), e.map((v) => (v - 1) ** 2), 1e-6);
          const huber = (v: number) => (Math.abs(v) <= delta ? 0.5 * v * v : delta * (Math.abs(v) - 0.5 * delta));
          close(vals(losses.huberLoss(x, 0, delta)), e.map(huber), 1e-5);
          close(vals(grad((y: NDArray) => np.sum(losses.huberLoss(y, 0, delta)))(x)), e.map((v) => Math.max(-delta, Math.min(delta, v))), 1e-6);
          return true;
        }),
      ),
      FC,
    );
    run(() => {
      // At |e| = δ exactly (a tie in the min) the derivative is δ, the same from both sides.
      close(vals(grad((y: NDArray) => np.sum(losses.huberLoss(y, 0, 1.5)))(f32([1.5, -1.5, 0]))), [1.5, -1.5, 0], 1e-7);
      const t = [0.5, 0, 0.5], logp = [Math.log(0.2), Math.log(0.3), Math.log(0.5)].map(Math.fround);
      const want = 0.5 * (Math.log(0.5) - logp[0]!) + 0.5 * (Math.log(0.5) - logp[2]!);
      close(vals(losses.klDivergence(f32(logp), f32(t))), [want], 1e-6);
      const [gl, gt] = grad((a: NDArray, b: NDArray) => losses.klDivergence(a, b), { argnums: [0, 1] })(f32(logp), f32(t));
      close(vals(gl), t.map((v) => -v), 1e-7);
      expect(vals(gt).every(Number.isFinite)).toBe(true);
      checkGrads((a: NDArray, b: NDArray) => losses.klDivergence(a, b), [f32(logp), f32([0.3, 0.1, 0.6])], { order: 2 });
      expect(() => losses.huberLoss(f32([1]), 0, 0)).toThrow(/huberLoss: delta must be > 0, got 0/);
      return null;
    });
  });
});

describe('ZLPR multi-label loss (§7b)', () => {
  it('the masked implementation equals the set formula, for any threshold s₀', () => {
    fc.assert(fc.property(rowsArb, fc.double({ min: -2, max: 2, noNaN: true }), ([rows, ys], s0) => {
      const got = run(() => vals(losses.zlpr(f32(rows), f32(ys.map((r) => r.map(Number))), { threshold: s0 })));
      close(got, rows.map((r, i) => zlprSet(r, ys[i]!, s0)), 1e-5, 1e-5);
    }), FC);
  });

  it('is non-negative, and tends to 0 as positives → +∞ and negatives → −∞', () => {
    fc.assert(fc.property(rowsArb, ([rows, ys]) => {
      const [l, far] = run(() => {
        const y = f32(ys.map((r) => r.map(Number)));
        const s = f32(rows);
        return [vals(losses.zlpr(s, y)), vals(losses.zlpr(y.mul(2).sub(1).mul(40), y))];
      });
      for (const v of l) expect(v).toBeGreaterThanOrEqual(0);
      for (const v of far) expect(v).toBeLessThan(1e-12 + 20 * Math.exp(-40));
    }), FC);
  });

  it('one positive and no negatives gives softplus(−s); an empty class set contributes 0', () => {
    fc.assert(fc.property(fc.double({ min: -20, max: 20, noNaN: true }), (s) => {
      const [one, none] = run(() => [vals(losses.zlpr(f32([s]), f32([1]))), vals(losses.zlpr(f32([s]), f32([0])))]);
      close(one, [softplus64(-s)], 1e-5, 1e-6, 'single positive');
      close(none, [softplus64(s)], 1e-5, 1e-6, 'single negative');
    }), FC);
  });

  it('is invariant under swapping positives and negatives with s → −s (and s₀ → −s₀)', () => {
    fc.assert(fc.property(rowsArb, fc.double({ min: -2, max: 2, noNaN: true }), ([rows, ys], s0) => {
      const [a, b] = run(() => {
        const y = f32(ys.map((r) => r.map(Number)));
        return [vals(losses.zlpr(f32(rows), y, { threshold: s0 })), vals(losses.zlpr(f32(rows).neg(), np.subtract(1, y), { threshold: -s0 }))];
      });
      close(a, b, 1e-6, 1e-6);
    }), FC);
  });

  it('the gradient on a negative score is e^{s_i}/(1 + Σ_neg e^s) ∈ (0, 1), on a positive −e^{−s_j}/(1 + Σ_pos e^{−s})', () => {
    fc.assert(fc.property(rowsArb, ([rows, ys]) => {
      const g = run(() => vals(grad((s: NDArray) => np.sum(losses.zlpr(s, f32(ys.map((r) => r.map(Number))))))(f32(rows))));
      const want = rows.flatMap((r, b) => {
        const y = ys[b]!;
        const zn = 1 + r.reduce((a, v, i) => a + (y[i] ? 0 : Math.exp(v)), 0);
        const zp = 1 + r.reduce((a, v, i) => a + (y[i] ? Math.exp(-v) : 0), 0);
        return r.map((v, i) => (y[i] ? -Math.exp(-v) / zp : Math.exp(v) / zn));
      });
      close(g, want, 1e-5, 1e-6);
      g.forEach((v, i) => {
        if (!ys.flat()[i]) { expect(v).toBeGreaterThan(0); expect(v).toBeLessThan(1); }
      });
    }), FC);
  });

  it('matches finite differences (first and second order) and batches under vmap and jit', () => {
    run(() => {
      const s = f32([[0.3, -1.2, 2.0, 0.1], [1.5, 0.2, -0.7, -2.2]]);
      const y = f32([[1, 0, 1, 0], [0, 0, 0, 1]]);
      checkGrads((x: NDArray) => losses.zlpr(x, y, { threshold: 0.5 }), [s], { order: 2 });
      close(vals(vmap((a: NDArray, b: NDArray) => losses.zlpr(a, b))(s, y)), vals(losses.zlpr(s, y)), 1e-6, 1e-6, 'vmap');
      close(vals(jit((a: NDArray, b: NDArray) => losses.zlpr(a, b))(s, y)), vals(losses.zlpr(s, y)), 1e-6, 1e-6, 'jit');
      return null;
    });
  });

  it('targets other than 0/1 (a 2, class ids) are an error when they are known; traced ones are not read', () => {
    run(() => {
      const s = f32([[0.3, -1.2, 2.0], [1.5, 0.2, -0.7]]);
      expect(() => losses.zlpr(s, f32([[1, 0, 2], [0, 0, 1]]))).toThrow(/zlpr: targets must be 0\/1 masks .*got a value 2.*np.oneHot/);
      expect(() => losses.zlpr(s, f32([0, 2]).reshape([2, 1]))).toThrow(/got a value 2/);
      expect(() => losses.zlpr(s, np.array([[true, false, true], [false, false, false]]))).not.toThrow();
      expect(vals(vmap((b: NDArray) => losses.zlpr(s, b))(np.stack([f32([[1, 0, 1], [0, 0, 1]])])))).toHaveLength(2);
      return null;
    });
  });

  it("Newton's identities give Z_k = e_k(e^{s}) equal to brute-force enumeration (n = 5, k ≤ 3)", () => {
    fc.assert(fc.property(logitsArb(5, 2), (s) => {
      const got = run(() => [0, 1, 2, 3].map((k) => losses.logElementarySymmetric(f32(s), k, { method: 'newton' }).item() as number));
      const want = [0, 1, 2, 3].map((k) => lse64(subsets(5, k).map((set) => set.reduce((a, i) => a + s[i]!, 0))));
      close(got, want, 1e-4, 1e-4); // float32 cancellation in the alternating sum
    }), FC);
  });

  it('the log-space recursion gives Z_k to float32 rounding for every k ≤ n, also for spread-out scores', () => {
    fc.assert(fc.property(logitsArb(5, 20), (s) => {
      const ks = [0, 1, 2, 3, 4, 5];
      const got = run(() => ks.map((k) => losses.logElementarySymmetric(f32(s), k).item() as number));
      const want = ks.map((k) => lse64(subsets(5, k).map((set) => set.reduce((a, i) => a + s[i]!, 0))));
      close(got, want, 2e-6, 2e-6);
    }), FC);
    run(() => {
      checkGrads((x: NDArray) => losses.logElementarySymmetric(x, 3), [f32([[0.5, -0.3, 1.1, 0.2, -1.0], [2, 1, 0, -1, -2]])], { order: 2 });
      checkGrads((x: NDArray) => losses.logElementarySymmetric(x, 2, { method: 'newton' }), [f32([0.5, -0.3, 1.1, 0.2, -1.0])]);
      return null;
    });
  });

  it('the fixed-k loss is a normalised likelihood: Σ over all k-sets of e^{−loss} = 1, and its gradient matches finite differences', () => {
    fc.assert(fc.property(logitsArb(5, 3), fc.integer({ min: 1, max: 3 }), (s, k) => {
      const sets = subsets(5, k);
      const total = run(() => {
        const targets = f32(sets.map((set) => [0, 1, 2, 3, 4].map((i) => (set.includes(i) ? 1 : 0))));
        const l = vmap((t: NDArray) => losses.fixedKMultilabelLoss(f32(s), t, k))(targets);
        return vals(l).reduce((a, v) => a + Math.exp(-v), 0);
      });
      expect(Math.abs(total - 1)).toBeLessThan(1e-4);
    }), { ...FC, numRuns: 10 });
    run(() => {
      checkGrads((x: NDArray) => losses.fixedKMultilabelLoss(x, f32([1, 0, 1, 0, 0]), 2), [f32([0.5, -0.3, 1.1, 0.2, -1.0])]);
      return null;
    });
  });
});

// ---- smoothing (§7a) -----------------------------------------------------------------------------------------

describe('function smoothing (§7a)', () => {
  const vecArb = fc.integer({ min: 1, max: 8 }).chain((n) => logitsArb(n, 5));

  it('max ≤ smoothMax_K ≤ max + ln(n)/K, and its gradient softmax(Kx) is non-negative and sums to 1', () => {
    fc.assert(fc.property(vecArb, fc.constantFrom(0.5, 1, 4, 30), (x, K) => {
      const [v, g] = run(() => [losses.smoothMax(f32(x), { k: K }).item() as number, vals(grad((a: NDArray) => losses.smoothMax(a, { k: K }))(f32(x)))]);
      const m = Math.max(...x);
      expect(v).toBeGreaterThanOrEqual(m - 1e-5 * Math.max(1, Math.abs(m)));
      expect(v).toBeLessThanOrEqual(m + Math.log(x.length) / K + 1e-5 * Math.max(1, Math.abs(m)));
      for (const gi of g) expect(gi).toBeGreaterThanOrEqual(0);
      expect(Math.abs(g.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      const z = lse64(x.map((xi) => K * xi));
      close(g, x.map((xi) => Math.exp(K * xi - z)), 1e-4, 1e-6, 'softmax');
    }), FC);
  });

  it('does not overflow for large K·x, and smoothMin mirrors it', () => {
    const [big, mn] = run(() => [losses.smoothMax(f32([100, 99, -50]), { k: 1000 }).item() as number, losses.smoothMin(f32([3, 1, 2]), { k: 100 }).item() as number]);
    expect(big).toBeCloseTo(100, 4);
    expect(mn).toBeCloseTo(1, 4);
  });

  it('soft argmax lies in [1, n], tends to the (1-based) argmax as K → ∞, and to the mean index on ties', () => {
    fc.assert(fc.property(vecArb, (x) => {
      const n = x.length;
      const sorted = [...x].sort((a, b) => b - a);
      const [v, sharp] = run(() => [losses.softArgmax(f32(x)).item() as number, losses.softArgmax(f32(x), { k: 1e4 }).item() as number]);
      expect(v).toBeGreaterThanOrEqual(1 - 1e-5);
      expect(v).toBeLessThanOrEqual(n + 1e-5);
      if (n === 1 || sorted[0]! - sorted[1]! > 0.01) expect(sharp).toBeCloseTo(x.indexOf(sorted[0]!) + 1, 3);
    }), FC);
    const [tie, zero] = run(() => [losses.softArgmax(f32([0, 5, 1, 5]), { k: 100 }).item() as number, losses.softArgmax(f32([0, 5, 1]), { k: 100, start: 0 }).item() as number]);
    expect(tie).toBeCloseTo(3, 4); // mean of the 1-based indices 2 and 4
    expect(zero).toBeCloseTo(1, 4);
  });

  it('soft accuracy and soft F1 equal the hard metrics on one-hot / binary predictions', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3), fc.nat(3)), { minLength: 1, maxLength: 12 }), (pairs) => {
      const preds = pairs.map(([p]) => p), labels = pairs.map(([, l]) => l);
      const acc = pairs.filter(([p, l]) => p === l).length / pairs.length;
      const [softAcc, softAccOneHot] = run(() => {
        const p = np.oneHot(np.array(preds, 'int32'), 4);
        return [losses.softAccuracy(p, np.array(labels, 'int32')).item() as number, losses.softAccuracy(p, np.oneHot(np.array(labels, 'int32'), 4)).item() as number];
      });
      expect(softAcc).toBeCloseTo(acc, 6);
      expect(softAccOneHot).toBeCloseTo(acc, 6);
      // positive class = label 0
      const p: number[] = preds.map((v) => (v === 0 ? 1 : 0)), t: number[] = labels.map((v) => (v === 0 ? 1 : 0));
      const tp = p.reduce((a, v, i) => a + v * t[i]!, 0), np_ = p.reduce((a, b) => a + b, 0), nt = t.reduce((a, b) => a + b, 0);
      const f1 = np_ + nt === 0 ? 1 : (2 * tp) / (np_ + nt);
      const soft = run(() => losses.softF1(f32(p), f32(t)).item() as number);
      expect(soft).toBeCloseTo(f1, 5);
    }), FC);
  });

  it('soft F1 of soft probabilities is 2Σtp/Σ(t + p), differentiable, and its loss is 1 − F1', () => {
    run(() => {
      const p = f32([0.9, 0.2, 0.6, 0.1]), t = f32([1, 0, 1, 1]);
      expect(losses.softF1(p, t).item()).toBeCloseTo((2 * (0.9 + 0.6 + 0.1)) / (3 + 1.8), 5);
      expect(losses.softF1Loss(p, t).item()).toBeCloseTo(1 - (2 * 1.6) / 4.8, 5);
      checkGrads((x: NDArray) => losses.softF1(x, t), [p]);
      const perClass = losses.softF1(f32([[1, 0], [0, 1], [1, 1]]), f32([[1, 0], [1, 1], [0, 1]]), { axis: 0 });
      close(vals(perClass), [0.5, 1], 1e-5, 1e-5, 'per-class');
      return null;
    });
  });

  it('the smooth surrogates match finite differences', () => {
    run(() => {
      const x = f32([[0.3, -1.2, 2.0, 0.1], [1.5, 0.2, -0.7, 1.4]]);
      checkGrads((a: NDArray) => losses.smoothMax(a, { k: 3 }), [x], { order: 2 });
      checkGrads((a: NDArray) => losses.softArgmax(a, { k: 2 }), [x], { order: 2 });
      checkGrads((a: NDArray) => losses.softTopK(a, 2, { k: 2 }), [x]);
      checkGrads((a: NDArray) => losses.softAccuracy(np.softmax(a), np.array([2, 0])), [x]);
      return null;
    });
  });

  it('soft F1 is 1 when there are no positives and no predictions (the ε convention)', () => {
    expect(run(() => losses.softF1(f32([0, 0, 0]), f32([0, 0, 0])).item())).toBe(1);
  });

  it('soft top-k sums to k, is softmax(Kx) for k = 1, and tends to the hard top-k mask as K → ∞', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 7 }).chain((n) => fc.tuple(logitsArb(n, 3), fc.integer({ min: 1, max: n }))), ([x, k]) => {
      const [mask, one, soft] = run(() => [vals(losses.softTopK(f32(x), k)), vals(losses.softTopK(f32(x), 1, { k: 3 })), vals(np.softmax(f32(x).mul(3)))]);
      expect(Math.abs(mask.reduce((a, b) => a + b, 0) - k)).toBeLessThan(1e-4);
      for (const m of mask) expect(m).toBeGreaterThanOrEqual(0);
      close(one, soft, 1e-6, 1e-7, 'k = 1');
      const sorted = [...x].sort((a, b) => b - a);
      if (k < x.length && sorted[k - 1]! - sorted[k]! < 0.05) return; // too close to call at this K
      if (sorted.some((v, i) => i > 0 && i <= k && sorted[i - 1]! - v < 0.05)) return;
      const hard = x.map((v) => (v >= sorted[k - 1]! ? 1 : 0));
      const sharp = run(() => vals(losses.softTopK(f32(x), k, { k: 400 })));
      close(sharp, hard, 0, 1e-3, 'K = 400');
    }), FC);
  });
});

// ---- float64 references for losses otherwise checked only against themselves ---------------------------------
// Before these, smoothing in sigmoid BCE, the fixed-k loss, smoothMax/smoothMin values, softOneHot,
// softArgmax, soft accuracy and soft F1 of soft probabilities, softTopK beyond k = 1, zlprPredict and
// KL away from one hand-picked point were tested only by bounds, limits and identities with other
// gradus ops. Each reference here is the formula written out in float64 (Keras/Optax/§7a forms).

const softmax64 = (xs: readonly number[]) => { const z = lse64(xs); return xs.map((v) => Math.exp(v - z)); };
const columns = (m: readonly (readonly number[])[]) => m[0]!.map((_, j) => m.map((r) => r[j]!));
const probArb = (n: number) => fc.array(fc.double({ min: 0, max: 1, noNaN: true }).map(Math.fround), { minLength: n, maxLength: n });

describe('float64 references for the remaining losses', () => {
  it('sigmoid BCE with label smoothing α uses the target y(1 − α) + α/2 (Keras): y′·softplus(−s) + (1 − y′)·softplus(s)', () => {
    fc.assert(fc.property(logitsArb(5, 8), fc.array(fc.constantFrom(0, 1), { minLength: 5, maxLength: 5 }), fc.double({ min: 0, max: 0.5, noNaN: true }), (s, y, alpha) => {
      const got = run(() => vals(losses.sigmoidBinaryCrossEntropy(f32(s), f32(y), { labelSmoothing: alpha })));
      close(got, s.map((x, i) => { const t = y[i]! * (1 - alpha) + alpha / 2; return t * softplus64(-x) + (1 - t) * softplus64(x); }), 1e-5, 1e-5);
    }), FC);
  });

  it('KL(t ‖ p) is Σ_{t>0} t·(log t − log p) over the last axis (Optax), with zero targets, and l2Loss with targets is ½(p − t)²', () => {
    const rowsArb = fc.integer({ min: 2, max: 6 }).chain((n) => fc.array(fc.tuple(probArb(n), logitsArb(n, 3)), { minLength: 1, maxLength: 3 }));
    fc.assert(fc.property(rowsArb, (rows) => {
      // Targets normalised with every third entry zeroed (0·log 0 = 0), log-predictions a float64
      // log-softmax, both rounded to float32 first.
      const ts = rows.map(([t]) => { const z = t.map((v, i) => (i % 3 === 2 ? 0 : v)); const sum = z.reduce((a, b) => a + b, 0) || 1; return z.map((v) => Math.fround(v / sum)); });
      const logps = rows.map(([, l]) => { const z = lse64(l); return l.map((v) => Math.fround(v - z)); });
      const got = run(() => vals(losses.klDivergence(f32(logps), f32(ts))));
      close(got, ts.map((t, b) => t.reduce((acc, v, i) => acc + (v > 0 ? v * (Math.log(v) - logps[b]![i]!) : 0), 0)), 1e-5, 1e-5, 'kl');
      const p = logps.flat(), t = ts.flat();
      close(run(() => vals(losses.l2Loss(f32(p), f32(t)))), p.map((v, i) => 0.5 * (v - t[i]!) ** 2), 1e-6, 1e-6, 'l2');
    }), FC);
  });

  it('the fixed-k loss is log Σ_{|S|=k} e^{Σ_S s} − Σ_pos s by enumeration (both methods, a batch of rows)', () => {
    fc.assert(fc.property(fc.array(logitsArb(5, 2), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (rows, k, seed) => {
      const targets = rows.map((_, b) => subsets(5, k)[(seed + b) % subsets(5, k).length]!).map((set) => [0, 1, 2, 3, 4].map((i) => (set.includes(i) ? 1 : 0)));
      const want = rows.map((r, b) => lse64(subsets(5, k).map((set) => set.reduce((a, i) => a + r[i]!, 0))) - r.reduce((a, v, i) => a + v * targets[b]![i]!, 0));
      const [rec, newton] = run(() => [vals(losses.fixedKMultilabelLoss(f32(rows), f32(targets), k)), vals(losses.fixedKMultilabelLoss(f32(rows), f32(targets), k, { method: 'newton' }))]);
      close(rec, want, 1e-5, 1e-5, 'recursive');
      close(newton, want, 1e-4, 1e-4, 'newton'); // float32 cancellation in the alternating sum
    }), FC);
  });

  it('smoothMax = logsumexp(Kx)/K, smoothMin = −logsumexp(−Kx)/K, softOneHot = softmax(Kx), softArgmax = Σ (i + start)·softmax(Kx)_i (start 1 by default), over either axis', () => {
    const matArb = fc.integer({ min: 1, max: 4 }).chain((r) => fc.integer({ min: 1, max: 5 }).chain((c) => fc.array(logitsArb(c, 4), { minLength: r, maxLength: r })));
    fc.assert(fc.property(matArb, fc.constantFrom(0.5, 1, 3), fc.constantFrom(0, 1), fc.constantFrom(0, 1, undefined), (m, K, axis, start) => {
      const lines = axis === 1 ? m : columns(m); // the slices the op reduces over
      const [mx, mn, oh, am] = run(() => {
        const x = f32(m), o = { k: K, axis };
        return [vals(losses.smoothMax(x, o)), vals(losses.smoothMin(x, o)), vals(losses.softOneHot(x, o)), vals(losses.softArgmax(x, { ...o, start }))];
      });
      close(mx, lines.map((l) => lse64(l.map((v) => K * v)) / K), 1e-5, 1e-5, 'smoothMax');
      close(mn, lines.map((l) => -lse64(l.map((v) => -K * v)) / K), 1e-5, 1e-5, 'smoothMin');
      const soft = lines.map((l) => softmax64(l.map((v) => K * v)));
      close(oh, axis === 1 ? soft.flat() : columns(soft).flat(), 1e-5, 1e-6, 'softOneHot');
      close(am, soft.map((p) => p.reduce((a, v, i) => a + (i + (start ?? 1)) * v, 0)), 1e-5, 1e-5, 'softArgmax'); // 1-based by default (§7a)
    }), FC);
  });

  it('soft accuracy of soft probabilities is mean_b p[b, y_b]; soft F1 is (2Σtp + ε)/(Σ(t + p) + ε) over all entries or per column', () => {
    const caseArb = fc.integer({ min: 1, max: 5 }).chain((b) => fc.integer({ min: 2, max: 4 }).chain((c) =>
      fc.tuple(fc.array(logitsArb(c, 3), { minLength: b, maxLength: b }), fc.array(fc.nat(c - 1), { minLength: b, maxLength: b }), fc.array(probArb(c), { minLength: b, maxLength: b }), fc.array(fc.array(fc.constantFrom(0, 1), { minLength: c, maxLength: c }), { minLength: b, maxLength: b }))));
    fc.assert(fc.property(caseArb, fc.constantFrom(1e-7, 0.5), ([logits, labels, p, t], eps) => {
      const probs = logits.map((l) => softmax64(l).map(Math.fround));
      const [acc, micro, perColumn] = run(() => [
        losses.softAccuracy(f32(probs), np.array(labels, 'int32')).item() as number,
        losses.softF1(f32(p), f32(t), { eps }).item() as number,
        vals(losses.softF1(f32(p), f32(t), { eps, axis: 0 })),
      ]);
      close([acc], [probs.reduce((a, r, b) => a + r[labels[b]!]!, 0) / probs.length], 1e-6, 1e-6, 'accuracy');
      const f1 = (pp: readonly number[], tt: readonly number[]) => (2 * pp.reduce((a, v, i) => a + v * tt[i]!, 0) + eps) / (pp.reduce((a, v, i) => a + v + tt[i]!, 0) + eps);
      close([micro], [f1(p.flat(), t.flat())], 1e-5, 1e-6, 'micro F1');
      close(perColumn, columns(p).map((col, j) => f1(col, columns(t)[j]!)), 1e-5, 1e-6, 'per-column F1');
    }), FC);
  });

  it('softTopK follows the s-k-max recursion of §7a in float64: p⁽ʲ⁾ = softmax(K·x⁽ʲ⁾), x⁽ʲ⁺¹⁾ = x⁽ʲ⁾ + log(1 − p⁽ʲ⁾), Σ_j p⁽ʲ⁾', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 7 }).chain((n) => fc.tuple(logitsArb(n, 3), fc.integer({ min: 1, max: n }))), fc.constantFrom(0.5, 1, 2), ([x, k], K) => {
      let z = [...x];
      const total = x.map(() => 0);
      for (let j = 0; j < k; j++) {
        const p = softmax64(z.map((v) => K * v));
        p.forEach((v, i) => { total[i]! += v; });
        z = z.map((v, i) => v + Math.log(Math.max(1 - p[i]!, 1e-30)));
      }
      close(run(() => vals(losses.softTopK(f32(x), k, { k: K }))), total, 1e-4, 1e-5);
    }), FC);
  });

  it('zlprPredict is score > threshold (and the loss is also exported under Su\'s name)', () => {
    fc.assert(fc.property(logitsArb(6, 2), fc.constantFrom(0, 0.5, -1), (s, th) => {
      const got = run(() => vals(losses.zlprPredict(f32(s), th)));
      expect(got).toEqual(s.map((v) => (v > th ? 1 : 0)));
    }), FC);
    expect(losses.multilabelCategoricalCrossEntropy).toBe(losses.zlpr);
  });
});

// ---- Beta sampler, mixup and SamplePairing (§7f) ------------------------------------------------------------

function moments(xs: ArrayLike<number>): { mean: number; variance: number } {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i]!;
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return { mean: m, variance: v / (xs.length - 1) };
}

describe('Beta(α, α) sampling for mixup', () => {
  const N = 20000;

  it('Gamma(a) draws have mean a and variance a (Marsaglia–Tsang, boosted below 1)', () => {
    for (const [i, a] of [0.3, 1, 4.5].entries()) {
      const xs = run(() => vals(np.exp(losses.logGammaSample(random.key(100 + i), a, [N]))));
      const { mean, variance } = moments(xs);
      expect(Math.abs(mean - a)).toBeLessThan(5 * Math.sqrt(a / N));
      expect(Math.abs(variance - a) / a).toBeLessThan(0.1);
    }
  });

  it('Beta(a, b) draws lie in [0, 1] with mean a/(a + b) and variance ab/((a + b)²(a + b + 1))', () => {
    for (const [i, [a, b]] of ([[0.2, 0.2], [1, 1], [2, 5]] as const).entries()) {
      const xs = run(() => vals(losses.betaSample(random.key(7 + i), a, b, [N])));
      for (const x of xs) { expect(x).toBeGreaterThanOrEqual(0); expect(x).toBeLessThanOrEqual(1); }
      const { mean, variance } = moments(xs);
      const m = a / (a + b), v = (a * b) / ((a + b) ** 2 * (a + b + 1));
      expect(Math.abs(mean - m)).toBeLessThan(5 * Math.sqrt(v / N));
      expect(Math.abs(variance - v) / v).toBeLessThan(0.06);
    }
  });

  it('α → 0 gives λ ∈ {0, 1} almost surely (each with probability ½)', () => {
    const xs = run(() => vals(losses.betaSample(random.key(3), 1e-3, 1e-3, [4000])));
    const extreme = xs.filter((x) => x < 1e-6 || x > 1 - 1e-6).length;
    expect(extreme / xs.length).toBeGreaterThan(0.97);
    const ones = xs.filter((x) => x > 0.5).length / xs.length;
    expect(Math.abs(ones - 0.5)).toBeLessThan(0.05);
  });

  it('is deterministic per key and batches under vmap over keys', () => {
    run(() => {
      const keys = random.split(random.key(11), 4);
      const batched = vals(vmap((k: NDArray) => losses.betaSample(k, 2, 2))(keys));
      const single = [0, 1, 2, 3].map((i) => losses.betaSample(keys.at(i), 2, 2).item() as number);
      close(batched, single, 1e-6, 1e-7);
      return null;
    });
  });
});

describe('mixup and SamplePairing (§7f)', () => {
  const batchArb = fc.integer({ min: 2, max: 5 }).chain((b) => fc.tuple(fc.array(logitsArb(3, 2), { minLength: b, maxLength: b }), fc.array(fc.nat(3), { minLength: b, maxLength: b }), fc.integer({ min: 0, max: 1000 })));

  it('pairs each example with a permuted partner: x̃ = λx + (1 − λ)x[perm], ỹ likewise', () => {
    fc.assert(fc.property(batchArb, fc.boolean(), ([xs, labels, seed], perExample) => {
      run(() => {
        const x = f32(xs), y = np.oneHot(np.array(labels, 'int32'), 4);
        const m = losses.mixup(random.key(seed), x, y, { alpha: 0.4, perExample });
        const perm = Array.from(m.permutation.dataSync());
        expect([...perm].sort()).toEqual(xs.map((_, i) => i));
        const lam = vals(m.lambda);
        expect(lam.length).toBe(perExample ? xs.length : 1);
        const lamOf = (i: number) => lam[perExample ? i : 0]!;
        close(vals(m.x), xs.flatMap((r, i) => r.map((v, j) => lamOf(i) * v + (1 - lamOf(i)) * xs[perm[i]!]![j]!)), 1e-5, 1e-5, 'x');
        const yv = (i: number, c: number) => (labels[i] === c ? 1 : 0);
        close(vals(m.y), labels.flatMap((_, i) => [0, 1, 2, 3].map((c) => lamOf(i) * yv(i, c) + (1 - lamOf(i)) * yv(perm[i]!, c))), 1e-5, 1e-6, 'y');
        return null;
      });
    }), FC);
  });

  it('integer labels are one-hot encoded with numClasses (and refused without it)', () => {
    run(() => {
      const x = f32([[1, 2], [3, 4], [5, 6]]), labels = np.array([0, 2, 1], 'int32');
      const a = losses.mixup(random.key(4), x, labels, { numClasses: 3 });
      const b = losses.mixup(random.key(4), x, np.oneHot(labels, 3));
      expect(vals(a.y)).toEqual(vals(b.y));
      expect(() => losses.mixup(random.key(4), x, labels)).toThrow(/numClasses/);
      return null;
    });
  });

  it('λ ∈ {0, 1} reproduces the original sample exactly', () => {
    fc.assert(fc.property(batchArb, ([xs]) => {
      run(() => {
        const a = f32(xs), b = f32(xs.map((r) => r.map((v) => v * 3 - 1)));
        expect(vals(losses.mixPair(a, b, 1))).toEqual(vals(a));
        expect(vals(losses.mixPair(a, b, 0))).toEqual(vals(b));
        return null;
      });
    }), FC);
  });

  it('cross-entropy is linear in the target: CE(f(x̃), ỹ) = λ·CE(f(x̃), y_a) + (1 − λ)·CE(f(x̃), y_b)', () => {
    fc.assert(fc.property(batchArb, fc.double({ min: 0, max: 1, noNaN: true }), ([xs, labels], lam) => {
      run(() => {
        const logits = f32(xs.map((r) => [...r, r[0]! - r[1]!]));
        const ya = np.oneHot(np.array(labels, 'int32'), 4), yb = np.oneHot(np.array(labels.map((l) => (l + 1) % 4), 'int32'), 4);
        const mixed = losses.softmaxCrossEntropy(logits, losses.mixPair(ya, yb, lam));
        const split = losses.softmaxCrossEntropy(logits, ya).mul(lam).add(losses.softmaxCrossEntropy(logits, yb).mul(1 - lam));
        close(vals(mixed), vals(split), 1e-5, 1e-5);
        return null;
      });
    }), FC);
  });

  it('an affine model satisfies the mixup constraint f(λx_a + (1 − λ)x_b) = λf(x_a) + (1 − λ)f(x_b)', () => {
    fc.assert(fc.property(batchArb, fc.double({ min: 0, max: 1, noNaN: true }), ([xs, , seed], lam) => {
      run(() => {
        const p = nn.dense.init(random.key(seed), 3, 2);
        const xa = f32(xs), xb = np.flip(xa, 0);
        const lhs = nn.dense.apply(p, losses.mixPair(xa, xb, lam));
        const rhs = losses.mixPair(nn.dense.apply(p, xa), nn.dense.apply(p, xb), lam);
        close(vals(lhs), vals(rhs), 1e-5, 1e-5);
        return null;
      });
    }), FC);
  });

  it('SamplePairing averaged over both orders of a pair equals mixup at λ = ½', () => {
    fc.assert(fc.property(batchArb, ([xs, labels, seed]) => {
      run(() => {
        const p = nn.dense.init(random.key(seed), 3, 4);
        const x = f32(xs), y = np.oneHot(np.array(labels, 'int32'), 4);
        const sp = losses.samplePairing(random.key(seed + 1), x, y);
        const perm = sp.permutation;
        // pair (i, perm[i]) in the order (a, b) and (b, a): the image is the same, the label swaps
        const logits = nn.dense.apply(p, sp.x);
        const ab = losses.softmaxCrossEntropy(logits, sp.y);
        const ba = losses.softmaxCrossEntropy(logits, np.take(y, perm, 0));
        const mixed = losses.softmaxCrossEntropy(nn.dense.apply(p, losses.mixPair(x, np.take(x, perm, 0), 0.5)), losses.mixPair(y, np.take(y, perm, 0), 0.5));
        close(vals(ab.add(ba).mul(0.5)), vals(mixed), 1e-5, 1e-5);
        return null;
      });
    }), FC);
  });
});

// ---- biased vs unbiased estimation (§7i) ----------------------------------------------------------------------

describe('biased vs unbiased variance (§7i)', () => {
  it('over many samples, E[σ̂²_unbiased] = σ² and E[σ̂²_biased] = (n − 1)σ²/n', () => {
    const sigma = 1.5, n = 5, reps = 40000;
    const [unbiased, biased] = run(() => {
      const x = random.normal(random.key(2024), [reps, n]).mul(sigma).add(3);
      return [np.mean(np.var(x, 1, false, 1)).item() as number, np.mean(np.var(x, 1, false, 0)).item() as number];
    });
    const s2 = sigma * sigma;
    const se = s2 * Math.sqrt(2 / (n - 1) / reps); // sd of the unbiased estimator / √reps
    expect(Math.abs(unbiased - s2)).toBeLessThan(5 * se);
    expect(Math.abs(biased - ((n - 1) / n) * s2)).toBeLessThan(5 * se);
    expect(unbiased - biased).toBeGreaterThan(10 * se);
  });

  it('the unbiased estimator is undefined for n = 1 (0/0 = NaN by design)', () => {
    const v = run(() => np.var(f32([2.5]), undefined, false, 1).item() as number);
    expect(Number.isNaN(v)).toBe(true);
  });

  it("Jensen: E[log mean] ≤ log E (the log of a Monte-Carlo mean is biased low)", () => {
    const [eLogMean, logE] = run(() => {
      const x = np.exp(random.normal(random.key(9), [20000, 4])); // log-normal, E = e^{1/2}
      return [np.mean(np.log(np.mean(x, 1))).item() as number, 0.5];
    });
    expect(eLogMean).toBeLessThan(logE - 0.05);
  });
});

// ---- memory -----------------------------------------------------------------------------------------------------

describe('memory', () => {
  it('top-level calls free their intermediates: after disposing the results, no tensor is left', () => {
    const s = f32([[0.3, -1.2, 2.0], [1.5, 0.2, -0.7]]), y = f32([[1, 0, 1], [0, 0, 1]]), l = np.array([2, 0], 'int32');
    const key = random.key(0), keys = random.split(key, 3), probs = np.softmax(s), sig = np.sigmoid(s);
    const inputs = [s, y, l, key, keys, probs, sig];
    const before = tf.memory().numTensors;
    const outs: unknown[] = [
      losses.softmaxCrossEntropy(s, y, { labelSmoothing: 0.1 }),
      losses.softmaxCrossEntropyWithIntegerLabels(s, l, { labelSmoothing: 0.1 }),
      losses.sigmoidBinaryCrossEntropy(s, y),
      losses.zlpr(s, y, { threshold: 0.2 }),
      losses.logElementarySymmetric(s, 2),
      losses.fixedKMultilabelLoss(s, y, 2),
      losses.smoothMax(s), losses.softArgmax(s), losses.softAccuracy(probs, l), losses.softF1(sig, y), losses.softTopK(s, 2),
      losses.betaSample(key, 0.5, 0.5, [3]),
      losses.mixup(key, s, y), losses.samplePairing(key, s, y),
      grad((x: NDArray) => np.sum(losses.zlpr(x, y)))(s),
      vmap((k: NDArray) => losses.betaSample(k, 2, 2))(keys),
    ];
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(tree.leaves(outs).length);
    dispose(outs, { keep: inputs });
    expect(tf.memory().numTensors).toBe(before);
    dispose(inputs);
  });
});

describe('JS targets', () => {
  /** Tensors TF.js creates while `fn` runs (its result freed): ids are handed out one by one, so a probe's id counts them. */
  function tensorsCreated(fn: () => unknown): number {
    const probe = () => { const t = tf.scalar(0); t.dispose(); return t.id; };
    const start = probe();
    dispose(fn() as never);
    return probe() - start - 1;
  }

  it('are converted to an array once: JS targets make exactly one tensor (the upload) more than the same targets passed as an array', () => {
    const l = f32([[0.3, -1.2, 2.0], [1.5, 0.2, -0.7]]);
    const t = [[0, 1, 0], [1, 0, 1]], tArr = np.asArray(t);
    expect(tArr.dtype).toBe('int32');
    const cases: [string, (targets: number[][] | NDArray) => NDArray][] = [
      ['softmaxCrossEntropy', (y) => losses.softmaxCrossEntropy(l, y)],
      ['softmaxCrossEntropy smoothed', (y) => losses.softmaxCrossEntropy(l, y, { labelSmoothing: 0.1 })],
      ['sigmoidBinaryCrossEntropy', (y) => losses.sigmoidBinaryCrossEntropy(l, y)],
      ['sigmoidBinaryCrossEntropy smoothed', (y) => losses.sigmoidBinaryCrossEntropy(l, y, { labelSmoothing: 0.1 })],
      ['zlpr', (y) => losses.zlpr(l, y)],
    ];
    for (const [name, f] of cases) {
      // (the same values either way, and the array form is the baseline: the difference is the conversion)
      expect(run(() => vals(f(t))), name).toEqual(run(() => vals(f(tArr))));
      expect(tensorsCreated(() => f(t)) - tensorsCreated(() => f(tArr)), name).toBe(1);
    }
    dispose([l, tArr]);
  });
});

describe('labels out of range', () => {
  // take would clip label 5 to the last class and wrap −1: a plausible loss of the wrong class.
  it('integer labels and CRF tags outside the classes are errors where they are concrete', async () => {
    const crf = await import('../models/crf.js');
    scope(() => {
      expect(() => losses.softmaxCrossEntropyWithIntegerLabels([[1, 2, 0.5]], [5])).toThrow(/label 5 is out of range for 3 classes/);
      expect(() => losses.softmaxCrossEntropyWithIntegerLabels([[1, 2, 0.5]], [-1])).toThrow(/label -1 is out of range/);
      // Float labels are refused, as Optax refuses them: 0.9999 (float arithmetic on a 1) was truncated to class 0.
      expect(() => losses.softmaxCrossEntropyWithIntegerLabels([[1, 2, 0.5]], np.array([0.9999], 'float32'))).toThrow(/softmaxCrossEntropyWithIntegerLabels: labels must be integers, got f32\[1\]; convert them with .astype\('int32'\)/);
      expect(() => losses.softmaxCrossEntropyWithIntegerLabels([[1, 2, 0.5]], np.array([true]))).toThrow(/labels must be integers, got bool\[1\]/);
      // A CRF's message speaks of tags, in every entry point that reads them.
      expect(() => crf.nll(np.zeros([4, 2]), [0, 1, 7, 1], np.zeros([2, 2]))).toThrow(/^crf\.nll: tag 7 is out of range for 2 tags; expected integers in \[0, 1\]$/);
      expect(() => crf.score(np.zeros([4, 2]), [0, -1, 1, 1], np.zeros([2, 2]))).toThrow(/^crf\.score: tag -1 is out of range for 2 tags/);
      expect(() => crf.memmNll(np.zeros([4, 3]), [0, 3, 1, 1], np.zeros([3, 3]))).toThrow(/^crf\.memmNll: tag 3 is out of range for 3 tags; expected integers in \[0, 2\]$/);
      expect(() => crf.biMemmNll(np.zeros([4, 3]), [0, 3, 1, 1], np.zeros([3, 3]))).toThrow(/tag 3 is out of range for 3 tags/);
      expect(Number(losses.softmaxCrossEntropyWithIntegerLabels([[1, 2, 0.5]], [1]).item())).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(0.5)) - 2, 5);
      return null;
    });
  });
});

describe('mismatched shapes in model functions', () => {
  it('are errors naming the function, its arguments\' shapes and what it expected, not a bare broadcasting or matmul error', async () => {
    const crf = await import('../models/crf.js');
    const vq = await import('../models/vqvae.js');
    const onLstm = await import('../models/on_lstm.js');
    const flows = await import('../models/flows/index.js');
    scope(() => {
      const h = np.zeros([3, 3]), bad = np.zeros([2, 2]);
      expect(() => crf.nll(h, [0, 1, 7], np.zeros([3, 3]))).toThrow(/crf.nll: tag 7 is out of range for 3 tags/);
      expect(() => crf.nll(h, [0, 1, 2], bad)).toThrow(/crf.nll: transitions has shape \[2,2\]; expected \[K=3, K=3\] \(K = 3 from emissions\)/);
      expect(() => crf.viterbi(h, bad)).toThrow(/crf.viterbi: transitions has shape \[2,2\]; expected \[K=3, K=3\]/);
      expect(() => crf.memmNll(h, [0, 1, 2], bad)).toThrow(/crf.memmNll: transitions/);
      // zlpr shares the cross-entropies' check (a ShapeError naming the op and both shapes).
      expect(() => losses.zlpr(np.zeros([4, 3]), np.zeros([4, 2]))).toThrow(ShapeError);
      expect(() => losses.zlpr(np.zeros([4, 3]), np.zeros([4, 2]))).toThrow(/^zlpr: targets \[4,2\] must have the scores' shape \[4,3\] \(or broadcast to it\), one 0\/1 target per class$/);
      expect(() => losses.zlpr(np.zeros([4, 3]), np.zeros([2, 4, 3]))).toThrow(/zlpr: targets \[2,4,3\] must have the scores' shape \[4,3\]/);
      expect(losses.zlpr(np.zeros([4, 3]), np.array([1, 0, 0], 'float32')).shape).toEqual([4]); // shared targets broadcast
      // Class ids where a distribution belongs: with B = K they broadcast as a row and gave a wrong loss silently.
      expect(() => losses.softmaxCrossEntropy(np.zeros([3, 3]), np.array([0, 2, 1], 'int32'))).toThrow(/softmaxCrossEntropy: targets \[3\] must have the logits' shape \[3,3\] \(or broadcast to it\), a distribution over the last axis; these look like class ids \(one per example\): use softmaxCrossEntropyWithIntegerLabels, or np.oneHot\(labels, 3\)/);
      expect(() => losses.softmaxCrossEntropy(np.zeros([4, 3]), np.array([0, 2, 1, 1], 'float32'))).toThrow(/targets \[4\] must have the logits' shape \[4,3\].*look like class ids/);
      expect(() => losses.softmaxCrossEntropy(np.zeros([4, 3]), np.zeros([4, 2]))).toThrow(/softmaxCrossEntropy: targets \[4,2\] must have the logits' shape \[4,3\]/);
      expect(() => losses.sigmoidBinaryCrossEntropy(np.zeros([4, 3]), np.zeros([4]))).toThrow(/sigmoidBinaryCrossEntropy: targets \[4\] must have the logits' shape \[4,3\] \(or broadcast to it\), one target in \[0, 1\] per logit$/);
      // Broadcasting that keeps the logits' shape stays allowed: one soft target for every example, int one-hot rows.
      expect(losses.softmaxCrossEntropy(np.zeros([4, 3]), np.array([0.2, 0.3, 0.5], 'float32')).shape).toEqual([4]);
      expect(losses.softmaxCrossEntropy(np.zeros([2, 3]), np.array([[0, 1, 0], [1, 0, 0]], 'int32')).shape).toEqual([2]);
      expect(losses.sigmoidBinaryCrossEntropy(np.zeros([4, 3]), np.zeros([4, 1])).shape).toEqual([4, 3]);
      expect(() => vq.vectorQuantize(np.zeros([4, 3]), np.zeros([5, 2]))).toThrow(/vectorQuantize: z has shape \[4,3\]; expected \[\.\.\., d=2\] \(d = 2 from codebook\)/);
      expect(() => onLstm.apply(onLstm.initParams(random.key(0), 2, 4), np.zeros([1, 4, 3]))).toThrow(/onLstm.apply: xs has shape \[1,4,3\]; expected \[\.\.\., T, in=2\] \(in = 2 from params\.wx\)/);
      expect(() => flows.actnorm().forward({ bias: np.zeros([2]), logScale: np.zeros([2]) }, np.zeros([4, 3]))).toThrow(/actnorm.forward: parameters \[2\] do not fit inputs \[4,3\]/);
      return null;
    });
  });
});

describe('model options and inputs that were misread', () => {
  it('smoothLabels above 1, float CRF tags, EMA codebook decay outside [0, 1] or float indices, residual log-det terms/samples below 1 or an unknown probe are refused', async () => {
    const { crf, vqvae, flows } = await import('../models/index.js');
    scope(() => {
      expect(() => losses.smoothLabels(np.eye(3), 2)).toThrow(/smoothLabels: alpha must lie in \[0, 1\]/);
      expect(vals(losses.smoothLabels(np.eye(2), 0.5))).toEqual([0.75, 0.25, 0.25, 0.75]);
      const emissions = np.zeros([1, 3, 2]);
      expect(() => crf.nll(emissions, np.array([[0, 1.5, 1]], 'float32'), crf.init(2).transitions)).toThrow(/crf\.\w+: tags must be integers/);
      const state = vqvae.emaInit(np.eye(2));
      for (const decay of [1.5, NaN]) expect(() => vqvae.emaUpdate(state, np.eye(2), np.array([0, 1], 'int32'), decay)).toThrow(/emaUpdate: decay must lie in \[0, 1\]/);
      expect(() => vqvae.emaUpdate(state, np.eye(2), np.array([0, 1], 'float32'))).toThrow(/emaUpdate: indices must be int32/);
      const g = (v: NDArray) => np.multiply(np.tanh(v), 0.5);
      const x = np.ones([2, 2]);
      for (const bad of [{ terms: 0 }, { samples: 0 }, { terms: 2.5 }]) {
        expect(() => flows.residualLogdet(g, x, { method: 'hutchinson', ...bad }, random.key(0))).toThrow(/residualLogdet: (terms|samples) must be an integer ≥ 1/);
      }
      expect(() => flows.residualLogdet(g, x, { probe: 'Gaussian' as 'gaussian' }, random.key(0))).toThrow(/probe must be 'gaussian' or 'rademacher'/);
      return null;
    });
  });
});
