// gradus/models ebm: energy-based models (algorithms.md §6, §7h) as plain functions. An energy
// network maps a batch to energies; samplers (ULA in the theory and IGEBM forms, MALA) are pure
// functions of a key; the replay buffer is a functional ring; the contrastive loss detaches the
// negatives. See examples/ebm_ring.ts for a training loop.
export { mlpEnergy, spectralNormInit, spectralNormalize, type EnergyFn, type MlpEnergyParams, type MlpEnergyOptions, type SpectralStates } from './ebm/energy.js';
export {
  IGEBM_DEFAULTS, energyAndGrad, energyGrad, iterateChain, langevin, langevinForm, langevinStep, mala,
  type LangevinOptions, type MalaOptions, type MalaResult,
} from './ebm/samplers.js';
export { annealedLangevin, type AnnealedLangevinOptions } from './ebm/annealed.js';
export * as replayBuffer from './ebm/buffer.js';
export type { ReplayBuffer, BufferSample, BufferSampleOptions } from './ebm/buffer.js';
export {
  contrastiveLoss, contrastiveObjective, contrastiveTerms, denoise, dsmLoss,
  type ContrastiveObjective, type ContrastiveOptions, type ContrastiveTerms, type DsmOptions,
} from './ebm/losses.js';
