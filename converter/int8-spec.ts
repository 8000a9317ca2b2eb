/**
 * TFLite's int8 quantization specification (tensorflow.org/lite/performance/quantization_spec),
 * checked on a Graph before it is written: a strict consumer (vendor NPU delegates, Arm NN) refuses
 * a file that breaks it, so the writer refuses first.
 *  - int8 activations: per-tensor, zero point in [-128, 127];
 *  - weights of CONV_2D (axis 0), DEPTHWISE_CONV_2D (axis 3) and FULLY_CONNECTED (axis 0): int8,
 *    symmetric (zero point 0), values in [-127, 127], per-tensor or per-axis on that axis only;
 *  - their int32 biases: zero point 0, one scale per weight scale, scale = input scale x weight scale;
 *  - LOGISTIC and SOFTMAX outputs: scale 1/256, zero point -128;
 *  - ops that move or compare values (RESHAPE, MAX_POOL_2D, CONCATENATION, GATHER, SLICE, ...):
 *    inputs and output share scale and zero point;
 *  - per-axis quantization nowhere else.
 */
import {
  EdgeDmpError,
  type ErrorDetail,
  intData,
  type Graph,
  type GraphOp,
  type GraphTensor,
  type BuiltinOpName,
} from '@edge-dmp/core';

/** A graph breaks TFLite's int8 quantization spec; `field` names the op and tensor. */
export class QuantizationSpecError extends EdgeDmpError {
  constructor(detail: ErrorDetail) {
    super('E_QUANT_SPEC', detail);
  }
}

/** Weight axis of the ops whose weights may be per-axis. */
const WEIGHT_AXIS: Partial<Record<BuiltinOpName, number>> = {
  CONV_2D: 0,
  DEPTHWISE_CONV_2D: 3,
  FULLY_CONNECTED: 0,
};

/** Ops whose int8 output must have their (first) input's scale and zero point; `all`: every input. */
const SAME_AS_INPUT: Partial<Record<BuiltinOpName, 'first' | 'all'>> = {
  RESHAPE: 'first',
  MAX_POOL_2D: 'first',
  GATHER: 'first',
  TILE: 'first',
  SLICE: 'first',
  STRIDED_SLICE: 'first',
  REDUCE_MAX: 'first',
  CONCATENATION: 'all',
  MAXIMUM: 'all',
};

/** Fixed int8 output parameters. */
const FIXED_OUTPUT: Partial<Record<BuiltinOpName, { scale: number; zeroPoint: number }>> = {
  LOGISTIC: { scale: 1 / 256, zeroPoint: -128 },
  SOFTMAX: { scale: 1 / 256, zeroPoint: -128 },
};

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b));

function fail(op: GraphOp, t: GraphTensor, what: string, expected: string, received: unknown): never {
  throw new QuantizationSpecError({ field: `op ${op.op} ${what} (tensor ${t.name})`, expected, received });
}

function perTensor(op: GraphOp, t: GraphTensor, what: string): void {
  const q = t.quant;
  if (!q || q.scale.length !== 1 || q.zeroPoint.length !== 1)
    fail(
      op,
      t,
      what,
      'per-tensor quantization (one scale, one zero point)',
      q ? `${q.scale.length} scales` : 'none',
    );
  if (!(q.scale[0] > 0)) fail(op, t, what, 'a scale > 0', q.scale[0]);
  const lo = t.type === 'UINT8' ? 0 : -128;
  const zp = q.zeroPoint[0];
  if (!Number.isInteger(zp) || zp < lo || zp > lo + 255)
    fail(op, t, what, `a zero point in [${lo}, ${lo + 255}]`, zp);
}

function checkWeights(g: Graph, op: GraphOp, axis: number): void {
  const w = g.tensors[op.inputs[1]];
  if (w.type !== 'INT8') fail(op, w, 'weights', 'int8 weights', w.type);
  const q = w.quant;
  const n = q?.scale.length ?? 0;
  if (!q || (n !== 1 && (n !== w.shape[axis] || (q.dimension ?? 0) !== axis)))
    fail(
      op,
      w,
      'weights',
      `per-tensor or per-axis on axis ${axis} (${w.shape[axis]} scales)`,
      q ? `${n} scales on axis ${q.dimension ?? 0}` : 'none',
    );
  if (q.zeroPoint.length !== n || q.zeroPoint.some((z) => z !== 0))
    fail(op, w, 'weights', 'symmetric: zero point 0 for every scale', q.zeroPoint.slice(0, 4));
  if (w.data) {
    const v = new Int8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
    if (v.includes(-128)) fail(op, w, 'weights', 'values in [-127, 127]', -128);
  }
  const bi = op.inputs[2];
  if (bi === undefined || bi < 0) return;
  const b = g.tensors[bi];
  const x = g.tensors[op.inputs[0]];
  if (b.type !== 'INT32') fail(op, b, 'bias', 'an int32 bias', b.type);
  const bq = b.quant;
  if (!bq || bq.scale.length !== n)
    fail(op, b, 'bias', `one scale per weight scale (${n})`, bq ? `${bq.scale.length} scales` : 'none');
  if (bq.zeroPoint.some((z) => z !== 0)) fail(op, b, 'bias', 'zero point 0', bq.zeroPoint.slice(0, 4));
  const sIn = x.quant?.scale[0] ?? NaN;
  bq.scale.forEach((s, c) => {
    if (!close(s, sIn * q.scale[c]))
      fail(op, b, `bias scale [${c}]`, `input scale x weight scale = ${sIn * q.scale[c]}`, s);
  });
  if (b.data && intData(b).length !== b.shape.reduce((a, c) => a * c, 1))
    fail(op, b, 'bias', `${b.shape} int32 values`, intData(b).length);
}

/**
 * Throws a QuantizationSpecError at the first int8 tensor of `g` that breaks TFLite's int8
 * quantization spec; graphs without int8 activations pass unchanged (fp16 / dynamic weights are
 * checked as symmetric int8 weights where an op reads them through DEQUANTIZE: nothing to check).
 * @example checkInt8Spec(quantizeGraph(g, 'int8', { ranges })); // throws on a violation
 */
export function checkInt8Spec(g: Graph): void {
  const isQ = (t: GraphTensor) => t.type === 'INT8' || t.type === 'UINT8';
  for (const op of g.ops) {
    const out = g.tensors[op.outputs[0]];
    if (op.op === 'DEQUANTIZE' || !out || !isQ(out)) continue;
    const axis = WEIGHT_AXIS[op.op];
    op.inputs.forEach((ti, slot) => {
      if (ti < 0 || (axis !== undefined && slot > 0)) return;
      const t = g.tensors[ti];
      if (isQ(t)) perTensor(op, t, `input ${slot}`);
    });
    for (const o of op.outputs) perTensor(op, g.tensors[o], 'output');
    if (axis !== undefined) checkWeights(g, op, axis);
    const fixed = FIXED_OUTPUT[op.op];
    const oq = out.quant as { scale: number[]; zeroPoint: number[] };
    if (
      fixed &&
      out.type === 'INT8' &&
      (!close(oq.scale[0], fixed.scale) || oq.zeroPoint[0] !== fixed.zeroPoint)
    )
      fail(
        op,
        out,
        'output',
        `scale ${fixed.scale}, zero point ${fixed.zeroPoint}`,
        `${oq.scale[0]}, ${oq.zeroPoint[0]}`,
      );
    const same = SAME_AS_INPUT[op.op];
    if (same) {
      const ins = same === 'all' ? op.inputs : op.inputs.slice(0, 1);
      for (const ti of ins) {
        const iq = g.tensors[ti].quant;
        if (!iq || !close(iq.scale[0], oq.scale[0]) || iq.zeroPoint[0] !== oq.zeroPoint[0])
          fail(
            op,
            out,
            'output',
            `the input's scale and zero point (${iq?.scale[0]}, ${iq?.zeroPoint[0]})`,
            `${oq.scale[0]}, ${oq.zeroPoint[0]}`,
          );
      }
    }
  }
}
