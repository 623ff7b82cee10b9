// jax-js (@jax-js/jax, a dev dependency) as a peer: loading it, moving host data into it, and the
// MLP loss written in its ownership style. Every jax-js call consumes its array arguments (`.ref`
// keeps one), including `await a.data()`, so the helpers here say who owns what.
import type { MlpData } from './data.js';

export type Jax = typeof import('@jax-js/jax');
export type JaxArray = import('@jax-js/jax').Array;
// A type alias, not an interface: jax-js's JsTree typing only accepts aliases.
export type JaxLayer = { w: JaxArray; b: JaxArray };

let loaded: Promise<Jax | string> | null = null;

/** The jax-js module with its wasm backend started, or a string saying why it is unavailable. */
export function loadJax(): Promise<Jax | string> {
  loaded ??= (async () => {
    try {
      const jax = await import('@jax-js/jax');
      // init() with no argument also probes WebGPU, which throws in Node (no `navigator`).
      const devices = await jax.init('wasm');
      if (!devices.includes('wasm')) return `jax-js: wasm device unavailable (got ${devices.join(', ')})`;
      jax.defaultDevice('wasm');
      return jax;
    } catch (e) {
      return `jax-js unavailable: ${(e as Error).message}`;
    }
  })();
  return loaded;
}

/** Host data as jax-js arrays (the caller owns them). */
export function toJax(jax: Jax, d: MlpData): { params: JaxLayer[]; x: JaxArray; y: JaxArray } {
  const np = jax.numpy;
  return {
    params: d.layers.map((l, i) => ({ w: np.array(l.w).reshape([d.sizes[i]!, d.sizes[i + 1]!]), b: np.array(l.b) })),
    x: np.array(d.x).reshape([d.batch, d.sizes[0]!]),
    y: np.array(d.y).reshape([d.batch, d.sizes[d.sizes.length - 1]!]),
  };
}

/** Mean softmax cross-entropy of a relu MLP; consumes every argument (each is used exactly once). */
export function jaxMlpLoss(jax: Jax, params: JaxLayer[], x: JaxArray, y: JaxArray): JaxArray {
  const { numpy: np, nn } = jax;
  let h = x;
  params.forEach((l, i) => {
    h = np.matmul(h, l.w).add(l.b);
    if (i < params.length - 1) h = nn.relu(h);
  });
  return np.mean(np.sum(nn.logSoftmax(h, -1).mul(y), -1)).neg();
}

/** Reads a scalar back and frees it. */
export async function jaxScalar(a: JaxArray): Promise<number> {
  return (await a.data())[0] as number;
}

/** Global L2 norm of a tree of arrays; consumes the tree. */
export async function jaxGlobalNorm(jax: Jax, t: unknown): Promise<number> {
  let s = 0;
  for (const leaf of jax.tree.leaves(t as never) as JaxArray[]) {
    const v = (await leaf.data()) as Float32Array;
    for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  }
  return Math.sqrt(s);
}
