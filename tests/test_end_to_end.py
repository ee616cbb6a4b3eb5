"""The data path end to end through the CLI: synth -> calibrate -> prep -> DataLoader."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_ok import cli_ok as _ok
from cli_ok import runner
from edgeact.cli import app
from edgeact.data.cache import FramePack, pack_path, read_index
from edgeact.data.clips import ClipDataset
from edgeact.data.ntu import read_skeleton
from edgeact.types import InputSpec


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    """Overrides conftest's ``synth_root`` for this module: three performers, two cameras and two
    setups, so every split of prep's index has train and test samples."""
    root = tmp_path_factory.mktemp("e2e") / "synth"
    _ok(["synth", "--out", root, "--seed", "3", "--num-classes", "4", "--performers", "3", "--cameras", "2",
         "--setups", "2", "--replications", "1", "--video-frames", "20", "--video-width", "160",
         "--video-height", "120"])
    return root


@pytest.fixture(scope="module")
def cache(synth_root):
    out = synth_root.parent / "cache"
    _ok(["prep", "--dataset", "ntu", "--root", synth_root, "--out", out, "--resize", "64", "--workers", "2"])
    return out


def test_calibrate_recovers_the_generator_camera(synth_root, tmp_path):
    meta = json.loads((synth_root / "synth_meta.json").read_text())
    cam = meta["color_camera"]
    out = tmp_path / "calib.json"
    _ok(["calibrate", "--ntu-skeletons", synth_root / "nturgb+d_skeletons", "--bx", cam["u0"], "--by", cam["v0"],
         "--model", "offset", "--out", out])
    calib = json.loads(out.read_text())
    assert calib["rmse_px"] < 0.5
    assert calib["cx"] == pytest.approx(cam["fx"], rel=1e-4)
    assert calib["cy"] == pytest.approx(-cam["fy"], rel=1e-4)   # Kinect camera space is Y up, images y down
    assert calib["tx"] == pytest.approx(cam["offset"][0], abs=1e-4)
    assert calib["n_points"] > 1000


def test_prep_indexes_every_sample_with_splits_and_crops_around_the_person(synth_root, cache):
    index = read_index(cache)
    videos = sorted(p.name[:20] for p in (synth_root / "nturgb+d_rgb").glob("*_rgb.avi"))
    assert sorted(s["name"] for s in index["samples"]) == videos
    assert index["meta"]["classes"]["mirror"] == [[0, 1], [2, 3]]
    for s in index["samples"]:
        skel = read_skeleton(synth_root / "nturgb+d_skeletons" / f"{s['name']}.skeleton")
        x0, y0, x1, y1 = s["box"]
        pts = skel.color_xy[np.isfinite(skel.color_xy).all(-1)]
        # every joint inside the box, the box at most 10 % (+ rounding) larger than the joints' span
        assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all() and (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()
        span = pts.max(0) - pts.min(0)
        assert x1 - x0 <= 1.2 * span[0] + 2 and y1 - y0 <= 1.2 * span[1] + 2
        assert s["num_frames"] == skel.num_frames == len(FramePack(pack_path(cache, s["name"])))
        assert s["splits"]["ntu60-xsub"] == ("test" if s["name"][9:12] == "003" else "train")
        assert s["splits"]["ntu120-xset"] == ("train" if s["name"][1:4] == "002" else "test")


def test_prep_resumes_without_redoing_work(synth_root, cache):
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "frames").iterdir()}
    out = _ok(["prep", "--dataset", "ntu", "--root", synth_root, "--out", cache, "--resize", "64"])
    assert "prepared 0 samples" in out and f"({len(before)} already done)" in out
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "frames").iterdir()} == before


def test_dataloader_over_the_cache(cache):
    spec = InputSpec(frames=8, size=56, resize=64)
    train = ClipDataset(cache, "ntu60-xsub", "train", train=True, spec=spec)
    test = ClipDataset(cache, "ntu60-xsub", "test", train=False, spec=spec)
    assert len(train) == 32 and len(test) == 16   # 4 classes x 2 cameras x 2 setups per performer; P1, P2 train, P3 tests
    clips, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=4, shuffle=True, num_workers=2)))
    assert clips.shape == (4, 3, 8, 56, 56) and clips.dtype == torch.float32
    assert labels.min() >= 0 and labels.max() < 4
    assert -3 < float(clips.mean()) < 3
    sets, _ = test[0]
    assert sets.shape == (5, 3, 8, 56, 56)


def test_prep_reports_samples_without_skeleton(synth_root, tmp_path):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(synth_root, root)
    victim = sorted((root / "nturgb+d_skeletons").iterdir())[0]
    victim.write_text("0\r\n")                                   # a real NTU quirk: no frames at all
    proc = subprocess.run([sys.executable, "-m", "edgeact", "prep", "--dataset", "ntu", "--root", str(root),
                           "--out", str(tmp_path / "c"), "--resize", "32", "--limit", "4", "--workers", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "1 sample(s) left out" in proc.stdout and victim.stem in proc.stdout
    index = read_index(tmp_path / "c")
    assert victim.stem not in {s["name"] for s in index["samples"]}
    assert any(e["name"] == victim.stem for e in index["meta"]["excluded"])


def test_prep_nucla_projects_3d_joints_with_the_calibration_file(tmp_path):
    """A hand-made N-UCLA tree: 3D joints -> Eq. 1 with calibration/nucla.json -> crop box."""
    import cv2

    rng = np.random.default_rng(0)
    k = np.arange(20)
    joints = np.stack([-0.3 + 0.03 * k, 0.5 - 0.05 * k, np.full(20, 3.0)], axis=-1)   # (20, 3), metres
    for view in (1, 2, 3):
        folder = tmp_path / "multiview_action" / f"view_{view}" / "a05_s01_e00"
        folder.mkdir(parents=True)
        for n in range(6):
            cv2.imwrite(str(folder / f"frame_{n}_tc_{100 + n}_rgb.jpg"), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
            rows = ["1"] + [f"{x:.6f},{y:.6f},{z:.6f},2" for x, y, z in joints]
            (folder / f"frame_{n}_tc_{100 + n}_skeletons.txt").write_text("\n".join(rows) + "\n")
    # view 1 holds a second recording's frame 0 (another time code): prepared, with a note
    extra = tmp_path / "multiview_action" / "view_1" / "a05_s01_e00" / "frame_0_tc_50"
    cv2.imwrite(f"{extra}_rgb.jpg", rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    Path(f"{extra}_skeletons.txt").write_text("\n".join(["1"] + [f"{x:.6f},{y:.6f},{z:.6f},2" for x, y, z in joints]))
    out = tmp_path / "cache"
    text = _ok(["prep", "--dataset", "nucla", "--root", tmp_path, "--out", out, "--resize", "32", "--workers", "1"])
    assert "1 prepared sample(s) with notes" in text and "a05_s01_e00_v1: frame numbers 0 repeat" in text
    index = read_index(out)
    assert [n["name"] for n in index["meta"]["notes"]] == ["a05_s01_e00_v1"]
    assert not any(e["name"] == "a05_s01_e00_v1" for e in index["meta"]["excluded"])
    assert len(index["samples"]) == 3 and index["meta"]["benchmarks"] == ["nucla-view1", "nucla-view2", "nucla-view3"]
    s = next(s for s in index["samples"] if s["splits"]["nucla-view2"] == "test")
    assert s["label"] == 4 and s["num_frames"] == 6                       # a05 "sit down"
    # independent Eq. 1 with the paper's N-UCLA coefficients, then +10 % per side
    u = 554.84 * joints[:, 0] / joints[:, 2] + 320
    v = 583.68 * joints[:, 1] / joints[:, 2] + 240
    w, h = u.max() - u.min(), v.max() - v.min()
    expected = [u.min() - 0.1 * w, v.min() - 0.1 * h, u.max() + 0.1 * w, v.max() + 0.1 * h]
    np.testing.assert_allclose(s["box"], expected, atol=0.02)


def test_train_and_eval_run_on_the_synthetic_cache(cache, tmp_path):
    """Mechanics on real cropped videos (learning itself: test_training.py on an easy toy set)."""
    from edgeact.checkpoint import load_checkpoint
    from edgeact.recipe import Recipe, save_recipe

    recipe = tmp_path / "r.yaml"
    save_recipe(recipe, Recipe(benchmark="ntu60-xsub", arch="i3d_r18", width=0.125, levels=(None, 2, None),
                               loss_weights=(0.5, 1.0), frames=4, size=56, resize=64, epochs=1, batch_size=8,
                               workers=0, test_sets=2, val_fraction=0.25, max_prune_passes=1,
                               superclass_restarts=20, amp=False))
    _ok(["train", "--recipe", recipe, "--data", cache, "--out", tmp_path / "run", "--quiet"])
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best.classes.mirror == ((0, 1), (2, 3))          # the generator's mirror pairs travel along
    assert best.input_spec.size == 56 and best.meta["benchmark"] == "ntu60-xsub"
    groups = best.meta["hierarchy"]["assignments"][0]
    assert sorted(np.bincount(groups).tolist()) == [2, 2]
    _ok(["eval", "--model", tmp_path / "run" / "best.pt", "--data", cache, "--out", tmp_path / "eval" / "r.json",
         "--workers", "0"])
    report = json.loads((tmp_path / "eval" / "r.json").read_text())
    assert report["clips"] == 16 and 0 <= report["top1"] <= report["top5"] <= 1


def test_prep_refuses_to_resume_with_other_settings(synth_root, cache):
    result = runner.invoke(app, ["prep", "--dataset", "ntu", "--root", str(synth_root), "--out", str(cache),
                                 "--resize", "32"])
    assert result.exit_code != 0
    assert "was prepared with other settings (size=64)" in str(result.exception)
