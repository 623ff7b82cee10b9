// Runs the programs carried by higher-order primitives when they reach the eval interpreter.
// `remat` and the custom-rule primitives replay their program; `jit_call` runs a compiled plan
// (see transforms/jit.ts for how programs are compiled and cached).
import type { ConcreteArray, NDArray } from './array.js';
import { evalJaxprHook } from './eval_hooks.js';
import { evalJaxpr, type Jaxpr } from './jaxpr.js';
import { scoped } from './scope.js';

/** A compiled program: `run` takes and returns concrete arrays. */
export interface Executable {
  run(args: ConcreteArray[]): NDArray[];
}

/** Compiles programs for `jit_call`; transforms/jit.ts installs its optimising compiler here. */
export const programCompiler: { compile: (jaxpr: Jaxpr) => Executable } = {
  compile: (jaxpr) => ({ run: (args) => scoped(() => evalJaxpr(jaxpr, args)) }),
};

const compiled = new WeakMap<Jaxpr, Executable>();

evalJaxprHook.run = (prim, args, params) => {
  if (prim === 'jit_call') {
    let exe = compiled.get(params.jaxpr);
    if (exe === undefined) {
      exe = programCompiler.compile(params.jaxpr);
      compiled.set(params.jaxpr, exe);
    }
    return exe.run(args);
  }
  return scoped(() => evalJaxpr(params.jaxpr, args));
};
