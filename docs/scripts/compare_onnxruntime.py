"""ONNX Runtime inference on LeukNet-S (batch 32 and one image), 1 thread, for the side-by-side with leuknode bench."""
import statistics, sys, time, os, importlib.util
import numpy as np, torch, onnxruntime as ort
spec = importlib.util.spec_from_file_location("cmp", sys.argv[1])
cmp = importlib.util.module_from_spec(spec); spec.loader.exec_module(cmp)
torch.manual_seed(1)
model = cmp.LeukNetS().eval()
import tempfile
path = os.path.join(tempfile.mkdtemp(), "leuknet-s.onnx")
torch.onnx.export(model, torch.randn(1, 3, 64, 64), path, input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
x = np.random.default_rng(99).uniform(-1, 1, (32, 3, 64, 64)).astype(np.float32)
ref = model(torch.from_numpy(x)).detach().numpy()
out = session.run(None, {"x": x})[0]
assert np.abs(out - ref).max() < 1e-4, np.abs(out - ref).max()
for _ in range(3): session.run(None, {"x": x})
rates = []
for _ in range(7):
    start = time.perf_counter()
    for _ in range(30): session.run(None, {"x": x})
    rates.append(32 * 30 / (time.perf_counter() - start))
one = x[:1]
for _ in range(20): session.run(None, {"x": one})
lat = []
for _ in range(300):
    start = time.perf_counter()
    logits = session.run(None, {"x": one})[0]
    e = np.exp(logits - logits.max(1, keepdims=True)); e / e.sum(1, keepdims=True)
    lat.append((time.perf_counter() - start) * 1000)
lat.sort()
print(f"onnxruntime {ort.__version__}: infer {statistics.median(rates):.0f} img/s, latency p50 {statistics.median(lat):.3f} ms, p99 {lat[int(0.99 * 299)]:.3f} ms")
