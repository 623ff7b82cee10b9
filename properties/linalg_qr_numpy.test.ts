// np.linalg.qr against float64 NumPy (fixtures/qr_refs.json, made by fixtures/make_qr_refs.py):
// the kernel follows LAPACK's geqrf + orgqr, so Q and R equal numpy.linalg.qr's entry by entry, signs
// included (linalg_qr.test.ts checks the factorisation and R[0][0]'s sign; this pins every column's),
// for tall, square and wide matrices, reduced and complete, at the steps where no reflection is taken
// (a zero column, an upper-triangular matrix), and for a stack factored in one call.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { np } from '../src/index.js';
import { noLeak } from './helpers.js';

type Mat = number[][];
interface Ref {
  name: string;
  a: Mat;
  reduced: { q: Mat; r: Mat };
  complete: { q: Mat; r: Mat };
}

const refs = JSON.parse(readFileSync(new URL('./fixtures/qr_refs.json', import.meta.url), 'utf8')) as Ref[];

/** |got − want| ≤ 1e-6·max(1, |want|) entrywise: float32 rounding of O(1) values, far below a sign flip or a misordered sum. */
function expectEntries(got: Mat, want: Mat, what: string): void {
  expect([got.length, got[0]?.length], `${what}: shape`).toEqual([want.length, want[0]?.length]);
  want.forEach((row, i) => row.forEach((w, j) => {
    const g = got[i]![j]!;
    expect(Math.abs(g - w), `${what}[${i}][${j}]: ${g} vs NumPy's ${w}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w)));
  }));
}

describe('np.linalg.qr equals numpy.linalg.qr (LAPACK), signs included', () => {
  it.each(refs.map((r) => [r.name, r] as const))('%s: reduced and complete Q and R', (_name, ref) => {
    noLeak(() => {
      for (const mode of ['reduced', 'complete'] as const) {
        const [q, r] = np.linalg.qr(np.array(ref.a), mode);
        expectEntries(q.toArray() as Mat, ref[mode].q, `${mode} Q`);
        expectEntries(r.toArray() as Mat, ref[mode].r, `${mode} R`);
      }
    });
  });

  it('a stack is factored matrix by matrix (one kernel call for [2, 3, 4])', () => {
    noLeak(() => {
      const items = refs.filter((r) => r.name.startsWith('[2, 3, 4] stack'));
      expect(items.length).toBe(2);
      for (const mode of ['reduced', 'complete'] as const) {
        const [q, r] = np.linalg.qr(np.array(items.map((i) => i.a)), mode);
        items.forEach((item, b) => {
          expectEntries(q.at(b).toArray() as Mat, item[mode].q, `${mode} Q of matrix ${b}`);
          expectEntries(r.at(b).toArray() as Mat, item[mode].r, `${mode} R of matrix ${b}`);
        });
      }
    });
  });
});
