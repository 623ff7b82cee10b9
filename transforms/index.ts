// The transformations, re-exported by the package entry.
export { jvp } from './jvp.js';
export { vjp, grad, valueAndGrad, linearize, type GradOptions, type Pullback } from './vjp.js';
export { vmap, type VmapOptions } from './vmap.js';
