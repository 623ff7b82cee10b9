// The np namespace is public API: every member is a NumPy-style function (or linalg, at, defop)
// a user may call. Internal helpers of the np files (convert.ts's weakConstant, refuseFreed,
// nameOps, astypeHook; operands.ts's astypeRaw, atRank, elementwiseOperands; fmtStatic) were members
// through `export *` until they were kept out: this list makes any new member a deliberate change.
import { describe, expect, it } from 'vitest';
import { np } from '../src/index.js';

const PUBLIC_MEMBERS = `
  abs add all allclose any arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin
  argsort array asArray astype at avgPool2d broadcastArrays broadcastTo ceil choFactor choSolve
  cholesky clip concatenate conv2d copy cos cosh cumprod cumsum defop det diag diagonal diff digamma
  div divide dot einsum elu equal erf erfc exp exp2 expandDims expm expm1 eye flatten flip floor
  floorDivide full fullLike gammaln gelu greater greaterEqual index inner inv isclose isfinite isinf
  isnan leakyRelu less lessEqual lgamma linalg linspace log log10 log1p log2 logSigmoid logSoftmax
  logaddexp logicalAnd logicalNot logicalOr logicalXor logsumexp matmul matrixPower max maxPool2d
  maximum mean median meshgrid min minimum mod moveaxis mul multiDot multiply nanmax nanmean nanmin
  nansum ndtr ndtri neg negative norm notEqual oneHot ones onesLike outer pad polygamma pow power
  prod qr quantile ravel reciprocal relu relu6 remainder repeat reshape roll round rsqrt
  searchsorted segmentSum selu sigmoid sign silu sin sinh slice slogdet softmax softplus solve
  solveTriangular sort split sqrt square squeeze stack standardize std sub subtract sum swapaxes
  swish take takeAlongAxis tan tanh tensordot tile topK trace transpose tril triu var variance vdot
  where xlog1py xlogy zeros zerosLike
`.trim().split(/\s+/);

describe('the np namespace', () => {
  it('holds exactly the public functions (adding one means adding it here), and no internal helper', () => {
    expect(Object.keys(np).sort()).toEqual([...PUBLIC_MEMBERS].sort());
    for (const internal of ['weakConstant', 'refuseFreed', 'nameOps', 'astypeHook', 'astypeRaw', 'atRank', 'elementwiseOperands', 'fmtStatic', 'handBack']) {
      expect(Object.keys(np), internal).not.toContain(internal);
    }
  });

  it('every member is a function or a namespace of functions', () => {
    for (const [name, member] of Object.entries(np)) {
      if (typeof member === 'function') continue;
      expect(typeof member, name).toBe('object');
      for (const [inner, f] of Object.entries(member as object)) expect(typeof f, `np.${name}.${inner}`).toBe('function');
    }
  });
});
