/**
 * Architectures as data (in the manner of timm's arch defs): a stage table per family and a
 * compound-scaling table. `builder.ts` turns them into layers; nothing here builds anything.
 */

/** One stage of inverted-residual (MBConv) blocks, before width/depth scaling. */
export interface StageDef {
  /** Expansion ratio t (C_exp = t * C_in). */
  expand: number;
  kernel: number;
  /** Stride of the first block of the stage; the repeats use stride 1. */
  stride: number;
  filters: number;
  repeats: number;
}

export interface ArchDef {
  family: 'efficientnet' | 'mobilenetv2';
  stem: { filters: number; kernel: number; stride: number };
  stages: StageDef[];
  head: { filters: number };
  activation: 'swish' | 'relu6';
  /** Squeeze-and-excitation ratio relative to the block's input channels; 0 = no SE. */
  seRatio: number;
  /** Channel counts are rounded to multiples of this. */
  divisor: number;
  /** MobileNetV2 keeps the head at >= its base width when scaling down; EfficientNet scales it. */
  headScaling: 'scale' | 'max';
}

/** Compound scaling coefficients and defaults (EfficientNet paper, Table/§3.3; timm). */
export interface ScalingDef {
  width: number;
  depth: number;
  resolution: number;
  dropout: number;
}

export const EFFICIENTNET_STAGES: StageDef[] = [
  { expand: 1, kernel: 3, stride: 1, filters: 16, repeats: 1 },
  { expand: 6, kernel: 3, stride: 2, filters: 24, repeats: 2 },
  { expand: 6, kernel: 5, stride: 2, filters: 40, repeats: 2 },
  { expand: 6, kernel: 3, stride: 2, filters: 80, repeats: 3 },
  { expand: 6, kernel: 5, stride: 1, filters: 112, repeats: 3 },
  { expand: 6, kernel: 5, stride: 2, filters: 192, repeats: 4 },
  { expand: 6, kernel: 3, stride: 1, filters: 320, repeats: 1 },
];

export const EFFICIENTNET: ArchDef = {
  family: 'efficientnet',
  stem: { filters: 32, kernel: 3, stride: 2 },
  stages: EFFICIENTNET_STAGES,
  head: { filters: 1280 },
  activation: 'swish',
  seRatio: 0.25,
  divisor: 8,
  headScaling: 'scale',
};

export const EFFICIENTNET_SCALING: Record<string, ScalingDef> = {
  b0: { width: 1.0, depth: 1.0, resolution: 224, dropout: 0.2 },
  b1: { width: 1.0, depth: 1.1, resolution: 240, dropout: 0.2 },
  b2: { width: 1.1, depth: 1.2, resolution: 260, dropout: 0.3 },
  b3: { width: 1.2, depth: 1.4, resolution: 300, dropout: 0.3 },
  b4: { width: 1.4, depth: 1.8, resolution: 380, dropout: 0.4 },
  b5: { width: 1.6, depth: 2.2, resolution: 456, dropout: 0.4 },
  b6: { width: 1.8, depth: 2.6, resolution: 528, dropout: 0.5 },
  b7: { width: 2.0, depth: 3.1, resolution: 600, dropout: 0.5 },
};

/**
 * EfficientNet-Lite (TensorFlow's edge variant of B0): the B0 stage table with ReLU6 in place of
 * swish and no squeeze-and-excitation, both for integer-only hardware; edge-dmp's int8 measurements
 * show why (docs/converter.md: swish + SE is where full-int8 agreement is lost).
 */
export const EFFICIENTNET_LITE: ArchDef = { ...EFFICIENTNET, activation: 'relu6', seRatio: 0 };

/** MobileNetV2 (Sandler et al. 2018, Table 2): t, c, n, s; ReLU6, no SE. */
export const MOBILENETV2: ArchDef = {
  family: 'mobilenetv2',
  stem: { filters: 32, kernel: 3, stride: 2 },
  stages: [
    { expand: 1, kernel: 3, stride: 1, filters: 16, repeats: 1 },
    { expand: 6, kernel: 3, stride: 2, filters: 24, repeats: 2 },
    { expand: 6, kernel: 3, stride: 2, filters: 32, repeats: 3 },
    { expand: 6, kernel: 3, stride: 2, filters: 64, repeats: 4 },
    { expand: 6, kernel: 3, stride: 1, filters: 96, repeats: 3 },
    { expand: 6, kernel: 3, stride: 2, filters: 160, repeats: 3 },
    { expand: 6, kernel: 3, stride: 1, filters: 320, repeats: 1 },
  ],
  head: { filters: 1280 },
  activation: 'relu6',
  seRatio: 0,
  divisor: 8,
  headScaling: 'max',
};

export const MOBILENETV2_SCALING: Record<string, ScalingDef> = {
  '1.0': { width: 1.0, depth: 1.0, resolution: 224, dropout: 0.2 },
};

/** The paper's ablation variants: which 1x1 convs of an equal-width block are replaced. */
export type Variant = 'baseline' | 'maxpool' | 'duplicate' | 'dmp';

export const VARIANTS: Record<Variant, { duplicate: boolean; maxpool: boolean; paperName: string }> = {
  baseline: { duplicate: false, maxpool: false, paperName: 'EfficientNetB0' },
  maxpool: { duplicate: false, maxpool: true, paperName: 'Max-pooling Only' },
  duplicate: { duplicate: true, maxpool: false, paperName: 'Duplicate Only' },
  dmp: { duplicate: true, maxpool: true, paperName: 'Duplicate Max-pooling' },
};
