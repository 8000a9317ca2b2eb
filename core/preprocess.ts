/**
 * The preprocessing spec shared by training (writes it into the run), the converter (puts it in
 * the bundle manifest) and the device (applies it with sharp). One definition so the three
 * cannot drift apart (the label/preprocessing mismatches of jetson-inference#579, #1034).
 *
 * Model input = (pixel * scale - mean[c]) / std[c], pixel in 0..255, channels in `channelOrder`.
 */
export type ResizeMode = 'stretch' | 'center-crop' | 'letterbox';

export interface PreprocessSpec {
  /** Model input height and width. */
  inputSize: [number, number];
  /** 1 (grayscale) or 3 (colour). */
  channels: 1 | 3;
  /** Multiplier applied to 0..255 pixels first; 1/255 by default. */
  scale: number;
  /** Per-channel mean subtracted after scaling (length = channels). */
  mean: number[];
  /** Per-channel std divided after the mean (length = channels). */
  std: number[];
  resize: ResizeMode;
  layout: 'NHWC';
  channelOrder: 'rgb' | 'bgr';
}

/** A spec with identity normalisation: x = pixel / 255. */
export function defaultPreprocess(inputSize: [number, number], channels: 1 | 3): PreprocessSpec {
  return {
    inputSize,
    channels,
    scale: 1 / 255,
    mean: new Array<number>(channels).fill(0),
    std: new Array<number>(channels).fill(1),
    resize: 'stretch',
    layout: 'NHWC',
    channelOrder: 'rgb',
  };
}
