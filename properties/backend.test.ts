// Backends: the default in Node is wasm; GRADUS_BACKEND and setBackend() choose explicitly; an
// unknown name is an error listing what is available; and every backend computes the same thing
// (values and gradients of random compositions agree between wasm and cpu; the backend kernels
// around the float64 JS linear algebra are right on each).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { availableBackends, getBackend, grad, jit, np, scope, setBackend, type NDArray } from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr } from './compositions.js';
import { FC_SEED, expectClose, onEachBackend } from './helpers.js';
import { eye64, solve64, transpose64 } from './matrix64.js';
import { randomArray } from './loop_oracle.js';

function runWith(env: Record<string, string>, code: string): string {
  return execFileSync('npx', ['tsx', '-e', code], { cwd: process.cwd(), env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('choosing a backend', () => {
  it('defaults to wasm in Node, with cpu available too', () => {
    if (!process.env.GRADUS_BACKEND) expect(getBackend()).toBe('wasm');
    expect(availableBackends()).toEqual(expect.arrayContaining(['wasm', 'cpu']));
  });

  it('setBackend rejects an unknown name and lists the available ones', async () => {
    await expect(setBackend('no-such-backend')).rejects.toThrow(/unknown backend 'no-such-backend'.*available backends: .*wasm.*cpu/);
  });

  it('GRADUS_BACKEND picks the backend at import, and a bad value is a clear error', () => {
    const code = "import('./src/index.ts').then((g) => console.log(g.getBackend()))";
    expect(runWith({ GRADUS_BACKEND: 'cpu' }, code).trim()).toBe('cpu');
    let message = '';
    try {
      runWith({ GRADUS_BACKEND: 'bogus' }, code);
    } catch (e) {
      message = String((e as { stderr?: string }).stderr ?? e);
    }
    expect(message).toMatch(/unknown backend 'bogus'; available backends: /);
  }, 60_000);

  it('wasm and cpu agree on values and gradients of random compositions', async () => {
    const start = getBackend();
    const cases = fc.sample(
      fc.integer({ min: 1, max: 2 }).chain((k) => fc.record({ e: arbExpr(k, 4), shapes: arbInputShapes(k), seed: fc.integer() })),
      { seed: FC_SEED, numRuns: 25 },
    );
    const results: Record<string, Float32Array[][]> = {};
    for (const backend of ['wasm', 'cpu']) {
      await setBackend(backend);
      results[backend] = cases.map((c) =>
        scope(() => {
          const xs = c.shapes.map((s) => randomArray(new Rng(c.seed), s));
          const f = (...a: NDArray[]) => np.sum(np.tanh(evalExpr(c.e, a)));
          const value = f(...xs);
          const grads = grad(f, { argnums: xs.map((_, i) => i) })(...xs) as NDArray[];
          return [value, ...grads].map((a) => Float32Array.from(a.dataSync()));
        }),
      );
    }
    await setBackend(start);
    cases.forEach((_, i) => {
      results.wasm![i]!.forEach((w, k) => {
        const c = results.cpu![i]![k]!;
        w.forEach((v, j) => {
          const d = Math.abs(v - c[j]!);
          if (Number.isFinite(v) || Number.isFinite(c[j]!)) expect(d, `case ${i}, output ${k}, entry ${j}: wasm ${v} vs cpu ${c[j]}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(c[j]!)));
        });
      });
    });
  }, 120_000);
});

// TF.js wasm kernels that are wrong for some dtypes or shapes (found by running every np op on
// wasm and cpu side by side); gradus routes around each, and both backends must agree on them.
describe('wasm and cpu agree where TF.js wasm kernels go wrong', () => {
  const cases: [string, () => NDArray][] = [
    // Reverse and Select read bools as 4-byte values (and write past their output).
    ['flip of bools', () => np.flip(np.greater(np.sin(np.arange(0, 37, 1, 'float32')), 0))],
    ['negative-step indexing of bools', () => np.greater(np.arange(0, 12, 1, 'int32'), 5).at([null, null, -3])],
    ['where with bool branches', () => np.where(np.greater(np.arange(0, 15, 1, 'int32'), 7), np.less(np.arange(0, 15, 1, 'int32'), 3), np.greater(np.arange(0, 15, 1, 'int32'), 11))],
    // Sums over a leading axis with NaN and ±inf (average pooling clamped NaN to −inf).
    ['sum over a leading axis with NaN and ±inf', () => np.sum(np.array([[NaN, 1, Infinity, Infinity], [2, 3, -Infinity, 1]], 'float32'), 0)],
    ['mean over the middle axis with NaN', () => np.mean(np.reshape(np.array([NaN, 1, 2, 3, 4, 5, 6, 7], 'float32'), [2, 2, 2]), 1)],
    // XNNPACK binary ops fail above rank 6 (sign and log1p are built from them on wasm).
    ['sign at rank 7', () => np.sign(np.reshape(np.array([-2, 3, 1e-9, -1e-9], 'float32'), [2, 1, 1, 1, 1, 1, 2]))],
    ['log1p at rank 7', () => np.log1p(np.reshape(np.array([1.5, 0.5, 2, 3], 'float32'), [2, 1, 1, 1, 1, 1, 2]))],
    // Convolution with no input channels: an empty sum (XNNPACK refuses and leaves garbage).
    ['conv2d with zero input channels', () => np.conv2d(np.zeros([1, 4, 4, 0]), np.zeros([3, 3, 0, 2]))],
    // wasm broadcasts float32 by adding zeros: +0 zeros turned −0 into +0 (NumPy keeps −0).
    ['broadcast of −0', () => np.broadcastTo(np.array([-0, 1, -0], 'float32'), [2, 3])],
    ['broadcast of −0 at rank 7', () => np.broadcastTo(np.reshape(np.array([-0, 2], 'float32'), [1, 1, 1, 1, 1, 1, 2]), [2, 1, 1, 1, 1, 2, 2])],
  ];
  it('int32 products wrap exactly on both backends, as NumPy (cpu multiplied in float64 and lost the low bits past 2⁵³), eager and under jit, broadcast or not', async () => {
    await onEachBackend((backend) => {
      fc.assert(fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 9 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (xs, y) => {
        const a = np.array(xs, 'int32'), b = np.array(y, 'int32');
        const want = xs.map((x) => Math.imul(x, y));
        expect(np.multiply(a, b).toArray(), backend).toEqual(want);
        expect(np.multiply(b, a).toArray(), backend).toEqual(want);
        expect(jit((u: NDArray, v: NDArray) => np.multiply(u, v))(a, np.full([xs.length], y, 'int32')).toArray(), backend).toEqual(want);
      }), { seed: FC_SEED, numRuns: 60 });
      // (2³¹−1)² = 2⁶² − 2³² + 1 wraps to 1 (NumPy: 1).
      expect(np.multiply(np.array([2147483647], 'int32'), np.array([2147483647], 'int32')).toArray(), backend).toEqual([1]);
    });
  });

  it('bools through Reverse and Select, NaN in leading-axis sums, rank-7 sign and log1p, zero-channel convolutions', async () => {
    const start = getBackend();
    const results: Record<string, { shape: number[]; values: number[] }[]> = {};
    for (const backend of ['wasm', 'cpu']) {
      await setBackend(backend);
      results[backend] = cases.map(([, make]) => scope(() => {
        const r = make();
        return { shape: r.shape, values: Array.from(r.dataSync()) };
      }));
    }
    await setBackend(start);
    cases.forEach(([name], i) => expect(results.wasm![i], name).toEqual(results.cpu![i]));
    // And the values are right (not just equal): NaN and inf in the sums, the flipped bools.
    expect(results.wasm![3]!.values).toEqual([NaN, 4, NaN, Infinity]);
    expect(results.wasm![5]!.values).toEqual([-1, 1, 1, -1]);
    expect(results.wasm![7]!.values.every((v) => v === 0)).toBe(true);
    expect(results.wasm![8]!.values.map((v) => Object.is(v, -0))).toEqual([true, false, true, true, false, true]);
    expect(results.wasm![9]!.values.filter((v) => Object.is(v, -0))).toHaveLength(4);
  }, 60_000);
});

// The factorisations (cholesky, qr, eigh, svd, the LU behind solve, inv and slogdet) run in float64
// JS on the host whatever the backend, so their factors are the same bits on wasm and cpu and a
// comparison of them across backends cannot fail. What runs on the backend's kernels is everything
// around them: the products that use the factors and the derivative rules (matmuls, transposes,
// elementwise ops). Each backend is checked against references: the products against the float64
// input, the derivatives against finite differences of the (host) forward kernels, slogdet's
// gradient against A⁻ᵀ in float64.
describe('linear algebra on wasm and cpu: the backend kernels around the float64 JS factorisations', () => {
  const spd = [[4, 1, 0.5], [1, 3, -1], [0.5, -1, 2]];
  const general = [[1, 2, 0.5], [-3, 4, 1], [0.25, -1, 2], [2, 0.5, -1]];

  it('rebuild the input from the factors (L·Lᵀ, Q·R, V·diag(w)·Vᵀ, U·diag(s)·Vᵀ, A·solve(A, B), A·inv(A))', () =>
    onEachBackend((backend) => {
      const A = np.array(spd, 'float32'), G = np.array(general, 'float32');
      const opts = { rtol: 1e-5, atol: 1e-5 };
      const L = np.linalg.cholesky(A);
      expectClose(np.matmul(L, np.transpose(L)), spd, { ...opts, label: `${backend} L·Lᵀ` });
      const [q, r] = np.linalg.qr(G);
      expectClose(np.matmul(q, r), general, { ...opts, label: `${backend} Q·R` });
      const [w, v] = np.linalg.eigh(A);
      expectClose(np.matmul(np.multiply(v, w), np.transpose(v)), spd, { ...opts, label: `${backend} V·diag(w)·Vᵀ` });
      const [u, s, vh] = np.linalg.svd(G, { fullMatrices: false });
      expectClose(np.matmul(np.multiply(u, s), vh), general, { ...opts, label: `${backend} U·diag(s)·Vᵀ` });
      const B = np.array([[1, 0], [2, -1], [0.5, 3]], 'float32');
      expectClose(np.matmul(A, np.linalg.solve(A, B)), [[1, 0], [2, -1], [0.5, 3]], { ...opts, label: `${backend} A·solve(A, B)` });
      expectClose(np.matmul(A, np.linalg.inv(A)), eye64(3), { ...opts, label: `${backend} A·inv(A)` });
    }));

  it('differentiate through them: checkGrads (forward and reverse) for each, and slogdet\'s gradient is A⁻ᵀ (float64)', () =>
    onEachBackend((backend) => {
      const A = np.array(spd, 'float32'), G = np.array(general, 'float32');
      const sym = (x: NDArray) => np.multiply(np.add(x, np.transpose(x)), 0.5);
      const cases: [string, (x: NDArray) => NDArray | NDArray[], NDArray][] = [
        ['cholesky', (x) => np.linalg.cholesky(sym(x)), A],
        ['qr', (x) => np.linalg.qr(x), G],
        ['eigh', (x) => np.linalg.eigh(sym(x)), A],
        ['svd', (x) => np.linalg.svd(x, { fullMatrices: false }), G],
        ['solve', (x) => np.linalg.solve(x, np.array([[1, 0], [2, -1], [0.5, 3]], 'float32')), A],
        ['inv', (x) => np.linalg.inv(x), A],
      ];
      for (const [name, f, x] of cases) {
        try {
          checkGrads(f, [x], { order: 1, seed: 3 });
        } catch (e) {
          throw new Error(`${backend} ${name}: ${(e as Error).message}`);
        }
      }
      const want = transpose64(solve64(spd, eye64(3)));
      expectClose(grad((x: NDArray) => np.linalg.slogdet(x)[1])(A), want, { rtol: 1e-5, atol: 1e-6, label: `${backend} d slogdet` });
    }));
});
