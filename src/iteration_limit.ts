// The bound on an iterative linear-algebra kernel's work (QL for eigh, one-sided Jacobi for svd)
// and the LinAlgError where the iteration does not converge within it. Tests lower the bound to
// reach that error, which no matrix met in testing reaches at the default.
import { LinAlgError } from './errors.js';

/** What the non-convergence error says of an iteration: its name, what the bound counts, LAPACK's routine, and the matrices it handles. */
export interface IterationDescription {
  readonly iteration: string;
  readonly unit: string;
  readonly lapack: string;
  readonly expected: string;
}

/** A bound on an iteration's work: `value`, which is `defaultValue` except inside `limitedTo`. */
export class IterationLimit {
  value: number;
  constructor(
    readonly defaultValue: number,
    private readonly description: IterationDescription,
  ) {
    this.value = defaultValue;
  }

  /** Runs `body` with the bound at `limit` (tests: reaching the non-convergence error). */
  limitedTo<T>(limit: number, body: () => T): T {
    const saved = this.value;
    this.value = limit;
    try {
      return body();
    } finally {
      this.value = saved;
    }
  }

  /** The LinAlgError of `op` for the rows×cols matrix `at` of a stack of `batch`, on which the iteration did not converge within the bound. */
  notConverged(op: string, rows: number, cols: number, at: number, batch: number): LinAlgError {
    const { iteration, unit, lapack, expected } = this.description;
    return new LinAlgError(`${op}: the ${iteration} iteration did not converge for matrix ${batch > 1 ? `${at} of the stack of ${batch} ` : ''}(${rows}×${cols}) in ${this.value} ${unit} (LAPACK's ${lapack} reports info > 0 and NumPy raises LinAlgError there); expected ${expected}`);
  }
}
