// Option objects: names an operation does not know are errors, not silently ignored.
import { ValueError } from './errors.js';

/**
 * Refuses option names an operation or transformation does not know (a JAX name such as `in_axes`, or a typo such
 * as `argnum`, would otherwise be ignored and the default used silently: TypeScript catches them
 * only in object literals written at the call).
 */
export function checkOptions(op: string, options: unknown, known: readonly string[], ErrorType: new (message: string) => Error = ValueError): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ErrorType(`${op}: options must be an object (${known.join(', ')}), got ${Array.isArray(options) ? 'a list' : options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const near = known.find((k) => k === camel || k.toLowerCase() === key.toLowerCase() || k.startsWith(key) || key.startsWith(k));
    throw new ErrorType(`${op}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; the options are ${known.join(', ')}`);
  }
}

/**
 * An option's value as an error message shows it: numbers as JS writes them (NaN, Infinity,
 * -Infinity, which JSON.stringify writes as null and so reads as a missing value), the rest as JSON.
 */
export function fmtOptionValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}
