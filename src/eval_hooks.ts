// The eval interpreter runs higher-order primitives (jit_call, remat, custom_*_call, scan, while,
// cond) by replaying their programs. The program runner lives in executor.ts, which depends on the interpreter stack;
// this small hook lets the kernel layer call it without an import cycle.
import type { ConcreteArray, NDArray } from './array.js';
import { GradusError } from './errors.js';
import type { ParamsOf } from './primitives.js';

type ProgramPrimitive = 'jit_call' | 'remat' | 'custom_jvp_call' | 'custom_vjp_call' | 'scan' | 'while' | 'cond';

export const evalJaxprHook: {
  run: (prim: ProgramPrimitive | string, args: ConcreteArray[], params: ParamsOf<'jit_call'> | ParamsOf<'scan'> | ParamsOf<'while'> | ParamsOf<'cond'>) => NDArray[];
} = {
  run: (prim) => {
    throw new GradusError(`${prim}: the program executor is not loaded (import gradus from its entry point)`);
  },
};
