// Timing and reporting shared by every benchmark: warm-up, interleaved rounds, medians, a table
// printer and bench/results.json. Benchmarks only measure and report; nothing here asserts.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { getBackend } from '../src/index.js';

export const RESULTS_PATH = fileURLToPath(new URL('./results.json', import.meta.url));

/** True when the module at `metaUrl` is the script node was started with (run-alone guard). */
export function isMain(metaUrl: string): boolean {
  return process.argv[1] !== undefined && metaUrl === pathToFileURL(process.argv[1]).href;
}

/** Summary of one contender's wall times, in milliseconds. */
export interface Timing {
  medianMs: number;
  minMs: number;
  meanMs: number;
  /** Number of timed runs (after warm-up). */
  runs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function summarize(samples: number[]): Timing {
  return {
    medianMs: median(samples),
    minMs: Math.min(...samples),
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
    runs: samples.length,
  };
}

/**
 * One thing to time. `run` does the work and returns its result; `sync` waits until the result is
 * really computed (reading a value back — wasm and cpu kernels run synchronously, lazy libraries
 * such as jax-js do not); `free` releases the result outside the timed region.
 */
export interface Contender<R = unknown> {
  name: string;
  run: () => R | Promise<R>;
  sync?: (result: R) => void | Promise<void>;
  free?: (result: R) => void;
  /** Called once after the last run (frees closures such as a jax-js `jit`). */
  cleanup?: () => void;
}

export interface CompareOptions {
  /** Untimed runs of each contender before timing starts. */
  warmup?: number;
  /** Rounds; each round times every contender `perRound` times, so noise hits them alike. */
  rounds?: number;
  perRound?: number;
}

async function once<R>(c: Contender<R>): Promise<number> {
  const t0 = performance.now();
  const r = await c.run();
  if (c.sync) await c.sync(r);
  const dt = performance.now() - t0;
  c.free?.(r);
  return dt;
}

/**
 * Times contenders interleaved (round-robin) and returns each one's median over all timed runs.
 * Interleaving makes ratios robust to load that comes and goes on a shared machine.
 */
export async function compare(contenders: readonly Contender<any>[], options: CompareOptions = {}): Promise<Record<string, Timing>> {
  const { warmup = 3, rounds = 5, perRound = 3 } = options;
  for (const c of contenders) for (let i = 0; i < warmup; i++) await once(c);
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) for (let i = 0; i < perRound; i++) samples.get(c.name)!.push(await once(c));
  }
  for (const c of contenders) c.cleanup?.();
  return Object.fromEntries(contenders.map((c) => [c.name, summarize(samples.get(c.name)!)]));
}

/** Times a single contender (warm-up, then the median of `runs`). */
export async function timeIt<R>(c: Contender<R>, options: { warmup?: number; runs?: number } = {}): Promise<Timing> {
  const { warmup = 3, runs = 15 } = options;
  const t = await compare([c], { warmup, rounds: 1, perRound: runs });
  return t[c.name]!;
}

/** Sync for gradus / TF.js results: read back the smallest leaf (wasm kernels are synchronous; on GPU backends a read waits for the queue). */
export function readBackSmallest(leaves: readonly { size: number; dataSync(): unknown }[]): void {
  let best = leaves[0];
  for (const l of leaves) if (best === undefined || l.size < best.size) best = l;
  best?.dataSync();
}

/** A derived figure with its goal: `value` compared against `limit` in direction `goal`. */
export interface Ratio {
  name: string;
  value: number;
  /** Human-readable goal, e.g. '≤ 0.5'. Absent for figures reported for information. */
  goal?: string;
  met?: boolean;
  unit?: string;
}

export function ratio(name: string, value: number, goal?: { atMost?: number; atLeast?: number }, unit = '×'): Ratio {
  if (!goal) return { name, value, unit };
  if (goal.atMost !== undefined) return { name, value, unit, goal: `≤ ${goal.atMost}${unit === '×' ? '×' : ' ' + unit}`, met: value <= goal.atMost };
  return { name, value, unit, goal: `≥ ${goal.atLeast}${unit === '×' ? '×' : ' ' + unit}`, met: value >= goal.atLeast! };
}

/** Everything one benchmark reports. */
export interface BenchResult {
  name: string;
  description: string;
  /** Wall times per contender (ms). */
  timings: Record<string, Timing | null>;
  ratios: Ratio[];
  notes: string[];
  /** Benchmark-specific figures (memory, losses for cross-checking, ...). */
  extra?: Record<string, unknown>;
  loadavg: { before: number[]; after: number[] };
  date: string;
}

export function loadavg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemGB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    backend: getBackend(),
    tfjsCore: tf.version_core,
    wasmThreads: 'single-threaded SIMD (TF.js disables threads in Node)',
    loadavgAtEnd: loadavg(),
    date: new Date().toISOString(),
  };
}

function fmtMs(t: Timing | null | undefined): string {
  if (!t) return 'n/a';
  return t.medianMs >= 100 ? t.medianMs.toFixed(0) : t.medianMs >= 10 ? t.medianMs.toFixed(1) : t.medianMs.toFixed(2);
}

function fmtRatio(r: Ratio): string {
  const v = !Number.isFinite(r.value) ? String(r.value) : Math.abs(r.value) >= 100 ? r.value.toFixed(0) : r.value.toFixed(2);
  return r.unit === '×' ? `${v}×` : `${v} ${r.unit ?? ''}`.trim();
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  const line = (r: string[]) => r.map((c, j) => c.padEnd(widths[j]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Prints one benchmark's timings (median ms) and ratios with their goals. */
export function printResult(r: BenchResult): void {
  console.log(`\n== ${r.name}: ${r.description}`);
  console.log(`   load average before ${r.loadavg.before.join(' ')}, after ${r.loadavg.after.join(' ')}`);
  const num = (v: number | undefined, digits: number) => (v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '');
  const timingRows = Object.entries(r.timings).map(([k, t]) => [k, fmtMs(t), num(t?.minMs, 1), num(t?.runs, 0)]);
  if (timingRows.length) console.log(table([['contender', 'median ms', 'min ms', 'runs'], ...timingRows]));
  if (r.ratios.length) {
    console.log('');
    console.log(ratioTable(r.ratios.map((x) => ({ bench: '', ...x })), false));
  }
  for (const n of r.notes) console.log(`   note: ${n}`);
}

function ratioTable(rows: (Ratio & { bench: string })[], withBench: boolean): string {
  const head = withBench ? ['benchmark', 'figure', 'value', 'goal', 'met'] : ['figure', 'value', 'goal', 'met'];
  const body = rows.map((r) => {
    const cells = [r.name, fmtRatio(r), r.goal ?? '(info)', r.met === undefined ? '' : r.met ? 'yes' : 'NO'];
    return withBench ? [r.bench, ...cells] : cells;
  });
  return table([head, ...body]);
}

/** Prints the one table of every figure across benchmarks. */
export function printSummary(results: readonly BenchResult[]): void {
  const rows = results.flatMap((r) => r.ratios.map((x) => ({ bench: r.name, ...x })));
  console.log('\n== Summary (all benchmarks, one run)');
  console.log(ratioTable(rows, true));
  const goals = rows.filter((r) => r.met !== undefined);
  console.log(`\n${goals.filter((r) => r.met).length} of ${goals.length} goals met.`);
}

/**
 * Writes bench/results.json. With `merge`, entries already in the file for other benchmarks are
 * kept (a benchmark run alone updates only its own entry).
 */
export function writeResults(results: readonly BenchResult[], options: { merge?: boolean; machine?: Record<string, unknown> } = {}): void {
  let previous: Record<string, BenchResult> = {};
  if (options.merge && existsSync(RESULTS_PATH)) {
    try {
      previous = (JSON.parse(readFileSync(RESULTS_PATH, 'utf8')) as { benchmarks?: Record<string, BenchResult> }).benchmarks ?? {};
    } catch {
      previous = {};
    }
  }
  const benchmarks = { ...previous, ...Object.fromEntries(results.map((r) => [r.name, r])) };
  const summary = Object.values(benchmarks).flatMap((r) => r.ratios.map((x) => ({ benchmark: r.name, ...x })));
  const out = { machine: { ...machineInfo(), ...options.machine }, benchmarks, summary };
  writeFileSync(RESULTS_PATH, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_PATH}`);
}

/** Runs a benchmark function with load averages and date recorded around it. */
export async function measured(name: string, description: string, body: () => Promise<Omit<BenchResult, 'name' | 'description' | 'loadavg' | 'date'>>): Promise<BenchResult> {
  const before = loadavg();
  const date = new Date().toISOString();
  const r = await body();
  return { name, description, ...r, loadavg: { before, after: loadavg() }, date };
}

/** Standard entry for a benchmark file run alone: run, print, merge into results.json. */
export async function runAlone(bench: () => Promise<BenchResult | BenchResult[]>): Promise<void> {
  const r = await bench();
  const list = Array.isArray(r) ? r : [r];
  for (const x of list) printResult(x);
  writeResults(list, { merge: true });
}
