// Hessian-vector products by forward-over-reverse, `jvp(grad(f))`, against the gradient itself, on
// the loss of a tanh MLP 784-512-512-10, batch 128 (design.md: goal ≤ 4× the cost of `grad(f)`).
// jax-js's jvp(grad) is timed beside it. Run alone with `npx tsx bench/hvp.ts`.
import * as tf from '@tensorflow/tfjs-core';
import { dispose, grad, jit, jvp, np, scope, tree, type NDArray } from '../src/index.js';
import { mlp } from '../models/nn.js';
import { gaussian, makeMlpData, toGradus, type MlpData } from './data.js';
import { compare, isMain, measured, ratio, readBackSmallest, runAlone, type BenchResult, type Contender, type Ratio } from './harness.js';
import { loadJax, toJax, type JaxArray, type JaxLayer } from './jaxjs.js';

export const SIZES = [784, 512, 512, 10];
export const BATCH = 128;

type Params = { w: NDArray; b: NDArray }[];

function loss(params: Params, x: NDArray, y: NDArray): NDArray {
  const logits = mlp.apply(params, x, { activation: np.tanh });
  return np.negative(np.mean(np.sum(np.multiply(np.logSoftmax(logits), y), -1)));
}

const gradF = (p: Params, x: NDArray, y: NDArray): Params => grad(loss)(p, x, y) as Params;
/** H·v, forward-over-reverse (the scope frees the gradient jvp also returns). */
const hvp = (p: Params, v: Params, x: NDArray, y: NDArray): Params => scope(() => jvp((q: Params) => gradF(q, x, y), [p], [v])[1]);

/** A random direction with the parameters' shapes, as host data. */
function direction(d: MlpData): MlpData {
  return { ...d, layers: d.layers.map((l, i) => ({ w: gaussian(500 + i, l.w.length, 1e-2), b: gaussian(600 + i, l.b.length, 1e-2) })) };
}

function dot(a: Params, b: Params): number {
  let s = 0;
  (tree.leaves(a) as NDArray[]).forEach((l, i) => {
    const u = l.dataSync() as Float32Array, v = (tree.leaves(b)[i] as NDArray).dataSync() as Float32Array;
    for (let k = 0; k < u.length; k++) s += u[k]! * v[k]!;
  });
  return s;
}

export async function benchHvp(options: { rounds?: number } = {}): Promise<BenchResult> {
  const data = makeMlpData(SIZES, BATCH, 2);
  const dir = direction(data);
  return measured('hvp', `Hessian-vector product jvp(grad(f)) vs grad(f), tanh MLP ${SIZES.join('-')}, batch ${BATCH}`, async () => {
    const notes: string[] = [];
    const before = tf.memory().numTensors;
    const g = toGradus(data);
    const gv = toGradus(dir), v = gv.params;
    dispose([gv.x, gv.y]);
    const jitGrad = jit(gradF), jitHvp = jit(hvp);

    // Check: vᵀHv against a central difference of the gradient along v (float32, so loose).
    scope(() => {
      const hv = hvp(g.params, v, g.x, g.y);
      const eps = 0.03;
      const shifted = (s: number) => tree.map((p: NDArray, d: NDArray) => np.add(p, np.multiply(d, s * eps)), g.params, v) as Params;
      const gp = gradF(shifted(1), g.x, g.y), gm = gradF(shifted(-1), g.x, g.y);
      const fd = (dot(gp, v) - dot(gm, v)) / (2 * eps);
      const exact = dot(hv, v);
      notes.push(`check: vᵀHv = ${exact.toExponential(4)} by jvp(grad), ${fd.toExponential(4)} by central differences of grad (step ${eps}·v; relative difference ${(Math.abs(exact - fd) / Math.abs(fd)).toExponential(1)})`);
      return null;
    });

    const sync = (r: Params) => readBackSmallest(tree.leaves(r) as NDArray[]);
    const contenders: Contender<any>[] = [
      { name: 'gradus grad(f) (eager)', run: () => gradF(g.params, g.x, g.y), sync, free: dispose },
      { name: 'gradus jvp(grad(f)) (eager)', run: () => hvp(g.params, v, g.x, g.y), sync, free: dispose },
      { name: 'gradus jit(grad(f))', run: () => jitGrad(g.params, g.x, g.y), sync, free: dispose },
      { name: 'gradus jit(jvp(grad(f)))', run: () => jitHvp(g.params, v, g.x, g.y), sync, free: dispose },
    ];

    const jax = await loadJax();
    let jaxCleanup = () => {};
    if (typeof jax === 'string') notes.push(jax);
    else {
      const j = toJax(jax, data), jv = toJax(jax, dir).params;
      const { numpy: jnp, nn } = jax;
      const lossJ = (p: JaxLayer[], x: JaxArray, y: JaxArray): JaxArray => {
        let h = x;
        p.forEach((l, i) => {
          h = jnp.matmul(h, l.w).add(l.b);
          if (i < p.length - 1) h = jnp.tanh(h);
        });
        return jnp.mean(jnp.sum(nn.logSoftmax(h, -1).mul(y), -1)).neg();
      };
      const gJ = (p: JaxLayer[], x: JaxArray, y: JaxArray) => jax.grad(lossJ)(p, x, y);
      const hvpJ = (p: JaxLayer[], t: JaxLayer[], x: JaxArray, y: JaxArray) => {
        const [gOut, hv] = jax.jvp((q: JaxLayer[]) => gJ(q, x, y), [p], [t]);
        jax.tree.dispose(gOut);
        return hv;
      };
      const jitGJ = jax.jit(gJ), jitHvpJ = jax.jit(hvpJ);
      const jaxSync = async (r: unknown) => { await jax.blockUntilReady(r as never); };
      const jaxFree = (r: unknown) => jax.tree.dispose(r as never);
      contenders.push({ name: 'jax-js jit(grad(f))', run: () => jitGJ(jax.tree.ref(j.params), j.x.ref, j.y.ref), sync: jaxSync, free: jaxFree });
      contenders.push({ name: 'jax-js jit(jvp(grad(f)))', run: () => jitHvpJ(jax.tree.ref(j.params), jax.tree.ref(jv), j.x.ref, j.y.ref), sync: jaxSync, free: jaxFree });
      jaxCleanup = () => { jitGJ.dispose(); jitHvpJ.dispose(); jax.tree.dispose([j.params, jv, j.x, j.y]); };
    }

    const timings = await compare(contenders, { warmup: 2, rounds: options.rounds ?? 4, perRound: 3 });
    jaxCleanup();
    jitGrad.clearCache();
    jitHvp.clearCache();
    dispose([g.params, g.x, g.y, v]);
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) notes.push(`TF.js tensor count changed by ${leaked} over the benchmark (a leak somewhere)`);

    const ms = (k: string) => timings[k]?.medianMs ?? NaN;
    const ratios: Ratio[] = [
      ratio('jvp(grad(f)) / grad(f), eager', ms('gradus jvp(grad(f)) (eager)') / ms('gradus grad(f) (eager)'), { atMost: 4 }),
      ratio('jit(jvp(grad(f))) / jit(grad(f))', ms('gradus jit(jvp(grad(f)))') / ms('gradus jit(grad(f))'), { atMost: 4 }),
    ];
    if (Number.isFinite(ms('jax-js jit(jvp(grad(f)))'))) {
      ratios.push(ratio('jax-js: jit(jvp(grad)) / jit(grad)', ms('jax-js jit(jvp(grad(f)))') / ms('jax-js jit(grad(f))')));
      ratios.push(ratio('gradus jit(jvp(grad)) / jax-js jit(jvp(grad))', ms('gradus jit(jvp(grad(f)))') / ms('jax-js jit(jvp(grad(f)))')));
    }
    return { timings, ratios, notes };
  });
}

if (isMain(import.meta.url)) await runAlone(() => benchHvp());
