"""Export to ONNX / TorchScript (run here) and TensorRT (GPU only), checked against PyTorch.

What of the strongly typed TensorRT build runs without a GPU is in test_tensorrt_typed.py."""

import json
import re
import warnings

import numpy as np
import pytest
import torch

from edgeact import pruning
from edgeact.checkpoint import build_meta, save_checkpoint
from edgeact.data.cache import encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.export import export_model, export_spec, max_abs_diff, parity_limit
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.runtime import detect_kind, load_runtime, read_meta
from edgeact.runtime.tensorrt_backend import read_sidecar, sidecar_path, write_sidecar
from edgeact.types import InputSpec

SPEC = InputSpec(frames=4, size=32, resize=40)
CLASSES = ClassList(("a", "b", "c", "d", "e"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An N-UCLA-shaped model: no head after stack 1, superclass heads after stacks 2 and 3."""
    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=5, levels=(None, 2, 3), width=0.125).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):       # trained-like statistics, not the identity
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
    pruning.prune_filters(model, 0.25)                # masked filters must survive export
    meta = build_meta(model, CLASSES, SPEC, benchmark="toy", hierarchy={"assignments": [[0, 0, 1, 1, 1], [0, 0, 1, 1, 2]]})
    path = save_checkpoint(tmp_path_factory.mktemp("ex") / "best.pt", model, meta)
    return path, model, meta


def _ort_session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_round_trip(ckpt, tmp_path):
    import onnx

    pt, model, meta = ckpt
    lines = []
    res = export_model(pt, "onnx", tmp_path / "m.onnx", log=lines.append)
    assert res.path == tmp_path / "m.onnx" and res.format == "onnx" and res.max_abs_diff <= 1e-3
    assert any("max abs difference" in line for line in lines)
    proto = onnx.load(str(res.path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in proto.graph.input] == ["clips"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [o.name for o in proto.graph.output] == ["logits_l2", "logits_l3", "fine"]
    stored = json.loads({p.key: p.value for p in proto.metadata_props}["edgeact_meta"])
    assert {k: v for k, v in stored.items() if k != "export"} == meta
    assert stored["export"]["outputs"] == ["logits_l2", "logits_l3", "fine"]
    # onnxruntime directly (not through edgeact's runtime) on batches of 1 and 3
    sess = _ort_session(res.path)
    for b in (1, 3):
        x = torch.randn(b, 3, 4, 32, 32)
        with torch.no_grad():
            want = [o.numpy() for o in model(x)]
        got = sess.run(["logits_l2", "logits_l3", "fine"], {"clips": x.numpy()})
        assert [g.shape for g in got] == [(b, 2), (b, 3), (b, 5)]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-4, rtol=0)


def test_default_output_and_frames_size_override(ckpt, tmp_path):
    pt, model, _ = ckpt
    res = export_model(pt, "onnx", frames=2, size=64)
    assert res.path == pt.with_suffix(".onnx")
    spec = InputSpec.from_dict(read_meta(res.path)["input"])
    assert (spec.frames, spec.size, spec.resize) == (2, 64, 80)          # resize keeps 40/32 of size
    rt = load_runtime(res.path, "cpu")
    x = torch.randn(2, 3, 2, 64, 64)
    with torch.no_grad():
        want = model(x)[-1].numpy()
    np.testing.assert_allclose(rt(x)[-1], want, atol=1e-4)
    res.path.unlink()


def test_torchscript_round_trip(ckpt, tmp_path):
    pt, model, meta = ckpt
    res = export_model(pt, "torchscript", tmp_path / "m.ts", device="cpu")
    assert res.max_abs_diff <= 1e-3 and detect_kind(res.path) == "torchscript"
    files = {"edgeact_meta.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(res.path), _extra_files=files)        # plain torch, no edgeact
    assert {k: v for k, v in json.loads(files["edgeact_meta.json"]).items() if k != "export"} == meta
    for b in (1, 3):
        x = torch.randn(b, 3, 4, 32, 32)
        with torch.no_grad():
            for g, w in zip(module(x), model(x)):
                torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


def test_an_export_beyond_tolerance_fails_and_writes_nothing(ckpt, tmp_path):
    pt, _, _ = ckpt
    out = tmp_path / "m.onnx"
    with pytest.raises(EdgeactError, match=r"m\.onnx: onnx output differs from PyTorch by .* > tolerance 1e-30; nothing written"):
        export_model(pt, "onnx", out, tolerance=1e-30)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_parity_figures_by_hand():
    ref = (np.array([[1.0, -4.0]]), np.array([[0.5, 2.0, 3.0]]))
    got = (np.array([[1.0, -4.002]]), np.array([[0.5, 2.0, 3.01]]))
    diff, scale = max_abs_diff(ref, got)
    assert diff == pytest.approx(0.01) and scale == 4.0
    assert parity_limit("fp32", 1e-3, scale) == 1e-3
    assert parity_limit("fp16", 1e-3, scale) == pytest.approx(0.04)      # 1 % of the largest logit
    assert parity_limit("fp16", 1e-3, 0.5) == pytest.approx(0.01)        # at least 1 % of 1
    assert parity_limit("int8", 1e-3, scale) is None
    with pytest.raises(EdgeactError, match="returns 1 outputs, PyTorch 2"):
        max_abs_diff(ref, got[:1])


def test_export_spec_keeps_the_margin():
    base = InputSpec(frames=8, size=224, resize=256)
    assert export_spec(base, None, None) == base
    assert (export_spec(base, 16, 112).frames, export_spec(base, 16, 112).resize) == (16, 128)
    with pytest.raises(EdgeactError, match="^size: must be >= 32"):
        export_spec(base, None, 16)


@pytest.mark.parametrize("kwargs, message", [
    (dict(fmt="tflite"), "fmt: 'tflite': choose one of onnx, torchscript, engine"),
    (dict(fmt="onnx", int8=True), "calib_data: INT8 needs a cache made by `edgeact prep`"),
    (dict(fmt="engine", int8=True), "calib_data: INT8 needs a cache"),
    (dict(fmt="torchscript", int8=True), "int8: applies to ONNX (Q/DQ) and TensorRT engines, not TorchScript"),
    (dict(fmt="engine", int8=True, via="torch-tensorrt", calib_data="c"), "via: INT8 engines are built from the Q/DQ"),
    (dict(fmt="onnx", calib_data="c"), "calib_data: apply to INT8 exports only"),
    (dict(fmt="onnx", int8=True, calib_data="c", calib_clips=0), "calib_clips: must be >= 1"),
    (dict(fmt="torchscript", calib_clips=4, calib_method="entropy"),
     "calib_clips, calib_method: apply to INT8 ONNX and engines, not TorchScript"),
    (dict(fmt="onnx", fp16=True, int8=True, calib_data="c"), "fp16, int8: choose one"),
    (dict(fmt="onnx", opset=13), "opset: must be >= 17"),
    (dict(fmt="onnx", batch=0), "batch: must be >= 1"),
    (dict(fmt="engine", batch=4, max_batch=2), "max_batch: 2 is smaller than the batch size 4"),
    (dict(fmt="onnx", via="torch-tensorrt"), "via: torch-tensorrt applies to TensorRT engines only"),
    (dict(fmt="torchscript", fp16=True, device="cpu"), "fp16: a half-precision TorchScript needs CUDA"),
])
def test_bad_arguments_name_the_keyword(ckpt, tmp_path, kwargs, message):
    """Called from Python, export_model's errors name its keyword arguments (the CLI names its
    options instead: test_cli_errors_name_the_options)."""
    pt, _, _ = ckpt
    fmt = kwargs.pop("fmt")
    with pytest.raises(EdgeactError, match="^" + re.escape(message)):
        export_model(pt, fmt, tmp_path / "x.out", **kwargs)


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "--format: 'tflite': choose one of"),
    (["--int8"], "--int8-data: INT8 needs a cache made by `edgeact prep`"),
    (["--int8-clips", "4"], "--int8-clips: apply to INT8 exports only"),
    (["--int8", "--int8-data", "c", "--int8-clips", "0"], "--int8-clips: must be >= 1"),
    (["--batch-size", "4", "--max-batch", "2", "--format", "engine"], "--max-batch: 2 is smaller than the batch size"),
    (["--batch-size", "0"], "--batch-size: must be >= 1"),
])
def test_cli_errors_name_the_options(ckpt, tmp_path, args, message):
    from typer.testing import CliRunner

    from edgeact.cli import app

    pt, _, _ = ckpt
    defaults = [] if "--format" in args else ["--format", "onnx"]
    result = CliRunner().invoke(app, ["export", "--model", str(pt), "--out", str(tmp_path / "x.out"), *defaults,
                                      *args])
    assert isinstance(result.exception, EdgeactError), result.output
    assert str(result.exception).startswith(message), str(result.exception)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only refusal")
def test_engine_export_without_a_gpu_says_what_it_needs(ckpt, tmp_path):
    pt, _, _ = ckpt
    with pytest.raises(EdgeactError, match="tensorrt|CUDA"):
        export_model(pt, "engine", tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_compact_export(ckpt, tmp_path):
    pt, model, _ = ckpt
    res = export_model(pt, "onnx", tmp_path / "c.onnx", compact=True)
    meta = read_meta(res.path)
    assert meta["compacted"] is True
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        want = model(x)[-1].numpy()
    np.testing.assert_allclose(load_runtime(res.path, "cpu")(x)[-1], want, atol=1e-4)
    assert res.path.stat().st_size < export_model(pt, "onnx", tmp_path / "full.onnx").path.stat().st_size


# ----------------------------------------------------------------------------- engine pieces that run on a CPU

def _cache(root, n=7, frames=9):
    """A prepared cache of ``n`` random clips of the 5 toy classes, all in the train split of 'toy'."""
    rng = np.random.default_rng(0)
    samples = []
    for k in range(n):
        name = f"S001C001P001R001A{k + 1:03d}"
        atomic_write_bytes(pack_path(root, name), encode_pack(rng.integers(0, 256, (frames, 40, 40, 3), dtype=np.uint8)))
        samples.append({"name": name, "label": k % 5, "num_frames": frames, "splits": {"toy": "train"}})
    atomic_write_json(root / "index.json", {"meta": {"classes": CLASSES.to_dict(), "benchmarks": ["toy"]},
                                            "samples": samples})
    return root


def test_engine_sidecar_round_trip(ckpt, tmp_path):
    _, _, meta = ckpt
    engine = tmp_path / "m.plan"
    engine.write_bytes(b"\x01\x02engine")
    full = {**meta, "export": {"format": "engine", "precision": "fp16", "outputs": ["logits_l2", "logits_l3", "fine"]}}
    side = write_sidecar(engine, full)
    assert side == sidecar_path(engine) == tmp_path / "m.plan.json"
    assert read_sidecar(engine) == full and read_meta(engine) == full and detect_kind(engine) == "engine"
    odd = tmp_path / "model.bin"                  # unknown suffix, but a sidecar says what it is
    odd.write_bytes(b"\x01\x02engine")
    write_sidecar(odd, full)
    assert detect_kind(odd) == "engine"
    atomic_write_json(side, {**meta, "export": {"format": "onnx"}})
    with pytest.raises(EdgeactError, match=r"m\.plan\.json: not the metadata of an edgeact TensorRT engine"):
        read_sidecar(engine)
    side.write_text("{not json")
    with pytest.raises(EdgeactError, match=r"m\.plan\.json: engine metadata is not JSON"):
        read_sidecar(engine)


# ----------------------------------------------------------------------------- TensorRT (GPU only)

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")


def _ort_logits(path, x):
    """onnxruntime on the CPU, not through edgeact: the reference an engine is judged against."""
    sess = _ort_session(path)
    return sess.run([o.name for o in sess.get_outputs()], {"clips": x.numpy()})


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_strongly_typed_engine_matches_onnxruntime_on_its_onnx(ckpt, tmp_path, precision):
    """The engine of each precision is built from the ONNX of that precision; it must agree with
    onnxruntime running that ONNX (fp32 within 1e-3: TF32 is off; fp16 within 1 % of the
    logits; INT8 Q/DQ within a tenth of the logit range) and its sidecar says how it was made."""
    trt = pytest.importorskip("tensorrt")
    pt, model, meta = ckpt
    extra = dict(calib_data=_cache(tmp_path / "cache", n=8), calib_clips=8) if precision == "int8" else {}
    onnx_out = export_model(pt, "onnx", tmp_path / f"m.{precision}.onnx", fp16=precision == "fp16",
                            int8=precision == "int8", **extra)
    res = export_model(onnx_out.path, "engine", tmp_path / "m.engine", batch=2, max_batch=4, device="cuda")
    assert res.sidecar == tmp_path / "m.engine.json" and res.precision == precision
    side = read_sidecar(res.path)
    assert side["export"]["tensorrt_version"] == trt.__version__ and side["export"]["strongly_typed"] is True
    assert side["export"]["max_batch"] == 4 and side["classes"] == meta["classes"]
    assert side["export"]["onnx"]["precision"] == precision
    rt = load_runtime(res.path, "cuda")
    assert rt.backend == "tensorrt" and rt.max_batch == 4 and rt.precision == precision
    x = torch.randn(6, 3, 4, 32, 32)
    want = _ort_logits(onnx_out.path, x)
    scale = max(1.0, max(float(np.abs(w).max()) for w in want))
    bound = {"fp32": 1e-3, "fp16": 1e-2 * scale, "int8": 0.1 * scale}[precision]
    for g, w in zip(rt(x), want):
        np.testing.assert_allclose(g, w, atol=bound, rtol=0)
    # from the checkpoint directly: the same precision ONNX is made on the way
    direct = export_model(pt, "engine", tmp_path / "d.engine", fp16=precision == "fp16", int8=precision == "int8",
                          batch=2, device="cuda", **extra)
    assert direct.precision == precision and read_sidecar(direct.path)["export"]["onnx"]["precision"] == precision


@pytest.mark.gpu
@needs_gpu
def test_engine_from_an_onnx_of_another_precision_is_refused(ckpt, tmp_path):
    pytest.importorskip("tensorrt")
    pt, _, _ = ckpt
    onnx_path = export_model(pt, "onnx", tmp_path / "m.onnx").path
    with pytest.raises(EdgeactError, match=r"m\.onnx: an fp32 ONNX cannot make an fp16 engine"):
        export_model(onnx_path, "engine", tmp_path / "m.engine", fp16=True, device="cuda")
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_torch_tensorrt_route_records_the_precision_it_computes_in(ckpt, tmp_path, fp16):
    torch_tensorrt = pytest.importorskip("torch_tensorrt")
    pt, model, _ = ckpt
    try:
        res = export_model(pt, "engine", tmp_path / "m.trt.ts", via="torch-tensorrt", fp16=fp16, batch=1,
                           max_batch=2, device="cuda")
    except EdgeactError as exc:       # a version that cannot make fp16 must say so, and write nothing
        assert fp16 and "torch-tensorrt" in str(exc) and not (tmp_path / "m.trt.ts").exists()
        return
    meta = read_meta(res.path)["export"]
    assert meta["precision"] == res.precision == ("fp16" if fp16 else "fp32")
    assert meta["torch_tensorrt_version"] == torch_tensorrt.__version__
    rt = load_runtime(res.path, "cuda")
    assert rt.backend == "tensorrt"
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        want = model(x)[-1].numpy()
    np.testing.assert_allclose(rt(x)[-1], want, atol=1e-3 if not fp16 else 2e-2 * max(1.0, np.abs(want).max()))
