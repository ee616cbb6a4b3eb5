"""Training and evaluation refuse or visibly fix what would make their numbers wrong: a cache at
another frame size than the model's, a run folder continued with another recipe or cache, a report
written over its own inputs, bad recipe values, a corrupt run state, errors inside DataLoader
workers; and training computes the same numbers however many workers load its clips."""

import hashlib
import io
import json
import re
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from rich.console import Console
from torch.utils.data import DataLoader

from edgeact.checkpoint import build_meta, read_checkpoint, save_checkpoint
from edgeact.cli import main
from edgeact.cli_options import name_option
from edgeact.data.cache import FramePack, encode_pack, pack_path, read_index
from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset, clip_tensor, test_indices
from edgeact.engine import worker_error
from edgeact.errors import EdgeactError
from edgeact.evaluate import EvalOptions, evaluate_artifact, save_report
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.recipe import load_recipe, save_recipe
from edgeact.training import Interrupted, Trainer, reset_run
from edgeact.types import InputSpec
from test_training import _cache, _recipe

SPEC = InputSpec(frames=4, size=32, resize=40)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The 40 px toy cache of test_training.py."""
    return _cache(tmp_path_factory.mktemp("toy"))


def _scaled_copy(src, dst, factor):
    """``src`` with every frame enlarged ``factor`` times by pixel repetition (area shrinking
    gives the frames back), its index saying so."""
    index = read_index(src)
    for s in index["samples"]:
        frames = FramePack(pack_path(src, s["name"])).read()
        big = [cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) for f in frames]
        atomic_write_bytes(pack_path(dst, s["name"]), encode_pack(big, quality=100))
    atomic_write_json(dst / "index.json", {**index, "meta": {**index["meta"], "size": 40 * factor,
                                                            "dataset": "ntu", "root": "/data/ntu"}})
    return dst


def _model_file(path, spec=SPEC):
    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=6, levels=(), width=0.125)
    names = tuple(f"class {i}" for i in range(6))
    save_checkpoint(path, model, build_meta(model, ClassList(names, mirror=((0, 1), (2, 3), (4, 5))), spec,
                                            benchmark="toy"))
    return path


def _cli(args, capsys, monkeypatch):
    """``edgeact <args>`` through the real entry point: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["edgeact", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def _digest(path):
    sd = read_checkpoint(path)["state_dict"]
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(sd[k].numpy().tobytes())
    return h.hexdigest()


def _tiny(**kw):
    return _recipe(**{"epochs": 1, "max_prune_passes": 0, "test_sets": 1, **kw})


# --------------------------------------------------------------------------- 1. model and cache agree on scale


def test_a_larger_cache_is_read_at_the_models_frame_size(toy, tmp_path):
    big = _scaled_copy(toy, tmp_path / "big", 4)
    ref = ClipDataset(toy, "toy", "test", train=False, spec=SPEC, num_test_sets=2)
    ds = ClipDataset(big, "toy", "test", train=False, spec=SPEC, num_test_sets=2)
    assert ref.scale_note is None
    assert "cache frames are 160 px, the model was trained on 40 px: resizing on load" in ds.scale_note
    for i in range(4):
        a, b = ref[i][0], ds[i][0]
        # what was read before: the centre 32 px of the 160 px frames, a quarter of the person box
        pack = FramePack(pack_path(big, ds.samples[i]["name"]))
        sets = test_indices(len(pack), 2, SPEC.frames)
        old = torch.stack([clip_tensor(f, SPEC) for f in pack.read(sets.reshape(-1)).reshape(2, 4, 160, 160, 3)])
        new_err, old_err = float((a - b).abs().mean()), float((a - old).abs().mean())
        assert new_err < 0.05 and old_err > 5 * new_err, (new_err, old_err)


def test_eval_on_a_larger_cache_notes_it_and_scores_as_on_the_models_size(toy, finished_run, tmp_path, capsys,
                                                                          monkeypatch):
    big = _scaled_copy(toy, tmp_path / "big", 4)
    model = finished_run / "best.pt"
    ref = evaluate_artifact(model, toy, EvalOptions(device="cpu", workers=0, test_sets=2))
    got = evaluate_artifact(model, big, EvalOptions(device="cpu", workers=0, test_sets=2))
    assert ref["notes"] == [] and len(got["notes"]) == 1
    # the same clips seen the same way: at most one of the 12 test clips changes its answer
    assert np.abs(np.array(ref["confusion"]) - np.array(got["confusion"])).sum() <= 2
    code, out, err = _cli(["eval", "--model", model, "--data", big, "--device", "cpu", "--workers", "0",
                           "--test-sets", "1", "--out", tmp_path / "r.json"], capsys, monkeypatch)
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "160 px" in notes[0] and "40 px" in notes[0] and "resizing on load" in notes[0]
    assert out.index(notes[0]) < out.index("top-1")          # said before scoring, not after the results
    assert json.loads((tmp_path / "r.json").read_text())["notes"] == [notes[0]]


def test_a_smaller_cache_is_refused_with_the_prep_command(toy, tmp_path):
    with pytest.raises(EdgeactError, match=r"frames are 40 px but the model takes 80 px.*edgeact prep .*--resize 80"):
        ClipDataset(toy, "toy", "test", train=False, spec=InputSpec(frames=4, size=64, resize=80))
    model = _model_file(tmp_path / "m80.pt", InputSpec(frames=4, size=64, resize=80))
    with pytest.raises(EdgeactError, match="enlarging would blur them"):
        evaluate_artifact(model, toy, EvalOptions(device="cpu", workers=0))


def test_train_compares_the_recipes_resize_with_the_cache_before_the_first_epoch(toy, tmp_path):
    with pytest.raises(EdgeactError, match="cache frames are 40 px but the model takes 80 px"):
        Trainer(_tiny(size=64, resize=80), toy, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()                    # refused before anything was written
    log = io.StringIO()
    t = Trainer(_tiny(size=32, resize=36), toy, tmp_path / "run36", progress=False, console=Console(file=log))
    assert "cache frames are 40 px, the model was trained on 36 px" in t.scale_note
    assert log.getvalue().strip() == t.scale_note


def test_frame_pack_reads_at_a_requested_size(toy):
    pack = FramePack(pack_path(toy, read_index(toy)["samples"][0]["name"]))
    assert pack.read([0, 1], size=20).shape == (2, 20, 20, 3)
    assert pack.read([0], size=40).shape == (1, 40, 40, 3)
    with pytest.raises(EdgeactError, match="smaller than the 64 px asked for"):
        pack.read([0], size=64)


# --------------------------------------------------------------------------- 2. a run folder belongs to one recipe


@pytest.fixture(scope="module")
def finished_run(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    Trainer(_tiny(), toy, out, progress=False).run()
    return out


def _copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("change", [{"lr": 0.01}, {"epochs": 2}, {"width": 0.25}, {"batch_size": 4}])
def test_rerun_with_a_changed_recipe_is_refused_naming_the_keys(toy, finished_run, tmp_path, change):
    out = _copy_run(finished_run, tmp_path / "run")
    before = (out / "recipe.yaml").read_bytes()
    (key, value), = change.items()
    with pytest.raises(EdgeactError, match=rf"other settings: {key} .* -> {value}.*recipe.yaml is left as it "
                                           r"was.*only workers may change.*another out, or pass restart") as info:
        Trainer(_tiny(**change), toy, out, progress=False)
    assert (out / "recipe.yaml").read_bytes() == before
    name_option(info.value, "train")                          # the CLI says which options
    assert str(info.value).endswith("train into another --out, or pass --restart to delete this run's files "
                                    "and train from the start")


def test_an_interrupted_run_with_another_width_is_one_line_not_a_size_mismatch(toy, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        Trainer(_tiny(epochs=2), toy, out, progress=False, max_epochs=1).run()
    with pytest.raises(EdgeactError, match=r"width 0.125 -> 0.25"):
        Trainer(_tiny(epochs=2, width=0.25), toy, out, progress=False).run()


def test_rerun_on_another_cache_is_refused_but_a_moved_one_is_not(toy, finished_run, tmp_path):
    out = _copy_run(finished_run, tmp_path / "run")
    moved = shutil.copytree(toy, tmp_path / "moved")
    Trainer(_tiny(), moved, out, progress=False)              # same content elsewhere: the same run
    other = shutil.copytree(toy, tmp_path / "other")
    index = read_index(other)
    index["samples"] = index["samples"][1:]
    atomic_write_json(other / "index.json", index)
    with pytest.raises(EdgeactError, match=re.escape(f"other settings: data {toy.resolve()} -> {other.resolve()};")):
        Trainer(_tiny(), other, out, progress=False)


def test_workers_may_change_and_the_run_resumes(toy, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        Trainer(_tiny(epochs=2), toy, out, progress=False, max_epochs=1).run()
    Trainer(_tiny(epochs=2, workers=1), toy, out, progress=False).run()
    assert load_recipe(out / "recipe.yaml").workers == 0      # the recipe the run started with


def test_restart_deletes_only_the_runs_files_and_starts_over(toy, finished_run, tmp_path):
    out = _copy_run(finished_run, tmp_path / "run")
    (out / "notes.txt").write_text("mine")
    (out / "pass1" / "keep.txt").write_text("mine too")
    summary = Trainer(_tiny(lr=0.01), toy, out, progress=False, restart=True).run()
    assert load_recipe(out / "recipe.yaml").lr == 0.01
    assert (out / "notes.txt").read_text() == "mine" and (out / "pass1" / "keep.txt").is_file()
    assert summary["best"] == "pass2" and len((out / "log.csv").read_text().splitlines()) == 1 + 2


def test_restart_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "best.pt").write_text("someone's model")
    with pytest.raises(EdgeactError, match="not an edgeact run folder"):
        reset_run(tmp_path)
    assert (tmp_path / "best.pt").is_file()


def test_a_run_never_writes_over_its_init_checkpoint(toy, finished_run, tmp_path):
    out = _copy_run(finished_run, tmp_path / "run")
    with pytest.raises(EdgeactError, match=r"^out: .*best.pt: is an input of this command"):   # the keyword
        Trainer(_tiny(init_from=str(out / "best.pt")), toy, out, progress=False, restart=True)
    assert (out / "best.pt").is_file()


def test_cli_train_refusal_is_one_line_exit_2(toy, finished_run, tmp_path, capsys, monkeypatch):
    out = _copy_run(finished_run, tmp_path / "run")
    save_recipe(tmp_path / "r.yaml", _tiny())
    code, _, err = _cli(["train", "--recipe", tmp_path / "r.yaml", "--data", toy, "--out", out, "--quiet",
                         "--lr", "0.5"], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "lr 0.003 -> 0.5" in err


# --------------------------------------------------------------------------- 5b. no output over an input


def test_eval_refuses_to_write_over_the_model_or_the_cache(toy, tmp_path, capsys, monkeypatch):
    model = _model_file(tmp_path / "plots" / "confusion.png")      # a model whose name a plot would take
    cache = shutil.copytree(toy, tmp_path / "cache")
    pack = next((cache / "frames").iterdir())
    kept = {p: p.read_bytes() for p in (model, cache / "index.json", pack)}
    for args in (["--out", model], ["--out", cache / "index.json"], ["--out", pack],
                 ["--out", tmp_path / "r.json", "--plots", model.parent], ["--out", cache]):
        code, _, err = _cli(["eval", "--model", model, "--data", cache, "--benchmark", "toy", "--device", "cpu",
                             "--workers", "0", *args], capsys, monkeypatch)
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, err)
        assert "is an input of this command" in err or "is a folder" in err, err
    for p, data in kept.items():
        assert p.read_bytes() == data
    assert not (tmp_path / "r.json").exists()


def test_save_report_checks_the_inputs_the_report_names(toy, tmp_path):
    model = _model_file(tmp_path / "m.pt")
    report = evaluate_artifact(model, toy, EvalOptions(device="cpu", workers=0, test_sets=1))
    with pytest.raises(EdgeactError, match="is an input of this command"):
        save_report(report, model, None)


# --------------------------------------------------------------------------- 6. one red line, never a traceback


@pytest.fixture()
def broken_cache(toy, tmp_path):
    """Packs whose headers are intact but whose JPEGs are zeros: found only when a clip is read."""
    cache = shutil.copytree(toy, tmp_path / "broken")
    for s in read_index(cache)["samples"]:
        p = pack_path(cache, s["name"])
        data = bytearray(p.read_bytes())
        start = 24 + 8 * (FramePack(p).num_frames + 1)
        data[start:] = bytes(len(data) - start)
        p.write_bytes(bytes(data))
    return cache


@pytest.mark.parametrize("workers", [0, 1])
def test_errors_inside_dataloader_workers_are_one_line(broken_cache, tmp_path, capsys, monkeypatch, workers):
    model = _model_file(tmp_path / "m.pt")
    code, _, err = _cli(["eval", "--model", model, "--data", broken_cache, "--device", "cpu", "--workers", workers],
                        capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is corrupt" in err and "Caught" not in err and "Traceback" not in err
    with pytest.raises(EdgeactError) as info:
        Trainer(_tiny(workers=workers), broken_cache, tmp_path / "run", progress=False).run()
    assert str(info.value).startswith(str(broken_cache)) and "\n" not in str(info.value)


def test_worker_error_recovers_the_original_message():
    text = ("Caught EdgeactError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
            '  File "x.py", line 1, in f\n    raise EdgeactError("a.pack: corrupt")\n'
            "edgeact.errors.EdgeactError: a.pack: corrupt\n")
    assert str(worker_error(EdgeactError(text))) == "a.pack: corrupt"
    plain = EdgeactError("b.pack: corrupt")
    assert worker_error(plain) is plain


@pytest.mark.parametrize("line, message", [
    ("epochs: 2.5", "epochs must be an integer, got 2.5"),
    ("seed: abc", "seed must be an integer, got 'abc'"),
    ("amp: maybe", "amp must be true or false, got 'maybe'"),
    ("levels: 3", "levels must be a list, got 3"),
    ("prune_epochs: 1.5", "prune_epochs must be an integer or null, got 1.5"),
    ("batch_size: '8'", "batch_size must be an integer, got '8'"),
    ("lr: fast", "lr must be a number, got 'fast'"),
    ("loss_weights: [0.125, -0.25, 0.5, 1]", "loss_weights must be finite and >= 0, got [0.125, -0.25, 0.5, 1.0]"),
    ("loss_weights: [0.125, .nan, 0.5, 1]", "loss_weights must be finite and >= 0, got [0.125, nan, 0.5, 1.0]"),
    ("loss_weights: [0.125, .inf, 0.5, 1]", "loss_weights must be finite and >= 0, got [0.125, inf, 0.5, 1.0]"),
])
def test_recipe_values_of_the_wrong_type_name_the_file_key_and_type(tmp_path, line, message):
    p = tmp_path / "r.yaml"
    p.write_text(f"benchmark: toy\n{line}\n")
    with pytest.raises(EdgeactError) as info:
        load_recipe(p)
    assert str(info.value) == f"{p}: {message}"


def test_exponent_floats_in_yaml_are_numbers(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("benchmark: toy\nlr: 1e-3\nweight_decay: 5E-5\nlevels: [2, 6, 20]\n"
                 "loss_weights: [1.25e-1, 2.5e-1, 5e-1, 1]\n")
    r = load_recipe(p)
    assert r.lr == 1e-3 and r.weight_decay == 5e-5 and r.loss_weights == (0.125, 0.25, 0.5, 1.0)
    assert isinstance(r.loss_weights[-1], float)


@pytest.mark.parametrize("text", ['{"phases": {"pass1": ', "[]", "\xff\xfe"])
def test_a_corrupt_state_json_is_one_line_naming_it(toy, finished_run, tmp_path, text):
    out = _copy_run(finished_run, tmp_path / "run")
    (out / "state.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(EdgeactError, match=r"state.json: (corrupt run state|not a run state).*pass restart to delete"):
        Trainer(_tiny(), toy, out, progress=False)
    Trainer(_tiny(), toy, out, progress=False, restart=True).run()     # the way out it names
    assert json.loads((out / "state.json").read_text())["best"] == "pass2"


# --------------------------------------------------------------------------- 10. the same numbers however loaded


def test_training_clips_do_not_depend_on_the_dataloader_workers(toy):
    ds = ClipDataset(toy, "toy", "train", train=True, spec=SPEC, flip_p=0.5, seed=3)

    def epoch(workers, e):
        ds.set_epoch(e)
        return [x for x, _ in DataLoader(ds, batch_size=5, num_workers=workers)]

    zero, two = epoch(0, 1), epoch(2, 1)
    assert all(torch.equal(a, b) for a, b in zip(zero, two))
    assert not all(torch.equal(a, b) for a, b in zip(zero, epoch(0, 2)))   # a new epoch, new augmentations


def test_training_is_the_same_with_any_number_of_workers(toy, tmp_path):
    runs = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        Trainer(_tiny(workers=workers), toy, out, progress=False, stop_after="pass1").run()
        runs[workers] = _digest(out / "pass1" / "final.pt")
    assert runs[0] == runs[2]
