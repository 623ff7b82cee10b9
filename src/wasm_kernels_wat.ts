// The source of gradus's own wasm SIMD kernels, as WebAssembly text. TF.js's wasm backend runs
// comparisons, select and maximum/minimum through a generic C++ loop that recomputes a broadcast
// index for every element: 0.17–0.7 ms for a 128×512 array, against 0.02 ms for its XNNPACK
// add or multiply. These kernels do the same work four lanes at a time on TF.js's own memory.
//
// `npm run build:wasm` assembles this text (with wabt) into src/wasm_kernels_binary.ts; a test
// checks that the committed binary is what this text assembles to.
//
// Every kernel takes byte offsets into TF.js's wasm memory and an element count n. Binary kernels
// take two flags saying whether an operand is a single value to broadcast (it is then read once).

/** Comparisons with IEEE semantics: any comparison with NaN is false, except `ne`. */
export const COMPARISONS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type WasmComparison = (typeof COMPARISONS)[number];

/** NaN-propagating maximum and minimum (NumPy's `maximum`/`minimum`; wasm's f32.max/min). */
export const EXTREMA = ['max', 'min'] as const;
export type WasmExtremum = (typeof EXTREMA)[number];

interface BinaryKernel {
  name: string;
  /** Bytes written per element. */
  outBytes: 1 | 4;
  /** v128 result of the vector operands $va, $vb. */
  vector: string;
  /** Scalar result (f32 or i32 0/1) of the scalar operands $sa, $sb. */
  scalar: string;
}

// Four 32-bit comparison masks (all ones or zero) in $m become four bytes 1/0 at $out.
const storeMaskBytes = `
      (local.set $m (i16x8.narrow_i32x4_s (local.get $m) (local.get $m)))
      (local.set $m (i8x16.narrow_i16x8_s (local.get $m) (local.get $m)))
      (i32.store (local.get $out) (i32x4.extract_lane 0 (v128.and (local.get $m) (v128.const i32x4 0x01010101 0x01010101 0x01010101 0x01010101))))`;

interface LoopKernel {
  name: string;
  /** Parameters, which include $n (the element count). */
  params: string;
  locals: string;
  prologue: string;
  vectorBody: string;
  scalarBody: string;
  /** Pointer advances after four elements and after one. */
  vectorAdvance: string[];
  scalarAdvance: string[];
}

/** The loop every kernel shares: four lanes at a time up to n rounded down to 4, then a scalar tail. */
function loopKernel(k: LoopKernel): string {
  return `
  (func (export "${k.name}") ${k.params}
    (local $i i32) (local $n4 i32)${k.locals}
    ${k.prologue}
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $vdone
      (loop $vloop
        (br_if $vdone (i32.ge_u (local.get $i) (local.get $n4)))
        ${k.vectorBody}
        ${k.vectorAdvance.join('\n        ')}
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vloop)))
    (block $sdone
      (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $i) (local.get $n)))
        ${k.scalarBody}
        ${k.scalarAdvance.join('\n        ')}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sloop))))`;
}

const advanceBy = (pointer: string, bytes: string) => `(local.set $${pointer} (i32.add (local.get $${pointer}) ${bytes}))`;

/**
 * A kernel over operands a and b, either of which may be a single value (a flag per operand: it
 * is read once, splatted, never advanced). `lead` is an extra leading byte-pointer parameter ($c
 * for select) that advances `leadStep` bytes per element.
 */
function twoOperandKernel(k: { name: string; lead?: string; leadStep?: number; outBytes: 1 | 4; vectorBody: string; scalarBody: string; locals?: string }): string {
  const lead = k.lead ? [k.lead] : [];
  return loopKernel({
    name: k.name,
    params: `${lead.map((p) => `(param $${p} i32) `).join('')}(param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $aOne i32) (param $bOne i32)`,
    locals: ` (local $da i32) (local $db i32) (local $va v128) (local $vb v128) (local $m v128)${k.locals ?? ''}`,
    prologue: `(local.set $da (select (i32.const 0) (i32.const 16) (local.get $aOne)))
    (local.set $db (select (i32.const 0) (i32.const 16) (local.get $bOne)))
    (local.set $va (v128.load32_splat (local.get $a)))
    (local.set $vb (v128.load32_splat (local.get $b)))`,
    vectorBody: `(if (i32.eqz (local.get $aOne)) (then (local.set $va (v128.load (local.get $a)))))
        (if (i32.eqz (local.get $bOne)) (then (local.set $vb (v128.load (local.get $b)))))
        ${k.vectorBody}`,
    scalarBody: k.scalarBody,
    vectorAdvance: [...lead.map((p) => advanceBy(p, `(i32.const ${4 * k.leadStep!})`)), advanceBy('a', '(local.get $da)'), advanceBy('b', '(local.get $db)'), advanceBy('out', `(i32.const ${4 * k.outBytes})`)],
    scalarAdvance: [
      ...lead.map((p) => advanceBy(p, `(i32.const ${k.leadStep!})`)),
      advanceBy('a', '(select (i32.const 0) (i32.const 4) (local.get $aOne))'),
      advanceBy('b', '(select (i32.const 0) (i32.const 4) (local.get $bOne))'),
      advanceBy('out', `(i32.const ${k.outBytes})`),
    ],
  });
}

function binaryKernel(k: BinaryKernel): string {
  return twoOperandKernel({
    name: k.name,
    outBytes: k.outBytes,
    locals: ' (local $sa f32) (local $sb f32)',
    vectorBody: k.outBytes === 1 ? `(local.set $m ${k.vector})${storeMaskBytes}` : `(v128.store (local.get $out) ${k.vector})`,
    scalarBody: `(local.set $sa (f32.load (local.get $a)))
        (local.set $sb (f32.load (local.get $b)))
        ${k.outBytes === 1 ? `(i32.store8 (local.get $out) ${k.scalar})` : `(f32.store (local.get $out) ${k.scalar})`}`,
  });
}

const comparisonKernels = COMPARISONS.map((op) => binaryKernel({
  name: `cmp_${op}_f32`,
  outBytes: 1,
  vector: `(f32x4.${op} (local.get $va) (local.get $vb))`,
  scalar: `(f32.${op} (local.get $sa) (local.get $sb))`,
}));

const extremumKernels = EXTREMA.map((op) => binaryKernel({
  name: `${op}_f32`,
  outBytes: 4,
  vector: `(f32x4.${op} (local.get $va) (local.get $vb))`,
  scalar: `(f32.${op} (local.get $sa) (local.get $sb))`,
}));

// out[i] = c[i] ? a[i] : b[i], with c bytes (TF.js bool) and a, b float32 (either may be a single value).
const selectKernel = twoOperandKernel({
  name: 'select_f32',
  lead: 'c',
  leadStep: 1,
  outBytes: 4,
  // four condition bytes, widened to four 32-bit lanes, then to all-ones/zero masks
  vectorBody: `(local.set $m (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (i32x4.splat (i32.load (local.get $c))))))
        (local.set $m (i32x4.ne (local.get $m) (v128.const i32x4 0 0 0 0)))
        (v128.store (local.get $out) (v128.bitselect (local.get $va) (local.get $vb) (local.get $m)))`,
  scalarBody: '(f32.store (local.get $out) (select (f32.load (local.get $a)) (f32.load (local.get $b)) (i32.load8_u (local.get $c))))',
});

/** A kernel whose float32 pointers all advance one element at a time. */
function denseKernel(k: Omit<LoopKernel, 'vectorAdvance' | 'scalarAdvance'> & { pointers: string[] }): string {
  return loopKernel({ ...k, vectorAdvance: k.pointers.map((p) => advanceBy(p, '(i32.const 16)')), scalarAdvance: k.pointers.map((p) => advanceBy(p, '(i32.const 4)')) });
}

// out[i] = value (TF.js's Fill takes ~0.13 ms for 65k elements).
const fillKernel = denseKernel({
  name: 'fill_f32',
  params: '(param $out i32) (param $n i32) (param $value f32)',
  locals: ' (local $v v128)',
  prologue: '(local.set $v (f32x4.splat (local.get $value)))',
  pointers: ['out'],
  vectorBody: '(v128.store (local.get $out) (local.get $v))',
  scalarBody: '(f32.store (local.get $out) (local.get $value))',
});

// out[i] = a[i] + s·b[i] (an SGD update in one pass instead of a multiply and an add).
const axpyKernel = denseKernel({
  name: 'axpy_f32',
  params: '(param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $s f32)',
  locals: ' (local $vs v128)',
  prologue: '(local.set $vs (f32x4.splat (local.get $s)))',
  pointers: ['a', 'b', 'out'],
  vectorBody: '(v128.store (local.get $out) (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $vs) (v128.load (local.get $b)))))',
  scalarBody: '(f32.store (local.get $out) (f32.add (f32.load (local.get $a)) (f32.mul (local.get $s) (f32.load (local.get $b)))))',
});

// tanh as a rational function (the odd degree-13 / even degree-6 minimax fit Eigen uses for
// float), within 3 ulp of the correctly rounded tanh; x itself below 4e-4 (so ±0 and tiny values
// are exact), ±1 above 9 (where tanh rounds to 1 in float32), NaN for NaN. TF.js's wasm Tanh calls
// libm element by element: 1.2 ms for 65k elements, against ~0.05 ms here.
const TANH_P = ['-2.76076847742355e-16', '2.00018790482477e-13', '-8.60467152213735e-11', '5.12229709037114e-08', '1.48572235717979e-05', '6.37261928875436e-04', '4.89352455891786e-03'];
const TANH_Q = ['1.19825839466702e-06', '1.18534705686654e-04', '2.26843463243900e-03', '4.89352518554385e-03'];
const splat = (c: string) => `(v128.const f32x4 ${c} ${c} ${c} ${c})`;
/** Horner's rule in x2 over `coefficients` (highest first), as nested vector or scalar expressions. */
function horner(coefficients: string[], x2: string, mul: string, add: string, constant: (c: string) => string): string {
  return coefficients.slice(1).reduce((acc, c) => `(${add} (${mul} ${x2} ${acc}) ${constant(c)})`, constant(coefficients[0]!));
}
const tanhKernel = denseKernel({
  name: 'tanh_f32',
  params: '(param $x i32) (param $out i32) (param $n i32)',
  locals: ' (local $v v128) (local $c v128) (local $c2 v128) (local $r v128) (local $s f32) (local $t f32) (local $t2 f32) (local $sr f32)',
  prologue: '',
  pointers: ['x', 'out'],
  vectorBody: `(local.set $v (v128.load (local.get $x)))
        (local.set $c (f32x4.max (f32x4.min (local.get $v) ${splat('7.90531110763549805')}) ${splat('-7.90531110763549805')}))
        (local.set $c2 (f32x4.mul (local.get $c) (local.get $c)))
        (local.set $r (f32x4.div
          (f32x4.mul (local.get $c) ${horner(TANH_P, '(local.get $c2)', 'f32x4.mul', 'f32x4.add', splat)})
          ${horner(TANH_Q, '(local.get $c2)', 'f32x4.mul', 'f32x4.add', splat)}))
        (local.set $r (v128.bitselect (local.get $v) (local.get $r) (f32x4.lt (f32x4.abs (local.get $v)) ${splat('0.0004')})))
        (local.set $r (v128.bitselect
          (v128.or (v128.and (local.get $v) ${splat('-0.0')}) ${splat('1.0')})
          (local.get $r)
          (f32x4.gt (f32x4.abs (local.get $v)) ${splat('9.0')})))
        (v128.store (local.get $out) (local.get $r))`,
  scalarBody: `(local.set $s (f32.load (local.get $x)))
        (local.set $t (f32.max (f32.min (local.get $s) (f32.const 7.90531110763549805)) (f32.const -7.90531110763549805)))
        (local.set $t2 (f32.mul (local.get $t) (local.get $t)))
        (local.set $sr (f32.div
          (f32.mul (local.get $t) ${horner(TANH_P, '(local.get $t2)', 'f32.mul', 'f32.add', (c) => `(f32.const ${c})`)})
          ${horner(TANH_Q, '(local.get $t2)', 'f32.mul', 'f32.add', (c) => `(f32.const ${c})`)}))
        (if (f32.lt (f32.abs (local.get $s)) (f32.const 0.0004)) (then (local.set $sr (local.get $s))))
        (if (f32.gt (f32.abs (local.get $s)) (f32.const 9.0)) (then (local.set $sr (f32.copysign (f32.const 1.0) (local.get $s)))))
        (f32.store (local.get $out) (local.get $sr))`,
});

/** The module's text. It imports TF.js's memory as env.memory and exports the kernels above. */
export function kernelsWat(): string {
  return `(module
  (import "env" "memory" (memory 1))${[...comparisonKernels, ...extremumKernels, selectKernel, fillKernel, axpyKernel, tanhKernel].join('\n')}
)
`;
}
