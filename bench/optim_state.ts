// Optimizer state size and step time for one 1024×1024 weight: Adafactor (factored second moment)
// against Adam. Goal (design.md): Adafactor's state ≤ 2,100 floats (Adam keeps 2 × 1,048,576) and
// its step time ≤ Adam's. Run alone with `npx tsx bench/optim_state.ts`.
import * as os from 'node:os';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { getBackend, np, random, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';

export interface OptimizerStateBench {
  backend: string;
  shape: [number, number];
  /**
   * Median wall time, fastest wall time and median process CPU time of a step. On a busy machine
   * the medians mostly measure waiting for a core; the fastest steps show the work itself.
   */
  adam: { stateFloats: number; stepMs: number; minMs: number; cpuMs: number };
  adafactor: { stateFloats: number; stepMs: number; minMs: number; cpuMs: number };
  /** Adafactor's median step time over Adam's (goal ≤ 1). */
  timeRatio: number;
  /** The same for the fastest steps and for CPU time. */
  minRatio: number;
  cpuRatio: number;
  /** The 1-minute load average per core while the benchmark ran (above ~1 the medians are unreliable). */
  loadPerCore: number;
  /** Adafactor's state over Adam's. */
  stateRatio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const SYNC_BACKENDS = ['wasm', 'cpu', 'tensorflow'];
const BLOCK = 5;

/** One optimizer running on its own copy of the parameters. */
class Runner {
  private params: { w: NDArray };
  private state: unknown;
  readonly stateFloats: number;
  readonly times: number[] = [];
  readonly cpuTimes: number[] = [];
  constructor(
    private readonly opt: optim.Optimizer,
    params: { w: NDArray },
  ) {
    this.params = { w: np.add(params.w, 0) }; // applyGradients frees the parameters it replaces
    this.state = opt.init(this.params);
    this.stateFloats = optim.treeSize(this.state);
  }
  /**
   * One step (update + applyUpdates). wasm and cpu kernels run synchronously, so the step has finished
   * when it returns; on other backends the result is read back to wait for the device.
   */
  step(grads: { w: NDArray }, record: boolean): void {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    [this.params, this.state] = optim.applyGradients(this.opt, grads, this.state, this.params);
    if (!SYNC_BACKENDS.includes(getBackend())) this.params.w.dataSync();
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    if (record) {
      this.times.push(t1 - t0);
      this.cpuTimes.push((c.user + c.system) / 1000);
    }
  }
  free(): void {
    optim.freeTree([this.params, this.state]);
  }
}

/**
 * Adafactor vs Adam on a 1024×1024 weight: state floats and median step time, over `steps` timed
 * steps each after `warmup` untimed ones.
 */
export async function benchAdafactorVsAdam(options: { size?: number; warmup?: number; steps?: number } = {}): Promise<OptimizerStateBench> {
  const { size = 1024, warmup = 5, steps = 60 } = options;
  const key = random.key(0);
  const keys = random.split(key, 2);
  const [k1, k2] = [keys.at(0), keys.at(1)];
  const params = { w: random.normal(k1, [size, size]) };
  const grads = { w: np.multiply(random.normal(k2, [size, size]), 1e-2) };
  optim.freeTree([key, keys, k1, k2]);
  const before = tf.memory().numTensors;
  const adam = new Runner(optim.adam(1e-3), params);
  const adafactor = new Runner(optim.adafactor(1e-3), params);
  for (const r of [adam, adafactor]) for (let i = 0; i < warmup; i++) r.step(grads, false);
  // Blocks of a few steps each, alternating (and alternating which goes first): noise from other
  // processes hits both alike, while each block runs with its own arrays warm in cache.
  for (let b = 0; b < Math.ceil(steps / BLOCK); b++) {
    for (const r of b % 2 === 0 ? [adam, adafactor] : [adafactor, adam]) for (let i = 0; i < BLOCK; i++) r.step(grads, true);
  }
  adam.free();
  adafactor.free();
  const leaked = tf.memory().numTensors - before;
  optim.freeTree([params, grads]);
  if (leaked !== 0) throw new Error(`benchAdafactorVsAdam: ${leaked} tensors leaked`);
  const summary = (r: Runner) => ({ stateFloats: r.stateFloats, stepMs: median(r.times), minMs: Math.min(...r.times), cpuMs: median(r.cpuTimes) });
  const a = summary(adam);
  const f = summary(adafactor);
  return {
    backend: getBackend(),
    shape: [size, size],
    adam: a,
    adafactor: f,
    timeRatio: f.stepMs / a.stepMs,
    minRatio: f.minMs / a.minMs,
    cpuRatio: f.cpuMs / a.cpuMs,
    loadPerCore: os.loadavg()[0]! / os.cpus().length,
    stateRatio: f.stateFloats / a.stateFloats,
  };
}

function printTable(r: OptimizerStateBench): void {
  const rows = [
    ['optimizer', 'state floats', 'step ms (median)', 'fastest', 'cpu ms (median)'],
    ['adam', r.adam.stateFloats.toLocaleString('en-US'), r.adam.stepMs.toFixed(2), r.adam.minMs.toFixed(2), r.adam.cpuMs.toFixed(2)],
    ['adafactor', r.adafactor.stateFloats.toLocaleString('en-US'), r.adafactor.stepMs.toFixed(2), r.adafactor.minMs.toFixed(2), r.adafactor.cpuMs.toFixed(2)],
    ['adafactor / adam', r.stateRatio.toExponential(2), r.timeRatio.toFixed(2), r.minRatio.toFixed(2), r.cpuRatio.toFixed(2)],
  ];
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  console.log(`optimizer state and step time for a ${r.shape.join('×')} weight, backend ${r.backend}`);
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(w[c]!) : cell.padStart(w[c]!))).join('  '));
  const ok = r.adafactor.stateFloats <= 2100 && r.timeRatio <= 1;
  console.log(`goal (state ≤ 2,100 floats, median step time ≤ Adam's): ${ok ? 'met' : 'NOT met'}`);
  if (r.loadPerCore > 1) console.log(`note: load average ${r.loadPerCore.toFixed(1)} per core — other processes are competing for the cores; compare the fastest steps`);
}

// Run alone (`npx tsx bench/optim_state.ts`), not when imported by bench/run.ts.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchAdafactorVsAdam());
}
