// Console helpers shared by the tour and the examples: section headings, wrapped explanations,
// compact array formatting and aligned tables. Colours only on a terminal (and never with NO_COLOR).
import type { NDArray } from '../src/index.js';

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const ansi = (code: string) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = ansi('1');
export const dim = ansi('2');
export const cyan = ansi('36');
export const green = ansi('32');

/** A numbered section heading: "── 3. Title ──────". */
export function heading(title: string): void {
  const line = `── ${title} `;
  console.log(`\n${bold(cyan(line + '─'.repeat(Math.max(4, 78 - line.length))))}`);
}

/** Explanatory prose, wrapped at 92 columns and indented, dimmed on a terminal. */
export function say(text: string): void {
  const words = text.trim().split(/\s+/);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur.length + w.length + 1 > 92 && cur) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  for (const l of lines) console.log(dim(`  ${l}`));
}

/** A line of code shown as it would be typed, then its printed result (multi-line results indented). */
export function show(code: string, result: unknown): void {
  const text = typeof result === 'string' ? result : String(result);
  console.log(`  ${green('>')} ${code}`);
  for (const l of text.split('\n')) console.log(`    ${l}`);
}

/** Prints text indented by four spaces. */
export function block(text: string): void {
  for (const l of text.split('\n')) console.log(`    ${l}`);
}

/** A number with `digits` significant decimals, without "-0". */
export function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const s = Math.abs(x) >= 1e5 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** A concrete array printed as a (nested) list of rounded numbers, e.g. [[1.000, 0.500], ...]. */
export function fmt(x: NDArray, digits = 3): string {
  const walk = (v: unknown): string => (Array.isArray(v) ? `[${v.map(walk).join(', ')}]` : typeof v === 'number' ? num(v, digits) : String(v));
  return walk(x.toArray());
}

/** An aligned text table; the first row is the header. Numbers are right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const numeric = (s: string) => s === '—' || /^[-+]?[\d.,]+(e[-+]?\d+)?( ?[a-zA-Z%×]+)?$/.test(s);
  const line = (r: readonly string[]) => r.map((cell, c) => (numeric(cell) && c > 0 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Seconds since `t0` (a performance.now() value), one decimal. */
export function since(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}
