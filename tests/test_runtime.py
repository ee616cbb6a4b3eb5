"""One runtime interface over checkpoint, ONNX, TorchScript (and, with a GPU, TensorRT)."""

import json
import warnings
import zipfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from edgeact.checkpoint import build_meta, load_checkpoint, save_checkpoint
from edgeact.cli_options import name_option
from edgeact.data.cache import encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset
from edgeact.engine import predict
from edgeact.errors import EdgeactError
from edgeact.evaluate import EvalOptions, evaluate_artifact, predict_runtime
from edgeact.export import export_model
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.runtime import detect_kind, load_runtime, read_meta
from edgeact.types import InputSpec

SPEC = InputSpec(frames=4, size=32, resize=40)
CLASSES = ClassList(("wave left", "wave right", "sit", "stand"), mirror=((0, 1),))
HIERARCHY = {"assignments": [[0, 0, 1, 1]]}


def tiny_model(seed=0):
    """A small net with non-trivial batch-norm statistics (as after training), so logits vary
    from clip to clip and folding the norms into the convs is actually exercised."""
    torch.manual_seed(seed)
    model = create_model("i3d_r18", num_classes=4, levels=(2, None, None), width=0.125)
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return model.eval()


def fit_a_little(model, cache, steps=30):
    """A few full-batch Adam steps on every clip of the toy cache: enough for the net to tell
    the clips apart (a constant predictor would make eval comparisons meaningless)."""
    items = [ClipDataset(cache, "toy", split, train=False, spec=SPEC, num_test_sets=1) for split in ("train", "test")]
    x = torch.cat([torch.stack([ds[i][0][0] for i in range(len(ds))]) for ds in items])
    y = torch.cat([torch.as_tensor(ds.labels) for ds in items])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x)[-1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return _toy_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, cache):
    d = tmp_path_factory.mktemp("rt")
    model = fit_a_little(tiny_model(), cache)
    pt = save_checkpoint(d / "m.pt", model, build_meta(model, CLASSES, SPEC, benchmark="toy", hierarchy=HIERARCHY))
    onnx_path = export_model(pt, "onnx", d / "m.onnx").path
    ts_path = export_model(pt, "torchscript", d / "m.ts", device="cpu").path
    return {"pt": pt, "onnx": onnx_path, "ts": ts_path, "model": model}


def _clips(b, seed=0, spec=SPEC):
    return np.random.default_rng(seed).standard_normal((b, 3, spec.frames, spec.size, spec.size), dtype=np.float32)


def test_every_backend_gives_the_models_logits(artifacts):
    x = _clips(3)
    with torch.no_grad():
        expected = [o.numpy() for o in artifacts["model"](torch.from_numpy(x))]
    backends = {"pt": "torch", "onnx": "onnx", "ts": "torchscript"}
    for key, backend in backends.items():
        rt = load_runtime(artifacts[key], "cpu")
        assert rt.backend == backend and rt.device == "cpu" and rt.precision == "fp32"
        assert rt.classes == CLASSES and rt.input_spec == SPEC and rt.hierarchy == HIERARCHY
        assert rt.meta["benchmark"] == "toy" and rt.output_names == ["logits_l1", "fine"]
        out = rt(x)
        assert isinstance(out, tuple) and [o.shape for o in out] == [(3, 2), (3, 4)]
        assert all(o.dtype == np.float32 for o in out)
        for got, want in zip(out, expected):
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=backend)
        # a torch tensor in gives the same numbers as numpy in
        for got, want in zip(rt(torch.from_numpy(x)), out):
            np.testing.assert_array_equal(got, want)


def test_compiled_checkpoint_gives_the_eager_logits_for_any_batch(artifacts):
    """torch.compile (inductor, on the CPU here): warm-up at two batch sizes, then a third size
    runs without error and matches the eager model."""
    eager = load_runtime(artifacts["pt"], "cpu")
    rt = load_runtime(artifacts["pt"], "cpu", compile="default")
    assert rt.backend == "torch" and rt.compile == "default" and eager.compile is None
    rt.warmup(1, 2)
    x = _clips(3, seed=2)
    for got, want in zip(rt(x), eager(x)):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_compile_option_errors(artifacts, cache):
    with pytest.raises(EdgeactError, match=r"^compile: applies to .pt checkpoints; .*m.onnx is an exported") as info:
        load_runtime(artifacts["onnx"], "cpu", compile="default")
    name_option(info.value, "eval")
    assert str(info.value).startswith("--compile: applies to .pt checkpoints; ")
    with pytest.raises(EdgeactError, match=r"^compile: applies to .pt checkpoints; .*m.onnx is an exported"):
        evaluate_artifact(artifacts["onnx"], cache, EvalOptions(device="cpu", compile="default"))
    with pytest.raises(EdgeactError, match="reduce-overhead uses CUDA graphs and needs a CUDA device"):
        load_runtime(artifacts["pt"], "cpu", compile="reduce-overhead")
    with pytest.raises(EdgeactError, match="^compile: fast: not a torch.compile mode"):
        load_runtime(artifacts["pt"], "cpu", compile="fast")


def test_detect_kind_and_meta_without_loading(artifacts):
    assert [detect_kind(artifacts[k]) for k in ("pt", "onnx", "ts")] == ["checkpoint", "onnx", "torchscript"]
    base = read_meta(artifacts["pt"])
    for key in ("onnx", "ts"):
        meta = read_meta(artifacts[key])
        assert {k: v for k, v in meta.items() if k != "export"} == base
        assert meta["export"]["outputs"] == ["logits_l1", "fine"] and meta["export"]["max_abs_diff"] < 1e-3


def test_a_misnamed_artifact_still_loads_by_content(artifacts, tmp_path):
    odd = tmp_path / "model.bin"
    odd.write_bytes(artifacts["ts"].read_bytes())
    assert detect_kind(odd) == "torchscript"
    odd.write_bytes(artifacts["onnx"].read_bytes())
    assert detect_kind(odd) == "onnx" and load_runtime(odd, "cpu").backend == "onnx"


def test_large_batches_are_split_for_fixed_batch_backends(artifacts):
    rt = load_runtime(artifacts["onnx"], "cpu")
    x = _clips(5, seed=1)
    whole = rt(x)
    rt.max_batch = 2                       # as a TensorRT engine built for batches up to 2
    calls = []
    infer = rt._infer
    rt._infer = lambda c: calls.append(len(c)) or infer(c)
    split = rt(x)
    assert calls == [2, 2, 1]
    for a, b in zip(split, whole):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_input_shape_and_precision_errors(artifacts):
    rt = load_runtime(artifacts["onnx"], "cpu")
    with pytest.raises(EdgeactError, match=r"m\.onnx: this onnx artifact takes clips \(B, 3, 4, 32, 32\)"):
        rt(_clips(1, spec=InputSpec(frames=4, size=64)))
    with pytest.raises(EdgeactError, match=r"expected clips \(B, 3, T, S, S\)"):
        load_runtime(artifacts["pt"], "cpu")(np.zeros((1, 3, 32, 32), np.float32))
    # the eager model pools globally: other sizes are fine
    assert load_runtime(artifacts["pt"], "cpu")(_clips(1, spec=InputSpec(frames=2, size=64)))[1].shape == (1, 4)
    with pytest.raises(EdgeactError, match="fp16 needs a CUDA device"):
        load_runtime(artifacts["pt"], "cpu", fp16=True)
    with pytest.raises(EdgeactError, match=r"m\.onnx: an fp32 ONNX model"):
        load_runtime(artifacts["onnx"], "cpu", fp16=True)
    with pytest.raises(EdgeactError, match=r"m\.ts: exported in fp32"):
        load_runtime(artifacts["ts"], "cpu", fp16=True)


def test_files_that_are_not_edgeact_artifacts_are_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    for name in ("junk.pt", "junk.onnx", "junk.bin", "junk.ts"):
        p = tmp_path / name
        p.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(EdgeactError, match=rf"{name}: not"):
            load_runtime(p, "cpu")
    # a valid ONNX model, but not one edgeact wrote
    graph = helper.make_graph([helper.make_node("Identity", ["clips"], ["fine"])], "g",
                              [helper.make_tensor_value_info("clips", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("fine", TensorProto.FLOAT, [1, 4])])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(plain))
    with pytest.raises(EdgeactError, match=r"plain\.onnx: an ONNX model without edgeact metadata"):
        load_runtime(plain, "cpu")
    with pytest.raises(EdgeactError, match=r"plain\.onnx: an ONNX model without edgeact metadata"):
        read_meta(plain)
    # a TorchScript module without the metadata file
    ts = tmp_path / "plain.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # torch 2.10+ deprecates TorchScript
        torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(ts))
    with pytest.raises(EdgeactError, match=r"plain\.ts: not an edgeact TorchScript file"):
        load_runtime(ts, "cpu")
    # an engine without its sidecar: refused before TensorRT is even needed
    eng = tmp_path / "model.engine"
    eng.write_bytes(b"\x00" * 64)
    with pytest.raises(EdgeactError, match=r"model\.engine: no metadata sidecar model\.engine\.json"):
        load_runtime(eng, "cpu")
    with pytest.raises(EdgeactError, match=r"missing\.onnx: no such file"):
        load_runtime(tmp_path / "missing.onnx")


def test_torchscript_meta_lives_in_the_archive(artifacts):
    with zipfile.ZipFile(artifacts["ts"]) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/extra/edgeact_meta.json"))
        assert json.loads(zf.read(name))["export"]["format"] == "torchscript"


# ----------------------------------------------------------------------------- eval through the runtime

def _toy_cache(root, per_class=3):
    """4 classes of a bar sweeping left/right in one of two colours; 2 of every 3 performers test."""
    rng = np.random.default_rng(0)
    samples = []
    for k in range(per_class * 4):
        label = k % 4
        frames = rng.integers(0, 40, (9, 40, 40, 3)).astype(np.uint8)
        for t in range(9):
            x = 2 + 3 * t if label % 2 == 0 else 32 - 3 * t
            frames[t, :, x:x + 6, label // 2] = 250
        name = f"S001C001P{k // 4:03d}R001A{label + 1:03d}"
        atomic_write_bytes(pack_path(root, name), encode_pack(frames))
        samples.append({"name": name, "label": label, "num_frames": 9,
                        "splits": {"toy": "train" if k // 4 == 0 else "test"}})
    atomic_write_json(root / "index.json", {"meta": {"classes": CLASSES.to_dict(), "benchmarks": ["toy"]},
                                            "samples": samples})
    return root


def test_eval_through_onnx_matches_the_checkpoint(artifacts, cache):
    opts = EvalOptions(workers=0, test_sets=2, batch_size=3)            # benchmark from the artifact's meta
    rep_pt = evaluate_artifact(artifacts["pt"], cache, opts)
    rep_onnx = evaluate_artifact(artifacts["onnx"], cache, opts)
    assert rep_pt["clips"] == rep_onnx["clips"] == 8 and rep_pt["benchmark"] == "toy"
    assert (rep_pt["backend"], rep_onnx["backend"]) == ("torch", "onnx")
    assert rep_onnx["top1"] == rep_pt["top1"] and rep_onnx["confusion"] == rep_pt["confusion"]
    assert rep_onnx["levels"][0]["accuracy"] == rep_pt["levels"][0]["accuracy"]
    predicted = np.asarray(rep_pt["confusion"]).sum(0)
    assert (predicted > 0).sum() >= 2 and rep_pt["top1"] > 0.25     # the comparison is not between constant predictors


def test_runtime_predict_equals_the_training_predict_for_checkpoints(artifacts, cache):
    """eval through load_runtime gives bit-identical scores to engine.predict on the torch model."""
    ds = ClipDataset(cache, "toy", "test", train=False, spec=SPEC, num_test_sets=3)
    loader = DataLoader(ds, batch_size=3, num_workers=0)
    probs_rt, labels_rt = predict_runtime(load_runtime(artifacts["pt"], "cpu"), loader)
    probs_ref, labels_ref = predict(load_checkpoint(artifacts["pt"]).model, loader, torch.device("cpu"))
    np.testing.assert_array_equal(labels_rt, labels_ref)
    for a, b in zip(probs_rt, probs_ref):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(probs_rt[-1].sum(1), 1.0, atol=1e-5)


def test_eval_refuses_an_artifact_of_other_classes(artifacts, tmp_path):
    cache = _toy_cache(tmp_path / "other")
    index = json.loads((cache / "index.json").read_text())
    index["meta"]["classes"] = ClassList(("a", "b", "c", "d")).to_dict()
    atomic_write_json(cache / "index.json", index)
    with pytest.raises(EdgeactError, match=r"m\.onnx: trained on 4 classes that differ"):
        evaluate_artifact(artifacts["onnx"], cache, EvalOptions(workers=0, test_sets=1))


# ----------------------------------------------------------------------------- GPU only (TensorRT, CUDA)

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")


@pytest.mark.gpu
@needs_gpu
def test_tensorrt_engine_runs_through_the_same_interface(artifacts, tmp_path):
    pytest.importorskip("tensorrt")
    res = export_model(artifacts["pt"], "engine", tmp_path / "m.engine", batch=2, max_batch=4, device="cuda")
    rt = load_runtime(res.path, "cuda")
    assert rt.backend == "tensorrt" and rt.max_batch == 4 and rt.classes == CLASSES
    x = _clips(7, seed=3)                                   # split into 4 + 3
    with torch.no_grad():
        expected = [o.numpy() for o in artifacts["model"](torch.from_numpy(x))]
    for got, want in zip(rt(x), expected):
        np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)


@pytest.mark.gpu
@needs_gpu
def test_torch_runtime_fp16_on_cuda(artifacts):
    rt = load_runtime(artifacts["pt"], "cuda", fp16=True)
    assert rt.precision == "fp16" and rt.device.startswith("cuda")
    x = _clips(2, seed=4)
    ref = load_runtime(artifacts["pt"], "cpu")(x)
    for got, want in zip(rt(x), ref):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=5e-2 * max(1.0, np.abs(want).max()))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_runtime_on_cuda(artifacts, mode):
    """torch.compile on CUDA, with CUDA graphs for reduce-overhead: batches of a size never seen
    at warm-up still match the eager CPU logits."""
    rt = load_runtime(artifacts["pt"], "cuda", compile=mode)
    rt.warmup(1, 2)
    ref = load_runtime(artifacts["pt"], "cpu")
    for b in (1, 3):
        x = _clips(b, seed=5 + b)
        for got, want in zip(rt(x), ref(x)):
            np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)


# ----------------------------------------------------------------------------- where onnxruntime actually runs

def _ort_runs_on_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available()


@pytest.mark.skipif(_ort_runs_on_cuda(), reason="onnxruntime runs on CUDA here: nothing falls back")
def test_onnx_asked_for_cuda_that_runs_on_the_cpu_warns_in_one_line(artifacts):
    from edgeact.runtime.onnx_backend import ProviderFallbackWarning

    with pytest.warns(ProviderFallbackWarning) as record:
        rt = load_runtime(artifacts["onnx"], "cuda")
    [w] = record.list
    assert str(w.message).startswith("asked for cuda, running on the CPU, not CUDA: ")
    assert w.filename == str(artifacts["onnx"])              # located at the model, not at edgeact's code
    shown = warnings.formatwarning(w.message, w.category, w.filename, w.lineno, None)
    assert shown.count("\n") == 1 and shown.endswith("\n")  # how the CLI prints it: one line
    assert rt.provider == "CPUExecutionProvider" == rt.providers[0] and rt.device == "cpu" and rt.fallback
    x = _clips(2, seed=3)
    for got, want in zip(rt(x), load_runtime(artifacts["onnx"], "cpu")(x)):
        np.testing.assert_array_equal(got, want)


def test_onnx_on_cpu_or_auto_reports_its_provider_without_warning(artifacts):
    from edgeact.runtime.onnx_backend import ProviderFallbackWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ProviderFallbackWarning)
        cpu = load_runtime(artifacts["onnx"], "cpu")
        auto = load_runtime(artifacts["onnx"], "auto")
    assert cpu.provider == "CPUExecutionProvider" and cpu.fallback is None and auto.fallback is None
    assert auto.provider == auto.providers[0] and auto.device == ("cuda" if auto.provider.startswith("CUDA") else "cpu")


def test_why_onnxruntime_fell_back_to_the_cpu():
    """The two ways ``--device cuda`` ends on the CPU: a CPU-only build, and a GPU build (it lists
    CUDA) whose CUDA provider did not start, as onnxruntime-gpu does on a machine without a GPU
    or without its CUDA/cuDNN libraries."""
    from edgeact.runtime.onnx_backend import CPU, CUDA, fallback_reason, providers_for

    assert providers_for("cuda:1", [CUDA, CPU]) == [(CUDA, {"device_id": 1}), CPU]
    assert providers_for("cuda", [CPU]) == [CPU] and providers_for("cpu", [CUDA, CPU]) == [CPU]
    assert "has no CUDA provider (pip install onnxruntime-gpu" in fallback_reason("cuda", [CPU], [CPU])
    assert "could not start its CUDA provider" in fallback_reason("cuda:1", [CUDA, CPU], [CPU])
    assert fallback_reason("cuda", [CUDA, CPU], [CUDA, CPU]) is None
    assert fallback_reason("auto", [CUDA, CPU], [CPU]) is None and fallback_reason("cpu", [CPU], [CPU]) is None
