// GANs as plain functions over parameter trees, and the single-loss GAN of algorithms.md §2
// (kexue.fm/archives/6387): with stop-gradient, one loss and one optimizer step train both the
// discriminator D (parameters θ) and the generator G (parameters φ).
//
//   const gan = { generator: mlpGenerator.apply, discriminator: mlpDiscriminator.apply, loss: hinge() };
//   const loss = singleLossGan(gan);                         // (params: { d, g }, real, z) -> scalar
//   const opt = ttur({ discriminator: 4e-4, generator: 1e-4 }); // two speeds, one optimizer
//   const [value, grads] = valueAndGrad(loss)(params, real, z); // grads.d = ∇θ L_D, grads.g = λ ∇φ L_G
//
// Sign conventions. Su's posts score real samples LOW (D(x) → −1, D(G(z)) → +1; G lowers D(G(z))),
// the usual papers score them HIGH. Every loss here takes a `convention` ('su' or 'common'); the two
// are the same game with D's sign flipped: loss('su') on D equals loss('common') on −D.
import * as optim from '../optim/index.js';
import { grad, gradientReversal, np, random, stopGradient, type ArrayLike, type NDArray } from '../src/index.js';
import * as init from './init.js';
import { checkConv2d, conv2d, dense, mlp, upsample2d, type Conv2dParams, type DenseParams } from './nn.js';
import { freesIntermediates } from './eager.js';
import { mlpLayers } from './mlp_layers.js';
import { Shapes, checkDense, checkDenseStack } from './shapes.js';

export type Key = NDArray;

// ---- losses ------------------------------------------------------------------------------------

/** Which way D scores: 'su' = real → low (algorithms.md §2.2), 'common' = real → high. */
export type Convention = 'su' | 'common';

/**
 * A GAN objective written on D's scores (shape [batch]); both parts are minimised, L_D over D's
 * parameters and L_G over G's.
 */
export interface GanLoss {
  readonly name: string;
  readonly convention: Convention;
  /** L_D from the scores of real and of generated samples. */
  discriminator(realScores: ArrayLike, fakeScores: ArrayLike): NDArray;
  /** L_G from the scores of generated samples. */
  generator(fakeScores: ArrayLike): NDArray;
  /**
   * True when L_G = −L_D up to terms without G (WGAN): then gradient reversal alone turns L_D into
   * a single loss for both nets (algorithms.md §2.2, "gradient sign trick").
   */
  readonly zeroSum: boolean;
}

/** +1 for Su's convention, −1 for the common one: `s · D` is the score in Su's convention. */
function signOf(convention: Convention): 1 | -1 {
  if (convention !== 'su' && convention !== 'common') throw new TypeError(`gan: convention must be 'su' or 'common', got ${String(convention)}`);
  return convention === 'su' ? 1 : -1;
}

/**
 * Hinge loss (algorithms.md §2.2). Su's convention (default):
 *   L_D = E[relu(1 + D(x))] + E[relu(1 − D(G(z)))],  L_G = E[D(G(z))];
 * common convention (SN-GAN, BigGAN): L_D = E[relu(1 − D(x))] + E[relu(1 + D(G(z)))], L_G = −E[D(G(z))].
 * @example hinge().discriminator([-1, -2], [1, 3]) // 0: real scores ≤ −1 and fake ≥ +1 cost nothing
 */
export function hinge(convention: Convention = 'su'): GanLoss {
  const s = signOf(convention);
  return freesIntermediates({
    name: 'hinge',
    convention,
    zeroSum: false,
    discriminator: (real, fake) => np.add(np.mean(np.relu(np.add(np.multiply(real, s), 1))), np.mean(np.relu(np.subtract(1, np.multiply(fake, s))))),
    generator: (fake) => np.multiply(np.mean(fake), s),
  });
}

/**
 * Non-saturating loss (Goodfellow et al. 2014), D's score a logit. Common convention:
 *   L_D = E[softplus(−D(x))] + E[softplus(D(G(z)))]  (= −log σ(D(x)) − log(1 − σ(D(G(z))))),
 *   L_G = E[softplus(−D(G(z)))]                      (= −log σ(D(G(z))));
 * Su's convention (default, real → low) is the same with D's sign flipped:
 *   L_D = E[softplus(D(x))] + E[softplus(−D(G(z)))],  L_G = E[softplus(D(G(z)))].
 * @example nonSaturating('common').generator([0]) // log 2
 */
export function nonSaturating(convention: Convention = 'su'): GanLoss {
  const s = signOf(convention);
  return freesIntermediates({
    name: 'nonSaturating',
    convention,
    zeroSum: false,
    discriminator: (real, fake) => np.add(np.mean(np.softplus(np.multiply(real, s))), np.mean(np.softplus(np.multiply(fake, -s)))),
    generator: (fake) => np.mean(np.softplus(np.multiply(fake, s))),
  });
}

/**
 * Wasserstein (critic) loss, zero-sum: Su's convention L_D = E[D(x)] − E[D(G(z))], L_G = E[D(G(z))].
 * Needs a Lipschitz D (weight clipping, spectral norm or a gradient penalty, not included here).
 */
export function wasserstein(convention: Convention = 'su'): GanLoss {
  const s = signOf(convention);
  return freesIntermediates({
    name: 'wasserstein',
    convention,
    zeroSum: true,
    discriminator: (real, fake) => np.multiply(np.subtract(np.mean(real), np.mean(fake)), s),
    generator: (fake) => np.multiply(np.mean(fake), s),
  });
}

// ---- the single loss (algorithms.md §2.2) ------------------------------------------------------

/** The two nets and the objective; `lambda` is λ of §2.2 (G's gradient scale). */
export interface GanSpec<DP, GP> {
  /** x = G(φ, z). */
  generator: (g: GP, z: NDArray) => NDArray;
  /** Scores D(θ, x), one per sample: shape [batch]. */
  discriminator: (d: DP, x: NDArray) => NDArray;
  /** Default `hinge('su')`, as in the reference code. */
  loss?: GanLoss;
  /** λ (default 1). With plain SGD it is the ratio of G's to D's learning rate; with Adam/RMSprop it hardly matters (§2.4). */
  lambda?: number;
  /** An extra term of L_D that depends on D and the real batch only, e.g. `r1Penalty(...)`. */
  dRegularizer?: (d: DP, real: NDArray) => NDArray;
}

/** The joint parameter tree that one optimizer trains: D's under `d`, G's under `g`. */
export interface GanParams<DP, GP> {
  d: DP;
  g: GP;
}

/**
 * How the single loss is built. 'output' (default): stop-gradient on G's output, three D calls, the
 * reference code's form. 'params': stop-gradient on parameter trees. 'reversal': gradient reversal on
 * G's output, for zero-sum losses only.
 */
export type SingleLossForm = 'output' | 'params' | 'reversal';

function lossOf<DP, GP>(spec: GanSpec<DP, GP>): GanLoss {
  return spec.loss ?? hinge('su');
}

/** L_D on D's scores plus the regulariser, if any (the D loss of §2.2 in every form). */
function dLossOf<DP, GP>(spec: GanSpec<DP, GP>): (d: DP, real: NDArray, sReal: NDArray, sFake: NDArray) => NDArray {
  const L = lossOf(spec);
  const reg = spec.dRegularizer;
  return reg === undefined ? (_d, _r, sReal, sFake) => L.discriminator(sReal, sFake) : (d, real, sReal, sFake) => np.add(L.discriminator(sReal, sFake), reg(d, real));
}

/**
 * The R1 penalty (Mescheder et al. 2018): (γ/2)·E_x ||∇_x D(x)||² on real samples, which keeps D
 * flat on the data and lets G settle on it. A second-order term: `grad` inside the loss's `grad`.
 * @example singleLossGan({ ...spec, dRegularizer: r1Penalty(mlpDiscriminator.apply, 0.1) })
 */
export function r1Penalty<DP>(discriminator: (d: DP, x: NDArray) => NDArray, gamma: number): (d: DP, real: NDArray) => NDArray {
  if (typeof gamma === 'number' && !(gamma >= 0 && Number.isFinite(gamma))) throw new RangeError(`gan.r1Penalty: gamma must be a finite number ≥ 0, got ${gamma}`);
  return np.defop((d: DP, real: NDArray) => {
    // Scores of different samples are independent, so ∇ of their sum gives every per-sample gradient.
    const gx = grad((x: NDArray) => np.sum(discriminator(d, x)))(real);
    return np.multiply(np.mean(np.sum(np.square(gx), gx.shape.slice(1).map((_, i) => i + 1))), gamma / 2);
  });
}

/** L_D(θ, φ): the discriminator's loss on a batch of real samples and noise (no stop-gradient). */
export function discriminatorLoss<DP, GP>(spec: GanSpec<DP, GP>): (params: GanParams<DP, GP>, real: ArrayLike, z: ArrayLike) => NDArray {
  const dLoss = dLossOf(spec);
  return np.defop((params: GanParams<DP, GP>, real: ArrayLike, z: ArrayLike) => {
    const fake = spec.generator(params.g, np.asArray(z));
    const x = np.asArray(real);
    return dLoss(params.d, x, spec.discriminator(params.d, x), spec.discriminator(params.d, fake));
  });
}

/** L_G(θ, φ): the generator's loss on a batch of noise (no stop-gradient). */
export function generatorLoss<DP, GP>(spec: GanSpec<DP, GP>): (params: GanParams<DP, GP>, z: ArrayLike) => NDArray {
  const L = lossOf(spec);
  return np.defop((params: GanParams<DP, GP>, z: ArrayLike) => L.generator(spec.discriminator(params.d, spec.generator(params.g, np.asArray(z)))));
}

/**
 * The single GAN loss of algorithms.md §2.2: one loss whose gradient is (∇θ L_D, λ ∇φ L_G), so one
 * optimizer step over `{ d, g }` is a simultaneous step of both nets. Output-level form (default):
 *
 *   L = L_D(θ; sg(G_φ(z))) + λ [L_G(θ, G_φ(z)) − L_G(θ, sg(G_φ(z)))]
 *
 * (three D calls: real, fake, sg(fake)). The bracket is exactly 0 in value, so L equals the D loss;
 * it passes G the gradient λ ∇φ L_G and D nothing (its two D-gradients cancel; adding them to ∇θ L_D
 * can move the last bit of float32, so D's gradient matches ∇θ L_D to ~1e-7, not bit for bit). Parameter-level form (`form: 'params'`):
 *
 *   L = L_D(θ, sg φ) + λ L_G(sg θ, φ)
 *
 * with the same gradients (its value is L_D + λ L_G). `form: 'reversal'` (zero-sum losses only):
 * L = L_D(θ, gr_λ(G_φ(z))), gr_λ the gradient reversal of §2.2.
 *
 * @example
 * const loss = singleLossGan({ generator: mlpGenerator.apply, discriminator: mlpDiscriminator.apply });
 * const grads = grad(loss)({ d, g }, real, z); // one tree: grads.d and grads.g
 */
export function singleLossGan<DP, GP>(spec: GanSpec<DP, GP>, options: { form?: SingleLossForm } = {}): (params: GanParams<DP, GP>, real: ArrayLike, z: ArrayLike) => NDArray {
  return np.defop(singleLossOf(spec, options));
}

function singleLossOf<DP, GP>(spec: GanSpec<DP, GP>, options: { form?: SingleLossForm }): (params: GanParams<DP, GP>, real: ArrayLike, z: ArrayLike) => NDArray {
  const L = lossOf(spec);
  const dLoss = dLossOf(spec);
  const lambda = spec.lambda ?? 1;
  const form = options.form ?? 'output';
  const D = spec.discriminator, G = spec.generator;
  switch (form) {
    case 'output':
      return (params, real, z) => {
        const fake = G(params.g, np.asArray(z));
        const fakeNg = stopGradient(fake);
        const x = np.asArray(real);
        const sReal = D(params.d, x);
        const sFakeNg = D(params.d, fakeNg);
        const sFake = D(params.d, fake);
        const gPart = np.subtract(L.generator(sFake), L.generator(sFakeNg));
        return np.add(dLoss(params.d, x, sReal, sFakeNg), np.multiply(gPart, lambda));
      };
    case 'params':
      return (params, real, z) => {
        const [x, zz] = [np.asArray(real), np.asArray(z)];
        const dPart = dLoss(params.d, x, D(params.d, x), D(params.d, G(stopGradient(params.g), zz)));
        const gPart = L.generator(D(stopGradient(params.d), G(params.g, zz)));
        return np.add(dPart, np.multiply(gPart, lambda));
      };
    case 'reversal':
      if (!L.zeroSum) {
        throw new TypeError(`singleLossGan: form 'reversal' needs a zero-sum loss (L_G = −L_D, e.g. wasserstein()); '${L.name}' is not — use form 'output' or 'params'`);
      }
      return (params, real, z) => {
        const fake = gradientReversal(G(params.g, np.asArray(z)), lambda);
        const x = np.asArray(real);
        return dLoss(params.d, x, D(params.d, x), D(params.d, fake));
      };
    default:
      throw new TypeError(`singleLossGan: form must be 'output', 'params' or 'reversal', got ${String(form)}`);
  }
}

// ---- two speeds (TTUR) through per-group learning rates (algorithms.md §1, §2.4) ---------------

/** Labels of a `{ d, g }` parameter tree by path: `.d…` → 'discriminator', `.g…` → 'generator'. */
export const ganLabels = optim.pathLabels(
  [
    [/^\.d(?=[.[]|$)/, 'discriminator'],
    [/^\.g(?=[.[]|$)/, 'generator'],
  ],
  'neither d nor g',
);

/**
 * One optimizer for `{ d, g }` with a transformation (or a learning rate) per net: TTUR (Heusel et
 * al. 2017). Needed because Adam/RMSprop ignore λ (§2.4). Learning rates given as numbers use
 * `make` (default RMSprop with decay 0.99, the reference code's optimizer, §2.3).
 * @example ttur({ discriminator: 4e-4, generator: 1e-4 }, (lr) => optim.adam(lr, { b1: 0.5 }))
 */
export function ttur<M = optim.RmspropKind, D = M, G = M>(
  groups: { discriminator: number | optim.GradientTransformation<D>; generator: number | optim.GradientTransformation<G> },
  make: (learningRate: number) => optim.GradientTransformation<M> = (lr) => optim.rmsprop(lr, { decay: 0.99 }) as optim.GradientTransformation<M>,
): optim.GradientTransformation<optim.MultiTransformKind<{ discriminator: D; generator: G }>> {
  // A group given as a number uses `make`, whose kind M is then that group's kind (D or G default to M).
  const asTransform = <S>(t: number | optim.GradientTransformation<S>) => (typeof t === 'number' ? (make(t) as unknown as optim.GradientTransformation<S>) : t);
  // The default label names stray leaves in multiTransform's error; it is deliberately not a group.
  const labels = ganLabels as optim.LabelSpec<'discriminator' | 'generator'>;
  return optim.multiTransform({ discriminator: asTransform(groups.discriminator), generator: asTransform(groups.generator) }, labels);
}

// ---- nets: MLPs for 2-D data -------------------------------------------------------------------

export interface MlpOptions {
  /** Hidden width (default 128) and number of hidden layers (default 2). */
  hidden?: number;
  layers?: number;
}

function mlpSizes(inDim: number, outDim: number, o: MlpOptions): number[] {
  return [inDim, ...Array<number>(o.layers ?? 2).fill(o.hidden ?? 128), outDim];
}

/**
 * An MLP generator z → x (ReLU hidden layers, linear output).
 * @example const g = mlpGenerator.init(random.key(0), 2, 2); mlpGenerator.apply(g, random.normal(k, [64, 2])) // [64, 2]
 */
export const mlpGenerator = freesIntermediates({
  init(key: Key, zDim: number, outDim: number, options: MlpOptions = {}): DenseParams[] {
    return mlp.init(key, mlpSizes(zDim, outDim, options), { wInit: init.heUniform });
  },
  apply(params: readonly DenseParams[], z: ArrayLike): NDArray {
    const s = new Shapes('mlpGenerator.apply');
    s.check('z', np.asArray(z), ['...', checkDenseStack(s, 'params', params).input]);
    return mlpLayers(params, np.asArray(z), { activation: np.relu });
  },
});

/**
 * An MLP discriminator x → score (LeakyReLU(0.2) hidden layers, one linear output), scores [batch].
 * @example mlpDiscriminator.apply(mlpDiscriminator.init(random.key(1), 2), x) // [batch]
 */
export const mlpDiscriminator = freesIntermediates({
  init(key: Key, inDim: number, options: MlpOptions = {}): DenseParams[] {
    return mlp.init(key, mlpSizes(inDim, 1, options), { wInit: init.heUniform });
  },
  apply(params: readonly DenseParams[], x: ArrayLike): NDArray {
    const s = new Shapes('mlpDiscriminator.apply').bind('out', 1, 'the one score per example');
    // A batch [N, in], or one example [in] (as vmap over examples shows it): its score is [1].
    const shape = s.check('x', np.asArray(x), ['...', checkDenseStack(s, 'params', params).input]);
    if (shape.length > 2) s.fail(`x has shape [${shape.join(',')}]; expected a batch [N, in] or one example [in]`);
    const out = mlpLayers(params, np.asArray(x), { activation: (h) => np.leakyRelu(h, 0.2) });
    return np.reshape(out, [out.shape[0]!]);
  },
});

// ---- nets: small conv nets for 28×28 images (NHWC, one channel) ---------------------------------

export interface ConvGeneratorParams {
  fc: DenseParams;
  conv1: Conv2dParams;
  conv2: Conv2dParams;
}

export interface ConvNetOptions {
  /** Channels of the widest feature map (default 32). */
  channels?: number;
}

/**
 * z → dense → [7, 7, 2c] → ×2 upsample + 3×3 conv (c) → ×2 upsample + 3×3 conv (1) → sigmoid:
 * images [batch, 28, 28, 1] with pixels in (0, 1).
 * @example convGenerator.apply(convGenerator.init(random.key(0), 32), z) // [batch, 28, 28, 1]
 */
export const convGenerator = freesIntermediates({
  init(key: Key, zDim: number, options: ConvNetOptions = {}): ConvGeneratorParams {
    const c = options.channels ?? 32;
    const [k1, k2, k3] = splitKeys(key, 3);
    return {
      fc: dense.init(k1, zDim, 7 * 7 * 2 * c, { wInit: init.heNormal }),
      conv1: conv2d.init(k2, 3, 3, 2 * c, c),
      conv2: conv2d.init(k3, 3, 3, c, 1, { wInit: init.glorotUniform }),
    };
  },
  apply(p: ConvGeneratorParams, z: ArrayLike): NDArray {
    const zz = np.asArray(z);
    checkConvGenerator(p, zz);
    const c2 = p.conv1.w.shape[2]!;
    let h = np.relu(dense.apply(p.fc, zz)).reshape(zz.shape[0]!, 7, 7, c2);
    h = np.relu(conv2d.apply(p.conv1, upsample2d(h, 2), { padding: 'SAME' }));
    return np.sigmoid(conv2d.apply(p.conv2, upsample2d(h, 2), { padding: 'SAME' }));
  },
});

export interface ConvDiscriminatorParams {
  conv1: Conv2dParams;
  conv2: Conv2dParams;
  fc: DenseParams;
}

/**
 * [batch, 28, 28, 1] → 4×4 conv stride 2 (c) → 4×4 conv stride 2 (2c) → dense → score, LeakyReLU(0.2)
 * between; scores [batch].
 * @example convDiscriminator.apply(convDiscriminator.init(random.key(1)), images) // [batch]
 */
export const convDiscriminator = freesIntermediates({
  init(key: Key, options: ConvNetOptions = {}): ConvDiscriminatorParams {
    const c = options.channels ?? 32;
    const [k1, k2, k3] = splitKeys(key, 3);
    return {
      conv1: conv2d.init(k1, 4, 4, 1, c),
      conv2: conv2d.init(k2, 4, 4, c, 2 * c),
      fc: dense.init(k3, 7 * 7 * 2 * c, 1),
    };
  },
  apply(p: ConvDiscriminatorParams, x: ArrayLike): NDArray {
    const xx = np.asArray(x);
    checkConvDiscriminator(p, xx);
    const n = xx.shape[0]!;
    let h = np.leakyRelu(conv2d.apply(p.conv1, xx, { strides: 2, padding: 'SAME' }), 0.2);
    h = np.leakyRelu(conv2d.apply(p.conv2, h, { strides: 2, padding: 'SAME' }), 0.2);
    return dense.apply(p.fc, h.reshape(n, -1)).reshape(n);
  },
});

/** The generator's tree against z [N, zDim]: fc's outputs must fill the 7×7 map of conv1's input channels. */
function checkConvGenerator(p: ConvGeneratorParams, z: NDArray): void {
  const s = new Shapes('convGenerator.apply');
  if (typeof p !== 'object' || p === null) s.fail(`params is ${String(p)}; expected { fc, conv1, conv2 }`);
  checkConv2d(s, 'params.conv1', p.conv1, null, undefined, 'c2', 'c');
  checkConv2d(s, 'params.conv2', p.conv2, null, undefined, 'c', 'cout');
  s.bind('f', 7 * 7 * s.size('c2')!, `7·7·c2 (c2 = ${s.size('c2')} from params.conv1.w: fc fills a 7×7 map)`);
  checkDense(s, 'params.fc', p.fc, 'z', 'f');
  s.check('z', z, [null, 'z']);
}

/** The discriminator's tree against images [N, H, W, C]: fc takes the map after two stride-2 'same' convolutions. */
function checkConvDiscriminator(p: ConvDiscriminatorParams, x: NDArray): void {
  const s = new Shapes('convDiscriminator.apply');
  if (typeof p !== 'object' || p === null) s.fail(`params is ${String(p)}; expected { conv1, conv2, fc }`);
  checkConv2d(s, 'params.conv1', p.conv1, null, undefined, 'cin', 'c1');
  checkConv2d(s, 'params.conv2', p.conv2, null, undefined, 'c1', 'c2');
  const [, h, w] = s.check('x', x, [null, null, null, 'cin']);
  const down = (d: number) => Math.ceil(Math.ceil(d / 2) / 2);
  s.bind('f', down(h!) * down(w!) * s.size('c2')!, `${down(h!)}·${down(w!)}·c2 (the ${h}×${w} images after two stride-2 convolutions, c2 = ${s.size('c2')} from params.conv2.w)`);
  s.bind('out', 1, 'the one score per example');
  checkDense(s, 'params.fc', p.fc, 'f', 'out');
}

function splitKeys(key: Key, n: number): Key[] {
  const ks = random.split(key, n);
  return Array.from({ length: n }, (_, i) => ks.at(i));
}
