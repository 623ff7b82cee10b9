// The transformations, re-exported by the package entry.
export { jvp } from './jvp.js';
export { vjp, grad, valueAndGrad, linearize, type GradOptions, type GradOf, type Pullback, type LinearMap } from './vjp.js';
export type { ArraysOf } from './api_util.js';
export { vmap, type AxisTree, type VmapOptions } from './vmap.js';
export { jacfwd, jacrev, hessian, type HessianOf, type JacobianOf, type JacobianOptions } from './jacobian.js';
export { stopGradient, straightThrough, gradientReversal } from './stop_gradient.js';
export { customJvp, customVjp, type Cotangent, type CotangentsOf } from './custom.js';
export {
  checkpoint, recompute, checkpointName, checkpointSequential, sqrtSegmentLength,
  nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames, type CheckpointPolicy, type CheckpointOptions,
} from './checkpoint.js';
export { jit, makeJaxpr, type JitOptions, type Jitted } from './jit.js';
export { scan, foriLoop, whileLoop, cond, switchCase, type ScanOptions, type ScanInit, type Scalar } from './control_flow.js';
// JAX spells them lax.scan, lax.fori_loop, lax.while_loop, lax.cond and lax.switch: `lax.scan`,
// `lax.foriLoop`, `lax.whileLoop`, `lax.cond` and `lax.switch` (= switchCase) work too.
export * as lax from './lax_namespace.js';
