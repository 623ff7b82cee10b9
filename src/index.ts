// gradus: composable function transformations for TypeScript on TensorFlow.js kernels.
// This entry re-exports the public API (src/ internals never import it).
import { initBackend } from './backend.js';
import * as np from './np/index.js';
import * as random from './random/index.js';
import * as tree from './tree.js';

await initBackend();

export { np, random, tree };
export { NDArray, ConcreteArray, type ArrayLike } from './array.js';
export { ShapedArray } from './aval.js';
export type { DType } from './dtype.js';
export { setBackend, getBackend, availableBackends, initBackend } from './backend.js';
export { scope, dispose } from './scope.js';
export { GradusError, ShapeError, DTypeError, ConcretizationError, TransformError, UnexpectedTracerError, DisposedError, LinAlgError, ValueError, TreeError } from './errors.js';
export { Jaxpr, ClosedJaxpr } from './jaxpr.js';
export * from '../transforms/index.js';
