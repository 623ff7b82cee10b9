// Backends: the default in Node is wasm; GRADUS_BACKEND and setBackend() choose explicitly; an
// unknown name is an error listing what is available; and every backend computes the same thing
// (values and gradients of random compositions agree between wasm and cpu).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { availableBackends, getBackend, grad, np, scope, setBackend, type NDArray } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr } from './compositions.js';
import { FC_SEED } from './helpers.js';
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
