// Jacobian properties (issue 4): jacfwd equals jacrev for random functions with pytree inputs and
// outputs of rank 0–3 and any argnums, and both contract with a tangent to the JVP (so the layout
// out.shape + in.shape is right, not only consistent); the Hessian is symmetric, equals finite
// differences of the gradient and the forward-over-reverse product; the Hessian of xᵀAx is A + Aᵀ;
// hasAux returns concrete values; errors; composition with vmap and jit; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConcreteArray, DTypeError, NDArray, TransformError, dispose, grad, hessian, jacfwd, jacrev, jit, jvp, np, tree, vmap } from '../src/index.js';
import { Rng, reference as R } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr, type Expr } from './compositions.js';
import { FC_SEED, expectClose, inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

type Args = [NDArray, { w: NDArray[] }];

const ARGNUMS: (number | number[])[] = [0, 1, -1, [0], [1], [0, 1], [1, 0], [-2, -1]];

interface JacCase {
  e1: Expr;
  e2: Expr;
  shapes: number[][];
  argnums: number | number[];
  seed: number;
}

const arbJacCase: fc.Arbitrary<JacCase> = fc.integer({ min: 1, max: 3 }).chain((k) =>
  fc.record({ e1: arbExpr(k, 3), e2: arbExpr(k, 2), shapes: arbInputShapes(k, { maxRank: 3, maxDim: 3 }), argnums: fc.constantFrom(...ARGNUMS), seed: fc.integer() }),
);

/** f(x0, {w: [x1, x2]}) -> {y: e1, z: [e2]}: pytree in, pytree out. */
function buildJac(c: JacCase) {
  const rng = new Rng(c.seed);
  const xs = c.shapes.map((s) => randomArray(rng, s));
  const args: Args = [xs[0]!, { w: xs.slice(1) }];
  const f = (x0: NDArray, rest: { w: NDArray[] }) => {
    const ys = [x0, ...rest.w];
    return { y: evalExpr(c.e1, ys), z: [evalExpr(c.e2, ys)] };
  };
  return { args, f, rng };
}

const sizeOf = (x: NDArray) => x.shape.reduce((a, b) => a * b, 1);

/** The differentiated arguments as selected by argnums: one tree, or a list of trees. */
function selected(args: Args, argnums: number | number[]): unknown {
  const norm = (a: number) => (a < 0 ? a + args.length : a);
  return typeof argnums === 'number' ? args[norm(argnums)] : argnums.map((a) => args[norm(a)]);
}

/**
 * Σ_in J[out][in] · v_in for each output leaf, computed by reshaping each block to
 * [out.size, in.size]: what jvp along v must give if the Jacobian has layout out.shape + in.shape.
 */
function contract(jac: unknown, outLeaves: NDArray[], inTree: unknown, tangentTree: unknown): NDArray[] {
  const inLeaves = tree.leaves(inTree) as NDArray[];
  const vLeaves = tree.leaves(tangentTree) as NDArray[];
  // jac: for each output leaf (in order), a tree shaped like the differentiated arguments.
  const blocks = tree.leaves(jac) as NDArray[];
  return outLeaves.map((o, i) => {
    let acc = np.zeros([sizeOf(o)]);
    inLeaves.forEach((x, j) => {
      const block = blocks[i * inLeaves.length + j]!;
      expect(block.shape, `Jacobian block [${i}][${j}]`).toEqual([...o.shape, ...x.shape]);
      acc = np.add(acc, np.matmul(np.reshape(block, [sizeOf(o), sizeOf(x)]), np.reshape(vLeaves[j]!, [sizeOf(x)])));
    });
    return np.reshape(acc, o.shape);
  });
}

describe('jacfwd equals jacrev', () => {
  it('for random compositions with pytree inputs and outputs of rank 0–3 and any argnums; both contract with v to the JVP', () => {
    fc.assert(
      fc.property(arbJacCase, (c) =>
        inScope(() => {
          const { args, f, rng } = buildJac(c);
          const out = f(...args);
          fc.pre(moderate(out));
          const label = `y = ${showExpr(c.e1)}, z = ${showExpr(c.e2)}, argnums ${JSON.stringify(c.argnums)}`;
          const jf = jacfwd(f, { argnums: c.argnums })(...args);
          const jr = jacrev(f, { argnums: c.argnums })(...args);
          expectTreeClose(jf, jr, { rtol: 5e-4, atol: 5e-5, label: `jacfwd vs jacrev: ${label}` });
          // The Jacobian tree: f's output structure, each leaf the structure of the differentiated arguments.
          const inTree = selected(args, c.argnums);
          const inDef = tree.structure(inTree);
          for (const sub of [jf.y, jf.z[0]]) expect(tree.structure(sub).equals(inDef), label).toBe(true);
          // Contracting with a random tangent gives the JVP.
          const v = tree.map((x: NDArray) => randomArray(rng, x.shape, -1, 1), inTree);
          const tangents = args.map((a, i) => {
            const norm = (k: number) => (k < 0 ? k + args.length : k);
            const picked = typeof c.argnums === 'number' ? (norm(c.argnums) === i ? v : null) : (() => {
              const pos = c.argnums.map(norm).indexOf(i);
              return pos < 0 ? null : (v as unknown as unknown[])[pos];
            })();
            return picked ?? tree.map((x: NDArray) => np.zerosLike(x), a);
          });
          const [, tout] = jvp(f, args, tangents as typeof args);
          const outLeaves = [out.y, out.z[0]!];
          const want = [tout.y, tout.z[0]!];
          const jacPerOut = [jf.y, jf.z[0]];
          jacPerOut.forEach((jo, i) => {
            const [got] = contract(jo, [outLeaves[i]!], inTree, v);
            expectClose(got!, want[i]!, { rtol: 1e-3, atol: 1e-4 * Math.max(1, ...Array.from(want[i]!.dataSync(), Math.abs)), label: `J·v vs jvp, output ${i}: ${label}` });
          });
        }),
      ),
      { seed: FC_SEED, numRuns: 80 },
    );
  });

  it('handles scalar inputs and outputs, outputs independent of the input, and empty argument trees', () => {
    inScope(() => {
      const x = np.array(0.7, 'float32');
      const f = (a: NDArray) => np.stack([np.sin(a), np.multiply(a, a), np.ones([])]);
      expectClose(jacfwd(f)(x), [Math.cos(0.7), 1.4, 0], { rtol: 1e-6 });
      expectClose(jacrev(f)(x), [Math.cos(0.7), 1.4, 0], { rtol: 1e-6 });
      const g = (a: NDArray) => np.ones([2]);
      const v = np.array([1, 2, 3], 'float32');
      expectClose(jacfwd(g)(v), [[0, 0, 0], [0, 0, 0]]);
      expectClose(jacrev(g)(v), [[0, 0, 0], [0, 0, 0]]);
      const h = (a: NDArray, rest: { w: NDArray[] }) => np.sum(a);
      expect(tree.leaves(jacfwd(h, { argnums: 1 })(v, { w: [] }))).toEqual([]);
      expect(tree.leaves(jacrev(h, { argnums: 1 })(v, { w: [] }))).toEqual([]);
    });
  });

  it('second-order Jacobians of a rank-3 to rank-3 function (rank-9 results) agree in all four mode orders', () => {
    inScope(() => {
      const rng = new Rng(21);
      const x = randomArray(rng, [2, 2, 2]);
      const g = (v: NDArray) => np.multiply(np.tanh(v), np.sum(np.multiply(v, np.flip(v, 1))));
      const rr = jacrev(jacrev(g))(x) as NDArray;
      expect(rr.shape).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2]);
      for (const [name, J] of [['jacfwd(jacfwd)', jacfwd(jacfwd(g))(x)], ['jacfwd(jacrev)', jacfwd(jacrev(g))(x)], ['jacrev(jacfwd)', jacrev(jacfwd(g))(x)]] as [string, NDArray][]) {
        expectClose(J, rr, { rtol: 1e-4, atol: 1e-5, label: name });
      }
    });
  });

  it('argnums over several arguments give a list; errors for bad argnums and integer inputs', () => {
    inScope(() => {
      const a = np.array([1, 2], 'float32'), b = np.array(3, 'float32'), c = np.array([[0.5], [0.25]], 'float32');
      const f = (x: NDArray, y: NDArray, z: NDArray) => np.multiply(np.multiply(x, y), np.sum(z));
      const [ja, jc] = jacrev(f, { argnums: [0, 2] })(a, b, c) as NDArray[];
      expectClose(ja!, [[2.25, 0], [0, 2.25]]);
      expectClose(jc!, [[[3], [3]], [[6], [6]]]);
      const [fa, fc2] = jacfwd(f, { argnums: [0, -1] })(a, b, c) as NDArray[];
      expectClose(fa!, ja!);
      expectClose(fc2!, jc!);
      expect(() => jacfwd(f, { argnums: 3 })(a, b, c)).toThrow(/argnums.*out of range/);
      expect(() => jacrev(f, { argnums: [0, 0] })(a, b, c)).toThrow(/repeated argnums/);
      expect(() => jacrev((i: NDArray) => np.sin(np.astype(i, 'float32')))(np.array([1, 2]))).toThrow(DTypeError);
      expect(() => jacfwd((i: NDArray) => np.sin(np.astype(i, 'float32')))(np.array([1, 2]))).toThrow(/float32.*i32\[2\]|i32\[2\].*float32/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Hessians

/** The Hessian of a function of one array as an [n, n] matrix. */
const asMatrix = (h: NDArray, n: number) => np.reshape(h, [n, n]);

describe('Hessians', () => {
  const arbHessCase = fc.integer({ min: 1, max: 2 }).chain((k) =>
    fc.record({ e: arbExpr(k, 3), shapes: arbInputShapes(k, { maxRank: 2, maxDim: 3 }), seed: fc.integer() }),
  );

  it('are symmetric, equal finite differences of the gradient and equal jvp of grad, for random compositions', () => {
    fc.assert(
      fc.property(arbHessCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s, -1.2, 1.2));
          const s = (x: NDArray) => np.sum(evalExpr(c.e, [x, ...xs.slice(1)]));
          const x = xs[0]!;
          fc.pre(moderate(s(x), 1e2));
          const n = sizeOf(x);
          const H = asMatrix(hessian(s)(x), n);
          const label = showExpr(c.e);
          const scale = Math.max(1, ...Array.from(H.dataSync(), Math.abs));
          expectClose(H, np.transpose(H), { rtol: 0, atol: 1e-4 * scale, label: `Hessian symmetry: ${label}` });
          // Columns by forward-over-reverse (exact) and by 4th-order central differences of grad.
          const g = grad(s);
          const h = 1 / 64;
          const basis = (j: number, t: number) => np.reshape(np.array(Array.from({ length: n }, (_, i) => (i === j ? t : 0)), 'float32'), x.shape);
          const fdCols: NDArray[] = [];
          const jvpCols: NDArray[] = [];
          for (let j = 0; j < n; j++) {
            const gAt = (t: number) => np.reshape(g(np.add(x, basis(j, t))), [n]);
            fdCols.push(np.divide(np.add(np.subtract(np.multiply(gAt(h), 8), np.multiply(gAt(-h), 8)), np.subtract(gAt(-2 * h), gAt(2 * h))), 12 * h));
            jvpCols.push(np.reshape(jvp(g, [x], [basis(j, 1)])[1], [n]));
          }
          const fd = np.stack(fdCols, 1), viaJvp = np.stack(jvpCols, 1);
          fc.pre(moderate(fd, 1e3));
          expectClose(H, viaJvp, { rtol: 1e-3, atol: 1e-4 * scale, label: `hessian vs jvp of grad: ${label}` });
          expectClose(H, fd, { rtol: 1e-2, atol: 3e-3 * scale, label: `hessian vs finite differences of grad: ${label}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('the Hessian of xᵀAx is A + Aᵀ (hessian, jacrev∘jacrev, jacrev∘jacfwd, jacfwd∘jacfwd)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer(), (n, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const A = randomArray(rng, [n, n], -2, 2), x = randomArray(rng, [n]);
          const f = (v: NDArray) => np.sum(np.multiply(v, np.matmul(A, v)));
          const want = np.add(A, np.transpose(A));
          for (const [name, H] of [
            ['hessian', hessian(f)(x)],
            ['jacrev(jacrev)', jacrev(jacrev(f))(x)],
            ['jacrev(jacfwd)', jacrev(jacfwd(f))(x)],
            ['jacfwd(jacfwd)', jacfwd(jacfwd(f))(x)],
          ] as [string, NDArray][]) {
            expectClose(H, want, { rtol: 1e-5, atol: 1e-5, label: name });
          }
          // With np.dot (a full contraction) instead of an elementwise product and sum.
          expectClose(hessian((v: NDArray) => np.dot(v, np.matmul(A, v)))(x), want, { rtol: 1e-5, atol: 1e-5, label: 'hessian of dot(x, Ax)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });

  it('of a pytree argument is a tree of trees, blockwise equal to the Hessian of the flattened argument', () => {
    inScope(() => {
      const rng = new Rng(4);
      const p = { a: randomArray(rng, [2]), b: randomArray(rng, [2, 2]) };
      const f = (q: { a: NDArray; b: NDArray }) => np.sum(np.tanh(np.add(np.matmul(q.b, q.a), np.sin(q.a))));
      const H = hessian(f)(p) as { a: { a: NDArray; b: NDArray }; b: { a: NDArray; b: NDArray } };
      expect(H.a.a.shape).toEqual([2, 2]);
      expect(H.a.b.shape).toEqual([2, 2, 2]);
      expect(H.b.a.shape).toEqual([2, 2, 2]);
      expect(H.b.b.shape).toEqual([2, 2, 2, 2]);
      const flat = (v: NDArray) => f({ a: np.slice(v, [0], [2]), b: np.reshape(np.slice(v, [2], [6]), [2, 2]) });
      const Hflat = hessian(flat)(np.concatenate([p.a, np.reshape(p.b, [4])]));
      const assembled = np.concatenate([
        np.concatenate([H.a.a, np.reshape(H.a.b, [2, 4])], 1),
        np.concatenate([np.reshape(H.b.a, [4, 2]), np.reshape(H.b.b, [4, 4])], 1),
      ]);
      expectClose(assembled, Hflat, { rtol: 1e-4, atol: 1e-5 });
      expectClose(np.reshape(H.a.b, [2, 4]), np.transpose(np.reshape(H.b.a, [4, 2])), { rtol: 1e-4, atol: 1e-5, label: 'off-diagonal blocks are transposes' });
    });
  });

  it('with argnums over two arguments gives the block matrix [[H00, H01], [H10, H11]]', () => {
    inScope(() => {
      const x = np.array([0.3, -0.5], 'float32'), y = np.array(0.8, 'float32');
      const f = (a: NDArray, b: NDArray) => np.sum(np.multiply(np.sin(np.multiply(a, b)), a));
      const H = hessian(f, { argnums: [0, 1] })(x, y) as NDArray[][];
      const flat = (v: NDArray) => f(np.slice(v, [0], [2]), np.reshape(np.slice(v, [2], [3]), []));
      const Hf = hessian(flat)(np.concatenate([x, np.reshape(y, [1])]));
      expectClose(H[0]![0]!, np.slice(Hf, [0, 0], [2, 2]), { rtol: 1e-4, atol: 1e-5, label: 'H00' });
      expectClose(H[0]![1]!, np.reshape(np.slice(Hf, [0, 2], [2, 3]), [2]), { rtol: 1e-4, atol: 1e-5, label: 'H01' });
      expectClose(H[1]![0]!, np.reshape(np.slice(Hf, [2, 0], [3, 2]), [2]), { rtol: 1e-4, atol: 1e-5, label: 'H10' });
      expectClose(H[1]![1]!, np.reshape(np.slice(Hf, [2, 2], [3, 3]), []), { rtol: 1e-4, atol: 1e-5, label: 'H11' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// hasAux, composition, memory

describe('hasAux', () => {
  it('jacfwd, jacrev and hessian return concrete aux values, usable after the transform', () => {
    inScope(() => {
      const x = np.array([0.5, -1, 2], 'float32');
      const f = (a: NDArray) => [np.sin(a), { mean: np.mean(a), sq: np.square(a) }] as const;
      const s = (a: NDArray) => [np.sum(np.sin(a)), { mean: np.mean(a), sq: np.square(a) }] as const;
      for (const [name, [jac, aux]] of [
        ['jacfwd', jacfwd(f, { hasAux: true })(x)],
        ['jacrev', jacrev(f, { hasAux: true })(x)],
        ['hessian', hessian(s, { hasAux: true })(x)],
      ] as [string, [NDArray, { mean: NDArray; sq: NDArray }]][]) {
        expect(aux.mean, name).toBeInstanceOf(ConcreteArray);
        expect(aux.sq, name).toBeInstanceOf(ConcreteArray);
        expectClose(aux.mean, 0.5, { label: `${name} aux.mean` });
        expectClose(aux.sq, [0.25, 1, 4], { label: `${name} aux.sq` });
        const d = [0.5, -1, 2].map((v) => (name === 'hessian' ? -Math.sin(v) : Math.cos(v)));
        expectClose(jac, R.ref([3, 3], ([i, j]) => (i === j ? d[i!]! : 0)), { rtol: 1e-5, atol: 1e-6, label: `${name} value` });
        // A later transformation can use aux as an ordinary constant.
        expectClose(grad((y: NDArray) => np.sum(np.multiply(y, aux.mean)))(x), [0.5, 0.5, 0.5], { label: `${name} aux in a later grad` });
      }
    });
  });

  it('with a zero-size input the Jacobian is empty and aux is still f\'s (jacfwd reads aux off a row it does not have)', () => {
    inScope(() => {
      const x = np.zeros([0, 2]);
      const c = np.array([1, 2], 'float32');
      const f = (a: NDArray) => [np.sum(a, 0), np.multiply(c, 3)] as const;
      for (const [name, jac, aux] of [['jacfwd', ...jacfwd(f, { hasAux: true })(x)], ['jacrev', ...jacrev(f, { hasAux: true })(x)]] as [string, NDArray, NDArray][]) {
        expect(jac.shape, name).toEqual([2, 0, 2]);
        expectClose(aux, [3, 6], { label: `${name} aux` });
      }
    });
  });

  // Core bug: with hasAux, a function that does not return [value, aux] is not rejected: jacfwd,
  // jacrev and hessian read out[0] and out[1] of whatever came back and return [undefined, undefined]
  // (grad says "the function must return [value, aux]").
  it('a hasAux function that does not return [value, aux] is a clear error', () => {
    inScope(() => {
      const x = np.array([0.5, -1, 2], 'float32');
      expect(() => jacrev((a: NDArray) => np.sin(a), { hasAux: true })(x)).toThrow(TransformError);
      expect(() => jacfwd((a: NDArray) => np.sin(a), { hasAux: true })(x)).toThrow(/hasAux.*\[value, aux\]/);
      expect(() => hessian((a: NDArray) => np.sum(np.sin(a)), { hasAux: true })(x)).toThrow(/hasAux.*\[value, aux\]/);
    });
  });
});

describe('composition', () => {
  it('vmap(jacrev(f)), vmap(hessian(f)) and jit(jacfwd(f)) equal loops and eager', () => {
    fc.assert(
      fc.property(arbExpr(1, 3), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (e, b, n, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const xs = randomArray(rng, [b, n]);
          const f = (x: NDArray) => evalExpr(e, [x]);
          fc.pre(moderate(loopVmap(f, [xs], 0, 0, b)));
          const s = (x: NDArray) => np.sum(f(x));
          expectTreeClose(vmap(jacrev(f))(xs), loopVmap(jacrev(f), [xs], 0, 0, b), { rtol: 5e-4, atol: 5e-5, label: `vmap(jacrev) ${showExpr(e)}` });
          expectTreeClose(vmap(hessian(s))(xs), loopVmap(hessian(s), [xs], 0, 0, b), { rtol: 5e-4, atol: 5e-5, label: `vmap(hessian) ${showExpr(e)}` });
          const x0 = np.take(xs, np.array(0, 'int32'), 0);
          expectTreeClose(jit(jacfwd(f))(x0), jacfwd(f)(x0), { rtol: 5e-4, atol: 5e-5, label: `jit(jacfwd) ${showExpr(e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 25 },
    );
  });
});

describe('no leaked tensors', () => {
  it('jacfwd, jacrev, hessian (with argnums, pytrees and hasAux) and failing calls', () => {
    const x = np.array([0.3, -0.7, 1.1], 'float32');
    const p = { a: np.array([0.2, 0.4], 'float32'), b: np.array([[1, 0.5], [-0.5, 1]], 'float32') };
    const f = (v: NDArray, q: typeof p) => ({ o: np.tanh(np.multiply(v, np.sum(q.a))), m: np.matmul(q.b, q.a) });
    const s = (v: NDArray) => [np.sum(np.sin(np.multiply(v, v))), np.mean(v)] as const;
    expectNoLeak('jacfwd', () => jacfwd(f, { argnums: [0, 1] })(x, p));
    expectNoLeak('jacrev', () => jacrev(f, { argnums: 1 })(x, p));
    expectNoLeak('hessian', () => hessian((v: NDArray) => s(v)[0])(x));
    expectNoLeak('hessian hasAux', () => hessian(s, { hasAux: true })(x));
    expectNoLeak('jacrev hasAux', () => jacrev(s, { hasAux: true })(x));
    expectNoLeak('error inside f', () => jacrev((v: NDArray) => np.matmul(v, np.ones([4, 2])))(x));
    expectNoLeak('bad argnums', () => jacfwd(f, { argnums: 5 })(x, p));
    dispose([x, p]);
  });
});

describe('outputs jacrev cannot pull back', () => {
  it('an integer or boolean output is an error (as JAX), not a Jacobian of zeros', () => {
    const x = np.array([0.5, 2, 1], 'float32');
    expect(() => jacrev((a: NDArray) => np.argmax(a))(x)).toThrow(/jacrev: the function returns i32\[\]; expected float32 outputs/);
    expect(() => jacrev((a: NDArray) => np.greater(a, 1))(x)).toThrow(/jacrev: the function returns bool\[3\]/);
    dispose(x);
  });
});

describe('control flow on abstract values', () => {
  it('the error names the transformation that made the value abstract and what was called', () => {
    const x = np.array([1, 2], 'float32');
    const branch = (a: NDArray) => (Number(np.sum(a).item()) > 0 ? a : np.negative(a));
    expect(() => jit(branch)(x)).toThrow(/item\(\) \(also behind Number\(x\).*inside a traced program \(jit/);
    expect(() => vmap(branch)(x)).toThrow(/inside vmap \(a batched value/);
    expect(() => jvp(vmap(branch), [x], [x])).toThrow(/inside vmap/);
    expect(Number(grad((a: NDArray) => np.sum(branch(a)))(x).at(0).item())).toBe(1); // concrete under grad
    dispose(x);
  });
});
