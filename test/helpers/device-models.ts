/**
 * Tiny real .tflite models for device tests, written with the project's own TFLite writer, with
 * answers known in closed form: the mean colour of the image decides the class.
 *   colour: [1,H,W,3] -> MEAN(H,W) -> FC(10*I) -> SOFTMAX -> 3 classes (red, green, blue)
 *   gray:   [1,H,W]   -> RESHAPE -> MEAN -> FC([10,-10], bias [-5,5]) -> SOFTMAX -> (bright, dark)
 * Options add int8/uint8 quantized input/output (QUANTIZE/DEQUANTIZE around the float core) or drop
 * the softmax (logits out).
 */
import { GraphBuilder } from '../../core/tflite/graph.js';
import { writeTflite } from '../../converter/tflite/writer.js';

export interface TinyModelOptions {
  kind: 'colour' | 'gray';
  size?: [number, number];
  /** Quantized input/output type; float32 by default. */
  io?: 'float32' | 'int8' | 'uint8';
  softmax?: boolean;
}

export const COLOUR_LABELS = ['red', 'green', 'blue'];
export const GRAY_LABELS = ['bright', 'dark'];

/** Quantization of the int8/uint8 input (pixel/255 in [0,1]) and of softmax outputs. */
export const INPUT_Q = { int8: { scale: 1 / 255, zeroPoint: -128 }, uint8: { scale: 1 / 255, zeroPoint: 0 } };
export const OUTPUT_Q = {
  int8: { scale: 1 / 256, zeroPoint: -128 },
  uint8: { scale: 1 / 256, zeroPoint: 0 },
};

/**
 * Builds a tiny classifier .tflite.
 * @example const bytes = tinyModel({ kind: 'colour', size: [16, 16] });
 */
export function tinyModel(o: TinyModelOptions): Uint8Array {
  const [h, w] = o.size ?? [16, 16];
  const io = o.io ?? 'float32';
  const softmax = o.softmax ?? true;
  const g = new GraphBuilder();
  const colour = o.kind === 'colour';
  const inShape = colour ? [1, h, w, 3] : [1, h, w];
  const n = colour ? 3 : 2;
  const q = (t: 'int8' | 'uint8') => (t === 'int8' ? 'INT8' : 'UINT8');
  const qp = (p: { scale: number; zeroPoint: number }) => ({ scale: [p.scale], zeroPoint: [p.zeroPoint] });

  let x: number;
  const input =
    io === 'float32'
      ? g.tensor({ name: 'input', shape: inShape, type: 'FLOAT32' })
      : g.tensor({ name: 'input', shape: inShape, type: q(io), quant: qp(INPUT_Q[io]) });
  x = input;
  if (io !== 'float32') {
    const f = g.tensor({ name: 'input_f', shape: inShape, type: 'FLOAT32' });
    g.op({ op: 'DEQUANTIZE', inputs: [x], outputs: [f], version: 2 });
    x = f;
  }
  let pooled: number;
  if (colour) {
    pooled = g.tensor({ name: 'mean', shape: [1, 3], type: 'FLOAT32' });
    const axes = g.constI32('axes', [2], [1, 2]);
    g.op({
      op: 'MEAN',
      inputs: [x, axes],
      outputs: [pooled],
      options: { kind: 'ReducerOptions', values: { keep_dims: false } },
    });
  } else {
    const flat = g.tensor({ name: 'flat', shape: [1, h * w], type: 'FLOAT32' });
    const shape = g.constI32('shape', [2], [1, h * w]);
    g.op({
      op: 'RESHAPE',
      inputs: [x, shape],
      outputs: [flat],
      options: { kind: 'ReshapeOptions', values: { new_shape: [1, h * w] } },
    });
    pooled = g.tensor({ name: 'mean', shape: [1, 1], type: 'FLOAT32' });
    const axes = g.constI32('axes', [1], [1]);
    g.op({
      op: 'MEAN',
      inputs: [flat, axes],
      outputs: [pooled],
      options: { kind: 'ReducerOptions', values: { keep_dims: true } },
    });
  }
  const weights = colour ? new Float32Array([10, 0, 0, 0, 10, 0, 0, 0, 10]) : new Float32Array([10, -10]);
  const bias = colour ? new Float32Array(3) : new Float32Array([-5, 5]);
  const wT = g.constF32('fc_w', [n, colour ? 3 : 1], weights);
  const bT = g.constF32('fc_b', [n], bias);
  const logits = g.tensor({ name: 'logits', shape: [1, n], type: 'FLOAT32' });
  g.op({
    op: 'FULLY_CONNECTED',
    inputs: [pooled, wT, bT],
    outputs: [logits],
    options: { kind: 'FullyConnectedOptions', values: { fused_activation_function: 0 } },
  });
  let out = logits;
  if (softmax) {
    out = g.tensor({ name: 'probs', shape: [1, n], type: 'FLOAT32' });
    g.op({
      op: 'SOFTMAX',
      inputs: [logits],
      outputs: [out],
      options: { kind: 'SoftmaxOptions', values: { beta: 1 } },
    });
  }
  if (io !== 'float32') {
    const qo = g.tensor({ name: 'output', shape: [1, n], type: q(io), quant: qp(OUTPUT_Q[io]) });
    g.op({ op: 'QUANTIZE', inputs: [out], outputs: [qo], version: 1 });
    out = qo;
  }
  g.graph.inputs = [input];
  g.graph.outputs = [out];
  return writeTflite(g.graph);
}

/** Softmax of the closed-form logits, to compare runtime scores against. */
export function expectedScores(kind: 'colour' | 'gray', meanRgb01: number[]): number[] {
  const logits =
    kind === 'colour' ? meanRgb01.map((m) => 10 * m) : [10 * meanRgb01[0] - 5, -10 * meanRgb01[0] + 5];
  const mx = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
