/**
 * Adam as edge-dmp's own `tf.Optimizer` subclass (serializable as `EdgeDmpAdam`). Same update,
 * state names (`<variable>/m`, `<variable>/v`) and weight order as tf.train.adam, so checkpoints
 * keep their format; on `wasm` with the fast kernels registered each variable takes one fused
 * kernel (EdmpAdam: new weight and both moments in one SIMD pass) instead of ~12 element-wise ops.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM } from '../kernels/adam.js';
import { fastKernel } from '../kernels/available.js';

/** tfjs-core's NamedTensor (not re-exported by @tensorflow/tfjs). */
type NamedTensor = { name: string; tensor: tf.Tensor };

interface Slot {
  /** `<variable name>/m` as saved (a reloaded model's variables may carry other names). */
  name: string;
  m: tf.Variable;
  v: tf.Variable;
}

/**
 * @example
 * const opt = new EdgeDmpAdam(0.01);
 * opt.minimize(() => loss());
 */
export class EdgeDmpAdam extends tf.Optimizer {
  static className = 'EdgeDmpAdam';
  /** Set per step by the learning-rate schedule. */
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** beta1^(t+1), beta2^(t+1) in float32, as tfjs keeps them (bias correction). */
  readonly accBeta1: tf.Variable;
  readonly accBeta2: tf.Variable;
  /** By position in the gradient list, as tf.train.adam: a resumed model's variable names differ. */
  private slots: Slot[] = [];

  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8) {
    super();
    this.learningRate = learningRate;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.accBeta1 = tf.tidy(() => tf.scalar(beta1).variable(false));
    this.accBeta2 = tf.tidy(() => tf.scalar(beta2).variable(false));
  }

  private slot(i: number, name: string, value: tf.Variable): Slot {
    this.slots[i] ??= {
      name,
      m: tf.tidy(() => tf.zerosLike(value).variable(false)),
      v: tf.tidy(() => tf.zerosLike(value).variable(false)),
    };
    return this.slots[i];
  }

  override applyGradients(grads: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(grads)
      ? grads
      : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const fused = fastKernel(ADAM);
    tf.tidy(() => {
      // As tfjs: 1 - beta^t in float32.
      const c1 = fused ? Math.fround(1 - this.accBeta1.dataSync()[0]) : 0;
      const c2 = fused ? Math.fround(1 - this.accBeta2.dataSync()[0]) : 0;
      // The tf-ops path's bias corrections, as tensors (the fused kernel takes c1/c2 as numbers).
      const oneMinusAcc1 = fused ? undefined : tf.sub(1, this.accBeta1);
      const oneMinusAcc2 = fused ? undefined : tf.sub(1, this.accBeta2);
      for (const [i, { name, tensor: g }] of list.entries()) {
        const value = tf.engine().registeredVariables[name];
        const { m, v } = this.slot(i, name, value);
        if (g == null) continue;
        if (fused) {
          const [w2, m2, v2] = tf
            .engine()
            .runKernel(
              ADAM,
              { w: value, m, v, g },
              { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, lr: this.learningRate, c1, c2 },
            ) as tf.Tensor[];
          m.assign(m2);
          v.assign(v2);
          value.assign(w2);
          continue;
        }
        const m2 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v2 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const mHat = tf.div(m2, oneMinusAcc1!);
        const vHat = tf.div(v2, oneMinusAcc2!);
        m.assign(m2);
        v.assign(v2);
        value.assign(
          tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate), value),
        );
      }
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  override dispose(): void {
    this.accBeta1.dispose();
    this.accBeta2.dispose();
    for (const s of this.slots) tf.dispose([s.m, s.v]);
    this.slots = [];
  }

  /** [iterations, every `<name>/m`, every `<name>/v`]: tf.train.adam's layout. */
  override async getWeights(): Promise<NamedTensor[]> {
    return [
      await this.saveIterations(),
      ...this.slots.map((s) => ({ name: `${s.name}/m`, tensor: s.m })),
      ...this.slots.map((s) => ({ name: `${s.name}/v`, tensor: s.v })),
    ];
  }

  override async setWeights(weights: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weights);
    tf.tidy(() => {
      this.accBeta1.assign(tf.pow(this.beta1, this.iterations + 1));
      this.accBeta2.assign(tf.pow(this.beta2, this.iterations + 1));
    });
    const half = rest.length / 2;
    for (const s of this.slots) tf.dispose([s.m, s.v]);
    this.slots = rest.slice(0, half).map((w, i) => ({
      name: w.name.replace(/\/m$/, ''),
      m: w.tensor.variable(false),
      v: rest[half + i].tensor.variable(false),
    }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const c = config as { learningRate: number; beta1: number; beta2: number; epsilon: number };
    return new (cls as unknown as typeof EdgeDmpAdam)(
      c.learningRate,
      c.beta1,
      c.beta2,
      c.epsilon,
    ) as unknown as T;
  }
}

tf.serialization.registerClass(EdgeDmpAdam);
