#!/usr/bin/python3
"""Runs .tflite files in Arm NN (TfLite parser + CpuRef reference backend), a second TFLite
implementation for test/armnn-parity.test.ts.

usage: armnn_run.py JOBS.json
JOBS.json: [{"model": "a.tflite", "input": "x.bin", "output": "y.bin"}, ...]; input holds the raw
bytes of the model's one input tensor (its own dtype), output receives the raw bytes of its one
output. Prints one JSON line per job: {"ok": true, "dtype": ..., "shape": [...]} or
{"ok": false, "stage": "parse" | "optimize" | "load" | "run", "error": "..."}; a model Arm NN
refuses is a result, not a crash, so one run covers every file.
"""
import json
import sys

import numpy as np
import pyarmnn as ann

DTYPES = {
    ann.DataType_Float32: np.float32,
    ann.DataType_QAsymmS8: np.int8,
    ann.DataType_QAsymmU8: np.uint8,
    ann.DataType_Signed32: np.int32,
}


def run(job, runtime):
    stage = "parse"
    try:
        parser = ann.ITfLiteParser()
        net = parser.CreateNetworkFromBinaryFile(job["model"])
        in_name = parser.GetSubgraphInputTensorNames(0)[0]
        out_name = parser.GetSubgraphOutputTensorNames(0)[0]
        in_binding = parser.GetNetworkInputBindingInfo(0, in_name)
        out_binding = parser.GetNetworkOutputBindingInfo(0, out_name)
        stage = "optimize"
        opt, _ = ann.Optimize(
            net, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions()
        )
        stage = "load"
        net_id, _ = runtime.LoadNetwork(opt)
        stage = "run"
        in_dtype = DTYPES[in_binding[1].GetDataType()]
        x = np.fromfile(job["input"], dtype=in_dtype)
        inputs = ann.make_input_tensors([in_binding], [x])
        outputs = ann.make_output_tensors([out_binding])
        runtime.EnqueueWorkload(net_id, inputs, outputs)
        y = ann.workload_tensors_to_ndarray(outputs)[0]
        runtime.UnloadNetwork(net_id)
        np.ascontiguousarray(y).tofile(job["output"])
        return {"ok": True, "dtype": str(y.dtype), "shape": list(y.shape)}
    except Exception as e:  # Arm NN raises RuntimeError / its own types; report, keep going
        return {"ok": False, "stage": stage, "error": " ".join(str(e).split())[:400]}


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    runtime = ann.IRuntime(ann.CreationOptions())
    for job in jobs:
        print(json.dumps(run(job, runtime)), flush=True)


if __name__ == "__main__":
    main()
