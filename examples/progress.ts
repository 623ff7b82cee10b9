// Progress bars for the examples' training loops: cli-progress on a terminal, and a few plain lines
// (at 25 % milestones) when stdout is not a TTY (CI logs, pipes, the tests), so that logs stay short.
// `captureProgress` drives a bar from a function that only reports through console.log (the
// model examples print "step N ..." lines): it parses those lines while the function runs.
import cliProgress from 'cli-progress';

export interface Progress {
  /** Moves the bar to `step` (of `total`); `info` is a short status such as the current loss. */
  update(step: number, info?: string): void;
  /** Completes and removes the bar from the live display (prints a final line). */
  stop(info?: string): void;
}

const useTty = (): boolean => Boolean(process.stdout.isTTY) && !process.env.CI && process.env.GRADUS_PLAIN_PROGRESS !== '1';

/** A progress bar titled `title` counting to `total` steps. */
export function progressBar(title: string, total: number): Progress {
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
  const label = title.padEnd(14);
  if (useTty()) {
    const bar = new cliProgress.SingleBar(
      {
        format: `  ${label} {bar} {percentage}% | {value}/{total} | {info} | {duration_formatted}`,
        barsize: 28,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (step, info) => bar.update(Math.min(step, total), { info: info ?? '' }),
      stop: (info) => {
        bar.update(total, { info: info ?? '' });
        bar.stop();
      },
    };
  }
  // Plain fallback: one line per 25 % reached, and one at the end.
  let nextMark = 0.25;
  const line = (step: number, info?: string) =>
    console.log(`  ${label} ${String(Math.round((100 * step) / Math.max(1, total))).padStart(3)}% | ${step}/${total}${info ? ` | ${info}` : ''} | ${secs()} s`);
  return {
    update: (step, info) => {
      if (step / total >= nextMark && step < total) {
        line(step, info);
        while (step / total >= nextMark) nextMark += 0.25;
      }
    },
    stop: (info) => line(total, info),
  };
}

/**
 * Runs `fn` while console.log lines are routed to `parse`, which maps a line to the number of
 * steps done so far (and an optional status), or to undefined for lines that are not progress
 * reports. Lines containing "warning" are printed after the bar; the rest are swallowed.
 */
export async function captureProgress<T>(
  title: string,
  total: number,
  parse: (line: string) => { step: number; info?: string } | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const bar = progressBar(title, total);
  const original = console.log;
  const kept: string[] = [];
  let last: string | undefined;
  console.log = (...args: unknown[]) => {
    const line = args.map(String).join(' ');
    const p = parse(line);
    if (p !== undefined) {
      last = p.info;
      bar.update(p.step, p.info);
    } else if (/warning/i.test(line)) kept.push(line);
  };
  let ok = false;
  try {
    const out = await fn();
    ok = true;
    return out;
  } finally {
    console.log = original;
    bar.stop(ok ? last : 'failed');
    for (const l of kept) console.log(`  ${l}`);
  }
}
