// `npm run repl`: a Node REPL with gradus preloaded, for composing transformations at the prompt.
//   > const f = (x) => np.sum(np.tanh(x).pow(2))
//   > grad(f)(np.array([0.5, -1]))
//   > makeJaxpr(grad(f))(np.array([0.5, -1])).toString()
//   > tree.summary(models.nn.mlp.init(random.key(0), [784, 128, 10]))
import repl from 'node:repl';
import * as gradus from '../src/index.js';
import * as optim from '../optim/index.js';
import * as models from '../models/index.js';

const banner = `gradus ${gradus.getBackend()} backend — preloaded: np, random, tree, grad, valueAndGrad, vjp, jvp, vmap, jit,
jacfwd, jacrev, hessian, stopGradient, checkpoint, customVjp, makeJaxpr, optim, models (and everything else in gradus).
Try: grad((x) => np.sum(np.sin(x)))(np.array([0, 1, 2])).toString()`;
console.log(banner);
const server = repl.start({ prompt: 'gradus> ', useGlobal: false });
Object.assign(server.context, gradus, { gradus, optim, models });
