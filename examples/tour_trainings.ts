// The tour's training part: short runs of the three model examples (single-loss GAN on the
// 8-Gaussians ring, coupling and i-ResNet flows on two moons, the energy model on the ring), each
// behind a progress bar, each writing its PNG picture. The examples report progress only through
// console.log ("step N ..." lines), so the bars are driven by parsing those lines.
import { captureProgress } from './progress.js';
import { heading, num, say } from './report.js';

export interface TrainingRow {
  part: string;
  result: string;
  seconds: number;
  pictures?: string[];
}

/** Step budgets: the full tour stays under three minutes on 2 cores; fast mode only checks the plumbing. */
export const TOUR_STEPS = {
  full: { gan: 2000, flows: 200, ebm: 300 },
  fast: { gan: 60, flows: 4, ebm: 8 },
} as const;

/** Imports an example module, or returns null (with a message) when the file does not exist yet. */
async function optionalImport<T>(path: string, what: string): Promise<T | null> {
  try {
    return (await import(path)) as T;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if ((err.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module/.test(err.message ?? '')) && (err.message ?? '').includes(path.replace(/^\.\//, '').replace(/\.js$/, ''))) {
      console.log(`  (skipped: ${what} — ${path} is not available in this checkout)`);
      return null;
    }
    throw e;
  }
}

const stepLine = (re: RegExp, offset = 0, infoOf: (m: RegExpMatchArray) => string = () => '') => (line: string) => {
  const m = line.match(re);
  return m ? { step: Number(m[1]) + offset, info: infoOf(m) } : undefined;
};

/** Runs the three trainings and returns one summary row each. */
export async function runTrainings(options: { fast: boolean; outDir: string }): Promise<TrainingRow[]> {
  const steps = options.fast ? TOUR_STEPS.fast : TOUR_STEPS.full;
  const { outDir } = options;
  const rows: TrainingRow[] = [];

  heading('10. A GAN with a single loss');
  say(`The single-loss GAN (algorithms.md §2): one loss L_D(θ, sg φ) + λ·L_G(sg θ, φ) built with
    stopGradient, one gradient, one Adam step for both nets, two speeds from per-group learning rates
    (multiTransform). Data: 8 Gaussians on a ring. The whole step is one jit-compiled program.`);
  type Gan = typeof import('./gan_ring.js');
  const ganModule = await optionalImport<Gan>('./gan_ring.js', 'the GAN example');
  if (ganModule) {
    const r = await captureProgress('GAN', steps.gan, stepLine(/^step (\d+)\s+loss \(= D loss\) (\S+)/, 1, (m) => `D loss ${m[2]}`), () =>
      ganModule.runGanRing({ steps: steps.gan, outDir, quiet: false }),
    );
    console.log(`  modes covered ${r.modesCovered}/8, high-quality samples ${(100 * r.highQualityFraction).toFixed(1)} % → ${r.picture}`);
    rows.push({ part: `GAN, 8-Gaussians ring (${steps.gan} steps)`, result: `${r.modesCovered}/8 modes, ${(100 * r.highQualityFraction).toFixed(0)} % high quality`, seconds: r.seconds, pictures: [r.picture] });
  }

  heading('11. Normalising flows: coupling and invertible ResNet');
  say(`Two flows fitted by maximum likelihood on two moons: a RealNVP-style coupling flow, and an
    invertible ResNet (spectral-normalised residual blocks, inverse by fixed-point iteration, log-det by
    a Hutchinson power series). Both should beat a single Gaussian's test NLL (nats per point, lower is better).`);
  type Flows = typeof import('./flows_two_moons.js');
  const flowsModule = await optionalImport<Flows>('./flows_two_moons.js', 'the flows example');
  if (flowsModule) {
    const coupling = steps.flows, ires = Math.max(1, Math.round((steps.flows * 7) / 8));
    const r = await captureProgress('flows', coupling + ires, (line) => {
      const m = line.match(/(coupling|i-ResNet) step (\d+)\/(\d+)\s+train NLL (\S+)/);
      if (!m) return undefined;
      return { step: Number(m[2]) + (m[1] === 'i-ResNet' ? coupling : 0), info: `${m[1]} NLL ${m[4]}` };
    }, () => flowsModule.runTwoMoons({ steps: steps.flows, outDir, quiet: false }));
    console.log(`  test NLL: Gaussian ${num(r.nll.gaussian)}, coupling ${num(r.nll.coupling)}, i-ResNet ${num(r.nll.iresnet)} → ${r.pictures.join(', ')}`);
    rows.push({ part: `flows, two moons (${coupling}+${ires} steps)`, result: `NLL ${num(r.nll.coupling, 2)} / ${num(r.nll.iresnet, 2)} vs Gaussian ${num(r.nll.gaussian, 2)}`, seconds: r.seconds, pictures: r.pictures });
  }

  heading('12. An energy-based model');
  say(`An MLP energy E(x) trained contrastively: negatives from short-run Langevin chains (gradients of E
    with respect to x) started from a replay buffer, detached with stopGradient, plus an α(E⁺² + E⁻²)
    regulariser. The picture shows the learned density exp(−E) and long-run samples.`);
  const ebmModule = await import('./ebm_ring.js');
  const r = await captureProgress('energy model', steps.ebm, stepLine(/^step\s+(\d+)\s+loss (\S+)/, 0, (m) => `loss ${m[2]}`), () =>
    ebmModule.runEbmRing({ steps: steps.ebm, outDir, quiet: false }),
  );
  console.log(`  modes covered ${r.modesCovered}/8, mean error ${num(r.meanError)}, covariance error ${num(r.covError)} → ${r.picture}`);
  rows.push({ part: `energy model, ring (${steps.ebm} steps)`, result: `${r.modesCovered}/8 modes, cov. error ${num(r.covError, 2)}`, seconds: r.seconds, pictures: [r.picture] });
  return rows;
}
