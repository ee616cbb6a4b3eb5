"""Strongly typed TensorRT 10/11 builds and the torch-tensorrt precision, as far as they run on a CPU.

TensorRT cannot run without an NVIDIA GPU, so the builder is exercised against a small stand-in
module (:func:`fake_tensorrt`) that has only the API surface of the TensorRT version it plays
(11.x: no precision builder flags, no calibrator attributes; unknown attributes raise, as on the
real pybind11 objects) and records what edgeact asks of it. Everything else here is real: the
ONNX graphs handed to it come from edgeact's own fp32 / fp16 / INT8 Q/DQ export, onnxruntime and
PyTorch compute the numbers. The real builds are the `gpu` tests of test_export.py.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgeact import pruning
from edgeact.checkpoint import build_meta
from edgeact.data.cache import encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.export import (
    Fp16Module,
    build_engine,
    full_fp32,
    network_flags,
    observed_precision,
    onnx_precision,
    precision_onnx,
    random_clips,
    read_engine_onnx,
    torch_outputs,
    torch_tensorrt_options,
)
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.runtime import load_runtime
from edgeact.runtime.onnx_backend import OnnxRuntime
from edgeact.runtime.tensorrt_backend import write_sidecar
from edgeact.types import InputSpec

PACKAGE = Path(__file__).resolve().parents[1] / "edgeact"
SPEC = InputSpec(frames=4, size=32, resize=40)
CLASSES = ClassList(("a", "b", "c", "d", "e"))


# ----------------------------------------------------------------------------- the stand-in

class _Strict:
    """Like a pybind11 object: setting an attribute it does not have raises AttributeError."""

    _attrs: tuple = ()

    def __setattr__(self, key, value):
        if key not in self._attrs:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")
        object.__setattr__(self, key, value)


def fake_tensorrt(version: str = "11.4.0", *, strongly_typed_flag: bool = True, builder: str = "ok"):
    """A ``tensorrt`` module of ``version``'s Python API surface that records its calls in
    ``module.calls``. ``builder``: ``ok``, ``typeerror`` (what the binding raises without CUDA)
    or ``none`` (a null builder returned as None)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    major = int(version.split(".")[0])
    calls: list = []
    trt.calls = calls

    class Logger:
        WARNING = 2

        def __init__(self, severity=None):
            pass

    flags = {"EXPLICIT_BATCH": 0} if major < 11 else {}
    if strongly_typed_flag:
        flags["STRONGLY_TYPED"] = 1
    builder_flags = {"TF32": 7, "GPU_FALLBACK": 3, "REFIT": 4}
    if major < 11:                     # the weakly typed API, deprecated in 10.x and gone in 11
        builder_flags.update(FP16=0, INT8=1, BF16=11, OBEY_PRECISION_CONSTRAINTS=12)

    class Config(_Strict):
        _attrs = ("int8_calibrator",) if major < 11 else ()

        def set_memory_pool_limit(self, pool, size):
            calls.append(("set_memory_pool_limit", pool, size))

        def add_optimization_profile(self, profile):
            calls.append(("add_optimization_profile",))

        def set_flag(self, flag):
            calls.append(("set_flag", flag))

        def clear_flag(self, flag):
            calls.append(("clear_flag", flag))

        if major < 11:
            def set_calibration_profile(self, profile):
                calls.append(("set_calibration_profile",))

    class Profile(_Strict):
        def set_shape(self, name, lo, opt, hi):
            calls.append(("set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class Builder(_Strict):
        def __init__(self, logger):
            if builder == "typeerror":
                raise TypeError("pybind11::init(): factory function returned nullptr")

        def create_network(self, flags=0):
            calls.append(("create_network", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network",))
            return b"PLAN"

    class OnnxParser(_Strict):
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            calls.append(("parse", bytes(data)))
            return True

    trt.Logger = Logger
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(**flags)
    trt.BuilderFlag = types.SimpleNamespace(**builder_flags)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
    trt.Builder = (lambda logger: None) if builder == "none" else Builder
    trt.OnnxParser = OnnxParser
    if major < 11:
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {})
    return trt


@pytest.fixture
def use_trt(monkeypatch):
    """Install a stand-in ``tensorrt`` for the test: ``use_trt("10.3.0")`` returns it."""
    def install(*args, **kwargs):
        trt = fake_tensorrt(*args, **kwargs)
        monkeypatch.setitem(__import__("sys").modules, "tensorrt", trt)
        return trt
    return install


# ----------------------------------------------------------------------------- a small model, its ONNX files

def _trained_like_model():
    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=5, levels=(None, 2, 3), width=0.125).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
    pruning.prune_filters(model, 0.25)
    return model


def _cache(root: Path, n: int = 8) -> Path:
    """A prepared cache of ``n`` random 40x40 clips of the 5 classes, all train clips of 'toy'."""
    rng = np.random.default_rng(0)
    samples = []
    for k in range(n):
        name = f"S001C001P001R001A{k + 1:03d}"
        atomic_write_bytes(pack_path(root, name), encode_pack(rng.integers(0, 256, (9, 40, 40, 3), dtype=np.uint8)))
        samples.append({"name": name, "label": k % 5, "num_frames": 9, "splits": {"toy": "train"}})
    atomic_write_json(root / "index.json", {"meta": {"classes": CLASSES.to_dict(), "benchmarks": ["toy"]},
                                            "samples": samples})
    return root


@pytest.fixture(scope="module")
def model_meta():
    model = _trained_like_model()
    return model, build_meta(model, CLASSES, SPEC, benchmark="toy")


@pytest.fixture(scope="module")
def onnx_files(model_meta, tmp_path_factory):
    """``{precision: (onnx bytes, meta)}``: what an engine of each precision is built from."""
    model, meta = model_meta
    cache = _cache(tmp_path_factory.mktemp("cache"))
    common = dict(batch=1, opset=17, tolerance=1e-3, source="test")
    return {p: precision_onnx(model, meta, SPEC, p, calib_data=cache if p == "int8" else None,
                              calib_clips=8 if p == "int8" else None, **common)
            for p in ("fp32", "fp16", "int8")}


# ----------------------------------------------------------------------------- no removed API anywhere

REMOVED = re.compile(r"BuilderFlag\.(FP16|INT8|BF16|FP8|INT4|FP4|OBEY_PRECISION_CONSTRAINTS|PREFER_PRECISION_CONSTRAINTS)"
                     r"|int8_calibrator|set_calibration_profile|get_calibration_profile|IInt8\w*|platform_has_fast_\w+"
                     r"|set_quantization_flag|quantization_flags")


def test_no_removed_tensorrt_api_is_reachable_in_the_package():
    """TensorRT 11 removed the weakly typed API (NVIDIA's 10.x -> 11.x Python migration list);
    no source file of the package may name any of it, in code or text."""
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}: {m.group(0)}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             for m in REMOVED.finditer(line)]
    assert found == []


# ----------------------------------------------------------------------------- the build

@pytest.mark.parametrize("version, flag, expected", [
    ("10.3.0", True, 1 << 1),              # JetPack 6.2: STRONGLY_TYPED requested
    ("10.16.0", True, 1 << 1),             # JetPack 7.2
    ("11.4.0", True, 1 << 1),              # accepted, and always on anyway
    ("11.4.0", False, 0),                  # gone: every 11.x network is strongly typed
])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_every_build_is_strongly_typed_from_the_onnx_of_its_precision(use_trt, onnx_files, version, flag, expected,
                                                                     precision):
    trt = use_trt(version, strongly_typed_flag=flag)
    data, meta = onnx_files[precision]
    plan = build_engine(data, SPEC, batch=2, max_batch=4, what="m.engine")
    assert plan == b"PLAN"
    calls = trt.calls
    assert ("create_network", expected) in calls
    # no precision flag of any kind is set; TF32 is cleared, so fp32 layers compute in full fp32
    assert [c for c in calls if c[0] == "set_flag"] == []
    assert ("clear_flag", trt.BuilderFlag.TF32) in calls
    assert ("set_shape", "clips", (1, 3, 4, 32, 32), (2, 3, 4, 32, 32), (4, 3, 4, 32, 32)) in calls
    [parsed] = [c[1] for c in calls if c[0] == "parse"]
    assert parsed == data and onnx_precision(onnx.load_from_string(parsed)) == precision == meta["export"]["precision"]


def test_the_onnx_of_each_precision_carries_its_precision_in_the_graph(onnx_files):
    from edgeact.export.quantize import check_qdq

    graphs = {p: onnx.load_from_string(data) for p, (data, _) in onnx_files.items()}
    fp16 = graphs["fp16"]
    assert {i.data_type for i in fp16.graph.initializer if len(i.dims) > 1} == {onnx.TensorProto.FLOAT16}
    io = [t.type.tensor_type.elem_type for t in (*fp16.graph.input, *fp16.graph.output)]
    assert set(io) == {onnx.TensorProto.FLOAT}                  # float32 in and out, float16 inside
    counts = check_qdq(graphs["int8"])                 # raises unless every Conv's input and weights are dequantized
    assert counts["conv"] == sum(n.op_type == "Conv" for n in graphs["fp32"].graph.node) > 0
    assert onnx_precision(graphs["fp32"]) == "fp32"
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graphs["fp32"].graph.node)


@pytest.mark.parametrize("mode", ["typeerror", "none"])
def test_a_builder_that_cannot_be_created_is_one_line(use_trt, onnx_files, mode):
    use_trt("10.3.0", builder=mode)
    with pytest.raises(EdgeactError, match=r"^m\.engine: TensorRT 10\.3\.0 could not create a builder: no usable "
                                           r"CUDA GPU or driver here") as info:
        build_engine(onnx_files["fp32"][0], SPEC, what="m.engine")
    assert "\n" not in str(info.value)


def test_tensorrt_before_10_is_refused(use_trt):
    trt = use_trt("8.6.1")
    with pytest.raises(EdgeactError, match=r"TensorRT 8\.6\.1 is too old: edgeact builds strongly typed engines with "
                                           r"TensorRT 10 or 11"):
        network_flags(trt, "m.engine")


# ----------------------------------------------------------------------------- the engine's version at load

def _engine(tmp_path, meta, built_by):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"PLAN")
    write_sidecar(engine, {**meta, "export": {"format": "engine", "precision": "fp16", "tensorrt_version": built_by,
                                              "outputs": ["logits_l2", "logits_l3", "fine"]}})
    return engine


def test_an_engine_built_by_another_tensorrt_is_one_line_at_load(use_trt, model_meta, tmp_path):
    use_trt("11.4.0")
    engine = _engine(tmp_path, model_meta[1], "10.3.0.30")
    with pytest.raises(EdgeactError) as info:
        load_runtime(engine, "cuda")
    assert str(info.value) == (f"{engine}: built by TensorRT 10.3.0.30, but this is TensorRT 11.4.0; an engine only "
                               "loads in the TensorRT that built it: rebuild it here (edgeact export --format engine)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only refusal")
def test_an_engine_of_this_tensorrt_gets_past_the_version_check(use_trt, model_meta, tmp_path):
    use_trt("11.4.0")
    with pytest.raises(EdgeactError, match="a TensorRT engine needs a CUDA device"):
        load_runtime(_engine(tmp_path, model_meta[1], "11.4.0"), "cuda")


# ----------------------------------------------------------------------------- an existing ONNX as the source

def _onnx_file(tmp_path, onnx_files, precision):
    path = tmp_path / f"m.{precision}.onnx"
    path.write_bytes(onnx_files[precision][0])
    return path


def test_an_engine_takes_the_precision_of_the_onnx_it_is_built_from(onnx_files, tmp_path):
    for precision in ("fp32", "fp16", "int8"):
        path = _onnx_file(tmp_path, onnx_files, precision)
        data, meta = read_engine_onnx(path, fp16=False, int8=False)
        assert data == onnx_files[precision][0] and meta["export"]["precision"] == precision
        # asking for the precision it has is fine; another is refused in one line
        read_engine_onnx(path, fp16=precision == "fp16", int8=precision == "int8")
    path = _onnx_file(tmp_path, onnx_files, "fp32")
    with pytest.raises(EdgeactError, match=r"m\.fp32\.onnx: an fp32 ONNX cannot make an int8 engine"):
        read_engine_onnx(path, fp16=False, int8=True)
    with pytest.raises(EdgeactError, match=r"^frames, compact: .*m\.fp32\.onnx is an exported ONNX, which they cannot"):
        read_engine_onnx(path, fp16=False, int8=False, frames=8, size=None, compact=True)


def test_an_onnx_whose_metadata_lies_about_its_precision_is_refused(onnx_files, tmp_path):
    import json

    from edgeact.export import set_onnx_meta

    proto = onnx.load_from_string(onnx_files["fp32"][0])
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["edgeact_meta"])
    meta["export"]["precision"] = "fp16"
    path = tmp_path / "lying.onnx"
    path.write_bytes(set_onnx_meta(proto, meta))
    with pytest.raises(EdgeactError, match=r"lying\.onnx: its metadata says fp16 but the graph computes in fp32"):
        read_engine_onnx(path, fp16=False, int8=False)


# ----------------------------------------------------------------------------- torch-tensorrt

# CompilationSettings field names of torch-tensorrt releases: 2.14 (rule-based autocast) and
# 2.8 (the last for Jetson Orin: weakly typed builds honour enabled_precisions on TensorRT 10).
SETTINGS_2_14 = {"enabled_precisions", "disable_tf32", "use_explicit_typing", "enable_autocast",
                 "autocast_low_precision_type", "autocast_excluded_nodes"}
SETTINGS_2_8 = {"enabled_precisions", "disable_tf32", "use_explicit_typing", "use_fp32_acc"}


def test_torch_tensorrt_fp16_uses_the_options_the_installed_version_honours():
    assert torch_tensorrt_options(SETTINGS_2_14, 11, False, "2.14.0") == {"disable_tf32": True}
    assert torch_tensorrt_options(SETTINGS_2_14, 11, True, "2.14.0") == {
        "disable_tf32": True, "use_explicit_typing": True, "enable_autocast": True,
        "autocast_low_precision_type": torch.float16}
    assert torch_tensorrt_options(SETTINGS_2_8, 10, True, "2.8.0") == {
        "disable_tf32": True, "use_explicit_typing": False, "enabled_precisions": {torch.float32, torch.float16}}
    with pytest.raises(EdgeactError, match=r"torch-tensorrt 2\.8\.0 has no enable_autocast and its TensorRT 11\.x "
                                           r"ignores enabled_precisions"):
        torch_tensorrt_options(SETTINGS_2_8, 11, True, "2.8.0")


def test_the_precision_is_read_back_from_the_outputs(model_meta, onnx_files):
    """fp32 and fp16 computations of the same network, by independent implementations
    (onnxruntime on edgeact's fp32 and fp16 ONNX), are told apart against PyTorch's fp32
    and half-precision runs."""
    model, _ = model_meta
    x = random_clips(3, SPEC, seed=2)
    ref32 = torch_outputs(model, x)
    ref16 = torch_outputs(Fp16Module(__import__("copy").deepcopy(model)), x)
    for precision in ("fp32", "fp16"):
        got = OnnxRuntime(Path(f"m.{precision}.onnx"), "cpu", model_bytes=onnx_files[precision][0])(x.numpy())
        seen, err, err16 = observed_precision(got, ref32, ref16)
        assert seen == precision, (precision, err, err16)
    assert observed_precision(ref32, ref32, ref32)[0] == "fp32"     # no fp16 effect to compare with: not fp16


def test_full_fp32_turns_tf32_off_and_restores_it():
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        before = (conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision)
        conv.fp32_precision = "tf32"
        with full_fp32():
            assert (conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == ("ieee", "ieee")
        assert conv.fp32_precision == "tf32"
        conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = before
    else:
        before = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = True
        with full_fp32():
            assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        torch.backends.cudnn.allow_tf32 = before
