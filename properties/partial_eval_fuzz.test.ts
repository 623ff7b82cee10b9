// Random programs through partial evaluation: chains of scans (consts, carries, xs; forward and
// reverse; a carry returned as ys; an input read only through a comparison, an xs or a carry
// ignored), conds and switches (an operand no branch differentiates), fixed-trip foriLoops (tuple
// carries with an int counter), integer ops, an int-indexed gather and nested jit(checkpoint), each
// wrapped at random in jit or a checkpoint (all four policies, jit(checkpoint)), the whole wrapped
// again. Every program is compared with the same program with all wrappers removed (values,
// gradients at orders 1 and 2, eager, under jit and under vmap), and jit(f)'s pullback holds no
// more bytes than f's (before 889fba3 a jitted f held a copy of each input it saved); no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkpoint, cond, dotsSaveable, everythingSaveable, foriLoop, grad, jit, nothingSaveable, np, scan, switchCase, vmap, type NDArray } from '../src/index.js';
import { FC_SEED, inScope } from './helpers.js';
import { heldBytes } from './checkpoint_helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';

type Fn = (...a: NDArray[]) => NDArray;
type Wrap = (f: Fn) => Fn;
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const XS = np.stack([x, np.negative(x), np.multiply(x, 0.5)]);
const batch = np.stack([x, np.multiply(x, -0.75)]);
const IDX = np.array([2, 0, 2], 'int32');
const same: Wrap = (f) => f;
const WRAPS: [string, Wrap][] = [
  ['none', same],
  ['jit', (f) => jit(f)],
  ['checkpoint', (f) => checkpoint(f)],
  ['checkpoint(everythingSaveable)', (f) => checkpoint(f, { policy: everythingSaveable })],
  ['checkpoint(nothingSaveable)', (f) => checkpoint(f, { policy: nothingSaveable })],
  ['checkpoint(dotsSaveable)', (f) => checkpoint(f, { policy: dotsSaveable })],
  ['jit(checkpoint)', (f) => jit(checkpoint(f))],
];
const kOf = (v: NDArray): NDArray => np.tanh(np.multiply(v, 0.3));
const sinOf = (a: NDArray, _ignored: NDArray): NDArray => np.sin(a);
// A block maps the running value h (f32[2, 3]) to a new one, closing over the input v; W wraps its
// inner function, `flag` picks a variant (reverse scan, another output).
type Block = (h: NDArray, v: NDArray, W: Wrap, flag: boolean) => NDArray;
const BLOCKS: [string, Block][] = [
  ['scan, k unread by the wrapped call', (h, v, W, flag) => {
    const k = kOf(v), g = W(sinOf);
    const [c, ys] = scan((c: NDArray, y: NDArray) => { const n = g(np.multiply(c, y), k); return [np.cos(n), n]; }, np.sin(h), XS, { reverse: flag });
    return np.add(c, np.sum(ys, 0));
  }],
  ['scan, k read through a comparison', (h, v, W, flag) => {
    const k = kOf(v);
    const body = W(((c: NDArray, y: NDArray) => { const n = np.where(np.greater(k, 0), np.sin(np.multiply(c, y)), np.cos(c)); return [n, np.sin(n)]; }) as never);
    const [c, ys] = scan(body as never, np.sin(h), XS, { reverse: flag }) as [NDArray, NDArray];
    return np.add(c, np.sum(ys, 0));
  }],
  ['scan, the carry-in returned as ys', (h, v, W, flag) => {
    const body = W(((c: NDArray, y: NDArray) => [np.multiply(np.sin(c), y), c]) as never);
    const [c, ys] = scan(body as never, h, XS, { reverse: flag }) as [NDArray, NDArray];
    return np.add(c, np.sum(np.multiply(ys, np.sin(v)), 0));
  }],
  ['scan, xs or carry ignored', (h, v, W, flag) => {
    const k = np.cos(v);
    const body = W(((c: NDArray, y: NDArray) => (flag ? [np.multiply(np.sin(c), k), np.multiply(c, k)] : [np.multiply(y, v), np.sin(np.multiply(y, h))])) as never);
    const [c, ys] = scan(body as never, np.sin(h), XS) as [NDArray, NDArray];
    return np.add(c, np.sum(ys, 0));
  }],
  ['cond, k unread by the wrapped call', (h, v, W) => {
    const g = W(sinOf);
    return cond(np.greater(np.sum(x), 0), (u: NDArray, k: NDArray) => g(np.sin(u), k), (u: NDArray) => np.cos(u), h, kOf(v)) as NDArray;
  }],
  ['switch, k compared or multiplied', (h, v, W) => {
    const branches = [W((u, k) => np.where(np.greater(k!, 0), np.sin(u!), u!)), (u: NDArray) => np.cos(u), W((u, k) => np.multiply(u!, k!))];
    return switchCase(np.argmax(np.sum(x, 0)), branches, h, kOf(v)) as NDArray;
  }],
  ['foriLoop with an int counter in the carry', (h, v, W, flag) => {
    const body = W(((_i: NDArray, c: NDArray[]) => [np.add(c[0]!, 1), np.multiply(np.sin(c[1]!), np.astype(c[0]!, 'float32'))]) as never);
    const [n, c] = foriLoop(0, 3, body as never, [np.array(1, 'int32'), h]) as NDArray[];
    return np.add(c!, flag ? v : np.astype(n!, 'float32'));
  }],
  ['integer ops', (h, v, W) => W((a, b) => {
    const m = np.astype(np.equal(np.remainder(np.astype(np.floor(np.multiply(b!, 2)), 'int32'), 2), 0), 'float32');
    return np.add(np.multiply(np.sin(a!), m), np.multiply(a!, b!));
  })(h, v)],
  ['int-indexed gather', (h, _v, W, flag) => W((a, i) => np.multiply(np.take(np.sin(a!), i!, 1), flag ? np.take(a!, i!, 1) : 2))(h, IDX)],
  ['jit(checkpoint) nested', (h, v, W) => W((a, b) => jit((p: NDArray, q: NDArray) => checkpoint((r: NDArray, _t: NDArray) => np.sin(np.multiply(r, r)))(np.add(p, 1), q))(a!, b!))(h, v)],
];

const plan = fc.record({
  blocks: fc.array(fc.tuple(fc.integer({ min: 0, max: BLOCKS.length - 1 }), fc.integer({ min: 0, max: WRAPS.length - 1 }), fc.boolean()), { minLength: 1, maxLength: 3 }),
  outer: fc.integer({ min: 0, max: WRAPS.length - 1 }),
});
type Plan = { blocks: [number, number, boolean][]; outer: number };
const describePlan = (p: Plan): string => `${WRAPS[p.outer]![0]}(${p.blocks.map(([b, w, f]) => `${BLOCKS[b]![0]} in ${WRAPS[w]![0]}${f ? '*' : ''}`).join('; ')})`;
/** The program of plan p, with its wrappers or (bare) without any. */
function build(p: Plan, bare: boolean, outer = true): (v: NDArray) => NDArray {
  const body = (v: NDArray): NDArray => {
    let h = v;
    for (const [b, w, flag] of p.blocks) h = BLOCKS[b]![1](h, v, bare ? same : WRAPS[w]![1], flag);
    return np.sum(np.cos(h));
  };
  return bare || !outer ? body : (WRAPS[p.outer]![1](body as Fn) as (v: NDArray) => NDArray);
}
const secondOrder = (f: (v: NDArray) => NDArray) => grad((v: NDArray) => np.sum(np.multiply(grad(f)(v), np.cos(v))));

describe('random programs through partial evaluation', () => {
  it('equal the program without jit or checkpoint: values, gradients at orders 1 and 2, under jit and vmap; no leaks', () => {
    fc.assert(
      fc.property(plan, (p: Plan) => {
        const f = build(p, false), ref = build(p, true), label = describePlan(p);
        const tol = { rtol: 2e-4, atol: 2e-5, label };
        inScope(() => {
          expectTreeClose(f(x), ref(x), tol);
          const want = grad(ref)(x);
          expectTreeClose(grad(f)(x), want, tol);
          expectTreeClose(jit(grad(f))(x), want, tol);
          expectTreeClose(vmap(grad(f))(batch), vmap(grad(ref))(batch), tol);
          expectTreeClose(secondOrder(f)(x), secondOrder(ref)(x), { ...tol, rtol: 1e-3, atol: 1e-4 });
        });
        expectNoLeak(label, () => grad(f)(x));
      }),
      { seed: FC_SEED, numRuns: 16 },
    );
  });

  it("jit(f)'s pullback holds no more than f's (a switch's may hold less: 106 against 110 bytes)", () => {
    fc.assert(
      fc.property(plan, (p: Plan) => {
        const f = build(p, false, false);
        expect(heldBytes(jit(f), x), describePlan({ ...p, outer: 1 })).toBeLessThanOrEqual(heldBytes(f, x));
      }),
      { seed: FC_SEED, numRuns: 24 },
    );
  });
});
