// `npm run bench`: every benchmark in one run, each in a fresh process (ratios compare contenders in one process),
// PyTorch via the system python3 when it has torch, one table of ratios, bench/results.json.
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeMlpData, removePythonData, writeForPython } from './data.js';
import { loadavg, machineInfo, measured, printResult, printSummary, ratio, writeResults, type BenchResult } from './harness.js';
import { BATCH as MLP_BATCH, SIZES as MLP_SIZES } from './mlp_step.js';
import { BENCHMARKS } from './one.js';
import { BATCH as PE_BATCH, SIZES as PE_SIZES } from './per_example.js';
import { runTorch } from './torch.js';

/** bench/optim_state.ts (owned by the optimizer work) when it exists, as a BenchResult. */
async function optimizerState(): Promise<BenchResult | string> {
  if (!existsSync(fileURLToPath(new URL('./optim_state.ts', import.meta.url)))) return 'bench/optim_state.ts not present';
  try {
    const mod = await import('./optim_state.js');
    return await measured('optim_state', 'Adafactor vs Adam state and step time, one 1024×1024 weight', async () => {
      const r = await mod.benchAdafactorVsAdam();
      return {
        timings: {
          'adam step': { medianMs: r.adam.stepMs, minMs: NaN, meanMs: NaN, runs: NaN },
          'adafactor step': { medianMs: r.adafactor.stepMs, minMs: NaN, meanMs: NaN, runs: NaN },
        },
        ratios: [
          ratio('adafactor state (floats)', r.adafactor.stateFloats, { atMost: 2100 }, 'floats'),
          ratio('adam state (floats)', r.adam.stateFloats, undefined, 'floats'),
          ratio('adafactor / adam step time', r.timeRatio, { atMost: 1 }),
        ],
        notes: [],
        extra: { ...r },
      };
    });
  } catch (e) {
    return `optim_state failed: ${(e as Error).message}`;
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const startLoad = loadavg();
  const info = machineInfo();
  console.log(`gradus benchmarks — ${info.cores} cores (${info.cpuModel}), Node ${info.node}, backend ${info.backend}, load average ${loadavg().join(' ')}`);
  if (os.loadavg()[0]! > os.cpus().length * 0.75) {
    console.log(`warning: the machine is busy (1-minute load ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores); ratios are interleaved but absolute times will be high`);
  }

  // PyTorch first (a separate process), on the exact data the TS benchmarks generate.
  const mlpManifest = writeForPython(makeMlpData(MLP_SIZES, MLP_BATCH, 0), 'mlp_step');
  const peManifest = writeForPython(makeMlpData(PE_SIZES, PE_BATCH, 1), 'per_example');
  console.log('running PyTorch (1 thread, then all cores) ...');
  const torch = runTorch({ mlp: mlpManifest, perExample: peManifest, threads: 1 });
  const torchAll = typeof torch === 'string' ? torch : runTorch({ mlp: mlpManifest, threads: os.cpus().length });
  removePythonData(mlpManifest);
  removePythonData(peManifest);
  if (typeof torch === 'string') console.log(torch);

  const results: BenchResult[] = [];
  const skipped: string[] = [];
  // Each benchmark in a fresh process (bench/one.ts says why); contenders within one share it.
  const dir = mkdtempSync(join(os.tmpdir(), 'gradus-bench-'));
  const peersFile = join(dir, 'peers.json');
  writeFileSync(peersFile, JSON.stringify({ torch, torchAll: torchAll ?? 'not run' }));
  for (const name of BENCHMARKS) {
    console.log(`running ${name} ...`);
    const outFile = join(dir, `${name}.json`);
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./one.ts', import.meta.url)), name, peersFile, outFile], { stdio: 'inherit' });
    if (child.status !== 0 || !existsSync(outFile)) {
      skipped.push(`${name} failed (exit ${child.status ?? child.signal})`);
      continue;
    }
    const r = JSON.parse(readFileSync(outFile, 'utf8')) as BenchResult;
    printResult(r);
    results.push(r);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log('running optim_state ...');
  const opt = await optimizerState();
  if (typeof opt === 'string') skipped.push(opt);
  else {
    printResult(opt);
    results.push(opt);
  }

  printSummary(results);
  for (const s of skipped) console.log(`skipped: ${s}`);
  console.log(`load average at the end ${loadavg().join(' ')}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  writeResults(results, { machine: { loadavgAtStart: startLoad, totalSeconds: Math.round((performance.now() - t0) / 1000) } });
}

await main();
