// The `lax` namespace: the control-flow transformations plus the lax-only array ops (dynamic slices).
export * from './control_flow.js';
export { dynamicSlice, dynamicUpdateSlice, dynamicSliceInDim, dynamicIndexInDim, dynamicUpdateSliceInDim } from '../src/np/index_update.js';
