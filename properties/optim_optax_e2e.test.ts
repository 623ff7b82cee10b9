// Whole training chains as an Optax user writes them, against float64 references written from
// Optax's source (clip_by_global_norm → scale_by_adam → add_decayed_weights(mask) → schedule;
// adafactor = scale_by_factored_rms → clip_by_block_rms → lr → scale_by_param_block_rms →
// add_decayed_weights(mask) → scale(−1)), eagerly and under jit, on a nested tree with a matrix, a
// vector and scalars. The pieces have their own suites; this checks that they compose: the fused
// chain, the mask on a prefix of paths, the schedule's count, the sign, the tree order.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { jit, np, scope, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { expectAllClose } from './optim_helpers.js';

const SEED = 42;
const S = optim.schedules;

// The tree { enc: { b: [4], w: [3, 4] }, head: [{ s: [], w: [4] }] }, leaves in flatten (sorted-key) order.
const LEAVES = [
  { path: '.enc.b', shape: [4] },
  { path: '.enc.w', shape: [3, 4] },
  { path: '.head[0].s', shape: [] as number[] },
  { path: '.head[0].w', shape: [4] },
];
type Params = { enc: { b: NDArray; w: NDArray }; head: [{ s: NDArray; w: NDArray }] };
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const TOTAL = LEAVES.reduce((a, l) => a + size(l.shape), 0);
const split = (flat: number[]): number[][] => {
  let at = 0;
  return LEAVES.map((l) => flat.slice(at, (at += size(l.shape))));
};
const treeOf = (flat: number[]): Params => {
  const [b, w, s, hw] = split(flat).map((xs, i) => np.reshape(np.array(xs, 'float32'), LEAVES[i]!.shape));
  return { enc: { b: b!, w: w! }, head: [{ s: s!, w: hw! }] };
};
const flatOf = (p: Params) => [p.enc.b, p.enc.w, p.head[0].s, p.head[0].w].flatMap((x) => Array.from(x.dataSync()));
/** Weight decay on the leaves whose path ends in `.w` (not biases, not the scalar). */
const DECAYED = LEAVES.map((l) => /\.w$/.test(l.path));

const floats = (n: number, lo: number, hi: number) => fc.array(fc.double({ min: lo, max: hi, noNaN: true }), { minLength: n, maxLength: n });
/** Initial parameters (away from 0) and 6 steps of gradients, some large enough to be clipped. */
const run = fc.record({
  p0: floats(TOTAL, -2, 2).map((v) => v.map((x) => (Math.abs(x) < 0.05 ? 0.05 : x))),
  gs: fc.array(floats(TOTAL, -3, 3).map((v) => v.map((x) => (Math.abs(x) < 1e-2 ? 1e-2 : x))), { minLength: 6, maxLength: 6 }),
});

/** Optax's warmup_cosine_decay_schedule in float64. */
function warmupCosine(count: number, init: number, peak: number, warmup: number, decaySteps: number, end: number): number {
  if (count < warmup) return init + ((peak - init) * count) / warmup;
  const len = decaySteps - warmup;
  const d = Math.min(count - warmup, len);
  return end + (peak - end) * 0.5 * (1 + Math.cos((Math.PI * d) / len));
}
const LR = { init: 0, peak: 0.1, warmup: 2, decaySteps: 6, end: 0.01 };
const lrAt = (c: number) => warmupCosine(c, LR.init, LR.peak, LR.warmup, LR.decaySteps, LR.end);
const schedule = () => S.warmupCosineDecay({ initValue: LR.init, peakValue: LR.peak, warmupSteps: LR.warmup, decaySteps: LR.decaySteps, endValue: LR.end });

/** The parameters after each step of chain(clip_by_global_norm(c), adamw(schedule, wd, mask)), in float64. */
function adamwReference(p0: number[], gs: number[][], c: number, wd: number): number[][] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  let p = split(p0);
  let m = p.map((x) => x.map(() => 0));
  let v = p.map((x) => x.map(() => 0));
  return gs.map((gFlat, k) => {
    const t = k + 1;
    const g = split(gFlat);
    const norm = Math.sqrt(g.flat().reduce((a, x) => a + x * x, 0));
    const f = c / Math.max(norm, c);
    const gc = g.map((x) => x.map((y) => y * f));
    m = m.map((x, i) => x.map((y, j) => b1 * y + (1 - b1) * gc[i]![j]!));
    v = v.map((x, i) => x.map((y, j) => b2 * y + (1 - b2) * gc[i]![j]! ** 2));
    const lr = lrAt(k);
    p = p.map((x, i) =>
      x.map((theta, j) => {
        const u = m[i]![j]! / (1 - b1 ** t) / (Math.sqrt(v[i]![j]! / (1 - b2 ** t)) + eps) + (DECAYED[i] ? wd * theta : 0);
        return theta - lr * u;
      }),
    );
    return p.flat();
  });
}

/** Optax's adafactor(schedule, min_dim_size_to_factor=2, weight_decay_rate, mask) in float64 (no momentum). */
function adafactorReference(p0: number[], gs: number[][], wd: number): number[][] {
  const [eps1, eps2, d] = [1e-30, 1e-3, 1];
  let p = split(p0);
  // .enc.w is [3, 4]: the largest axis is 1, so v_row (length 3) averages over columns and v_col (length 4) over rows.
  let vr = [0, 0, 0];
  let vc = [0, 0, 0, 0];
  let v = p.map((x) => x.map(() => 0));
  const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
  return gs.map((gFlat, k) => {
    const t = k + 1;
    const beta = 1 - t ** -0.8;
    const g = split(gFlat);
    const updates = g.map((gi, i) => {
      const g2 = gi.map((x) => x * x + eps1);
      if (i === 1) {
        vr = vr.map((r, a) => beta * r + (1 - beta) * (g2.slice(4 * a, 4 * a + 4).reduce((s, x) => s + x, 0) / 4));
        vc = vc.map((cc, b) => beta * cc + (1 - beta) * ([0, 1, 2].reduce((s, a) => s + g2[4 * a + b]!, 0) / 3));
        const meanR = vr.reduce((s, x) => s + x, 0) / 3;
        return gi.map((x, j) => x * (vr[Math.floor(j / 4)]! / meanR) ** -0.5 * vc[j % 4]! ** -0.5);
      }
      v[i] = v[i]!.map((y, j) => beta * y + (1 - beta) * g2[j]!);
      return gi.map((x, j) => x / Math.sqrt(v[i]![j]!));
    });
    const lr = lrAt(k);
    p = p.map((theta, i) => {
      const u = updates[i]!;
      const clipDiv = Math.max(1, rms(u) / d);
      const scaleP = Math.max(rms(theta), eps2);
      return theta.map((x, j) => x - ((u[j]! / clipDiv) * lr * scaleP + (DECAYED[i] ? wd * x : 0)));
    });
    return p.flat();
  });
}

/** The parameters after each step of `opt`, eagerly or with the step under jit. */
function trajectory(opt: optim.Optimizer, p0: number[], gs: number[][], jitted: boolean): number[][] {
  return scope(() => {
    let params = treeOf(p0);
    let state = opt.init(params);
    const step = (p: Params, s: unknown, g: Params) => optim.applyGradients(opt, g, s, p);
    const f = jitted ? jit(step) : step;
    return gs.map((g) => {
      [params, state] = f(params, state, treeOf(g)) as [Params, unknown];
      return flatOf(params);
    });
  });
}

describe('Optax chains end to end', () => {
  for (const jitted of [false, true]) {
    it(`chain(clipByGlobalNorm, adamw(warmup-cosine, masked decay)) follows Optax's formulas${jitted ? ' under jit' : ''}`, () => {
      fc.assert(
        fc.property(run, fc.constantFrom(0.5, 2, 100), ({ p0, gs }, c) => {
          const opt = optim.chain(optim.clipByGlobalNorm(c), optim.adamw(schedule(), { weightDecay: 0.1, mask: optim.pathMask(/\.w$/) }));
          const want = adamwReference(p0, gs, c, 0.1);
          trajectory(opt, p0, gs, jitted).forEach((got, k) => expectAllClose(got, want[k]!, 2e-5, 2e-6, `step ${k + 1} (c = ${c})`));
        }),
        { seed: SEED, numRuns: 8 },
      );
    });

    it(`adafactor(warmup-cosine, masked weight decay) on a factored matrix, vectors and a scalar follows Optax's chain${jitted ? ' under jit' : ''}`, () => {
      fc.assert(
        fc.property(run, ({ p0, gs }) => {
          const opt = optim.adafactor(schedule(), { minDimSizeToFactor: 2, weightDecayRate: 0.05, weightDecayMask: optim.pathMask(/\.w$/) });
          const want = adafactorReference(p0, gs, 0.05);
          trajectory(opt, p0, gs, jitted).forEach((got, k) => expectAllClose(got, want[k]!, 2e-5, 2e-6, `step ${k + 1}`));
        }),
        { seed: SEED, numRuns: 8 },
      );
    });
  }
});
