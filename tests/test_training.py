"""The training procedure's machinery on a small hand-made cache (fast; learning itself is
checked end to end on synthetic videos in test_end_to_end.py)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeact.checkpoint import build_meta, load_checkpoint, save_checkpoint
from edgeact.data.cache import encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.evaluate import EvalOptions, evaluate_artifact, save_report
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.models import create_model
from edgeact.pruning import prunable_units, prune_filters, pruning_report
from edgeact.recipe import Recipe, load_recipe
from edgeact.training import Interrupted, Trainer, load_backbone, make_splits, split_validation
from edgeact.types import InputSpec

ROOT = Path(__file__).resolve().parents[1]


def _cache(root: Path, n_per_class=8, classes=6):
    """Clips of a bar sweeping across the frame: its colour is ``label // 2``, its direction
    ``label % 2`` (right, left), so a horizontal flip turns class 2k into 2k+1 (mirror pairs)."""
    rng = np.random.default_rng(0)
    names = tuple(f"class {i}" for i in range(classes))
    samples = []
    for k in range(n_per_class * classes):
        label = k % classes
        frames = rng.integers(0, 40, (10, 40, 40, 3)).astype(np.uint8)
        for t in range(10):
            x = 2 + 3 * t if label % 2 == 0 else 32 - 3 * t
            frames[t, :, x:x + 6, (label // 2) % 3] = 250
        name = f"S001C001P{k // classes:03d}R001A{label + 1:03d}"
        atomic_write_bytes(pack_path(root, name), encode_pack(frames))
        split = "test" if (k // classes) % 4 == 3 else "train"
        samples.append({"name": name, "label": label, "num_frames": 10, "splits": {"toy": split}})
    mirror = tuple((i, i + 1) for i in range(0, classes - 1, 2))
    atomic_write_json(root / "index.json", {"meta": {"classes": ClassList(names, mirror=mirror).to_dict(),
                                                     "benchmarks": ["toy"]}, "samples": samples})
    return root


def _recipe(**kw):
    base = dict(benchmark="toy", arch="i3d_r18", width=0.125, levels=(2, 3, None), loss_weights=(0.25, 0.5, 1.0),
                frames=4, size=32, resize=40, epochs=2, lr=3e-3, batch_size=8, workers=0, test_sets=2,
                val_fraction=0.5, max_prune_passes=2, superclass_restarts=20, amp=False)
    base.update(kw)
    return Recipe(**base)


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory):
    return _cache(tmp_path_factory.mktemp("toy"))


def test_shipped_recipes_follow_the_paper():
    expected = {"ntu60-xsub": ((2, 6, 20), (1 / 8, 1 / 4, 1 / 2, 1)), "ntu60-xview": ((2, 6, 20), (1 / 8, 1 / 4, 1 / 2, 1)),
                "ntu120-xsub": ((4, 12, 40), (1 / 8, 1 / 4, 1 / 2, 1)), "ntu120-xset": ((4, 12, 40), (1 / 8, 1 / 4, 1 / 2, 1)),
                **{f"nucla-view{v}": ((None, 2, 5), (1 / 16, 1 / 4, 1)) for v in (1, 2, 3)}}
    for bench, (levels, weights) in expected.items():
        r = load_recipe(ROOT / "train" / f"{bench}.yaml")
        assert r.benchmark == bench and r.levels == levels and r.loss_weights == pytest.approx(weights)
        assert (r.arch, r.epochs, r.lr, r.lr_factor, r.lr_patience, r.frames, r.size) == ("i3d_r50", 20, 1e-4, 0.1, 2, 8, 224)
        assert (r.prune_ratio, r.prune_patience, r.test_sets, r.val_fraction) == (0.1, 2, 5, 0.1)
        if bench.startswith("nucla"):
            assert r.init_from


def test_recipe_errors_name_the_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("benchmark: toy\nlevles: [2, 6, 20]\n")
    with pytest.raises(EdgeactError, match=r"r.yaml: unknown key\(s\) levles"):
        load_recipe(p)
    p.write_text("benchmark: toy\nlevels: [2, 6, 20]\nloss_weights: [1, 1]\n")
    with pytest.raises(EdgeactError, match="loss_weights has 2 values but the model has 4 heads"):
        load_recipe(p)
    p.write_text("benchmark: [unclosed\n")
    with pytest.raises(EdgeactError, match="invalid YAML"):
        load_recipe(p)
    with pytest.raises(EdgeactError, match="unknown option"):
        _recipe().replace(epoch=3)


def test_validation_split_is_stratified_and_deterministic():
    names = [f"s{i}" for i in range(40)]
    labels = np.array([i % 4 for i in range(40)])
    val, rest = split_validation(names, labels, 0.2, seed=1)
    assert len(val) == 8 and set(val).isdisjoint(rest) and len(val) + len(rest) == 40
    assert sorted(np.bincount([int(n[1:]) % 4 for n in val]).tolist()) == [2, 2, 2, 2]
    assert split_validation(names, labels, 0.2, seed=1) == (val, rest)


def test_val_source_train_keeps_test_untouched(toy_cache):
    paper = make_splits(toy_cache, _recipe())
    clean = make_splits(toy_cache, _recipe(val_source="train"))
    assert set(paper.val) <= set(paper.val) | set(paper.test) and not set(paper.val) & set(paper.test)
    assert len(clean.test) == len(paper.test) + len(paper.val)
    assert not set(clean.val) & set(clean.train)


def test_full_procedure_resume_and_eval(toy_cache, tmp_path):
    out = tmp_path / "run"
    recipe = _recipe()
    with pytest.raises(Interrupted):
        Trainer(recipe, toy_cache, out, progress=False, max_epochs=3).run()   # dies inside pass 2
    state = json.loads((out / "state.json").read_text())
    assert list(state["phases"]) == ["pass1"] and (out / "pass2" / "last.pt").is_file()
    summary = Trainer(recipe, toy_cache, out, progress=False).run()
    rows = list(csv.DictReader(open(out / "log.csv")))
    phases = [r["phase"] for r in rows]
    # every epoch ran exactly once across the interruption
    for phase in summary["phases"]:
        assert [int(r["epoch"]) for r in rows if r["phase"] == phase] == [1, 2]
    assert phases[:4] == ["pass1", "pass1", "pass2", "pass2"]
    assert "prune1" in summary["phases"]
    hierarchy = json.loads((out / "hierarchy.json").read_text())
    assert [max(a) + 1 for a in hierarchy["assignments"]] == [2, 3]

    # pruned filters are zero in the saved weights, and alive counts shrink pass by pass
    alive = [summary["phases"][p]["alive_filters"] for p in summary["phases"]]
    assert alive[0] == alive[1] > alive[2]
    ck = load_checkpoint(out / "prune1" / "final.pt")
    for _, conv, bn in prunable_units(ck.model):
        dead = conv.filter_mask == 0
        assert torch.count_nonzero(conv.weight[dead]) == 0 and torch.count_nonzero(bn.weight[dead]) == 0

    best = load_checkpoint(out / "best.pt")
    assert best.meta["best"] == summary["best"] and "test_top1" in best.meta["metrics"]
    assert best.meta["hierarchy"]["assignments"] == hierarchy["assignments"]
    assert best.classes.names[0] == "class 0"

    report = evaluate_artifact(out / "best.pt", toy_cache, EvalOptions(benchmark="toy", workers=0))
    assert 0 <= report["top1"] <= report["top5"] <= 1
    assert [lv["superclasses"] for lv in report["levels"]] == [2, 3]
    assert all(0 <= lv["accuracy_from_fine"] <= 1 for lv in report["levels"])
    assert report["clips"] == 12 and sum(c["count"] for c in report["per_class"]) == 12
    written = save_report(report, tmp_path / "rep" / "report.json", tmp_path / "rep")
    assert {p.name for p in written} == {"report.json", "confusion.png", "superclasses.png"}
    assert all(p.stat().st_size > 1000 for p in written)
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["top1"] == report["top1"]


def test_a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one(toy_cache, tmp_path):
    recipe = _recipe(max_prune_passes=1, workers=0)
    with pytest.raises(Interrupted):
        Trainer(recipe, toy_cache, tmp_path / "killed", progress=False, max_epochs=3).run()   # inside pass 2
    resumed = Trainer(recipe, toy_cache, tmp_path / "killed", progress=False).run()
    straight = Trainer(recipe, toy_cache, tmp_path / "straight", progress=False).run()
    assert resumed["best"] == straight["best"] and list(resumed["phases"]) == list(straight["phases"])
    for phase, got in resumed["phases"].items():
        assert got["val_loss"] == pytest.approx(straight["phases"][phase]["val_loss"], rel=1e-5, abs=1e-6)
    a = load_checkpoint(tmp_path / "killed" / "best.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "straight" / "best.pt").model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_trainer_learns_the_easy_toy_task(toy_cache, tmp_path):
    recipe = _recipe(epochs=8, levels=(), loss_weights=(1.0,), max_prune_passes=0, val_source="train",
                     val_fraction=0.2)
    summary = Trainer(recipe, toy_cache, tmp_path / "run", progress=False).run()
    assert summary["test"]["test_top1"] >= 0.75   # chance is 1/6


def test_init_from_loads_backbone_and_checks_architecture(toy_cache, tmp_path):
    out = tmp_path / "run"
    Trainer(_recipe(epochs=1, max_prune_passes=0), toy_cache, out, progress=False).run()
    target = create_model("i3d_r18", num_classes=10, levels=(None, 2, 5), width=0.125)
    load_backbone(target, out / "best.pt")
    src = load_checkpoint(out / "best.pt").model
    assert torch.equal(target.backbone.stacks[3][1].conv2.weight, src.backbone.stacks[3][1].conv2.weight)
    with pytest.raises(EdgeactError, match="backbone is i3d_r18"):
        load_backbone(create_model("i3d_r34", num_classes=10, width=0.125), out / "best.pt")


def test_init_from_a_compacted_backbone_trains_the_narrow_model(toy_cache, tmp_path):
    """Fine-tuning from a physically pruned checkpoint keeps its narrow widths through training,
    a pruning pass and a second compaction; a full-width model refuses that backbone clearly."""
    from edgeact.compact import compact

    src = create_model("i3d_r18", num_classes=6, levels=(2, 3, None), width=0.125)
    prune_filters(src, ratio=0.3, scope="global")
    small = compact(src)
    init = save_checkpoint(tmp_path / "small.pt", small,
                           build_meta(small, ClassList(tuple("abcdef")), InputSpec(frames=4, size=32, resize=40)))
    with pytest.raises(EdgeactError, match="small.pt: a compacted .physically pruned. backbone, but the model"):
        load_backbone(create_model("i3d_r18", num_classes=6, width=0.125), init)
    out = tmp_path / "run"
    # per-layer scope: on random-init weights global pruning would pick only residual-stream
    # filters, which compaction must keep while another branch writes the stream
    Trainer(_recipe(epochs=1, max_prune_passes=1, prune_scope="layer", init_from=str(init)), toy_cache, out,
            progress=False).run()
    best = load_checkpoint(out / "best.pt").model
    assert best.config.channels == small.config.channels
    assert sum(p.numel() for p in best.backbone.parameters()) == sum(p.numel() for p in small.backbone.parameters())
    pass1 = load_checkpoint(out / "pass1" / "final.pt").model
    assert not torch.equal(pass1.backbone.stem.conv1.weight, small.backbone.stem.conv1.weight)   # it trained
    # the channels compaction kept but baked to 0 stayed pruned (and 0) through fine-tuning
    assert pruning_report(pass1).alive == pruning_report(small).alive < pruning_report(small).total
    pruned = load_checkpoint(out / "prune1" / "final.pt").model
    # the baked channels count as pruned before the pass, so the pass removed live filters only
    before = pruning_report(small).alive
    per_layer = [min(int(0.1 * r.alive + 0.5), r.alive - 1) for r in pruning_report(small).layers]
    assert pruning_report(pruned).alive == before - sum(per_layer)
    again = compact(pruned)
    assert sum(p.numel() for p in again.parameters()) < sum(p.numel() for p in best.parameters())
    with pytest.raises(EdgeactError, match="cannot take the full-width 2D weights"):
        Trainer(_recipe(init_from=str(init), pretrained_2d=str(tmp_path / "r18.pth")), toy_cache, tmp_path / "x",
                progress=False).run()


def test_unknown_benchmark_is_a_clear_error(toy_cache, tmp_path):
    with pytest.raises(EdgeactError, match="benchmark 'ntu60-xsub' is not in this cache"):
        Trainer(_recipe(benchmark="ntu60-xsub"), toy_cache, tmp_path / "r", progress=False)


def test_ablation_table_has_the_paper_rows(toy_cache, tmp_path):
    from edgeact.ablation import run_ablation

    table = run_ablation(_recipe(epochs=1, max_prune_passes=1), toy_cache, toy_cache, tmp_path / "abl", progress=False)
    rows = table["rows"]
    assert list(rows)[:3] == ["baseline", "baseline + cropping", "full model"]
    assert "full model + 1-pass pruning" in rows
    for row in rows.values():
        assert all(v is None or 0 <= v <= 1 for v in row.values())
    md = (tmp_path / "abl" / "ablation.md").read_text()
    assert "| full model + 1-pass pruning |" in md and "pruning by layers" in md
    # the layer-scope run reused pass 1 / pass 2 and pruned per layer
    layer_ck = load_checkpoint(tmp_path / "abl" / "cropped-layer" / "prune1" / "final.pt")
    assert layer_ck.meta["recipe"]["prune_scope"] == "layer"


def test_cli_train_then_eval(toy_cache, tmp_path):
    from typer.testing import CliRunner

    from edgeact.cli import app
    from edgeact.recipe import save_recipe

    recipe = tmp_path / "r.yaml"
    save_recipe(recipe, _recipe(epochs=1, max_prune_passes=1))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--recipe", str(recipe), "--data", str(toy_cache), "--out", str(tmp_path / "run"),
                              "--quiet", "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert "best" in res.output and (tmp_path / "run" / "best.pt").is_file()
    res = runner.invoke(app, ["eval", "--model", str(tmp_path / "run" / "best.pt"), "--data", str(toy_cache),
                              "--out", str(tmp_path / "rep" / "r.json"), "--workers", "0"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "rep" / "r.json").read_text())
    assert {"top1", "top5", "levels", "per_class"} <= set(report)
    assert (tmp_path / "rep" / "confusion.png").is_file()


def test_report_scores_superclasses_by_their_head_and_from_the_fine_head():
    from edgeact.evaluate import build_report
    from edgeact.hierarchy import level_probs

    fine = np.array([[0.4, 0.35, 0.25], [0.1, 0.45, 0.45]])
    np.testing.assert_allclose(level_probs(fine, [[0, 1, 1]])[0], [[0.4, 0.6], [0.1, 0.9]])
    head = np.array([[0.9, 0.1], [0.2, 0.8]])
    report = build_report([head, fine], np.array([1, 2]), ClassList(("a", "b", "c")), {"assignments": [[0, 1, 1]]})
    # both clips belong to superclass 1: the head gets one right, the summed fine scores both
    assert report["levels"] == [{"level": 1, "superclasses": 2, "accuracy": 0.5, "accuracy_from_fine": 1.0}]
