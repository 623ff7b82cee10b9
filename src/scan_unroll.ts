// JAX's scan `unroll` at the eval level: a scan with unroll = k runs k steps of its body per loop
// iteration, as one program that is the body written out k times in a row (each copy's carry
// outputs are the next copy's carry inputs). The loop (executor_loops.ts) then runs this program
// once per k steps, and the body alone for the steps left over. Only the executor reads `unroll`:
// every transformation carries it to the scans it makes, and the program computes what k steps of
// the body compute, kernel for kernel (the executor's rewrites of a program give the values of the
// kernels they replace bitwise: executor_fusion.ts), so the results are those of unroll = 1.
import { Jaxpr, Var, type Atom, type JaxprEqn } from './jaxpr.js';

const unrolled = new WeakMap<Jaxpr, Map<number, Jaxpr>>();

/**
 * A scan body (`numConsts` consts, `numCarry` carries, then one slice per scanned input; returns the
 * carries, then the ys) run `k` times in a row as one program. Its inputs are the consts, the
 * carries, then the slices of step 1, of step 2, …, of step k (in the order the scan runs them);
 * its outputs are the carries after step k, then the ys of step 1, of step 2, …, of step k. Made
 * once per body and k.
 */
export function unrolledScanBody(body: Jaxpr, numConsts: number, numCarry: number, k: number): Jaxpr {
  let byCount = unrolled.get(body);
  if (byCount === undefined) unrolled.set(body, (byCount = new Map()));
  let program = byCount.get(k);
  if (program === undefined) byCount.set(k, (program = writeOut(body, numConsts, numCarry, k)));
  return program;
}

function writeOut(body: Jaxpr, numConsts: number, numCarry: number, k: number): Jaxpr {
  const fresh = (v: Var) => new Var(v.aval);
  const consts = body.inBinders.slice(0, numConsts).map(fresh);
  const initCarry = body.inBinders.slice(numConsts, numConsts + numCarry).map(fresh);
  const xBinders = body.inBinders.slice(numConsts + numCarry);
  const inBinders: Var[] = [...consts, ...initCarry];
  const eqns: JaxprEqn[] = [];
  const ys: Atom[] = [];
  let carry: Atom[] = initCarry;
  for (let step = 0; step < k; step++) {
    const xs = xBinders.map(fresh);
    inBinders.push(...xs);
    // What each of the body's variables is in this copy.
    const env = new Map<Var, Atom>();
    body.inBinders.forEach((v, i) => env.set(v, i < numConsts ? consts[i]! : i < numConsts + numCarry ? carry[i - numConsts]! : xs[i - numConsts - numCarry]!));
    const read = (a: Atom): Atom => (a instanceof Var ? env.get(a)! : a);
    for (const eqn of body.eqns) {
      const outBinders = eqn.outBinders.map((v) => {
        const w = fresh(v);
        env.set(v, w);
        return w;
      });
      eqns.push({ ...eqn, inputs: eqn.inputs.map(read), outBinders });
    }
    const outs = body.outs.map(read);
    carry = outs.slice(0, numCarry);
    ys.push(...outs.slice(numCarry));
  }
  return new Jaxpr(inBinders, eqns, [...carry, ...ys]);
}
