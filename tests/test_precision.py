"""Precision inside the exported ONNX: fp16 and INT8 Q/DQ files from a small trained checkpoint,
run through load_runtime on onnxruntime and OpenVINO, and their bad inputs."""

import json
import sys

import numpy as np
import pytest
import torch

from cli_ok import cli_ok, runner
from edgeact.checkpoint import build_meta, save_checkpoint
from edgeact.cli import app
from edgeact.data.cache import FramePack, encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset, clip_tensor, segment_indices
from edgeact.errors import EdgeactError
from edgeact.evaluate import EvalOptions, evaluate_artifact
from edgeact.export import export_model
from edgeact.export.quantize import calibration_clips, check_qdq
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.runtime import load_runtime, read_meta
from edgeact.types import InputSpec

SPEC = InputSpec(frames=4, size=32, resize=40)
CLASSES = ClassList(("sweep right red", "sweep left red", "sweep right green", "sweep left green"))
TRAIN_PERFORMERS = 4          # performers 0..3 train (16 clips), performers 4..5 test (8 clips)


def toy_cache(root, *, size=40, classes=CLASSES, performers=6, write_size=True):
    """4 classes: a bar sweeping right or left in red or green over noise; ``size``² frames."""
    rng = np.random.default_rng(0)
    samples = []
    for p in range(performers):
        for label in range(4):
            frames = rng.integers(0, 40, (9, size, size, 3)).astype(np.uint8)
            for t in range(9):
                x = int((2 + 3 * t) * size / 40) if label % 2 == 0 else int((32 - 3 * t) * size / 40)
                frames[t, :, x:x + max(2, size // 7), label // 2] = 250
            name = f"S001C001P{p + 1:03d}R001A{label + 1:03d}"
            atomic_write_bytes(pack_path(root, name), encode_pack(frames))
            samples.append({"name": name, "label": label, "num_frames": 9,
                            "splits": {"toy": "train" if p < TRAIN_PERFORMERS else "test"}})
    meta = {"classes": classes.to_dict(), "benchmarks": ["toy"], **({"size": size} if write_size else {})}
    atomic_write_json(root / "index.json", {"meta": meta, "samples": samples})
    return root


def trained_checkpoint(path, cache, steps=40, lr=3e-3):
    """A small i3d_r18 fitted to the toy cache (a few full-batch Adam steps), with trained-like
    batch-norm statistics: its logits separate the classes, so INT8 agreement means something."""
    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=4, levels=(2, None, None), width=0.125)
    data = [ClipDataset(cache, "toy", s, train=False, spec=SPEC, num_test_sets=1) for s in ("train", "test")]
    x = torch.cat([torch.stack([ds[i][0][0] for i in range(len(ds))]) for ds in data])
    y = torch.cat([torch.as_tensor(ds.labels) for ds in data])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x)[-1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    meta = build_meta(model, CLASSES, SPEC, benchmark="toy", hierarchy={"assignments": [[0, 0, 1, 1]]})
    return save_checkpoint(path, model, meta), model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    cache = toy_cache(root / "cache")
    pt, model = trained_checkpoint(root / "best.pt", cache)
    fp16 = export_model(pt, "onnx", fp16=True)
    int8 = export_model(pt, "onnx", int8=True, calib_data=cache, calib_clips=12)
    return {"root": root, "cache": cache, "pt": pt, "model": model, "fp16": fp16, "int8": int8}


def _test_clips(cache):
    ds = ClipDataset(cache, "toy", "test", train=False, spec=SPEC, num_test_sets=1)
    return torch.stack([ds[i][0][0] for i in range(len(ds))]), ds.labels


def _torch_logits(model, x):
    with torch.no_grad():
        return [o.numpy() for o in model(x)]


# ----------------------------------------------------------------------------- fp16

def test_fp16_onnx_is_float16_inside_and_float32_outside(trained):
    import onnx
    from onnx import TensorProto

    res = trained["fp16"]
    assert res.path == trained["pt"].with_suffix(".fp16.onnx") and res.precision == "fp16"
    proto = onnx.load(str(res.path))
    floats = [i.data_type for i in proto.graph.initializer if i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    assert floats and set(floats) == {TensorProto.FLOAT16}                 # every weight is half
    assert proto.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert {o.type.tensor_type.elem_type for o in proto.graph.output} == {TensorProto.FLOAT}
    export = read_meta(res.path)["export"]
    assert export["precision"] == "fp16" and export["conversion"]["tool"].startswith("onnxconverter-common")
    x, _ = _test_clips(trained["cache"])
    want = _torch_logits(trained["model"], x)
    scale = max(float(np.abs(w).max()) for w in want)
    for backend in ("onnx", "openvino"):
        rt = load_runtime(res.path, "cpu", backend=backend)
        got = rt(x.numpy())
        assert rt.backend == backend and all(g.dtype == np.float32 for g in got)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=0.01 * scale, rtol=0)        # fp16: 1 % of the largest logit
            assert not np.array_equal(g, w)                                    # half precision really ran


# ----------------------------------------------------------------------------- INT8 Q/DQ

def _qdq_structure(path):
    """Independent of edgeact.export.quantize: for every Conv, the producers of its input and weights and
    the dtypes/shapes of their quantization parameters."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    rows = []
    for conv in (n for n in graph.node if n.op_type == "Conv"):
        x_dq, w_dq = producer[conv.input[0]], producer[conv.input[1]]
        rows.append({"x": x_dq.op_type, "w": w_dq.op_type,
                     "x_from": producer[x_dq.input[0]].op_type if x_dq.input[0] in producer else "graph",
                     "x_zero": inits[x_dq.input[2]], "x_scale": inits[x_dq.input[1]],
                     "w_int": inits[w_dq.input[0]], "w_scale": inits[w_dq.input[1]], "w_zero": inits[w_dq.input[2]],
                     "bias": inits[conv.input[2]].dtype if len(conv.input) > 2 else None})
    return rows


def test_int8_graph_has_qdq_on_every_conv_input_and_weights(trained):
    res = trained["int8"]
    assert res.path == trained["pt"].with_suffix(".int8.onnx") and res.precision == "int8"
    rows = _qdq_structure(res.path)
    assert len(rows) == 20                                                  # every Conv of an i3d_r18
    for r in rows:
        assert r["x"] == r["w"] == "DequantizeLinear" and r["x_from"] == "QuantizeLinear"
        assert r["x_zero"].dtype == np.int8 and r["x_zero"].size == 1 and r["x_zero"] == 0   # per tensor, symmetric
        assert r["x_scale"].size == 1 and r["x_scale"] > 0
        assert r["w_int"].dtype == np.int8 and r["w_scale"].shape == (r["w_int"].shape[0],)  # per output channel
        assert not r["w_zero"].any() and r["bias"] == np.float32
        assert np.abs(r["w_int"]).max() >= 100                            # the int8 range is used, not a sliver
    export = read_meta(res.path)["export"]
    assert export["precision"] == "int8" and export["conversion"]["format"] == "QDQ"
    assert export["conversion"]["calibration"] == {
        "source": str(trained["cache"]), "benchmark": "toy", "split": "train", "clips": 12, "method": "minmax",
        "preprocessing": "test: centre crop, one frame set"}
    assert check_qdq(__import__("onnx").load(str(res.path)))["conv"] == 20


def test_check_qdq_names_a_conv_without_qdq(trained):
    import onnx

    proto = onnx.load(str(trained["int8"].path))
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    dq = next(n for n in proto.graph.node if n.output[0] == conv.input[0])
    conv.input[0] = dq.input[0]                         # feed the Conv the int8 tensor's source directly
    with pytest.raises(EdgeactError, match=f"Conv '{conv.name}' input do not come from a DequantizeLinear"):
        check_qdq(proto)
    with pytest.raises(EdgeactError, match="no Conv node"):
        check_qdq(onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], [])))


def test_int8_runs_on_onnxruntime_and_openvino_and_decides_as_fp32(trained):
    x, labels = _test_clips(trained["cache"])
    want = _torch_logits(trained["model"], x)
    assert (want[-1].argmax(1) == labels).mean() >= 0.75                  # the model has learnt the toy task
    for backend in ("onnx", "openvino"):
        rt = load_runtime(trained["int8"].path, "cpu", backend=backend)
        assert (rt.backend, rt.precision) == (backend, "int8")
        got = rt(x.numpy())
        assert (got[-1].argmax(1) == want[-1].argmax(1)).mean() >= 0.85
        err = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        assert 0 < err < 0.25 * max(float(np.abs(w).max()) for w in want)  # quantized, and close


def test_eval_scores_the_int8_file_on_both_backends(trained):
    opts = dict(workers=0, test_sets=2, batch_size=4)
    ref = evaluate_artifact(trained["pt"], trained["cache"], EvalOptions(**opts))
    for backend in ("auto", "openvino"):
        rep = evaluate_artifact(trained["int8"].path, trained["cache"], EvalOptions(backend=backend, **opts))
        assert rep["precision"] == "int8" and rep["backend"] == ("onnx" if backend == "auto" else "openvino")
        assert abs(rep["top1"] - ref["top1"]) <= 0.125 and rep["clips"] == ref["clips"] == 8


def test_cli_eval_with_backend_openvino(trained, tmp_path):
    out = tmp_path / "r.json"
    cli_ok(["eval", "--model", trained["fp16"].path, "--data", trained["cache"], "--backend", "openvino",
            "--device", "cpu", "--workers", "0", "--test-sets", "1", "--out", out])
    report = json.loads(out.read_text())
    assert report["backend"] == "openvino" and report["clips"] == 8


# ----------------------------------------------------------------------------- calibration data

def test_calibration_clips_are_the_eval_preprocessing_of_train_clips(trained):
    cache = trained["cache"]
    got = calibration_clips(cache, SPEC, CLASSES.names, benchmark="toy", clips=5)
    train = [s for s in json.loads((cache / "index.json").read_text())["samples"] if s["splits"]["toy"] == "train"]
    picked = [train[i] for i in (0, 4, 8, 11, 15)]                        # evenly over the 16 train clips
    for clip, sample in zip(got, picked):
        pack = FramePack(pack_path(cache, sample["name"]))
        frames = pack.read(segment_indices(len(pack), SPEC.frames, 0.5))   # one frame set, mid first segment
        np.testing.assert_array_equal(clip, clip_tensor(frames, SPEC).numpy())   # centre crop, normalized


# ----------------------------------------------------------------------------- bad input: one line, exit 2, nothing written

def _fails(args, message, tmp_path):
    """The command raises one EdgeactError line (the CLI's main prints it and exits 2) and leaves
    ``tmp_path`` as it was."""
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, [str(a) for a in args])
    assert isinstance(result.exception, EdgeactError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception), str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_input_exits_2_with_one_line(trained, tmp_path, monkeypatch, capsys):
    # in process, through the console entry point itself (main prints the one line and exits 2)
    from edgeact.cli import main

    monkeypatch.setattr(sys, "argv", ["edgeact", "export", "--model", str(trained["pt"]), "--format", "onnx",
                                      "--int8", "--out", str(tmp_path / "m.onnx")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and capsys.readouterr().err.strip().splitlines() == [
        "error: --int8-data: INT8 needs a cache made by `edgeact prep` whose train clips calibrate its ranges"]
    assert not list(tmp_path.iterdir())


def test_int8_without_calibration_data(trained, tmp_path):
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--out", tmp_path / "m.onnx"],
           "--int8-data: INT8 needs a cache", tmp_path)
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8-data", trained["cache"],
            "--out", tmp_path / "m.onnx"], "--int8-data: apply to INT8 exports only", tmp_path)
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--fp16", "--int8-data",
            trained["cache"], "--out", tmp_path / "m.onnx"], "--fp16, --int8: choose one", tmp_path)


def test_calibration_cache_with_fewer_clips_than_asked(trained, tmp_path):
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", trained["cache"],
            "--int8-clips", "17", "--out", tmp_path / "m.onnx"],
           "the train split of toy has 16 clips, fewer than the 17 asked for to calibrate INT8", tmp_path)
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", trained["cache"],
            "--int8-method", "kl", "--out", tmp_path / "m.onnx"], "--int8-method: 'kl': choose one of", tmp_path)
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", trained["cache"],
            "--int8-clips", "0", "--out", tmp_path / "m.onnx"], "--int8-clips: must be >= 1, got 0", tmp_path)
    with pytest.raises(EdgeactError, match="^calib_clips: must be >= 1, got 0"):    # 0 is not the default 64
        export_model(trained["pt"], "onnx", tmp_path / "m.onnx", int8=True, calib_data=trained["cache"], calib_clips=0)


def test_calibration_cache_of_another_class_set(trained, tmp_path_factory, tmp_path):
    other = toy_cache(tmp_path_factory.mktemp("other"), classes=ClassList(("a", "b", "c", "d")))
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", other,
            "--out", tmp_path / "m.onnx"], "the calibration cache's 4 classes differ from the model's 4", tmp_path)


@pytest.mark.parametrize("write_size", [True, False])
def test_calibration_cache_of_another_scale(trained, tmp_path_factory, tmp_path, write_size):
    """The model crops 32 of 40 px frames. A 32² cache would have to be enlarged (blurred): refused.
    A 64² cache is resized to 40² on load, as train and eval do (ClipDataset's one check), with a
    one-line note. The size comes from index.json, or from the frames when the index lacks it."""
    small = toy_cache(tmp_path_factory.mktemp("small"), size=32, write_size=write_size)
    _fails(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", small,
            "--int8-clips", "4", "--out", tmp_path / "m.onnx"], "cache frames are 32 px but the model takes 40 px",
           tmp_path)
    large = toy_cache(tmp_path_factory.mktemp("large"), size=64, write_size=write_size)
    out = cli_ok(["export", "--model", trained["pt"], "--format", "onnx", "--int8", "--int8-data", large,
                  "--int8-clips", "4", "--out", tmp_path / "m.onnx"])
    assert "cache frames are 64 px, the model was trained on 40 px: resizing on load" in out
    assert read_meta(tmp_path / "m.onnx")["export"]["precision"] == "int8"


@pytest.mark.parametrize("module, flag, extra", [("onnxconverter_common", "--fp16", "onnx"),
                                                 ("onnxruntime.quantization", "--int8", "onnx")])
def test_converter_or_quantizer_not_installed_names_the_extra(trained, tmp_path, monkeypatch, module, flag, extra):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")] + [module]:
        monkeypatch.setitem(sys.modules, name, None)        # what an environment without the package gives
    args = ["export", "--model", trained["pt"], "--format", "onnx", flag, "--out", tmp_path / "m.onnx"]
    if flag == "--int8":
        args += ["--int8-data", trained["cache"], "--int8-clips", "4"]
    _fails(args, f"pip install 'edgeact[{extra}]'", tmp_path)


def test_default_names_keep_one_file_per_precision(trained):
    pt = trained["pt"]
    fp32 = export_model(pt, "onnx")
    assert {p.name for p in pt.parent.glob("best*.onnx")} == {"best.onnx", "best.fp16.onnx", "best.int8.onnx"}
    precisions = {read_meta(p)["export"]["precision"] for p in (fp32.path, trained["fp16"].path, trained["int8"].path)}
    assert precisions == {"fp32", "fp16", "int8"}
