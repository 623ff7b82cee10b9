// The published shape of the package: the compiled entries (dist/, built by `npm run build` and
// on install) import in plain Node by their package names, without tsx, and agree with the source.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('the package entries work in plain Node', () => {
  it('gradus, gradus/optim, gradus/models and gradus/testing import by name and compute', () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: process.cwd(), stdio: 'pipe' });
    const code = `
      import { np, grad, vmap, tree } from 'gradus';
      import { adam, applyUpdates } from 'gradus/optim';
      import { nn } from 'gradus/models';
      import { checkGrads } from 'gradus/testing';
      const g = grad((x) => np.sum(np.sin(x)))(np.array([0.5, 1.5]));
      const params = nn.dense.init(np.array([0, 7]).astype('int32'), 3, 2);
      const opt = adam(0.1);
      const [u] = opt.update(tree.map((p) => np.onesLike(p), params), opt.init(params), params);
      checkGrads((x) => np.sum(np.tanh(x)), [np.array([0.3, -0.2])], { order: 2 });
      console.log(JSON.stringify({ g: Array.from(g.dataSync()), v: vmap((x) => x.mul(2))(np.array([1, 2])).toArray(), keys: Object.keys(applyUpdates(params, u)).sort() }));
    `;
    const out = execFileSync('node', ['--input-type=module', '-e', code], { cwd: process.cwd(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { g: number[]; v: number[]; keys: string[] };
    expect(r.g[0]).toBeCloseTo(Math.cos(0.5), 5);
    expect(r.g[1]).toBeCloseTo(Math.cos(1.5), 5);
    expect(r.v).toEqual([2, 4]);
    expect(r.keys).toEqual(['b', 'w']);
  }, 120_000);
});
