// The traced-program IR ("jaxpr"): variables, equations and programs, an interpreter that replays a
// program through `bind` (so replaying under a transformation transforms it), and a printer.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from './array.js';
import { ShapedArray } from './aval.js';
import { bind } from './core.js';
import type { ParamsOf, Primitive } from './primitives.js';
import type { OwnsArrays } from './scope.js';

let nextVarId = 0;

/** A program variable, bound once (an input binder or an equation output). */
export class Var {
  readonly id = nextVarId++;
  constructor(readonly aval: ShapedArray) {}
}

/**
 * A size-1 constant written inline in the program. It stores a JS number, not a tensor, so that
 * programs never own hidden tensors; `materialize` makes a fresh array each time it is needed.
 */
export class Lit {
  constructor(
    readonly value: number | boolean,
    readonly aval: ShapedArray,
  ) {}
  materialize(): ConcreteArray {
    // Written directly (no Fill kernel): programs materialise each distinct literal once per run (once per loop for scan/while bodies).
    if (this.aval.size === 1) return new ConcreteArray(tf.tensor([this.value as number], this.aval.shape as number[], this.aval.dtype));
    return new ConcreteArray(tf.fill(this.aval.shape as number[], this.value as number, this.aval.dtype));
  }
}

export type Atom = Var | Lit;

export interface JaxprEqn<P extends Primitive = Primitive> {
  readonly prim: P;
  readonly inputs: Atom[];
  readonly params: ParamsOf<P>;
  readonly outBinders: Var[];
}

/** A straight-line program: input binders, equations in order, output atoms. */
export class Jaxpr {
  constructor(
    readonly inBinders: Var[],
    readonly eqns: JaxprEqn[],
    readonly outs: Atom[],
  ) {}
  get inAvals(): ShapedArray[] {
    return this.inBinders.map((v) => v.aval);
  }
  get outAvals(): ShapedArray[] {
    return this.outs.map((v) => v.aval);
  }
  toString(): string {
    return printJaxpr(this);
  }
}

/** A program together with the values of its leading constant inputs. */
/**
 * A program with its constants (what `makeJaxpr` returns). The constants are its own: a scope
 * returning it keeps them alive, and `dispose(closed)` frees them (as `dispose(closed.consts)`);
 * safe to call twice.
 */
export class ClosedJaxpr implements OwnsArrays {
  constructor(
    readonly jaxpr: Jaxpr,
    readonly consts: NDArray[],
  ) {}
  ownedArrays(): readonly NDArray[] {
    return this.consts;
  }
  toString(): string {
    return printJaxpr(this.jaxpr, this.consts.length);
  }
}

/** Replays `jaxpr` on `args` through `bind`: concrete args evaluate it, tracers transform it. */
export function evalJaxpr(jaxpr: Jaxpr, args: readonly NDArray[]): NDArray[] {
  const env = new Map<Var, NDArray>();
  const read = (a: Atom): NDArray => (a instanceof Lit ? a.materialize() : env.get(a)!);
  jaxpr.inBinders.forEach((v, i) => env.set(v, args[i]!));
  for (const eqn of jaxpr.eqns) {
    const outs = bind(eqn.prim, eqn.inputs.map(read), eqn.params);
    eqn.outBinders.forEach((v, i) => env.set(v, outs[i]!));
  }
  return jaxpr.outs.map(read);
}

// ---------------------------------------------------------------------------------------------
// Printing

function varNamer(): (v: Var) => string {
  const names = new Map<Var, string>();
  return (v) => {
    let n = names.get(v);
    if (n === undefined) {
      n = nameFor(names.size);
      names.set(v, n);
    }
    return n;
  };
}

function nameFor(i: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  i += 1;
  while (i > 0) {
    i -= 1;
    s = letters[i % 26] + s;
    i = Math.floor(i / 26);
  }
  return s;
}

function fmtParam(v: unknown, indent: string): string {
  if (v instanceof Jaxpr) return '\n' + printJaxpr(v, 0, indent + '    ');
  if (Array.isArray(v)) return `(${v.map((x) => fmtParam(x, indent)).join(',')})`;
  if (typeof v === 'function') return v.name || 'fn';
  if (v !== null && typeof v === 'object' && 'name' in v) return String((v as { name: unknown }).name);
  if (v instanceof ShapedArray) return v.str();
  return String(v);
}

/** Prints a program in the style of JAX's jaxprs. */
export function printJaxpr(jaxpr: Jaxpr, numConsts = 0, indent = ''): string {
  const name = varNamer();
  const atom = (a: Atom): string => (a instanceof Lit ? fmtLit(a) : name(a));
  const binder = (v: Var): string => `${name(v)}:${v.aval.str()}`;
  const consts = jaxpr.inBinders.slice(0, numConsts).map(binder).join(' ');
  const ins = jaxpr.inBinders.slice(numConsts).map(binder).join(' ');
  const lines = [`${indent}{ lambda ${consts ? consts + ' ; ' : ''}${ins}. let`];
  for (const eqn of jaxpr.eqns) {
    const params = Object.entries(eqn.params as Record<string, unknown>)
      .filter(([k]) => k !== 'jvp' && k !== 'fwd' && k !== 'bwd' && k !== 'outAvals')
      .map(([k, v]) => `${k}=${fmtParam(v, indent)}`);
    const p = params.length ? `[${params.join(' ')}]` : '';
    const lhs = eqn.outBinders.map(binder).join(' ');
    lines.push(`${indent}    ${lhs} = ${eqn.prim}${p} ${eqn.inputs.map(atom).join(' ')}`);
  }
  lines.push(`${indent}  in ( ${jaxpr.outs.map(atom).join(' ')} ) }`);
  return lines.join('\n');
}

function fmtLit(l: Lit): string {
  const v = l.value;
  if (typeof v === 'boolean' || l.aval.dtype === 'bool') return String(Boolean(v));
  return l.aval.dtype === 'float32' && Number.isInteger(v) ? `${v}.0` : String(v);
}
