// Shared test setup: every suite runs on the backend gradus picks by default (wasm in Node),
// unless GRADUS_BACKEND says otherwise.
import { expect } from 'vitest';
import { ConcreteArray, NDArray } from '../src/index.js';

// NDArrays iterate over their leading axis (as NumPy's and JAX's do), so vitest's toEqual/toBe
// diff would walk them row by row, making arrays and failing on 0-d rows. Compare them as values
// instead: same shape, dtype and elements (NaN equal to NaN); tracers and freed arrays by identity.
expect.addEqualityTesters([
  function ndarrayEquality(a: unknown, b: unknown): boolean | undefined {
    if (!(a instanceof NDArray) || !(b instanceof NDArray)) return undefined;
    if (a === b) return true;
    if (!(a instanceof ConcreteArray) || !(b instanceof ConcreteArray) || a.isDisposed || b.isDisposed) return false;
    if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
    const x = a.dataSync(), y = b.dataSync();
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i]) && !(x[i] === y[i])) return false;
    return true;
  },
]);
