// np.at(x, i).multiply/min/max with traced positions i (sorted runs + segmented scans, see
// src/np/index_update_traced.ts) against the one-hot [updates, size] implementation they replace,
// kept here as the reference: values bit for bit (NaN, ±inf, int32, bool; the sign of a zero met by
// both zeros against NumPy's sequential ufunc.at below), derivatives in x and v (forward, reverse,
// second order; 0 at a NaN min/max result, JAX's scatter rule) on random programs with repeated, negative and
// out-of-range indices and ties, under jit and vmap; and a size the one-hot could not hold.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, grad, jit, scope, jvp, makeJaxpr, np, vmap, type ClosedJaxpr, type DType, type NDArray } from '../src/index.js';
import { stopGradient } from '../transforms/index.js';
import { FC_SEED, extraPeakBytes, kernelCounts, numTensors, onEachBackend } from './helpers.js';

type Kind = 'multiply' | 'min' | 'max';
const KINDS: Kind[] = ['multiply', 'min', 'max'];

/**
 * The implementation before the sort (index_update.ts's traced branch), on a 1-D x with an int32
 * index array: every write compared with every target in a [M, S] one-hot.
 */
function oneHot(kind: Kind, x: NDArray, idx: NDArray, v: NDArray): NDArray {
  const out = oneHotCore(kind, x, idx, v);
  if (kind === 'multiply' || x.dtype !== 'float32') return out;
  // JAX's scatter rule gives a NaN min/max result no derivative (np.min's 0/0 gave its writes NaN):
  // written NaN targets take the value as a constant, and the rest is recomputed with their x and writes
  // set to 0, so no 0/0 of np.min's rule meets them.
  const S = x.size, M = idx.size;
  // (An entry nothing writes keeps x, NaN or not, and x's derivative: the scatter never touches it.)
  const norm = np.where(np.less(idx, 0), np.add(idx, S), idx);
  const hits = np.equal(np.reshape(norm, [M, 1]), np.reshape(np.arange(0, S, 1, 'int32'), [1, S]));
  const c = stopGradient(out), nanT = np.logicalAnd(np.isnan(c), np.any(hits, 0));
  const nanW = np.any(np.logicalAnd(hits, np.reshape(nanT, [1, S])), 1);
  return np.where(nanT, c, oneHotCore(kind, np.where(nanT, 0, x), idx, np.where(nanW, 0, v)));
}

function oneHotCore(kind: Kind, x: NDArray, idx: NDArray, v: NDArray): NDArray {
  const S = x.size, M = idx.size;
  const norm = np.where(np.less(idx, 0), np.add(idx, S), idx);
  const valid = np.logicalAnd(np.greater(norm, -1), np.less(norm, S));
  const flat = np.clip(norm, 0, S - 1);
  const onehot = np.logicalAnd(np.equal(np.reshape(flat, [M, 1]), np.reshape(np.arange(0, S, 1, 'int32'), [1, S])), np.reshape(valid, [M, 1]));
  const hit = np.greater(np.max(np.astype(onehot, 'int32'), 0), 0);
  const vcol = np.reshape(v, [M, 1]);
  const dt = x.dtype;
  const lowest = dt === 'int32' ? -2147483648 : dt === 'bool' ? 0 : -Infinity;
  const highest = dt === 'int32' ? 2147483647 : dt === 'bool' ? 1 : Infinity;
  let out: NDArray;
  if (kind === 'multiply') out = np.multiply(x, np.prod(np.where(onehot, vcol, 1), 0));
  else if (kind === 'min') out = np.where(hit, np.minimum(x, np.min(np.where(onehot, vcol, np.array(highest, dt)), 0)), x);
  else out = np.where(hit, np.maximum(x, np.max(np.where(onehot, vcol, np.array(lowest, dt)), 0)), x);
  return out.dtype === dt ? out : np.astype(out, dt);
}

const sorted = (kind: Kind, x: NDArray, idx: NDArray, v: NDArray): NDArray => np.at(x, idx)[kind](v);

/** A list of numbers with −0 shown as such. */
const show = (xs: readonly number[]): string => xs.map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');

/** Bitwise-equal values: NaN equals NaN, −0 differs from +0 (unless `anyZero`: the one-hot's np.min cannot keep the last of tied zeros). */
function expectSame(got: NDArray, want: NDArray, label: string, anyZero = false): void {
  expect(got.dtype, label).toBe(want.dtype);
  expect(got.shape, label).toEqual(want.shape);
  const a = Array.from(got.dataSync() as ArrayLike<number>), b = Array.from(want.dataSync() as ArrayLike<number>);
  a.forEach((g, i) => { if (!Object.is(g, b[i]) && !(Number.isNaN(g) && Number.isNaN(b[i]!)) && !(anyZero && g === 0 && b[i] === 0)) throw new Error(`${label}: entry ${i} is ${show([g])}, the one-hot gives ${show([b[i]!])} (got ${show(a)}, want ${show(b)})`); });
}

/** Close derivatives: NaN where the reference has NaN, ±0 alike. */
function expectNear(got: NDArray, want: NDArray, label: string): void {
  const a = Array.from(got.dataSync()), b = Array.from(want.dataSync());
  expect(a.length, label).toBe(b.length);
  a.forEach((g, i) => {
    const w = b[i]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : g === w || Math.abs(g - w) <= 1e-5 + 1e-5 * Math.abs(w);
    if (!ok) throw new Error(`${label}: entry ${i} is ${g}, the one-hot gives ${w} (got ${a}, want ${b})`);
  });
}

/** A random program: x of size S, M writes with indices in [−S − 2, S + 1] (repeats, negatives, dropped), values from `pool` (ties). */
const programArb = (pool: readonly number[], maxS = 6, maxM = 10) =>
  fc.integer({ min: 1, max: maxS }).chain((S) => fc.record({
    S: fc.constant(S),
    xs: fc.array(fc.constantFrom(...pool), { minLength: S, maxLength: S }),
    idx: fc.array(fc.integer({ min: -S - 2, max: S + 1 }), { minLength: 1, maxLength: maxM }),
    vpool: fc.array(fc.constantFrom(...pool), { minLength: maxM, maxLength: maxM }),
    w: fc.array(fc.constantFrom(-1.5, -1, 0, 0.5, 2), { minLength: S, maxLength: S }),
  }));

const VALUE_POOL = [-2, -1, -0, 0, 0.5, 1, 2, 3, NaN, Infinity, -Infinity];
const POOLS: [DType, number[]][] = [['float32', VALUE_POOL], ['int32', [-3, -1, 0, 1, 2, 5]], ['bool', [0, 1]]];

describe('traced np.at(x, i).multiply/min/max: closed forms', () => {
  it('min shares a tie as np.minimum(x, np.min(writes)): x half, tied writes the other half equally; dropped writes nothing', () =>
    onEachBackend(() => {
      const x = np.array([1, 5], 'float32'), v = np.array([1, 1, 2, 0], 'float32'), i = np.array([0, 0, 1, -3], 'int32');
      const f = jit((a: NDArray, c: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.at(p, c).min(q)), { argnums: [0, 1] })(a, b));
      const [gx, gv] = f(x, i, v);
      expect(Array.from(gx.dataSync())).toEqual([0.5, 0]);
      expect(Array.from(gv.dataSync())).toEqual([0.25, 0.25, 1, 0]);
      f.clearCache();
    }));

  it('concrete indices (eager, jit with the indices closed over, vmap over x, jvp) share ties as the traced ones: x half, tied writes the rest equally', () =>
    onEachBackend(() => {
      const x = np.array([1, 5], 'float32'), v = np.array([1, 1, 2, 0, 1], 'float32'), idx = [0, 0, 1, -3, 0];
      for (const kind of ['min', 'max'] as const) {
        const i = np.array(idx, 'int32');
        const g = (c: NDArray) => (a: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.at(p, c)[kind](q)), { argnums: [0, 1] })(a, b);
        const closed = jit(g(i));
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => g(c)(a, b));
        // Target 0: x and three writes tie at 1 (x ½, each write ⅙); target 1: min(5, 2) takes the write, max keeps x.
        const want = kind === 'min' ? [[0.5, 0], [1 / 6, 1 / 6, 1, 0, 1 / 6]] : [[0.5, 1], [1 / 6, 1 / 6, 0, 0, 1 / 6]];
        const runs: [string, NDArray[]][] = [['eager', g(i)(x, v)], ['jit, indices closed over', closed(x, v)], ['jit, traced indices', traced(x, i, v)]];
        for (const [how, [gx, gv]] of runs) {
          expectNear(gx!, np.array(want[0]!, 'float32'), `${kind} ${how} ∂x`);
          expectNear(gv!, np.array(want[1]!, 'float32'), `${kind} ${how} ∂v`);
        }
        const vg = vmap((a: NDArray) => g(i)(a, v)[1]!)(np.stack([x, x]));
        expectNear(vg, np.array([...want[1]!, ...want[1]!], 'float32'), `${kind} vmap over x ∂v`);
        // The tangent (forward mode) agrees too.
        const t = jvp((p: NDArray) => np.at(p, i)[kind](v), [x], [np.array([1, 1], 'float32')])[1];
        expectNear(t, np.array(want[0]!, 'float32'), `${kind} jvp in x`);
        closed.clearCache(); traced.clearCache();
      }
    }));

  it('a NaN write without repeats: concrete indices give the traced derivatives (the concrete path took np.minimum\'s 1 for the NaN write where the traced one gives 0)', () =>
    onEachBackend(() => {
      const x = np.array([1, 2, 3], 'float32'), v = np.array([NaN, 0, 5], 'float32'), idx = [0, 1, 2];
      for (const kind of ['min', 'max'] as const) {
        const i = np.array(idx, 'int32');
        const g = (c: NDArray) => (a: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.at(p, c)[kind](q)), { argnums: [0, 1] })(a, b);
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => g(c)(a, b));
        const [tx, tv] = traced(x, i, v);
        const [cx, cv] = g(i)(x, v);
        expectNear(cx, tx, `${kind} ∂x, concrete vs traced`);
        expectNear(cv, tv, `${kind} ∂v, concrete vs traced`);
        traced.clearCache();
      }
    }));

  it('multiply: the product rule at zeros, first and second order (d²/dv₀dv₁ of x·v₀·v₁·v₂ is x·v₂)', () =>
    onEachBackend(() => {
      const x = np.array([2, 7], 'float32'), v = np.array([0, 3, 4, 9], 'float32'), i = np.array([0, 0, 0, 2], 'int32');
      const L = (p: NDArray, q: NDArray, c: NDArray) => np.sum(np.at(p, c).multiply(q));
      const f = jit((a: NDArray, c: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => L(p, q, c), { argnums: [0, 1] })(a, b));
      const [gx, gv] = f(x, i, v);
      expect(Array.from(gx.dataSync())).toEqual([0, 1]); // ∂/∂x₀ = 0·3·4
      expect(Array.from(gv.dataSync())).toEqual([24, 0, 0, 0]); // 2·3·4, 2·0·4, 2·0·3; the dropped write none
      const h = jit((a: NDArray, c: NDArray, b: NDArray) => grad((q: NDArray) => np.sum(np.multiply(grad((r: NDArray) => L(a, r, c))(q), np.array([0, 1, 0, 0], 'float32'))))(b));
      expect(Array.from(h(x, i, v).dataSync())).toEqual([8, 0, 0, 0]); // ∂²/∂v₁∂v₀ = x·v₂, ∂²/∂v₁² = 0, ∂²/∂v₁∂v₂ = x·v₀
      f.clearCache(); h.clearCache();
    }));
});

describe('traced np.at(x, i).multiply/min/max equal the one-hot implementation', () => {
  it('values bit for bit under jit (zeros up to sign: NumPy\'s order is checked below): NaN, ±inf, ties, repeated/negative/out-of-range indices; float32, int32, bool', () =>
    onEachBackend(() => {
      for (const kind of KINDS) {
        const f = jit((x: NDArray, i: NDArray, v: NDArray) => sorted(kind, x, i, v));
        const r = jit((x: NDArray, i: NDArray, v: NDArray) => oneHot(kind, x, i, v));
        for (const [dt, pool] of POOLS) {
          fc.assert(fc.property(programArb(pool), ({ xs, idx, vpool }) => scope(() => {
            const x = np.array(xs, dt), i = np.array(idx, 'int32'), v = np.array(vpool.slice(0, idx.length), dt);
            expectSame(f(x, i, v), r(x, i, v), `${kind} ${dt} x=${show(xs)} i=${idx} v=${show(vpool.slice(0, idx.length))}`, kind !== 'multiply');
          })), { seed: FC_SEED, numRuns: 40 });
          f.clearCache(); r.clearCache();
        }
      }
    }));

  it('derivatives in x and v: reverse, forward and second order, ties among writes and with x, NaN', () =>
    onEachBackend(() => {
      // No ±inf: where every write to a target is +inf (min) the one-hot's np.min also counted the
      // +inf fill of the other rows as ties, dividing the tangent by M; the sort counts only writes.
      const pool = [-2, -1, -0, 0, 0.5, 1, 2, NaN];
      for (const kind of KINDS) {
        const loss = (upd: typeof sorted) => (x: NDArray, v: NDArray, i: NDArray, w: NDArray) => np.sum(np.multiply(w, upd(kind, x, i, v)));
        const rev = (upd: typeof sorted) => jit((x: NDArray, v: NDArray, i: NDArray, w: NDArray) => grad(loss(upd), { argnums: [0, 1] })(x, v, i, w));
        const fwd = (upd: typeof sorted) => jit((x: NDArray, v: NDArray, i: NDArray, tx: NDArray, tv: NDArray) => jvp((a: NDArray, b: NDArray) => upd(kind, a, i, b), [x, v], [tx, tv])[1]);
        // Hessian-vector product: ∇(∇L · (ux, uv)) in (x, v).
        const hvp = (upd: typeof sorted) => jit((x: NDArray, v: NDArray, i: NDArray, w: NDArray, ux: NDArray, uv: NDArray) => grad((a: NDArray, b: NDArray) => {
          const [gx, gv] = grad(loss(upd), { argnums: [0, 1] })(a, b, i, w);
          return np.add(np.sum(np.multiply(gx, ux)), np.sum(np.multiply(gv, uv)));
        }, { argnums: [0, 1] })(x, v));
        const [revS, revR, fwdS, fwdR, hvpS, hvpR] = [rev(sorted), rev(oneHot), fwd(sorted), fwd(oneHot), hvp(sorted), hvp(oneHot)];
        fc.assert(fc.property(programArb(pool), ({ xs, idx, vpool, w }) => scope(() => {
          const M = idx.length;
          const x = np.array(xs, 'float32'), v = np.array(vpool.slice(0, M), 'float32'), i = np.array(idx, 'int32'), ww = np.array(w, 'float32');
          const tx = np.array(w.map((c, k) => c + k), 'float32'), tv = np.array(vpool.slice(0, M).map((_, k) => (k % 3) - 1.25), 'float32');
          const label = `${kind} x=${show(xs)} i=${idx} v=${show(vpool.slice(0, M))}`;
          const [gx, gv] = revS(x, v, i, ww), [rx, rv] = revR(x, v, i, ww);
          expectNear(gx, rx, `${label} ∂x`);
          expectNear(gv, rv, `${label} ∂v`);
          expectNear(fwdS(x, v, i, tx, tv), fwdR(x, v, i, tx, tv), `${label} jvp`);
          const [hx, hv] = hvpS(x, v, i, ww, tx, tv), [sx, sv] = hvpR(x, v, i, ww, tx, tv);
          expectNear(hx, sx, `${label} second order in x`);
          expectNear(hv, sv, `${label} second order in v`);
        })), { seed: FC_SEED, numRuns: 25 });
        for (const j of [revS, revR, fwdS, fwdR, hvpS, hvpR]) j.clearCache();
      }
    }));

  it('vmap over x, v and the indices (batched writes into batched targets) equals the one-hot vmapped, values and gradients', () =>
    onEachBackend(() => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => scope(() => {
        const B = 3, S = 5, M = 7;
        const rnd = (k: number) => Math.abs(Math.sin(seed * 12.9898 + k * 78.233) * 43758.5453) % 1;
        const xs = np.array(Array.from({ length: B * S }, (_, k) => Math.round(rnd(k) * 4) / 2 - 1), 'float32');
        const vs = np.array(Array.from({ length: B * M }, (_, k) => Math.round(rnd(100 + k) * 4) / 2 - 1), 'float32');
        const is = np.array(Array.from({ length: B * M }, (_, k) => Math.floor(rnd(200 + k) * (S + 4)) - 2), 'int32');
        const [x, v, i] = [np.reshape(xs, [B, S]), np.reshape(vs, [B, M]), np.reshape(is, [B, M])];
        for (const kind of KINDS) {
          const g = (upd: typeof sorted) => (a: NDArray, c: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.multiply(upd(kind, p, c, q), np.arange(1, S + 1))), { argnums: [0, 1] })(a, b);
          expectSame(vmap((a: NDArray, c: NDArray, b: NDArray) => sorted(kind, a, c, b))(x, i, v), vmap((a: NDArray, c: NDArray, b: NDArray) => oneHot(kind, a, c, b))(x, i, v), `vmap ${kind} seed ${seed}`);
          const [gs, gr] = [vmap(g(sorted))(x, i, v), vmap(g(oneHot))(x, i, v)];
          expectNear(gs[0]!, gr[0]!, `vmap ∂x ${kind} seed ${seed}`);
          expectNear(gs[1]!, gr[1]!, `vmap ∂v ${kind} seed ${seed}`);
        }
      })), { seed: FC_SEED, numRuns: 6 });
    }));
});

/** The largest intermediate (in elements) of a program, nested programs included. */
function largest(c: ClosedJaxpr): number {
  let most = 0;
  const walk = (j: ClosedJaxpr['jaxpr']) => {
    for (const e of j.eqns) {
      for (const b of e.outBinders) most = Math.max(most, b.aval.size);
      for (const p of Object.values(e.params as Record<string, unknown>)) {
        if (p !== null && typeof p === 'object' && 'eqns' in p) walk(p as ClosedJaxpr['jaxpr']);
        if (p !== null && typeof p === 'object' && 'jaxpr' in p && (p as ClosedJaxpr).jaxpr !== undefined && 'eqns' in (p as ClosedJaxpr).jaxpr) walk((p as ClosedJaxpr).jaxpr);
      }
    }
  };
  walk(c.jaxpr);
  dispose(c.consts); // the program's constants are the caller's to free
  return most;
}

describe('traced multiply/min/max take O(updates + size) memory, not O(updates × size)', () => {
  it('10,000 writes into 10⁶ entries: the one-hot program needs a 10¹⁰-element array (no program may hold one: tracing it is refused), the sorted one nothing over 2·(M + S); it runs, with its gradient', async () => {
    const S = 1_000_000, M = 10_000;
    const before = numTensors();
    const x = np.zeros([S]), v = np.linspace(-1, 1, M), i = np.array(Array.from({ length: M }, (_, k) => (k * 7919) % (S + 50) - 25), 'int32');
    for (const kind of KINDS) {
      const body = (upd: typeof sorted) => (a: NDArray, c: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(upd(kind, p, c, q)), { argnums: [0, 1] })(a, b);
      // (Past int32's element count no kernel can run, so abstract evaluation refuses the one-hot's
      // [M, S] intermediate while tracing, naming its size.)
      expect(() => makeJaxpr((a: NDArray, c: NDArray, b: NDArray) => oneHot(kind, a, c, b))(x, i, v)).toThrow(/has 10000000000 elements; expected at most 2³¹ − 1/);
      expect(largest(makeJaxpr(body(sorted))(x, i, v))).toBeLessThanOrEqual(2 * (M + S));
    }
    // Run the min gradient for real: its TF.js high-water mark stays within a few arrays of size S (4 bytes each).
    const f = jit((a: NDArray, c: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.at(p, c).min(q)), { argnums: [0, 1] })(a, b));
    const peak = await extraPeakBytes(() => f(x, i, v));
    expect(peak).toBeLessThan(40 * 4 * (S + M));
    dispose([x, v, i]);
    f.clearCache();
    expect(numTensors()).toBe(before);
  }, 120_000);
});

/**
 * NumPy's ufunc.at on float32: each valid write in turn, x[t] = op(x[t], v) (np.minimum/np.maximum
 * return the second operand at a tie, and a NaN first operand; checked against NumPy 2.4's
 * np.minimum.at in np_at_numpy.test.ts), so of tied zeros the one written last.
 */
function ufuncAt(kind: Kind, xs: readonly number[], idx: readonly number[], vs: readonly number[]): number[] {
  const out = xs.slice(), S = out.length;
  idx.forEach((raw, k) => {
    const t = raw < 0 ? raw + S : raw;
    if (t < 0 || t >= S) return;
    const a = out[t]!, b = vs[k]!;
    out[t] = kind === 'multiply' ? Math.fround(a * b) : kind === 'min' ? (a < b || Number.isNaN(a) ? a : b) : (a > b || Number.isNaN(a) ? a : b);
  });
  return out;
}

describe('np.at(x, i).multiply/min/max keep the sign of zeros, concrete and traced indices alike (NumPy ufunc.at)', () => {
  it('x · −0, min(x, −0), max(x, −0) and −2 · −0 = +0: the written zero keeps its sign, untouched entries their own', () =>
    onEachBackend(() => {
      const cases: [Kind, number[], number[], number[], number[]][] = [
        ['multiply', [2, -2, -0], [0, 1], [-0, -0], [-0, 0, -0]],
        ['min', [5, -0], [0], [-0], [-0, -0]],
        ['max', [-5, 3], [0], [-0], [-0, 3]],
      ];
      for (const [kind, xs, idx, vs, want] of cases) {
        const x = np.array(xs, 'float32'), v = np.array(vs, 'float32'), i = np.array(idx, 'int32');
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c)[kind](b));
        for (const [how, got] of [['concrete', np.at(x, i)[kind](v)], ['static int', idx.length === 1 ? np.at(x, idx[0]!)[kind](np.reshape(v, [])) : np.at(x, i)[kind](v)], ['traced', traced(x, i, v)]] as const) {
          expect(show(Array.from(got.dataSync())), `${kind} ${how} x=${show(xs)} i=${idx} v=${show(vs)}`).toBe(show(want));
        }
        traced.clearCache();
      }
    }));

  it('random programs with signed zeros, ±inf and NaN: concrete, traced and differentiated (jvp\'s primal) updates equal the sequential ufunc.at reference bit for bit, the sign of tied zeros included', () =>
    onEachBackend(() => {
      // Powers of two only, so no product rounds or overflows and the grouping cannot matter.
      const pool = [-2, -1, -0, 0, 0.5, 1, 2, NaN, Infinity, -Infinity];
      for (const kind of KINDS) {
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c)[kind](b));
        fc.assert(fc.property(programArb(pool), ({ xs, idx, vpool }) => scope(() => {
          const vs = vpool.slice(0, idx.length);
          const out = ufuncAt(kind, xs, idx, vs);
          const x = np.array(xs, 'float32'), i = np.array(idx, 'int32'), v = np.array(vs, 'float32');
          const primal = jvp((a: NDArray, b: NDArray) => np.at(a, i)[kind](b), [x, v], [np.onesLike(x), np.onesLike(v)])[0];
          for (const [how, got] of [['concrete', np.at(x, i)[kind](v)], ['traced', traced(x, i, v)], ['jvp primal', primal]] as const) {
            const g = Array.from(got.dataSync());
            const ok = g.every((a, t) => Object.is(a, out[t]));
            if (!ok) throw new Error(`${kind} ${how} x=${show(xs)} i=${idx} v=${show(vs)}: got ${show(g)}, NumPy's ufunc.at gives ${show(out)}`);
          }
        })), { seed: FC_SEED, numRuns: 60 });
        traced.clearCache();
      }
    }));
});

describe('concrete indices repeating one target many times cost O(log repeats) kernels, not one round per repeat', () => {
  it('4096 writes to one entry: multiply/min/max and their gradient run fewer than 400 kernels, and equal jit of the traced update', async () => {
    const M = 4096;
    const before = numTensors();
    const x = np.array([1, 3], 'float32'), i = np.zeros([M], 'int32');
    // Powers of two whose product is exact (2 · 0.5 · 1 · …), so every grouping gives the same bits.
    const v = np.array(Array.from({ length: M }, (_, k) => [2, 0.5, 1, -1][k % 4]!), 'float32');
    for (const kind of KINDS) {
      const loss = (a: NDArray, b: NDArray) => np.sum(np.at(a, i)[kind](b));
      const total = (m: Map<string, number>) => [...m.values()].reduce((p, c) => p + c, 0);
      expect(total(await kernelCounts(() => np.at(x, i)[kind](v))), `${kind} value`).toBeLessThan(400);
      expect(total(await kernelCounts(() => grad(loss, { argnums: [0, 1] })(x, v))), `${kind} gradient`).toBeLessThan(400);
      const traced = jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c)[kind](b));
      scope(() => expectSame(np.at(x, i)[kind](v), traced(x, i, v), `${kind} concrete vs traced`));
      traced.clearCache();
    }
    dispose([x, i, v]);
    expect(numTensors()).toBe(before);
  }, 60_000);
});
