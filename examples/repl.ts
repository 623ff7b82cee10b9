// `npm run repl`: a Node REPL with gradus preloaded, for composing transformations at the prompt.
//   gradus> const f = (x) => np.sum(np.tanh(x).pow(2))
//   gradus> grad(f)(np.array([0.5, -1]))
//   gradus> makeJaxpr(grad(f))(np.array([0.5, -1]))
//   gradus> tree.summary(models.nn.mlp.init(random.key(0), [784, 128, 10]))
//
// The REPL evaluates in the main context (useGlobal), not a separate vm context: object and array
// literals typed at the prompt must have the main realm's prototypes, or gradus's trees would
// treat them as leaves. Arrays print as their values, traced programs as jaxprs, and
// `tree.summary(...)` returns a string that prints as a table.
import repl from 'node:repl';
import { inspect } from 'node:util';
import * as gradus from '../src/index.js';
import * as optim from '../optim/index.js';
import * as models from '../models/index.js';

const { NDArray, ClosedJaxpr } = gradus;

// Compact printing at the prompt (this process only): `Array(float32[2, 3]) [[...], [...]]`.
Object.defineProperty(NDArray.prototype, inspect.custom, {
  value(this: gradus.NDArray, _depth: number, options: { stylize: (s: string, style: string) => string }) {
    const head = `Array(${this.dtype}[${this.shape.join(', ')}])`;
    try {
      if (this.size > 1000) return options.stylize(`${head} (${this.size} elements; .toArray() for all)`, 'special');
      return `${options.stylize(head, 'special')} ${inspect(this.toArray(), { depth: Infinity, maxArrayLength: 1000, breakLength: 100 })}`;
    } catch {
      return options.stylize(String(this), 'special'); // a tracer or a disposed array
    }
  },
});
Object.defineProperty(ClosedJaxpr.prototype, inspect.custom, {
  value(this: gradus.ClosedJaxpr) {
    return this.toString();
  },
});

const banner = `gradus (${gradus.getBackend()} backend). Preloaded: np, random, tree, grad, valueAndGrad, vjp, jvp, linearize,
vmap, jit, jacfwd, jacrev, hessian, stopGradient, checkpoint, customVjp, customJvp, makeJaxpr, scope, dispose,
optim, models (and the rest of gradus, also as \`gradus\`). Try:
  const f = (x) => np.sum(np.sin(x).mul(np.exp(x)))
  grad(f)(np.array([0, 0.5, 1]))
  makeJaxpr(grad(f))(np.array([0, 0.5, 1]))
  vmap(grad(f))(np.ones([4, 3]))
  const params = models.nn.mlp.init(random.key(0), [784, 128, 10]); tree.summary(params)`;
console.log(banner);
const server = repl.start({
  prompt: 'gradus> ',
  useGlobal: true,
  // Strings print raw, so tree.summary(...) and jaxpr texts show as tables and programs.
  writer: (value: unknown) => (typeof value === 'string' && value.includes('\n') ? value : inspect(value, { colors: Boolean(process.stdout.isTTY), depth: 4 })),
});
Object.assign(server.context, gradus, { gradus, optim, models });
