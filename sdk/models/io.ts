/**
 * Save and load Layers models to a directory without tfjs-node: our own file-system IOHandler
 * writing the standard tfjs Layers format (`model.json` + `weights.bin`).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '@edge-dmp/core';
import '../layers.js'; // registers the custom layers before any model.json is deserialised

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Writes a file via a temporary name + rename, so readers never see half a file. */
async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

function concatWeightData(d: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (!d) return new Uint8Array(0);
  const parts = Array.isArray(d) ? d : [d];
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), o);
    o += p.byteLength;
  }
  return out;
}

/**
 * An IOHandler for a directory on disk.
 * @example await model.save(fileSystemHandler('runs/x/best'));
 */
export function fileSystemHandler(dir: string): tf.io.IOHandler {
  return {
    async save(a: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      await mkdir(dir, { recursive: true });
      const weights = concatWeightData(a.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
      const modelJson = {
        modelTopology: a.modelTopology,
        format: a.format ?? 'layers-model',
        generatedBy: a.generatedBy,
        convertedBy: 'edge-dmp',
        userDefinedMetadata: a.userDefinedMetadata,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs ?? [] }],
      };
      await atomicWrite(join(dir, WEIGHTS_BIN), weights);
      await atomicWrite(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = join(dir, MODEL_JSON);
      let text: string;
      try {
        text = await readFile(jsonPath, 'utf8');
      } catch (e) {
        throw new ModelError({
          field: jsonPath,
          expected: 'a readable model.json (a directory written by saveModel)',
          received: (e as NodeJS.ErrnoException).code ?? String(e),
        });
      }
      let j: {
        modelTopology?: object;
        weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        userDefinedMetadata?: { [key: string]: object };
      };
      try {
        j = JSON.parse(text);
      } catch (e) {
        throw new ModelError({ field: jsonPath, expected: 'valid JSON', received: (e as Error).message });
      }
      if (!j.modelTopology || !Array.isArray(j.weightsManifest)) {
        throw new ModelError({
          field: jsonPath,
          expected: 'a tfjs Layers model.json with modelTopology and weightsManifest',
          received: Object.keys(j),
        });
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of j.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const wp = join(dir, p);
          try {
            buffers.push(await readFile(wp));
          } catch (e) {
            throw new ModelError({
              field: wp,
              expected: 'the weights file named in model.json',
              received: (e as NodeJS.ErrnoException).code ?? String(e),
            });
          }
        }
      }
      const weightData = concatWeightData(
        buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
      );
      return {
        modelTopology: j.modelTopology,
        weightSpecs: specs,
        weightData: weightData.buffer as ArrayBuffer,
        format: j.format,
        generatedBy: j.generatedBy,
        convertedBy: j.convertedBy,
        userDefinedMetadata: j.userDefinedMetadata,
      };
    },
  };
}

/**
 * Saves a model to `dir` (created if needed) in the tfjs Layers format.
 * @example await saveModel(createModel({ model: 'efficientnet-b0', classes: 10 }), 'out/b0');
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileSystemHandler(dir));
}

/**
 * Loads a model saved by {@link saveModel} (custom layers included).
 * @example const m = await loadModel('runs/x/best');
 */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(fileSystemHandler(dir));
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError({
      field: dir,
      expected: 'a loadable tfjs Layers model',
      received: (e as Error).message,
    });
  }
}
