// One benchmark in a process of its own, for `npm run bench` (bench/run.ts): a benchmark run after
// others in the same process was measured slower and noisier (checkpoint's times after mlp_step and
// per_example: 0.9–1.7× plain, against 1.31–1.40× alone), so each gets a fresh heap and wasm memory.
// Usage: tsx bench/one.ts <name> <peers.json> <result.json>; peers.json holds PyTorch's results.
import { readFileSync, writeFileSync } from 'node:fs';
import { benchCheckpoint } from './checkpoint.js';
import { type BenchResult } from './harness.js';
import { benchHvp } from './hvp.js';
import { benchMlpStep } from './mlp_step.js';
import { benchPerExample } from './per_example.js';
import { type TorchResult } from './torch.js';

export const BENCHMARKS = ['mlp_step', 'per_example', 'checkpoint', 'hvp'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface Peers {
  torch: TorchResult | string;
  torchAll: TorchResult | string;
}

export function runOne(name: BenchmarkName, peers: Peers): Promise<BenchResult> {
  switch (name) {
    case 'mlp_step': return benchMlpStep({ torch: peers.torch, torchAllCores: peers.torchAll });
    case 'per_example': return benchPerExample({ torch: peers.torch });
    case 'checkpoint': return benchCheckpoint();
    case 'hvp': return benchHvp();
  }
}

const [name, peersFile, outFile] = process.argv.slice(2);
if (name !== undefined && peersFile !== undefined && outFile !== undefined) {
  if (!(BENCHMARKS as readonly string[]).includes(name)) throw new Error(`bench/one.ts: unknown benchmark '${name}'; expected one of ${BENCHMARKS.join(', ')}`);
  const peers = JSON.parse(readFileSync(peersFile, 'utf8')) as Peers;
  const result = await runOne(name as BenchmarkName, peers);
  writeFileSync(outFile, JSON.stringify(result));
}
