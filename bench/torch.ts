// Runs bench/torch_bench.py with the system python3 when `import torch` works there, and returns
// its JSON; otherwise says why PyTorch is unavailable. PyTorch is a speed peer on the same
// weights and data (see bench/data.ts), not a dependency.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./torch_bench.py', import.meta.url));

export interface TorchTiming {
  medianMs: number;
  minMs: number;
  runs: number;
}

export interface TorchResult {
  torch: string;
  functorch: string | null;
  python: string;
  cores: number;
  threads: number;
  mlpStep?: { loss: number; gradNorm: number; step: TorchTiming };
  perExample?: {
    batchedGradNorm: number;
    meanPerExampleGradNorm?: number;
    batched: TorchTiming;
    loop: TorchTiming;
    vmap?: TorchTiming;
    dpsgd?: TorchTiming;
  };
}

let probe: string | null | undefined;

/** null when `import torch` works with /usr/bin/python3, else the reason it does not. */
export function torchUnavailable(): string | null {
  if (probe !== undefined) return probe;
  if (!existsSync(PYTHON)) return (probe = `PyTorch unavailable: ${PYTHON} not found`);
  const r = spawnSync(PYTHON, ['-c', 'import torch, functorch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  probe = r.status === 0 ? null : `PyTorch unavailable: \`${PYTHON} -c "import torch"\` failed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return probe;
}

/** Runs the PyTorch script on the given manifests at `threads` threads; a string on failure. */
export function runTorch(args: { mlp?: string; perExample?: string; threads?: number }): TorchResult | string {
  const why = torchUnavailable();
  if (why) return why;
  const threads = args.threads ?? 1;
  const argv = [SCRIPT, '--threads', String(threads)];
  if (args.mlp !== undefined) argv.push('--mlp', args.mlp);
  if (args.perExample !== undefined) argv.push('--per-example', args.perExample);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = spawnSync(PYTHON, argv, { encoding: 'utf8', env, timeout: 300_000, maxBuffer: 1 << 20 });
  if (r.status !== 0) return `PyTorch run failed (status ${r.status}): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
  } catch (e) {
    return `PyTorch output was not JSON: ${(e as Error).message}`;
  }
}
