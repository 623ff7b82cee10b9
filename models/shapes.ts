// Up-front shape checks for model functions. A wrong input or a parameter tree of the wrong shape
// used to surface deep inside an np op ("matmul: [2,5] and [3,8]"), naming neither the model nor
// the parameter. A model function checks its arguments against patterns first, and a mismatch is a
// ShapeError naming the function, the path (`params.layers[2].w`, `x`), the shape got and the
// shape expected, with where each named size came from. Shapes are static under jit, vmap and grad
// (vmap shows the per-example shape), so the checks are comparisons of numbers on every path.
import { ShapeError, type NDArray } from '../src/index.js';

/** One axis of a pattern: a size, a name (bound on first sight, equal wherever it recurs), or null (any). */
export type Dim = number | string | null;
/** A shape pattern; a leading '...' matches any number of leading (batch) axes. */
export type Pattern = readonly (Dim | '...')[];

const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** The shape of nested JS arrays (the lengths along the first entries, as np.asArray reads them). */
function nestedShape(v: readonly unknown[]): number[] {
  const shape: number[] = [];
  let at: unknown = v;
  while (Array.isArray(at)) {
    shape.push(at.length);
    at = at[0];
  }
  return shape;
}

/** What a value that is not the expected kind is, for messages (typeof says 'object' for null). */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : typeof v;
}

/** The size of `value` (an array or nested JS arrays) along `axis` (negative from the end), if it has one. */
function axisSize(value: unknown, axis: number): number | undefined {
  const shape = Array.isArray(value) ? nestedShape(value) : isArrayValue(value) ? value.shape : null;
  return shape?.[axis < 0 ? shape.length + axis : axis];
}

function isArrayValue(v: unknown): v is NDArray {
  return typeof v === 'object' && v !== null && Array.isArray((v as { shape?: unknown }).shape);
}

/** The checks of one call of a model function `op` (named sizes are shared across its arguments). */
export class Shapes {
  private readonly sizes = new Map<string, { size: number; from: string }>();

  constructor(readonly op: string) {}

  /** Binds `name` to `size` (taken from `from`, e.g. 'the config'); later checks must agree. */
  bind(name: string, size: number, from: string): this {
    this.sizes.set(name, { size, from });
    return this;
  }

  /**
   * Where several leaves carry one size `name` (at `axis` of each, negative from the end) and
   * disagree, binds it to the size most of them have (the first on ties), so that the check which
   * fails names the odd one out rather than one of the leaves that agree (where the first leaf
   * has that size, nothing is bound: the checks in order already name the odd one). Leaves that are not
   * arrays or lack the axis are skipped (their own checks name them); a bound name is kept.
   */
  agree(name: string, leaves: readonly (readonly [path: string, value: unknown, axis: number])[]): this {
    if (this.sizes.has(name)) return this;
    const sizes = leaves.map(([, value, axis]) => axisSize(value, axis));
    const first = sizes.find((d) => d !== undefined);
    // The usual case, all equal: nothing to decide.
    if (sizes.every((d) => d === undefined || d === first)) return this;
    const count = (d: number) => sizes.filter((e) => e === d).length;
    let best = first!;
    for (const d of sizes) if (d !== undefined && count(d) > count(best)) best = d;
    // Where the first leaf has the most common size, checking in order names the odd one already.
    if (best === first) return this;
    return this.bind(name, best, leaves.filter((_, i) => sizes[i] === best).map(([path]) => path).join(' and '));
  }

  /** The size bound to `name`, if any. */
  size(name: string): number | undefined {
    return this.sizes.get(name)?.size;
  }

  fail(message: string): never {
    throw new ShapeError(`${this.op}: ${message}`);
  }

  /** `value` at `path` as an array: a missing leaf or another kind of value is a ShapeError naming the path. */
  array(path: string, value: unknown): NDArray {
    if (isArrayValue(value)) return value;
    return this.fail(`${path} is ${value === undefined ? 'missing' : `not an array (got ${kindOf(value)})`}; expected an array`);
  }

  /** `value` at `path` as a list, of `length` entries where given. */
  list<T>(path: string, value: unknown, length?: number, what = 'entries'): readonly T[] {
    if (!Array.isArray(value)) this.fail(`${path} is ${value === undefined ? 'missing' : `not a list (got ${kindOf(value)})`}; expected a list${length === undefined ? '' : ` of ${length} ${what}`}`);
    if (length !== undefined && value.length !== length) this.fail(`${path} has ${value.length} entries; expected ${length} ${what}`);
    return value as T[];
  }

  /**
   * Checks the shape of `value` (an array, or nested JS arrays of numbers) at `path` against
   * `pattern`, binding the names it meets for the first time. Returns the shape. A `why`, where
   * given, ends a mismatch's message in parentheses (e.g. where a pattern of numbers came from).
   */
  check(path: string, value: unknown, pattern: Pattern, why?: string): readonly number[] {
    return this.checkShape(path, Array.isArray(value) ? nestedShape(value) : this.array(path, value).shape, pattern, why);
  }

  /** `check` for a shape given as such (e.g. a flattened view of an argument). */
  checkShape(path: string, shape: readonly number[], pattern: Pattern, why?: string): readonly number[] {
    const rest = pattern[0] === '...';
    const dims = (rest ? pattern.slice(1) : pattern) as readonly Dim[];
    const offset = shape.length - dims.length;
    // Compare first and bind afterwards, so that a failed check leaves no half-bound names.
    const fresh = new Map<string, { size: number; from: string }>();
    if (rest ? offset < 0 : offset !== 0) this.mismatch(path, shape, pattern, null, fresh, why);
    dims.forEach((d, i) => {
      const got = shape[offset + i]!;
      if (d === null) return;
      if (typeof d === 'number') {
        if (got !== d) this.mismatch(path, shape, pattern, null, fresh, why);
        return;
      }
      const known = this.sizes.get(d)?.size ?? fresh.get(d)?.size;
      if (known === undefined) fresh.set(d, { size: got, from: `its axis ${offset + i}` });
      else if (known !== got) this.mismatch(path, shape, pattern, d, fresh, why);
    });
    for (const [n, { size }] of fresh) this.sizes.set(n, { size, from: path });
    return shape;
  }

  /**
   * The leading (batch) axes of two arguments must broadcast together: equal, or 1 on one side.
   * Returns the broadcast axes (built in the same walk, so callers need not redo it).
   */
  broadcastable(pathA: string, a: readonly number[], pathB: string, b: readonly number[]): number[] {
    const [long, short] = a.length >= b.length ? [a, b] : [b, a];
    const out = [...long];
    for (let i = 1; i <= short.length; i++) {
      const x = a[a.length - i]!, y = b[b.length - i]!;
      if (x !== y && x !== 1 && y !== 1) this.fail(`the batch axes of ${pathA} ${fmt(a)} and ${pathB} ${fmt(b)} do not broadcast together; expected equal sizes (or 1) axis by axis from the right`);
      out[out.length - i] = x === 1 ? y : x;
    }
    return out;
  }

  private mismatch(path: string, shape: readonly number[], pattern: Pattern, culprit: string | null, fresh: ReadonlyMap<string, { size: number; from: string }>, why?: string): never {
    // Names bound before this check, and (for a name repeated within the pattern) by its first axis.
    const lookup = (n: string) => this.sizes.get(n) ?? (n === culprit ? fresh.get(n) : undefined);
    const shown = pattern.map((d) => {
      if (d === null) return '_';
      if (typeof d === 'number' || d === '...') return String(d);
      const s = lookup(d);
      return s === undefined ? d : `${d}=${s.size}`;
    });
    // Where the named sizes in the pattern came from, the mismatched one first.
    const names = pattern.filter((d): d is string => typeof d === 'string' && d !== '...' && lookup(d) !== undefined);
    const order = culprit === null ? names : [culprit, ...names.filter((n) => n !== culprit)];
    const from = [...new Set(order)].map((n) => `${n} = ${lookup(n)!.size} from ${lookup(n)!.from}`);
    this.fail(`${path} has shape ${fmt(shape)}; expected [${shown.join(', ')}]${from.length > 0 ? ` (${from.join('; ')})` : ''}${why === undefined ? '' : ` (${why})`}`);
  }
}

/** A stack of dense layers `{ w: [in, out], b: [out] }` chained in → h1 → … → out. */
export interface DenseStackNames {
  /** Name of the first layer's input size (default 'in'). */
  input?: string;
  /** Name of the last layer's output size (default 'out'). */
  output?: string;
  /** Prefix of the hidden sizes' names (default 'h': h1, h2, …); distinct per stack in one call. */
  hidden?: string;
}

/**
 * Checks `layers` at `path` as a chain of dense layers (each w [d_i, d_{i+1}], b [d_{i+1}]) and
 * returns the names of its input and output sizes, bound in `s` (an empty stack binds nothing and
 * returns the input name for both).
 */
export function checkDenseStack(s: Shapes, path: string, layers: unknown, names: DenseStackNames = {}): { input: string; output: string } {
  const list = s.list<{ w?: unknown; b?: unknown } | undefined>(path, layers, undefined, 'dense layers');
  const input = names.input ?? 'in', output = names.output ?? 'out', hidden = names.hidden ?? 'h';
  if (list.length === 0) return { input, output: input };
  const dim = (i: number) => (i === 0 ? input : i === list.length ? output : `${hidden}${i}`);
  // A hidden size is carried by three leaves (w and b before it, w after it): where one disagrees,
  // the message names it rather than one of the two that agree.
  const leaf = (i: number, k: 'w' | 'b') => (typeof list[i] === 'object' && list[i] !== null ? list[i]![k] : undefined);
  for (let i = 1; i < list.length; i++) {
    const w0 = leaf(i - 1, 'w'), b0 = leaf(i - 1, 'b'), w1 = leaf(i, 'w');
    const d = axisSize(w0, 1);
    // Only where they differ (cheap: this runs on every eager call).
    if (axisSize(b0, 0) !== d || axisSize(w1, 0) !== d) s.agree(dim(i), [[`${path}[${i - 1}].w`, w0, 1], [`${path}[${i - 1}].b`, b0, 0], [`${path}[${i}].w`, w1, 0]]);
  }
  list.forEach((layer, i) => checkDense(s, `${path}[${i}]`, layer, dim(i), dim(i + 1)));
  return { input, output };
}

/** Checks one dense layer { w: [input, output], b: [output] } at `path`. */
export function checkDense(s: Shapes, path: string, layer: unknown, input: string, output: string): void {
  if (typeof layer !== 'object' || layer === null) s.fail(`${path} is ${layer === undefined ? 'missing' : kindOf(layer)}; expected a dense layer { w, b }`);
  const l = layer as { w?: unknown; b?: unknown };
  s.check(`${path}.w`, l.w, [input, output]);
  s.check(`${path}.b`, l.b, [output]);
}
