/**
 * The WebAssembly text of edge-dmp's SIMD kernels, generated from one template: a "row kernel"
 * walks `rows` rows of `c` float32 lanes; row pointers advance by their own byte stride per row,
 * channel pointers (per-channel vectors such as a BN scale or an accumulator) stay put. Each body
 * is written once and emitted twice, as f32x4 for the first c & ~3 lanes and as f32 for the rest.
 * The module imports the tfjs wasm backend's memory, so it works on tensors in place.
 *
 * `node --conditions=edge-dmp-source --import tsx scripts/build-simd.ts` turns this into binary.ts (uses the wabt npm package's wat2wasm).
 */

type Mode = 'v' | 's';

/** Builders for one emission mode. */
class Ops {
  constructor(readonly mode: Mode) {}
  ld(p: string): string {
    return `(${this.mode === 'v' ? 'v128' : 'f32'}.load (i32.add (local.get $${p}) (local.get $off)))`;
  }
  st(p: string, e: string): string {
    return `(${this.mode === 'v' ? 'v128' : 'f32'}.store (i32.add (local.get $${p}) (local.get $off)) ${e})`;
  }
  private op(name: string, a: string, b: string): string {
    return `(${this.mode === 'v' ? 'f32x4' : 'f32'}.${name} ${a} ${b})`;
  }
  add(a: string, b: string): string {
    return this.op('add', a, b);
  }
  sub(a: string, b: string): string {
    return this.op('sub', a, b);
  }
  mul(a: string, b: string): string {
    return this.op('mul', a, b);
  }
  div(a: string, b: string): string {
    return this.op('div', a, b);
  }
  sqrt(a: string): string {
    return `(${this.mode === 'v' ? 'f32x4' : 'f32'}.sqrt ${a})`;
  }
  /** Constant i of the float32 array at $k (broadcast to all lanes in vector mode). */
  k(i: number): string {
    return this.mode === 'v'
      ? `(v128.load32_splat offset=${i * 4} (local.get $k))`
      : `(f32.load offset=${i * 4} (local.get $k))`;
  }
  one(): string {
    return this.mode === 'v' ? '(v128.const f32x4 1 1 1 1)' : '(f32.const 1)';
  }
}

interface RowKernel {
  name: string;
  /** Pointers that advance by `<name>_stride` bytes per row. */
  rowPtrs: string[];
  /** Pointers to per-channel vectors (same for every row). */
  chanPtrs: string[];
  /** Takes `$k`, a pointer to float32 constants read with Ops.k. */
  consts?: boolean;
  body: (o: Ops) => string;
}

function rowKernel(k: RowKernel): string {
  const params = [
    ...k.rowPtrs.flatMap((p) => [`(param $${p} i32)`, `(param $${p}_stride i32)`]),
    ...k.chanPtrs.map((p) => `(param $${p} i32)`),
    ...(k.consts ? ['(param $k i32)'] : []),
    '(param $rows i32) (param $c i32)',
  ].join(' ');
  const advance = k.rowPtrs
    .map((p) => `(local.set $${p} (i32.add (local.get $${p}) (local.get $${p}_stride)))`)
    .join('\n      ');
  return `
  (func (export "${k.name}") ${params}
    (local $r i32) (local $off i32) (local $vend i32) (local $end i32)
    (local.set $end (i32.shl (local.get $c) (i32.const 2)))
    (local.set $vend (i32.shl (i32.and (local.get $c) (i32.const -4)) (i32.const 2)))
    (block $rows_done (loop $rows_loop
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $off (i32.const 0))
      (block $v_done (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $off) (local.get $vend)))
        ${k.body(new Ops('v'))}
        (local.set $off (i32.add (local.get $off) (i32.const 16)))
        (br $v_loop)))
      (block $s_done (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $off) (local.get $end)))
        ${k.body(new Ops('s'))}
        (local.set $off (i32.add (local.get $off) (i32.const 4)))
        (br $s_loop)))
      ${advance}
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows_loop)))
  )`;
}

/** The kernels; names are the exports simd.ts calls. */
export const ROW_KERNELS: RowKernel[] = [
  // acc[c] += x[r, c]
  {
    name: 'col_sum',
    rowPtrs: ['x'],
    chanPtrs: ['acc'],
    body: (o) => o.st('acc', o.add(o.ld('acc'), o.ld('x'))),
  },
  // acc[c] += (x[r, c] - mean[c])^2
  {
    name: 'col_sq_dev',
    rowPtrs: ['x'],
    chanPtrs: ['mean', 'acc'],
    body: (o) =>
      o.st('acc', o.add(o.ld('acc'), o.mul(o.sub(o.ld('x'), o.ld('mean')), o.sub(o.ld('x'), o.ld('mean'))))),
  },
  // s1[c] += dy; s2[c] += dy * (x - mean)
  {
    name: 'bn_grad_sums',
    rowPtrs: ['dy', 'x'],
    chanPtrs: ['mean', 's1', 's2'],
    body: (o) =>
      o.st('s1', o.add(o.ld('s1'), o.ld('dy'))) +
      '\n        ' +
      o.st('s2', o.add(o.ld('s2'), o.mul(o.ld('dy'), o.sub(o.ld('x'), o.ld('mean'))))),
  },
  // y = x * a[c] + b[c]
  {
    name: 'affine',
    rowPtrs: ['x', 'y'],
    chanPtrs: ['a', 'b'],
    body: (o) => o.st('y', o.add(o.mul(o.ld('x'), o.ld('a')), o.ld('b'))),
  },
  // dx = k1[c] * dy + k2[c] * x + k3[c]
  {
    name: 'affine2',
    rowPtrs: ['dy', 'x', 'dx'],
    chanPtrs: ['k1', 'k2', 'k3'],
    body: (o) =>
      o.st('dx', o.add(o.add(o.mul(o.ld('k1'), o.ld('dy')), o.mul(o.ld('k2'), o.ld('x'))), o.ld('k3'))),
  },
  // dx = dy * s * (1 + x * (1 - s))
  {
    name: 'swish_grad',
    rowPtrs: ['dy', 'x', 's', 'dx'],
    chanPtrs: [],
    body: (o) =>
      o.st(
        'dx',
        o.mul(o.mul(o.ld('dy'), o.ld('s')), o.add(o.one(), o.mul(o.ld('x'), o.sub(o.one(), o.ld('s'))))),
      ),
  },
  // acc[c] += a[r, c] * b[r, c]  (depthwise filter gradient: one filter tap over one output row)
  {
    name: 'row_dot_acc',
    rowPtrs: ['a', 'b'],
    chanPtrs: ['acc'],
    body: (o) => o.st('acc', o.add(o.ld('acc'), o.mul(o.ld('a'), o.ld('b')))),
  },
  // out[r, c] += a[r, c] * w[c]  (depthwise input gradient: one filter tap over one output row)
  {
    name: 'row_axpy',
    rowPtrs: ['a', 'out'],
    chanPtrs: ['w'],
    body: (o) => o.st('out', o.add(o.ld('out'), o.mul(o.ld('a'), o.ld('w')))),
  },
  // Adam, out of place: k = [beta1, 1 - beta1, beta2, 1 - beta2, lr / (1 - beta1^t), 1 / (1 - beta2^t), eps]
  //   m' = beta1 m + (1 - beta1) g;  v' = beta2 v + (1 - beta2) g^2;  w' = w - k4 m' / (sqrt(k5 v') + eps)
  {
    name: 'adam',
    rowPtrs: ['w', 'm', 'v', 'g', 'wo', 'mo', 'vo'],
    chanPtrs: [],
    consts: true,
    body: (o) =>
      [
        o.st('mo', o.add(o.mul(o.k(0), o.ld('m')), o.mul(o.k(1), o.ld('g')))),
        o.st('vo', o.add(o.mul(o.k(2), o.ld('v')), o.mul(o.k(3), o.mul(o.ld('g'), o.ld('g'))))),
        o.st(
          'wo',
          o.sub(
            o.ld('w'),
            o.div(o.mul(o.k(4), o.ld('mo')), o.add(o.sqrt(o.mul(o.k(5), o.ld('vo'))), o.k(6))),
          ),
        ),
      ].join('\n        '),
  },
];

/**
 * out[i, j] = sum_t a[i, t] * b[j, t] for a [m, k], b [n, k] (A . B^T: both operands read along
 * rows, so a 1x1 conv's input gradient needs no transposed weight copy).
 */
const MATMUL_NT = `
  (func (export "matmul_nt") (param $a i32) (param $b i32) (param $out i32) (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $t i32) (local $brow i32) (local $kb i32) (local $kv i32)
    (local $acc0 v128) (local $acc1 v128) (local $s f32)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -8)) (i32.const 2)))
    (block $i_done (loop $i_loop
      (br_if $i_done (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (local.set $brow (local.get $b))
      (block $j_done (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $acc0 (v128.const f32x4 0 0 0 0))
        (local.set $acc1 (v128.const f32x4 0 0 0 0))
        (local.set $t (i32.const 0))
        (block $v_done (loop $v_loop
          (br_if $v_done (i32.ge_u (local.get $t) (local.get $kv)))
          (local.set $acc0 (f32x4.add (local.get $acc0)
            (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $t))) (v128.load (i32.add (local.get $brow) (local.get $t))))))
          (local.set $acc1 (f32x4.add (local.get $acc1)
            (f32x4.mul (v128.load offset=16 (i32.add (local.get $a) (local.get $t))) (v128.load offset=16 (i32.add (local.get $brow) (local.get $t))))))
          (local.set $t (i32.add (local.get $t) (i32.const 32)))
          (br $v_loop)))
        (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
        (local.set $s (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
          (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
        (block $s_done (loop $s_loop
          (br_if $s_done (i32.ge_u (local.get $t) (local.get $kb)))
          (local.set $s (f32.add (local.get $s)
            (f32.mul (f32.load (i32.add (local.get $a) (local.get $t))) (f32.load (i32.add (local.get $brow) (local.get $t))))))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (br $s_loop)))
        (f32.store (local.get $out) (local.get $s))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $brow (i32.add (local.get $brow) (local.get $kb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop)))
      (local.set $a (i32.add (local.get $a) (local.get $kb)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $i_loop)))
  )`;

/**
 * out[i, j] += sum_r a[r, i] * b[r, j] for a [m, k], b [m, n], out [k, n] (A^T . B: a conv's
 * filter gradient straight from the NHWC activations). Four rows of a and b per pass over out,
 * so each out vector is loaded and stored once per four rank-1 updates.
 */
const MATMUL_TN = `
  (func (export "matmul_tn") (param $a i32) (param $b i32) (param $out i32) (param $m i32) (param $k i32) (param $n i32)
    (local $r i32) (local $i i32) (local $j i32) (local $ka i32) (local $nb i32) (local $nv i32)
    (local $arow i32) (local $orow i32) (local $p i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $acc v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local.set $ka (i32.shl (local.get $k) (i32.const 2)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $nv (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    ;; blocks of four rows
    (block $r4_done (loop $r4_loop
      (br_if $r4_done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $m)))
      (local.set $i (i32.const 0))
      (local.set $arow (local.get $a))
      (local.set $orow (local.get $out))
      (block $i_done (loop $i_loop
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $k)))
        (local.set $s0 (f32.load (local.get $arow)))
        (local.set $s1 (f32.load (i32.add (local.get $arow) (local.get $ka))))
        (local.set $s2 (f32.load (i32.add (local.get $arow) (i32.shl (local.get $ka) (i32.const 1)))))
        (local.set $s3 (f32.load (i32.add (local.get $arow) (i32.mul (local.get $ka) (i32.const 3)))))
        (local.set $x0 (f32x4.splat (local.get $s0)))
        (local.set $x1 (f32x4.splat (local.get $s1)))
        (local.set $x2 (f32x4.splat (local.get $s2)))
        (local.set $x3 (f32x4.splat (local.get $s3)))
        (local.set $j (i32.const 0))
        (block $v_done (loop $v_loop
          (br_if $v_done (i32.ge_u (local.get $j) (local.get $nv)))
          (local.set $p (i32.add (local.get $b) (local.get $j)))
          (local.set $acc (v128.load (i32.add (local.get $orow) (local.get $j))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $x0) (v128.load (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (local.get $nb)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $x1) (v128.load (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (local.get $nb)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $x2) (v128.load (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (local.get $nb)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $x3) (v128.load (local.get $p)))))
          (v128.store (i32.add (local.get $orow) (local.get $j)) (local.get $acc))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $v_loop)))
        (block $t_done (loop $t_loop
          (br_if $t_done (i32.ge_u (local.get $j) (local.get $nb)))
          (local.set $p (i32.add (local.get $b) (local.get $j)))
          (f32.store (i32.add (local.get $orow) (local.get $j))
            (f32.add (f32.load (i32.add (local.get $orow) (local.get $j)))
              (f32.add
                (f32.add (f32.mul (local.get $s0) (f32.load (local.get $p)))
                         (f32.mul (local.get $s1) (f32.load (i32.add (local.get $p) (local.get $nb)))))
                (f32.add (f32.mul (local.get $s2) (f32.load (i32.add (local.get $p) (i32.shl (local.get $nb) (i32.const 1)))))
                         (f32.mul (local.get $s3) (f32.load (i32.add (local.get $p) (i32.mul (local.get $nb) (i32.const 3)))))))))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $t_loop)))
        (local.set $arow (i32.add (local.get $arow) (i32.const 4)))
        (local.set $orow (i32.add (local.get $orow) (local.get $nb)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i_loop)))
      (local.set $a (i32.add (local.get $a) (i32.shl (local.get $ka) (i32.const 2))))
      (local.set $b (i32.add (local.get $b) (i32.shl (local.get $nb) (i32.const 2))))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $r4_loop)))
    ;; remaining rows, one at a time
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $m)))
      (local.set $i (i32.const 0))
      (local.set $arow (local.get $a))
      (local.set $orow (local.get $out))
      (block $i1_done (loop $i1_loop
        (br_if $i1_done (i32.ge_u (local.get $i) (local.get $k)))
        (local.set $s0 (f32.load (local.get $arow)))
        (local.set $x0 (f32x4.splat (local.get $s0)))
        (local.set $j (i32.const 0))
        (block $v1_done (loop $v1_loop
          (br_if $v1_done (i32.ge_u (local.get $j) (local.get $nv)))
          (v128.store (i32.add (local.get $orow) (local.get $j))
            (f32x4.add (v128.load (i32.add (local.get $orow) (local.get $j)))
              (f32x4.mul (local.get $x0) (v128.load (i32.add (local.get $b) (local.get $j))))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $v1_loop)))
        (block $t1_done (loop $t1_loop
          (br_if $t1_done (i32.ge_u (local.get $j) (local.get $nb)))
          (f32.store (i32.add (local.get $orow) (local.get $j))
            (f32.add (f32.load (i32.add (local.get $orow) (local.get $j)))
              (f32.mul (local.get $s0) (f32.load (i32.add (local.get $b) (local.get $j))))))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $t1_loop)))
        (local.set $arow (i32.add (local.get $arow) (i32.const 4)))
        (local.set $orow (i32.add (local.get $orow) (local.get $nb)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i1_loop)))
      (local.set $a (i32.add (local.get $a) (local.get $ka)))
      (local.set $b (i32.add (local.get $b) (local.get $nb)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop)))
  )`;

/** The whole module as WebAssembly text. */
export function watSource(): string {
  return `;; Generated by sdk/kernels/simd/source.ts: edit that file, then run build.ts.
(module
  (import "env" "memory" (memory 1))${ROW_KERNELS.map(rowKernel).join('\n')}
${MATMUL_NT}
${MATMUL_TN}
)
`;
}
