// The layers of nn.mlp without its shape checks, and the dense layer's types (nn re-exports the
// types). Internal: nn.ts is the public `nn` namespace, this file is not, so mlpLayers stays out
// of the API; it serves models that check an MLP stack as part of their own parameter tree.
import { np, type NDArray } from '../src/index.js';

export type Activation = (x: NDArray) => NDArray;

/** A dense layer's parameters: y = x·w + b with w: [in, out], b: [out]. */
export interface DenseParams {
  w: NDArray;
  b: NDArray;
}

/**
 * mlp.apply's layers without its shape checks, for models that checked the stack as part of their
 * own parameter tree (their errors name them and the path there, and nothing is checked twice).
 */
export function mlpLayers(params: readonly DenseParams[], x: NDArray, options: { activation?: Activation; finalActivation?: Activation } = {}): NDArray {
  const act = options.activation ?? np.relu;
  let h = x;
  params.forEach((p, i) => {
    h = np.add(np.matmul(h, p.w), p.b);
    if (i < params.length - 1) h = act(h);
    else if (options.finalActivation) h = options.finalActivation(h);
  });
  return h;
}
