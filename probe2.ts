import { GraphBuilder } from '/work/main/converter/tflite/graph.js';
import { writeTflite } from '/work/main/converter/tflite/writer.js';
import { readTflite } from '/work/main/converter/tflite/reader.js';
import { loadTfliteModel, runtimeHeapBytes, runtimeAllocMark } from '/work/main/device/tflite-runtime.js';
const g = new GraphBuilder();
const x = g.tensor({ name: 'x', shape: [1, 4], type: 'FLOAT32' });
const y = g.tensor({ name: 'y', shape: [1, 4], type: 'FLOAT32' });
const z = g.tensor({ name: 'z', shape: [1, 4], type: 'FLOAT32' });
g.op({ op: 'LOGISTIC', inputs: [x], outputs: [y] });
g.op({ op: 'MUL', inputs: [x, y], outputs: [z], options: { kind: 'MulOptions', values: { fused_activation_function: 0 } } });
g.graph.inputs = [x]; g.graph.outputs = [z];
const bytes = writeTflite(g.graph);
console.log(bytes.length, JSON.stringify(readTflite(bytes).ops));
for (const threads of [1, 2]) {
const m = await loadTfliteModel(bytes, {threads});
console.log(m.inputs, m.outputs, m.infer([new Float32Array([0, 1, -1, 2])]));
m.dispose();
}
const h0 = await runtimeHeapBytes(); const a0 = await runtimeAllocMark();
for (let i = 0; i < 1000; i++) { const m = await loadTfliteModel(bytes); m.infer([new Float32Array(4)]); m.dispose(); }
console.log(h0, await runtimeHeapBytes(), a0, await runtimeAllocMark());
