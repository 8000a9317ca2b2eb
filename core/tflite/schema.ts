/**
 * The few numbers from TensorFlow Lite's flatbuffer schema that edge-dmp's writer and reader need:
 * tensor types, builtin operator codes, option-table layouts (field order = vtable slot) and the
 * BuiltinOptions union tags. Written by hand for the ops the converter emits; the schema itself is
 * only a reference (see docs/converter.md).
 */

/** TensorType codes. */
export const TensorType = {
  FLOAT32: 0,
  FLOAT16: 1,
  INT32: 2,
  UINT8: 3,
  INT64: 4,
  INT8: 9,
} as const;
export type TensorTypeName = keyof typeof TensorType;

/** Bytes per element of each tensor type the converter writes. */
export const TYPE_BYTES: Record<TensorTypeName, number> = {
  FLOAT32: 4,
  FLOAT16: 2,
  INT32: 4,
  UINT8: 1,
  INT64: 8,
  INT8: 1,
};

/** BuiltinOperator codes of the ops edge-dmp emits (and can read back). */
export const BuiltinOp = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  GATHER: 36,
  TRANSPOSE: 39,
  MEAN: 40,
  STRIDED_SLICE: 45,
  MAXIMUM: 55,
  SLICE: 65,
  TILE: 69,
  REDUCE_MAX: 82,
  QUANTIZE: 114,
  HARD_SWISH: 117,
} as const;
export type BuiltinOpName = keyof typeof BuiltinOp;

/** Fused activation codes (ActivationFunctionType). */
export const Activation = { NONE: 0, RELU: 1, RELU6: 3 } as const;

/** Padding codes. */
export const Padding = { SAME: 0, VALID: 1 } as const;

/** Scalar kinds of option-table fields. */
export type FieldKind = 'i8' | 'bool' | 'i32' | 'f32' | 'i32[]';

/**
 * Option tables: union tag and fields in declaration order (the index is the vtable slot).
 * Unlisted trailing fields keep their schema defaults.
 */
export const OPTIONS = {
  Conv2DOptions: {
    tag: 1,
    fields: [
      ['padding', 'i8'],
      ['stride_w', 'i32'],
      ['stride_h', 'i32'],
      ['fused_activation_function', 'i8'],
      ['dilation_w_factor', 'i32'],
      ['dilation_h_factor', 'i32'],
    ],
  },
  DepthwiseConv2DOptions: {
    tag: 2,
    fields: [
      ['padding', 'i8'],
      ['stride_w', 'i32'],
      ['stride_h', 'i32'],
      ['depth_multiplier', 'i32'],
      ['fused_activation_function', 'i8'],
      ['dilation_w_factor', 'i32'],
      ['dilation_h_factor', 'i32'],
    ],
  },
  Pool2DOptions: {
    tag: 5,
    fields: [
      ['padding', 'i8'],
      ['stride_w', 'i32'],
      ['stride_h', 'i32'],
      ['filter_width', 'i32'],
      ['filter_height', 'i32'],
      ['fused_activation_function', 'i8'],
    ],
  },
  FullyConnectedOptions: {
    tag: 8,
    fields: [
      ['fused_activation_function', 'i8'],
      ['weights_format', 'i8'],
      ['keep_num_dims', 'bool'],
      ['asymmetric_quantize_inputs', 'bool'],
    ],
  },
  SoftmaxOptions: { tag: 9, fields: [['beta', 'f32']] },
  ConcatenationOptions: {
    tag: 10,
    fields: [
      ['axis', 'i32'],
      ['fused_activation_function', 'i8'],
    ],
  },
  AddOptions: { tag: 11, fields: [['fused_activation_function', 'i8']] },
  ReshapeOptions: { tag: 17, fields: [['new_shape', 'i32[]']] },
  MulOptions: { tag: 21, fields: [['fused_activation_function', 'i8']] },
  GatherOptions: {
    tag: 23,
    fields: [
      ['axis', 'i32'],
      ['batch_dims', 'i32'],
    ],
  },
  TransposeOptions: { tag: 26, fields: [] },
  ReducerOptions: { tag: 27, fields: [['keep_dims', 'bool']] },
  StridedSliceOptions: {
    tag: 32,
    fields: [
      ['begin_mask', 'i32'],
      ['end_mask', 'i32'],
      ['ellipsis_mask', 'i32'],
      ['new_axis_mask', 'i32'],
      ['shrink_axis_mask', 'i32'],
      ['offset', 'bool'],
    ],
  },
  DequantizeOptions: { tag: 38, fields: [] },
  MaximumMinimumOptions: { tag: 39, fields: [] },
  SliceOptions: { tag: 47, fields: [] },
  TileOptions: { tag: 51, fields: [] },
  QuantizeOptions: { tag: 89, fields: [] },
} as const satisfies Record<string, { tag: number; fields: readonly (readonly [string, FieldKind])[] }>;
export type OptionsName = keyof typeof OPTIONS;

/** Option-table values by field name. */
export type OptionValues = Record<string, number | boolean | number[]>;

/** Looks a name up from its code in one of the tables above. */
export function nameOf<T extends Record<string, number>>(table: T, code: number): keyof T | undefined {
  return (Object.keys(table) as (keyof T)[]).find((k) => table[k] === code);
}
