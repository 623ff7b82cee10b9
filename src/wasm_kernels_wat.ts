// The source of gradus's own wasm SIMD kernels, as WebAssembly text: elementwise kernels (clamp included), threefry random bits, a GEMM and
// a transpose (the reasons for the last two are with them, below). TF.js's wasm backend runs
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

/** An operand of a 16-a-pass loop: its byte pointer, and (if it may be a single value) its flag and the register holding it splatted. */
interface BlockOperand { pointer: string; flag?: string; register?: string }

/**
 * The 16-elements-a-pass loops every unrolled kernel shares: one loop per operand layout in
 * `layouts` (a 0/1 per flagged operand: 1 = that operand is a single value, read from its register),
 * each specialized so no flag is tested per vector, offsets folded into the loads and stores. They
 * run up to n rounded down to 16 and leave $i, the pointers and $out where the kernel's four-lane
 * loop finishes the rest. `block` gets each operand's vector of group g (0–3) and returns the stores
 * of the 16 elements at $out; `lead` is a pointer (select's condition bytes) that advances
 * `leadStep` bytes per element. The kernel declares $n16.
 */
function blockLoops(k: { operands: BlockOperand[]; layouts: readonly (readonly number[])[]; lead?: string; leadStep?: number; outBytes: 1 | 4; block: (vectors: ((g: number) => string)[]) => string }): string {
  if (k.layouts.length === 0) return '';
  const flagged = k.operands.filter((o) => o.flag !== undefined);
  return `
    (local.set $n16 (i32.and (local.get $n) (i32.const -16)))${k.layouts.map((layout) => {
    const single = (o: BlockOperand) => o.flag !== undefined && layout[flagged.indexOf(o)] === 1;
    const vectors = k.operands.map((o) => (g: number) => (single(o) ? `(local.get $${o.register})` : `(v128.load offset=${16 * g} (local.get $${o.pointer}))`));
    const name = `$u${layout.join('')}`;
    const test = flagged.map((o, i) => `(i32.eq (local.get $${o.flag}) (i32.const ${layout[i]}))`).reduce((a, b) => `(i32.and ${a} ${b})`);
    const advances = [
      ...(k.lead ? [advanceBy(k.lead, `(i32.const ${16 * k.leadStep!})`)] : []),
      ...k.operands.filter((o) => !single(o)).map((o) => advanceBy(o.pointer, '(i32.const 64)')),
      advanceBy('out', `(i32.const ${16 * k.outBytes})`),
    ];
    return `
    (if ${test} (then
      (block ${name}done
        (loop ${name}
          (br_if ${name}done (i32.ge_u (local.get $i) (local.get $n16)))
          ${k.block(vectors)}
          ${advances.join('\n          ')}
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br ${name})))))`;
  }).join('')}`;
}

/**
 * A kernel over operands a and b, either of which may be a single value (a flag per operand: it
 * is read once, splatted, never advanced). `lead` is an extra leading byte-pointer parameter ($c
 * for select) that advances `leadStep` bytes per element.
 *
 * With `block16` (and `unroll`), the prologue first runs 16 elements a pass (blockLoops: one loop
 * per layout, both full-size, a single, b single); the shared loop below finishes the last
 * n mod 16. (Two single values need no unrolled loop: every element is the same.) The shared loop's bookkeeping (two flag tests and four pointer updates per four
 * elements) made these kernels 3–5× slower per element than TF.js's XNNPACK add. `block16` gets the
 * vector operands of group g (0–3) and returns the stores of the 16 elements at $out.
 */
function twoOperandKernel(k: {
  name: string; lead?: string; leadStep?: number; outBytes: 1 | 4; vectorBody: string; scalarBody: string; locals?: string;
  block16?: (va: (g: number) => string, vb: (g: number) => string) => string; unroll?: boolean;
}): string {
  const lead = k.lead ? [k.lead] : [];
  const block16 = k.unroll === false ? undefined : k.block16;
  const unrolled = block16 === undefined ? '' : blockLoops({
    operands: [{ pointer: 'a', flag: 'aOne', register: 'va' }, { pointer: 'b', flag: 'bOne', register: 'vb' }],
    layouts: [[0, 0], [1, 0], [0, 1]],
    ...(k.lead === undefined ? {} : { lead: k.lead, leadStep: k.leadStep! }),
    outBytes: k.outBytes,
    block: ([va, vb]) => block16(va!, vb!),
  });
  return loopKernel({
    name: k.name,
    params: `${lead.map((p) => `(param $${p} i32) `).join('')}(param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $aOne i32) (param $bOne i32)`,
    locals: ` (local $da i32) (local $db i32) (local $va v128) (local $vb v128) (local $m v128)${block16 === undefined ? '' : ' (local $n16 i32)'}${k.locals ?? ''}`,
    prologue: `(local.set $da (select (i32.const 0) (i32.const 16) (local.get $aOne)))
    (local.set $db (select (i32.const 0) (i32.const 16) (local.get $bOne)))
    (local.set $va (v128.load32_splat (local.get $a)))
    (local.set $vb (v128.load32_splat (local.get $b)))${unrolled}`,
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

const groups = [0, 1, 2, 3];
const ONE_BYTES = '(v128.const i32x4 0x01010101 0x01010101 0x01010101 0x01010101)';

function binaryKernel(k: BinaryKernel, unroll: boolean): string {
  const op = (va: string, vb: string) => k.vector.replace('(local.get $va)', va).replace('(local.get $vb)', vb);
  return twoOperandKernel({
    name: k.name,
    outBytes: k.outBytes,
    locals: ' (local $sa f32) (local $sb f32)',
    vectorBody: k.outBytes === 1 ? `(local.set $m ${k.vector})${storeMaskBytes}` : `(v128.store (local.get $out) ${k.vector})`,
    scalarBody: `(local.set $sa (f32.load (local.get $a)))
        (local.set $sb (f32.load (local.get $b)))
        ${k.outBytes === 1 ? `(i32.store8 (local.get $out) ${k.scalar})` : `(f32.store (local.get $out) ${k.scalar})`}`,
    // 16 results: four vectors of float32, or four masks narrowed (with signed saturation: −1
    // stays −1, 0 stays 0) to sixteen bytes, then 1/0, in one store
    block16: (va, vb) => (k.outBytes === 4
      ? groups.map((g) => `(v128.store offset=${16 * g} (local.get $out) ${op(va(g), vb(g))})`).join('\n          ')
      : `(v128.store (local.get $out) (v128.and ${ONE_BYTES} (i8x16.narrow_i16x8_s
            (i16x8.narrow_i32x4_s ${op(va(0), vb(0))} ${op(va(1), vb(1))})
            (i16x8.narrow_i32x4_s ${op(va(2), vb(2))} ${op(va(3), vb(3))}))))`),
    unroll,
  });
}

const comparisonKernels = (unroll: boolean) => COMPARISONS.map((op) => binaryKernel({
  name: `cmp_${op}_f32`,
  outBytes: 1,
  vector: `(f32x4.${op} (local.get $va) (local.get $vb))`,
  scalar: `(f32.${op} (local.get $sa) (local.get $sb))`,
}, unroll));

const extremumKernels = (unroll: boolean) => EXTREMA.map((op) => binaryKernel({
  name: `${op}_f32`,
  outBytes: 4,
  vector: `(f32x4.${op} (local.get $va) (local.get $vb))`,
  scalar: `(f32.${op} (local.get $sa) (local.get $sb))`,
}, unroll));

/** Dtypes of the clamp kernel: float32 (NaN propagates) and int32 (signed). */
export const CLAMP_DTYPES = ['f32', 'i32'] as const;
export type WasmClampDtype = (typeof CLAMP_DTYPES)[number];

// out[i] = min(max(x[i], lo[i]), hi[i]) (lax.clamp, np.clip) in one pass: lo and hi may each be a
// single value (a flag each: read once and splatted), x is full-size. float32 runs the very
// instructions and operand order of the max kernel then the min kernel (f32x4.max(x, lo), then
// f32x4.min(·, hi); f32.max/min in the tail), so NaN propagates with the same bits and the zeros'
// signs are max-then-min's: max(−0, +0) = +0, then min(+0, −0) = −0; lo > hi gives hi. int32 uses
// the signed lane extrema (the scalar tail selects).
/**
 * clamp_f32 with two single bounds, neither NaN (np.clip(x, -1, 1)), 16 elements a pass. f32x4.max
 * and min cost ~8 instructions each on x64 (V8 runs maxps/minps both ways and merges them, for
 * NaN propagation and max(−0, +0) = +0), where i32x4.max_s is one: this loop was ~3× slower than
 * clamp_i32's. Here each block of 16 without a NaN takes f32x4.pmax and pmin (one instruction each:
 * pmax(a, b) = a < b ? b : a, pmin(a, b) = b < a ? b : a), whose results are max's and min's bits
 * for operands that are not NaN: the larger (smaller) operand, or on a tie either (the same bits)
 * but for ±0, where the operand order picks max's +0 and min's −0: pmax(lo, x) when lo is +0, else
 * pmax(x, lo); pmin(hi, y) when hi is −0, else pmin(y, hi). A block holding a NaN runs max and min
 * themselves (their NaN bits). The layout loops below then find nothing left before n mod 16.
 * Measured on 262144 elements: 119 → 43 µs (clamp_i32: 33); with a NaN in one element of 50,
 * 118 → 70; with one in every block of 16, the worst case, 119 → 130 (the NaN test is wasted).
 */
const singleBoundsF32 = `
    (if (i32.and (i32.and (local.get $loOne) (local.get $hiOne))
                 (i32.and (f32.eq (f32.load (local.get $lo)) (f32.load (local.get $lo))) (f32.eq (f32.load (local.get $hi)) (f32.load (local.get $hi))))) (then
      (local.set $n16 (i32.and (local.get $n) (i32.const -16)))${[[1, 1], [1, 0], [0, 1], [0, 0]].map(([loPlusZero, hiMinusZero]) => {
  const name = `$f${loPlusZero}${hiMinusZero}`;
  const pmax = (x: string) => (loPlusZero ? `(f32x4.pmax (local.get $vlo) ${x})` : `(f32x4.pmax ${x} (local.get $vlo))`);
  const pmin = (y: string) => (hiMinusZero ? `(f32x4.pmin (local.get $vhi) ${y})` : `(f32x4.pmin ${y} (local.get $vhi))`);
  return `
      (if (i32.and (i32.eq (i32.eq (i32.load (local.get $lo)) (i32.const 0)) (i32.const ${loPlusZero}))
                   (i32.eq (i32.eq (i32.load (local.get $hi)) (i32.const 0x80000000)) (i32.const ${hiMinusZero}))) (then
        (block ${name}done
          (loop ${name}
            (br_if ${name}done (i32.ge_u (local.get $i) (local.get $n16)))
            ${groups.map((g) => `(local.set $x${g} (v128.load offset=${16 * g} (local.get $x)))`).join('\n            ')}
            (if (v128.any_true (v128.or (v128.or (f32x4.ne (local.get $x0) (local.get $x0)) (f32x4.ne (local.get $x1) (local.get $x1)))
                                        (v128.or (f32x4.ne (local.get $x2) (local.get $x2)) (f32x4.ne (local.get $x3) (local.get $x3)))))
              (then
              ${groups.map((g) => `(v128.store offset=${16 * g} (local.get $out) (f32x4.min (f32x4.max (local.get $x${g}) (local.get $vlo)) (local.get $vhi)))`).join('\n              ')})
              (else
              ${groups.map((g) => `(v128.store offset=${16 * g} (local.get $out) ${pmin(pmax(`(local.get $x${g})`))})`).join('\n              ')}))
            (local.set $x (i32.add (local.get $x) (i32.const 64)))
            (local.set $out (i32.add (local.get $out) (i32.const 64)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br ${name})))))`;
}).join('')}))`;

const clampKernels = (unroll: boolean) => CLAMP_DTYPES.map((t) => {
  const v = t === 'f32' ? { max: 'f32x4.max', min: 'f32x4.min' } : { max: 'i32x4.max_s', min: 'i32x4.min_s' };
  const scalar = t === 'f32'
    ? '(f32.min (f32.max (local.get $sx) (local.get $slo)) (local.get $shi))'
    : `(local.set $sx (select (local.get $sx) (local.get $slo) (i32.gt_s (local.get $sx) (local.get $slo))))
        (select (local.get $sx) (local.get $shi) (i32.lt_s (local.get $sx) (local.get $shi)))`;
  return loopKernel({
    name: `clamp_${t}`,
    params: '(param $lo i32) (param $x i32) (param $hi i32) (param $out i32) (param $n i32) (param $loOne i32) (param $hiOne i32)',
    locals: ` (local $n16 i32) (local $dlo i32) (local $dhi i32) (local $vlo v128) (local $vhi v128) (local $slo ${t}) (local $shi ${t}) (local $sx ${t})${t === 'f32' && unroll ? ' (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)' : ''}`,
    // 16 elements a pass first, in a loop per bounds layout (both full-size, lo single, hi single,
    // both single: np.clip(x, -1, 1), the bounds in registers); the four-lane loop finishes. (Its
    // bookkeeping, ~15 instructions per 4 elements, made two single bounds 3× slower than TF.js's
    // own clamp; the other layouts gain 1.2–2.6×.) The same instructions in the same order.
    prologue: `(local.set $dlo (select (i32.const 0) (i32.const 16) (local.get $loOne)))
    (local.set $dhi (select (i32.const 0) (i32.const 16) (local.get $hiOne)))
    (local.set $vlo (v128.load32_splat (local.get $lo)))
    (local.set $vhi (v128.load32_splat (local.get $hi)))${t === 'f32' && unroll ? singleBoundsF32 : ''}${blockLoops({
      operands: [{ pointer: 'lo', flag: 'loOne', register: 'vlo' }, { pointer: 'x' }, { pointer: 'hi', flag: 'hiOne', register: 'vhi' }],
      layouts: unroll ? [[0, 0], [1, 0], [0, 1], [1, 1]] : [],
      outBytes: 4,
      block: ([lo, x, hi]) => groups.map((g) => `(v128.store offset=${16 * g} (local.get $out) (${v.min} (${v.max} ${x!(g)} ${lo!(g)}) ${hi!(g)}))`).join('\n          '),
    })}`,
    vectorBody: `(if (i32.eqz (local.get $loOne)) (then (local.set $vlo (v128.load (local.get $lo)))))
        (if (i32.eqz (local.get $hiOne)) (then (local.set $vhi (v128.load (local.get $hi)))))
        (v128.store (local.get $out) (${v.min} (${v.max} (v128.load (local.get $x)) (local.get $vlo)) (local.get $vhi)))`,
    scalarBody: `(local.set $slo (${t}.load (local.get $lo)))
        (local.set $shi (${t}.load (local.get $hi)))
        (local.set $sx (${t}.load (local.get $x)))
        (${t}.store (local.get $out) ${scalar})`,
    vectorAdvance: [advanceBy('lo', '(local.get $dlo)'), advanceBy('x', '(i32.const 16)'), advanceBy('hi', '(local.get $dhi)'), advanceBy('out', '(i32.const 16)')],
    scalarAdvance: [
      advanceBy('lo', '(select (i32.const 0) (i32.const 4) (local.get $loOne))'),
      advanceBy('x', '(i32.const 4)'),
      advanceBy('hi', '(select (i32.const 0) (i32.const 4) (local.get $hiOne))'),
      advanceBy('out', '(i32.const 4)'),
    ],
  });
});

// out[i] = c[i] ? a[i] : b[i], with c bytes (TF.js bool) and a, b float32 (either may be a single value).
// (16 condition bytes at a time: byte masks 0xff/0 from one compare, sign-extended to four
// 32-bit lane masks, the very masks the four-lane loop makes)
const selectMasks = [
  'i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s', 'i32x4.extend_high_i16x8_s (i16x8.extend_low_i8x16_s',
  'i32x4.extend_low_i16x8_s (i16x8.extend_high_i8x16_s', 'i32x4.extend_high_i16x8_s (i16x8.extend_high_i8x16_s',
];
const selectKernel = (unroll: boolean) => twoOperandKernel({
  name: 'select_f32',
  lead: 'c',
  leadStep: 1,
  outBytes: 4,
  locals: unroll ? ' (local $cm v128)' : '',
  // four condition bytes, widened to four 32-bit lanes, then to all-ones/zero masks
  vectorBody: `(local.set $m (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (i32x4.splat (i32.load (local.get $c))))))
        (local.set $m (i32x4.ne (local.get $m) (v128.const i32x4 0 0 0 0)))
        (v128.store (local.get $out) (v128.bitselect (local.get $va) (local.get $vb) (local.get $m)))`,
  scalarBody: '(f32.store (local.get $out) (select (f32.load (local.get $a)) (f32.load (local.get $b)) (i32.load8_u (local.get $c))))',
  block16: (va, vb) => `(local.set $cm (i8x16.ne (v128.load (local.get $c)) (v128.const i32x4 0 0 0 0)))
          ${groups.map((g) => `(v128.store offset=${16 * g} (local.get $out) (v128.bitselect ${va(g)} ${vb(g)} (${selectMasks[g]} (local.get $cm)))))`).join('\n          ')}`,
  unroll,
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

// exp by range reduction (Cephes' expf): n = round(x·log₂e), r = x − n·ln2 in two parts (hi exact
// in float32), exp(r) by a degree-7 polynomial, times 2ⁿ built from the exponent bits in two halves
// (so results down in the subnormals round once, and 2ⁿ never leaves float32's normal range). +∞
// above 88.7228394 (where expf overflows), 0 far below; NaN for NaN (min/max keep it). TF.js's wasm
// Exp calls libm element by element (~9 ns an element); this is the softmax/logsumexp bottleneck.
const EXP_P = ['1.9875691500e-4', '1.3981999507e-3', '8.3334519073e-3', '4.1665795894e-2', '1.6666665459e-1', '5.0000001201e-1'];
const EXP_OVERFLOW = '88.72283935546875';
/** 2^k for an integer vector k in [−126, 127]: the exponent bits. */
const pow2Vector = (k: string) => `(i32x4.shl (i32x4.add ${k} (v128.const i32x4 127 127 127 127)) (i32.const 23))`;
const pow2Scalar = (k: string) => `(f32.reinterpret_i32 (i32.shl (i32.add ${k} (i32.const 127)) (i32.const 23)))`;
const expKernel = denseKernel({
  name: 'exp_f32',
  params: '(param $x i32) (param $out i32) (param $n i32)',
  locals: ' (local $v v128) (local $c v128) (local $k v128) (local $r v128) (local $y v128) (local $ki v128) (local $kh v128)' +
    ' (local $s f32) (local $sc f32) (local $sk f32) (local $sr f32) (local $sy f32) (local $ski i32) (local $skh i32)',
  prologue: '',
  pointers: ['x', 'out'],
  vectorBody: `(local.set $v (v128.load (local.get $x)))
        (local.set $c (f32x4.max (f32x4.min (local.get $v) ${splat('89.0')}) ${splat('-104.0')}))
        (local.set $k (f32x4.nearest (f32x4.mul (local.get $c) ${splat('1.44269504088896341')})))
        (local.set $r (f32x4.sub (f32x4.sub (local.get $c) (f32x4.mul (local.get $k) ${splat('0.693359375')})) (f32x4.mul (local.get $k) ${splat('-2.12194440e-4')})))
        (local.set $y (f32x4.add (f32x4.add
          (f32x4.mul ${horner(EXP_P, '(local.get $r)', 'f32x4.mul', 'f32x4.add', splat)} (f32x4.mul (local.get $r) (local.get $r)))
          (local.get $r)) ${splat('1.0')}))
        (local.set $ki (i32x4.trunc_sat_f32x4_s (local.get $k)))
        (local.set $kh (i32x4.shr_s (local.get $ki) (i32.const 1)))
        (local.set $y (f32x4.mul (f32x4.mul (local.get $y) ${pow2Vector('(local.get $kh)')}) ${pow2Vector('(i32x4.sub (local.get $ki) (local.get $kh))')}))
        (local.set $y (v128.bitselect ${splat('inf')} (local.get $y) (f32x4.gt (local.get $v) ${splat(EXP_OVERFLOW)})))
        (v128.store (local.get $out) (local.get $y))`,
  scalarBody: `(local.set $s (f32.load (local.get $x)))
        (local.set $sc (f32.max (f32.min (local.get $s) (f32.const 89.0)) (f32.const -104.0)))
        (local.set $sk (f32.nearest (f32.mul (local.get $sc) (f32.const 1.44269504088896341))))
        (local.set $sr (f32.sub (f32.sub (local.get $sc) (f32.mul (local.get $sk) (f32.const 0.693359375))) (f32.mul (local.get $sk) (f32.const -2.12194440e-4))))
        (local.set $sy (f32.add (f32.add
          (f32.mul ${horner(EXP_P, '(local.get $sr)', 'f32.mul', 'f32.add', (c) => `(f32.const ${c})`)} (f32.mul (local.get $sr) (local.get $sr)))
          (local.get $sr)) (f32.const 1.0)))
        (local.set $ski (i32.trunc_sat_f32_s (local.get $sk)))
        (local.set $skh (i32.shr_s (local.get $ski) (i32.const 1)))
        (local.set $sy (f32.mul (f32.mul (local.get $sy) ${pow2Scalar('(local.get $skh)')}) ${pow2Scalar('(i32.sub (local.get $ski) (local.get $skh))')}))
        (if (f32.gt (local.get $s) (f32.const ${EXP_OVERFLOW})) (then (local.set $sy (f32.const inf))))
        (f32.store (local.get $out) (local.get $sy))`,
});

// Threefry-2x32 random bits (src/random/threefry.ts is the reference, bit for bit): for each of n
// keys (int32 pairs at $keys), `count` words y0 ^ y1 of the blocks at counters (0, i), four
// counters at a time; with $uniform, each word becomes the float32 (bits >>> 9)·2⁻²³ in [0, 1)
// (the mantissa trick: bits >>> 9 | 0x3f800000 is in [1, 2)). The JS reference takes ~50 ms for a
// million words; keys are read in place, so nothing is read back to the host either.
const THREEFRY_ROTATIONS = [[13, 15, 26, 6], [17, 29, 16, 24]];
function threefryRounds(rotations: number[], vector: boolean): string {
  // (Vector shifts take a scalar i32 count too.)
  const [add, shl, shr, or, xor] = vector ? ['i32x4.add', 'i32x4.shl', 'i32x4.shr_u', 'v128.or', 'v128.xor'] : ['i32.add', 'i32.shl', 'i32.shr_u', 'i32.or', 'i32.xor'];
  return rotations.map((r) => `(local.set $x0 (${add} (local.get $x0) (local.get $x1)))
        (local.set $x1 (${xor} (${or} (${shl} (local.get $x1) (i32.const ${r})) (${shr} (local.get $x1) (i32.const ${32 - r}))) (local.get $x0)))`).join('\n        ');
}
/** The key injection after round group `g` (1-based): x0 += ks[g mod 3], x1 += ks[(g + 1) mod 3] + g. */
function threefryInjection(g: number, vector: boolean): string {
  const ks = ['$k0', '$k1', '$k2'];
  const [add, konst] = vector ? ['i32x4.add', (c: number) => `(v128.const i32x4 ${c} ${c} ${c} ${c})`] : ['i32.add', (c: number) => `(i32.const ${c})`];
  const key = (j: number) => (vector ? `(local.get ${ks[j]!}v)` : `(local.get ${ks[j]!})`);
  return `(local.set $x0 (${add} (local.get $x0) ${key(g % 3)}))
        (local.set $x1 (${add} (${add} (local.get $x1) ${key((g + 1) % 3)}) ${konst(g)}))`;
}
function threefryBlockText(vector: boolean): string {
  const parts: string[] = [];
  for (let g = 0; g < 5; g++) {
    parts.push(threefryRounds(THREEFRY_ROTATIONS[g % 2]!, vector));
    parts.push(threefryInjection(g + 1, vector));
  }
  return parts.join('\n        ');
}
const threefryKernel = `
  (func (export "threefry_bits") (param $keys i32) (param $nkeys i32) (param $count i32) (param $out i32) (param $uniform i32)
    (local $k i32) (local $i i32) (local $c4 i32) (local $k0 i32) (local $k1 i32) (local $k2 i32)
    (local $k0v v128) (local $k1v v128) (local $k2v v128) (local $ctr v128) (local $y v128) (local $sy i32)
    (local $x0 v128) (local $x1 v128) (local $s0 i32) (local $s1 i32)
    (local.set $c4 (i32.and (local.get $count) (i32.const -4)))
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $nkeys)))
        (local.set $k0 (i32.load (local.get $keys)))
        (local.set $k1 (i32.load offset=4 (local.get $keys)))
        (local.set $k2 (i32.xor (i32.xor (local.get $k0) (local.get $k1)) (i32.const 0x1bd11bda)))
        (local.set $k0v (i32x4.splat (local.get $k0)))
        (local.set $k1v (i32x4.splat (local.get $k1)))
        (local.set $k2v (i32x4.splat (local.get $k2)))
        (local.set $ctr (v128.const i32x4 0 1 2 3))
        (local.set $i (i32.const 0))
        (block $vdone
          (loop $vloop
            (br_if $vdone (i32.ge_u (local.get $i) (local.get $c4)))
            (local.set $x0 (local.get $k0v))
            (local.set $x1 (i32x4.add (local.get $ctr) (local.get $k1v)))
        ${threefryBlockText(true)}
            (local.set $y (v128.xor (local.get $x0) (local.get $x1)))
            (if (local.get $uniform) (then
              (local.set $y (f32x4.sub (v128.or (i32x4.shr_u (local.get $y) (i32.const 9)) (v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000)) (v128.const f32x4 1 1 1 1)))))
            (v128.store (local.get $out) (local.get $y))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (local.set $ctr (i32x4.add (local.get $ctr) (v128.const i32x4 4 4 4 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $vloop)))
        (block $sdone
          (loop $sloop
            (br_if $sdone (i32.ge_u (local.get $i) (local.get $count)))
            (local.set $s0 (local.get $k0))
            (local.set $s1 (i32.add (local.get $i) (local.get $k1)))
        ${threefryBlockText(false).replace(/\$x0/g, '$s0').replace(/\$x1/g, '$s1')}
            (local.set $sy (i32.xor (local.get $s0) (local.get $s1)))
            (if (local.get $uniform) (then
              (f32.store (local.get $out) (f32.sub (f32.reinterpret_i32 (i32.or (i32.shr_u (local.get $sy) (i32.const 9)) (i32.const 0x3f800000))) (f32.const 1))))
              (else (i32.store (local.get $out) (local.get $sy))))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $sloop)))
        (local.set $keys (i32.add (local.get $keys) (i32.const 8)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kloop))))`;

// ---- Matrix products -------------------------------------------------------------------------
// TF.js's wasm matmul hands XNNPACK a weight matrix to pack (a transposing copy) on every call with
// a right operand it has not seen, and runs transposed operands through a naive loop 13–25× slower,
// so an autodiff backward pass (fresh cotangents, transposed operands everywhere) pays for packs
// and explicit transposes around every product. This GEMM reads both operands in place:
//   C(i, j) = Σₖ A(i, k)·B(k, j),  A(i, k) at a + i·sai + k·sak (any layout: A or Aᵀ stored),
//   B(k, j) at b + k·ldb + 4j (rows of B contiguous),  C(i, j) at c + i·ldc + 4j,
// in register tiles of 4 rows × 8 columns: per k, four A values splatted and two B vectors loaded,
// sixteen lanes-wide multiply-adds. k runs in blocks of `kc` so that a block of B's columns stays in
// L1 while A's rows stream; C accumulates across blocks. Edges: tiles of 1 row, 4 columns, and
// single columns (scalar). Measured on this project's 2-core Xeon (V8 in Node 20): 0.8× XNNPACK's
// time for 128×784·784×512 and 128×512·512×512 even with its packed B cached, and no pack at all.

/** Byte strides and pointers every tile function takes. */
const TILE_PARAMS = '(param $pa i32) (param $pb i32) (param $pc i32) (param $kn i32) (param $sai i32) (param $sak i32) (param $ldb i32) (param $ldc i32) (param $first i32) (param $bias i32) (param $relu i32)';

/**
 * A tile of `rows` × 4·`vectors` columns (vectors ≥ 1), or of `rows` × 1 column in scalar f32
 * (vectors = 0). Accumulators start at 0 for the first k block, else at C's current values. After
 * the last k block, the epilogue adds the bias (at $bias, the tile's first column; 0: none) and
 * applies relu as max(z, 0) when $relu: NaN stays NaN and −0 becomes +0, as np.relu; the sum is
 * rounded before the bias is added, so the values are those of the separate kernels.
 */
function gemmTile(rows: number, vectors: number): string {
  const scalar = vectors === 0;
  const cols = scalar ? 1 : vectors;
  const type = scalar ? 'f32' : 'v128';
  const acc = (r: number, c: number) => `$c${r}_${c}`;
  const rowOffset = (r: number, stride: string) => (r === 0 ? '' : `(local.get $${stride}${r})`);
  const at = (base: string, r: number, stride: string) => (r === 0 ? `(local.get $${base})` : `(i32.add (local.get $${base}) ${rowOffset(r, stride)})`);
  const locals: string[] = [];
  for (let r = 1; r < rows; r++) locals.push(`(local $ar${r} i32) (local $cr${r} i32)`);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) locals.push(`(local ${acc(r, c)} ${type})`);
  for (let c = 0; c < cols; c++) locals.push(`(local $b${c} ${type})`);
  locals.push(`(local $a ${type})`);
  const setup: string[] = [];
  for (let r = 1; r < rows; r++) setup.push(`(local.set $ar${r} (i32.mul (local.get $sai) (i32.const ${r})))`, `(local.set $cr${r} (i32.mul (local.get $ldc) (i32.const ${r})))`);
  const load = scalar ? 'f32.load' : 'v128.load';
  const zero = scalar ? '(f32.const 0)' : '(v128.const i32x4 0 0 0 0)';
  const init: string[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) init.push(`(local.set ${acc(r, c)} (select ${zero} (${load} offset=${16 * c} ${at('pc', r, 'cr')}) (local.get $first)))`);
  const body: string[] = [];
  for (let c = 0; c < cols; c++) body.push(`(local.set $b${c} (${load} offset=${16 * c} (local.get $pb)))`);
  for (let r = 0; r < rows; r++) {
    body.push(`(local.set $a (${scalar ? 'f32.load' : 'v128.load32_splat'} ${at('pa', r, 'ar')}))`);
    for (let c = 0; c < cols; c++) body.push(scalar
      ? `(local.set ${acc(r, c)} (f32.add (local.get ${acc(r, c)}) (f32.mul (local.get $a) (local.get $b${c}))))`
      : `(local.set ${acc(r, c)} (f32x4.add (local.get ${acc(r, c)}) (f32x4.mul (local.get $a) (local.get $b${c}))))`);
  }
  const addBias: string[] = [], relu: string[] = [];
  for (let c = 0; c < cols; c++) addBias.push(`(local.set $b${c} (${load} offset=${16 * c} (local.get $bias)))`);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    addBias.push(`(local.set ${acc(r, c)} (${scalar ? 'f32.add' : 'f32x4.add'} (local.get ${acc(r, c)}) (local.get $b${c})))`);
    relu.push(`(local.set ${acc(r, c)} (${scalar ? 'f32.max' : 'f32x4.max'} (local.get ${acc(r, c)}) ${zero}))`);
  }
  const store: string[] = [
    `(if (local.get $bias) (then
      ${addBias.join('\n      ')}))`,
    `(if (local.get $relu) (then
      ${relu.join('\n      ')}))`,
  ];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) store.push(`(${scalar ? 'f32.store' : 'v128.store'} offset=${16 * c} ${at('pc', r, 'cr')} (local.get ${acc(r, c)}))`);
  return `
  (func $tile_${rows}x${scalar ? 1 : 4 * vectors} ${TILE_PARAMS}
    ${locals.join(' ')}
    ${setup.join('\n    ')}
    ${init.join('\n    ')}
    (loop $k
      ${body.join('\n      ')}
      (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
      (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
      (local.set $kn (i32.sub (local.get $kn) (i32.const 1)))
      (br_if $k (local.get $kn)))
    ${store.join('\n    ')})`;
}

/** Copies the kn × 8 panel of B at `src` (rows $ldb bytes apart) to `dst`, contiguous. */
const packPanel = (src: string, dst: string) => `(local.set $src ${src})
              (local.set $dst ${dst})
              (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $kn) (i32.const 5))))
              (loop $copy
                (v128.store (local.get $dst) (v128.load (local.get $src)))
                (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $src)))
                (local.set $src (i32.add (local.get $src) (local.get $ldb)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (br_if $copy (i32.lt_u (local.get $dst) (local.get $end))))`;

/** Column panels of `width` (8, 4 or 1) starting at $j while they fit: 4-row tiles, then single rows. */
function gemmPanels(width: number): string {
  const packed = width === 8;
  const call = (rows: number) => `(call $tile_${rows}x${width}
              (i32.add (local.get $pa0) (i32.mul (local.get $i) (local.get $sai)))
              (local.get $bp)
              (i32.add (local.get $pc0) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2))))
              (local.get $kn) (local.get $sai) (local.get $sak) (local.get $bstride) (local.get $ldc) (local.get $first)
              (select (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (i32.const 0) (i32.and (local.get $last) (i32.ne (local.get $bias) (i32.const 0))))
              (i32.and (local.get $last) (local.get $relu)))`;
  // The panel's kn × 8 block of B is read from scratch, where the k block's panels were packed one
  // after another, when $pack is not 0: B's rows are often 2 KiB apart (N = 512), which maps every
  // row of a panel to the same few L1 sets. (With a single tile of rows the copy would cost as much
  // as the product, so the caller passes 0 then.)
  const operand = `
          (local.set $bp (i32.add (local.get $pb0) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $bstride (local.get $ldb))`;
  const pack = `${operand}
          (if (local.get $pack) (then
            (local.set $bp (i32.add (local.get $pack) (i32.mul (i32.shl (local.get $j) (i32.const 2)) (local.get $kn))))
            (local.set $bstride (i32.const 32))))`;
  return `
      (block $done${width}
        (loop $panels${width}
          (br_if $done${width} (i32.gt_u (i32.add (local.get $j) (i32.const ${width})) (local.get $N)))${packed ? pack : operand}
          (local.set $i (local.get $i0))
          (block $rows4 (loop $tiles4
            (br_if $rows4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $iend)))
            ${call(4)}
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $tiles4)))
          (block $rows1 (loop $tiles1
            (br_if $rows1 (i32.ge_u (local.get $i) (local.get $iend)))
            ${call(1)}
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tiles1)))
          (local.set $j (i32.add (local.get $j) (i32.const ${width})))
          ${width === 4 ? '' : `(br $panels${width})`}))`;
}

const gemmKernel = `${[gemmTile(4, 2), gemmTile(1, 2), gemmTile(4, 1), gemmTile(1, 1), gemmTile(4, 0), gemmTile(1, 0)].join('')}
  (func $gemm (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
      (param $sai i32) (param $sak i32) (param $ldb i32) (param $ldc i32) (param $kc i32) (param $mc i32) (param $pack i32) (param $bias i32) (param $relu i32)
    (local $last i32) (local $src i32) (local $dst i32) (local $end i32) (local $bp i32) (local $bstride i32) (local $k0 i32) (local $kn i32) (local $first i32) (local $i i32) (local $j i32) (local $pa0 i32) (local $pb0 i32) (local $pc0 i32) (local $i0 i32) (local $iend i32)
    (local.set $pc0 (local.get $c))
    (loop $kblocks
      (local.set $kn (i32.sub (local.get $K) (local.get $k0)))
      (if (i32.gt_u (local.get $kn) (local.get $kc)) (then (local.set $kn (local.get $kc))))
      (local.set $first (i32.eqz (local.get $k0)))
      (local.set $last (i32.ge_u (i32.add (local.get $k0) (local.get $kn)) (local.get $K)))
      (local.set $pa0 (i32.add (local.get $a) (i32.mul (local.get $k0) (local.get $sak))))
      (local.set $pb0 (i32.add (local.get $b) (i32.mul (local.get $k0) (local.get $ldb))))
      ;; the k block's 8-column panels packed once, one after another (the caller sizes N to fit);
      ;; (packed per block of rows instead, B was copied M / mc times: 2048·256·2048 took 127 ms, not 62)
      (if (local.get $pack) (then
        (local.set $j (i32.const 0))
        (block $packed (loop $panels
          (br_if $packed (i32.gt_u (i32.add (local.get $j) (i32.const 8)) (local.get $N)))
          ${packPanel('(i32.add (local.get $pb0) (i32.shl (local.get $j) (i32.const 2)))', '(i32.add (local.get $pack) (i32.mul (i32.shl (local.get $j) (i32.const 2)) (local.get $kn)))')}
          (local.set $j (i32.add (local.get $j) (i32.const 8)))
          (br $panels)))))
      (local.set $i0 (i32.const 0))
      (loop $iblocks
        (local.set $iend (i32.add (local.get $i0) (local.get $mc)))
        (if (i32.gt_u (local.get $iend) (local.get $M)) (then (local.set $iend (local.get $M))))
        (local.set $j (i32.const 0))${gemmPanels(8)}${gemmPanels(4)}${gemmPanels(1)}
        (local.set $i0 (local.get $iend))
        (br_if $iblocks (i32.lt_u (local.get $i0) (local.get $M))))
      (local.set $k0 (i32.add (local.get $k0) (local.get $kn)))
      (br_if $kblocks (i32.lt_u (local.get $k0) (local.get $K)))))`;

// The same product for fewer than 4 rows (a vector times a matrix, mostly): each row of C is built
// as Σₖ A(i, k)·B(k, :), streaming B's rows in order while C's row stays in L1. Walking B in
// 8-column panels instead touches a new cache line per k, twice per line: ~3× slower for 1×1024·1024².
const gemmRowsKernel = `
  (func $gemm_rows (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
      (param $sai i32) (param $sak i32) (param $ldb i32) (param $ldc i32) (param $bias i32) (param $relu i32)
    (local $i i32) (local $k i32) (local $j i32) (local $N4 i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $s v128) (local $sf f32) (local $z f32)
    (local.set $N4 (i32.and (local.get $N) (i32.const -4)))
    (block $rdone (loop $rows
      (br_if $rdone (i32.ge_u (local.get $i) (local.get $M)))
      (local.set $pc (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))))
      (local.set $j (i32.const 0))
      (block $zdone (loop $zs
        (br_if $zdone (i32.ge_u (local.get $j) (local.get $N)))
        (f32.store (i32.add (local.get $pc) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $zs)))
      (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sai))))
      (local.set $pb (local.get $b))
      (local.set $k (i32.const 0))
      (block $kdone (loop $ks
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $K)))
        (local.set $sf (f32.load (local.get $pa)))
        (local.set $s (f32x4.splat (local.get $sf)))
        (local.set $j (i32.const 0))${[['v128', '$s', 'f32x4', 4, '$N4'], ['f32', '$sf', 'f32', 1, '$N']].map(([type, s, op, step, end]) => {
          // C(i, j..) += s·B(k, j..): four columns at a time, then one at a time
          const at = (base: string) => `(i32.add (local.get ${base}) (i32.shl (local.get $j) (i32.const 2)))`;
          return `
        (block $done${step} (loop $cols${step}
          (br_if $done${step} (i32.ge_u (local.get $j) (local.get ${end})))
          (${type}.store ${at('$pc')} (${op}.add (${type}.load ${at('$pc')}) (${op}.mul (local.get ${s}) (${type}.load ${at('$pb')}))))
          (local.set $j (i32.add (local.get $j) (i32.const ${step})))
          (br $cols${step})))`;
        }).join('')}
        (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
        (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $ks)))
      ;; epilogue: + bias, relu (as the tiles' epilogue)
      (local.set $j (i32.const 0))
      (block $edone (loop $es
        (br_if $edone (i32.ge_u (local.get $j) (local.get $N)))
        (local.set $z (f32.load (i32.add (local.get $pc) (i32.shl (local.get $j) (i32.const 2)))))
        (if (local.get $bias) (then (local.set $z (f32.add (local.get $z) (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
        (if (local.get $relu) (then (local.set $z (f32.max (local.get $z) (f32.const 0)))))
        (f32.store (i32.add (local.get $pc) (i32.shl (local.get $j) (i32.const 2))) (local.get $z))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $es)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))`;

// C[q] = op(A[q])·B[q] (+ bias, relu) for q < batch: A[q] stored (M, K), or (K, M) when transA,
// B[q] (K, N), C[q] (M, N), each batch element right after the previous; the bias (N values, at
// $bias unless 0) is shared. Fewer than 4 rows go row by row; B's panels are packed when there is
// more than one tile of rows to reuse them.
const matmulKernel = `
  (func (export "matmul_f32") (param $a i32) (param $b i32) (param $c i32) (param $batch i32) (param $M i32) (param $K i32) (param $N i32)
      (param $transA i32) (param $kc i32) (param $mc i32) (param $pack i32) (param $packBytes i32) (param $bias i32) (param $relu i32)
    (local $sai i32) (local $sak i32) (local $ldb i32) (local $q i32) (local $nc i32) (local $j0 i32) (local $nb i32)
    (local.set $sai (select (i32.const 4) (i32.shl (local.get $K) (i32.const 2)) (local.get $transA)))
    (local.set $sak (select (i32.shl (local.get $M) (i32.const 2)) (i32.const 4) (local.get $transA)))
    (local.set $ldb (i32.shl (local.get $N) (i32.const 2)))
    (if (i32.le_u (local.get $M) (i32.const 4)) (then (local.set $pack (i32.const 0))))
    ;; columns in blocks of $nc, so that a k block of their panels fits the scratch (the caller
    ;; guarantees room for one panel)
    (local.set $nc (select
      (i32.and (i32.div_u (local.get $packBytes) (i32.shl (local.get $kc) (i32.const 2))) (i32.const -8))
      (local.get $N) (local.get $pack)))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $q) (local.get $batch)))
      (if (i32.lt_u (local.get $M) (i32.const 4))
        (then (call $gemm_rows (local.get $a) (local.get $b) (local.get $c) (local.get $M) (local.get $K) (local.get $N)
          (local.get $sai) (local.get $sak) (local.get $ldb) (local.get $ldb) (local.get $bias) (local.get $relu)))
        (else
          (local.set $j0 (i32.const 0))
          (loop $columnBlocks
            (local.set $nb (i32.sub (local.get $N) (local.get $j0)))
            (if (i32.gt_u (local.get $nb) (local.get $nc)) (then (local.set $nb (local.get $nc))))
            (call $gemm (local.get $a) (i32.add (local.get $b) (i32.shl (local.get $j0) (i32.const 2))) (i32.add (local.get $c) (i32.shl (local.get $j0) (i32.const 2)))
              (local.get $M) (local.get $K) (local.get $nb) (local.get $sai) (local.get $sak) (local.get $ldb) (local.get $ldb) (local.get $kc) (local.get $mc) (local.get $pack)
              (select (i32.add (local.get $bias) (i32.shl (local.get $j0) (i32.const 2))) (i32.const 0) (local.get $bias)) (local.get $relu))
            (local.set $j0 (i32.add (local.get $j0) (local.get $nb)))
            (br_if $columnBlocks (i32.lt_u (local.get $j0) (local.get $N))))))
      (local.set $a (i32.add (local.get $a) (i32.shl (i32.mul (local.get $M) (local.get $K)) (i32.const 2))))
      (local.set $b (i32.add (local.get $b) (i32.shl (i32.mul (local.get $K) (local.get $N)) (i32.const 2))))
      (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $M) (local.get $N)) (i32.const 2))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each))))`;

/** i8x16.shuffle byte indices that pick these 32-bit lanes (0–3 from the first operand, 4–7 from the second). */
const lanes = (...ls: number[]) => ls.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b)).join(' ');

// C = A·Bᵀ with A (M, K) and B (N, K) both stored along k (a backward pass's g·Wᵀ): each output is
// a dot product of two contiguous rows, so no operand is transposed or packed. Tiles of 4 rows × 2
// columns keep eight 4-lane partial sums over k (the last K mod 4 terms enter lane 0 alone), summed
// across lanes at the end.
function ntTile(rows: number, cols: number): string {
  const acc = (r: number, c: number) => `$s${r}_${c}`;
  const locals: string[] = [];
  for (let r = 0; r < rows; r++) locals.push(`(local $a${r} v128) (local $pa${r} i32)`);
  for (let c = 0; c < cols; c++) locals.push(`(local $b${c} v128) (local $pb${c} i32)`);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) locals.push(`(local ${acc(r, c)} v128)`);
  const pointers = [
    ...Array.from({ length: rows }, (_, r) => `(local.set $pa${r} (i32.add (local.get $pa) (i32.mul (local.get $lda) (i32.const ${r}))))`),
    ...Array.from({ length: cols }, (_, c) => `(local.set $pb${c} (i32.add (local.get $pb) (i32.mul (local.get $ldb) (i32.const ${c}))))`),
  ];
  const step = (load: string, advance: number) => [
    ...Array.from({ length: rows }, (_, r) => `(local.set $a${r} (${load} (local.get $pa${r})))`),
    ...Array.from({ length: cols }, (_, c) => `(local.set $b${c} (${load} (local.get $pb${c})))`),
    ...Array.from({ length: rows * cols }, (_, n) => {
      const [r, c] = [Math.floor(n / cols), n % cols];
      return `(local.set ${acc(r, c)} (f32x4.add (local.get ${acc(r, c)}) (f32x4.mul (local.get $a${r}) (local.get $b${c}))))`;
    }),
    ...Array.from({ length: rows }, (_, r) => `(local.set $pa${r} (i32.add (local.get $pa${r}) (i32.const ${advance})))`),
    ...Array.from({ length: cols }, (_, c) => `(local.set $pb${c} (i32.add (local.get $pb${c}) (i32.const ${advance})))`),
  ].join('\n        ');
  const hsum = (v: string) => `(f32x4.extract_lane 0 (f32x4.add (local.tee $t (f32x4.add ${v} (i8x16.shuffle ${lanes(2, 3, 0, 1)} ${v} ${v}))) (i8x16.shuffle ${lanes(1, 0, 3, 2)} (local.get $t) (local.get $t))))`;
  const stores: string[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    stores.push(`(f32.store offset=${4 * c} (i32.add (local.get $pc) (i32.mul (local.get $ldc) (i32.const ${r}))) ${hsum(`(local.get ${acc(r, c)})`)})`);
  }
  return `
  (func $nt_${rows}x${cols} (param $pa i32) (param $pb i32) (param $pc i32) (param $K i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (local $k i32) (local $K4 i32) (local $t v128) ${locals.join(' ')}
    ${pointers.join('\n    ')}
    (local.set $K4 (i32.and (local.get $K) (i32.const -4)))
    (block $vdone (loop $vk
      (br_if $vdone (i32.ge_u (local.get $k) (local.get $K4)))
        ${step('v128.load', 16)}
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (br $vk)))
    (block $sdone (loop $sk
      (br_if $sdone (i32.ge_u (local.get $k) (local.get $K)))
        ${step('v128.load32_zero', 4)}
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $sk)))
    ${stores.join('\n    ')})`;
}

/** The call of the tile of `rows` rows at ($i, $j): 2 columns where they fit, else the last one. */
const ntCalls = (rows: number) => {
  const call = (cols: number) => `(call $nt_${rows}x${cols} (local.get $pa) (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $lda)))
                (i32.add (local.get $pc) (i32.shl (local.get $j) (i32.const 2))) (local.get $K) (local.get $lda) (local.get $lda) (local.get $ldc))`;
  return `(if (i32.le_u (i32.add (local.get $j) (i32.const 2)) (local.get $N))
              (then ${call(2)})
              (else ${call(1)}))`;
};

const matmulNtKernel = `${[ntTile(4, 2), ntTile(4, 1), ntTile(1, 2), ntTile(1, 1)].join('')}
  (func (export "matmul_nt_f32") (param $a i32) (param $b i32) (param $c i32) (param $batch i32) (param $M i32) (param $K i32) (param $N i32)
    (local $q i32) (local $i i32) (local $j i32) (local $lda i32) (local $ldc i32) (local $pa i32) (local $pc i32)
    (local.set $lda (i32.shl (local.get $K) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $N) (i32.const 2)))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $q) (local.get $batch)))
      (local.set $i (i32.const 0))
      (block $rdone (loop $rows
        (br_if $rdone (i32.ge_u (local.get $i) (local.get $M)))
        (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $pc (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))))
        (local.set $j (i32.const 0))
        (block $cdone (loop $cols
          (br_if $cdone (i32.ge_u (local.get $j) (local.get $N)))
          (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $M))
            (then ${ntCalls(4)})
            (else ${ntCalls(1)}))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br $cols)))
        (local.set $i (i32.add (local.get $i) (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $M)))))
        (br $rows)))
      (local.set $a (i32.add (local.get $a) (i32.shl (i32.mul (local.get $M) (local.get $K)) (i32.const 2))))
      (local.set $b (i32.add (local.get $b) (i32.shl (i32.mul (local.get $N) (local.get $K)) (i32.const 2))))
      (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $M) (local.get $N)) (i32.const 2))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each))))`;

// out(c, r) = x(r, c) for an R × C float32 matrix: 4×4 blocks transposed in registers by two rounds
// of lane shuffles; the rows and columns beyond multiples of 4 element by element. TF.js's wasm
// Transpose moves one element at a time through a generic index loop (~2.5 ns an element).
const transposeKernel = `
  (func (export "transpose_f32") (param $x i32) (param $out i32) (param $R i32) (param $C i32)
    (local $r i32) (local $c i32) (local $R4 i32) (local $C4 i32) (local $src i32) (local $dst i32) (local $sx i32) (local $so i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $R4 (i32.and (local.get $R) (i32.const -4)))
    (local.set $C4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $sx (i32.shl (local.get $C) (i32.const 2)))
    (local.set $so (i32.shl (local.get $R) (i32.const 2)))
    (block $rdone (loop $rows
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $R4)))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cols
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $C4)))
        (local.set $src (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $C)) (local.get $c)) (i32.const 2))))
        (local.set $dst (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $R)) (local.get $r)) (i32.const 2))))
        (local.set $v0 (v128.load (local.get $src)))
        (local.set $v1 (v128.load (i32.add (local.get $src) (local.get $sx))))
        (local.set $v2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $sx) (i32.const 1)))))
        (local.set $v3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $sx) (i32.const 3)))))
        (local.set $t0 (i8x16.shuffle ${lanes(0, 4, 1, 5)} (local.get $v0) (local.get $v1)))
        (local.set $t1 (i8x16.shuffle ${lanes(2, 6, 3, 7)} (local.get $v0) (local.get $v1)))
        (local.set $t2 (i8x16.shuffle ${lanes(0, 4, 1, 5)} (local.get $v2) (local.get $v3)))
        (local.set $t3 (i8x16.shuffle ${lanes(2, 6, 3, 7)} (local.get $v2) (local.get $v3)))
        (v128.store (local.get $dst) (i8x16.shuffle ${lanes(0, 1, 4, 5)} (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $dst) (local.get $so)) (i8x16.shuffle ${lanes(2, 3, 6, 7)} (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $so) (i32.const 1))) (i8x16.shuffle ${lanes(0, 1, 4, 5)} (local.get $t1) (local.get $t3)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $so) (i32.const 3))) (i8x16.shuffle ${lanes(2, 3, 6, 7)} (local.get $t1) (local.get $t3)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cols)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $rows)))
    ;; the last C mod 4 columns of the block rows, then the last R mod 4 rows, element by element
    (local.set $r (i32.const 0))
    (block $edone (loop $edges
      (br_if $edone (i32.ge_u (local.get $r) (local.get $R)))
      (local.set $c (select (local.get $C4) (i32.const 0) (i32.lt_u (local.get $r) (local.get $R4))))
      (block $e2 (loop $ecols
        (br_if $e2 (i32.ge_u (local.get $c) (local.get $C)))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $R)) (local.get $r)) (i32.const 2)))
          (f32.load (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $C)) (local.get $c)) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $ecols)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $edges))))`;

// out[p, :] = Σ_i x[p, i, :] for x of shape [P, R, C]: the output row starts as 0 + x[p, 0, :] (a sum
// starts from its identity, as NumPy's and TF.js's do: a sum of −0s is +0; a copy of the first row
// kept −0, so wasm and cpu disagreed) and each further row is added four lanes at a time.
// NaN and ±inf propagate as in any sum (TF.js's wasm average pooling, used before, clamps NaN to −inf).
const sumMiddleKernel = `
  (func (export "sum_middle_f32") (param $x i32) (param $out i32) (param $P i32) (param $R i32) (param $C i32)
    (local $p i32) (local $i i32) (local $j i32) (local $C4 i32) (local $src i32) (local $dst i32) (local $bytes i32)
    (local.set $C4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $bytes (i32.shl (local.get $C) (i32.const 2)))
    (local.set $src (local.get $x))
    (local.set $dst (local.get $out))
    (block $pdone (loop $plane
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $P)))
      (local.set $j (i32.const 0))
      (block $cdone (loop $copy
        (br_if $cdone (i32.ge_u (local.get $j) (local.get $bytes)))
        (f32.store (i32.add (local.get $dst) (local.get $j)) (f32.add (f32.const 0) (f32.load (i32.add (local.get $src) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $copy)))
      (local.set $src (i32.add (local.get $src) (local.get $bytes)))
      (local.set $i (i32.const 1))
      (block $rdone (loop $rows
        (br_if $rdone (i32.ge_u (local.get $i) (local.get $R)))
        (local.set $j (i32.const 0))
        (block $vdone (loop $vec
          (br_if $vdone (i32.ge_u (local.get $j) (local.get $C4)))
          (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
            (f32x4.add (v128.load (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))))
                       (v128.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $vec)))
        (block $sdone (loop $scalar
          (br_if $sdone (i32.ge_u (local.get $j) (local.get $C)))
          (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
            (f32.add (f32.load (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))))
                     (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $scalar)))
        (local.set $src (i32.add (local.get $src) (local.get $bytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $plane))))`;

/** The module's text. It imports TF.js's memory as env.memory and exports the kernels above. */
export function kernelsWat(options: { unroll?: boolean } = {}): string {
  // (unroll: false gives the comparison, extremum, select and clamp kernels as they were before their
  // 16-a-pass loops, the reference the bit-identity test and bench/wasm_loops.ts compare against)
  const unroll = options.unroll ?? true;
  return `(module
  (import "env" "memory" (memory 1))${[...comparisonKernels(unroll), ...extremumKernels(unroll), ...clampKernels(unroll), selectKernel(unroll), fillKernel, axpyKernel, tanhKernel, expKernel, threefryKernel, gemmKernel, gemmRowsKernel, matmulKernel, matmulNtKernel, transposeKernel, sumMiddleKernel].join('\n')}
)
`;
}
