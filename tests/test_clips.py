import numpy as np
import pytest
import torch

from edgeact.data.cache import FramePack, encode_pack, load_frames, pack_path
from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset, clip_tensor, segment_indices, test_indices
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.types import InputSpec


@pytest.mark.parametrize("n,start,expected", [
    (16, 0.0, [0, 2, 4, 6, 8, 10, 12, 14]),
    (16, 0.5, [1, 3, 5, 7, 9, 11, 13, 15]),
    (10, 0.9, [1, 2, 3, 4, 6, 7, 8, 9]),      # L = 1.25, s = 1.125
    (3, 0.0, [0, 0, 0, 1, 1, 1, 2, 2]),       # shorter than 8: frames repeat
    (1, 0.7, [0] * 8),
])
def test_segment_indices_hand_table(n, start, expected):
    assert segment_indices(n, 8, start).tolist() == expected


def test_test_indices_spread_over_first_segment():
    sets = test_indices(16, 5)
    assert sets.shape == (5, 8)
    assert sets[:, 0].tolist() == [0, 0, 1, 1, 1]   # starts 0.2, 0.6, 1.0, 1.4, 1.8
    assert (sets < 16).all()


def _frames(t=6, size=32):
    """Smooth, distinct frames (natural-image-like, so JPEG error stays small)."""
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([np.stack([(x * 6 + 20 * k) % 256, (y * 5 + 30 * k) % 256, np.full_like(x, 40 * k)], -1)
                     for k in range(t)]).astype(np.uint8)


def test_pack_round_trip_and_random_access(tmp_path):
    frames = _frames()
    atomic_write_bytes(pack_path(tmp_path, "s"), encode_pack(frames))
    pack = FramePack(pack_path(tmp_path, "s"))
    assert (len(pack), pack.height, pack.width) == (6, 32, 32)
    full = load_frames(tmp_path, "s")
    assert full.shape == frames.shape and full.dtype == np.uint8
    assert np.abs(full.astype(int) - frames).mean() < 4  # JPEG q90
    assert np.array_equal(pack.read([4, 1, 4]), full[[4, 1, 4]])
    with pytest.raises(IndexError):
        pack.read([6])


def test_corrupt_packs_are_clear_errors(tmp_path):
    data = encode_pack(_frames())
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "short.pack").write_bytes(data[:20])
    (tmp_path / "frames" / "magic.pack").write_bytes(b"NOTAPACK" + data[8:])
    with pytest.raises(EdgeactError, match="short.pack: truncated"):
        FramePack(pack_path(tmp_path, "short"))
    with pytest.raises(EdgeactError, match="magic.pack: not an edgeact frame pack"):
        FramePack(pack_path(tmp_path, "magic"))
    with pytest.raises(EdgeactError, match="no such frame pack"):
        load_frames(tmp_path, "missing")


def test_clip_tensor_normalizes_crops_and_flips():
    spec = InputSpec(frames=2, size=4, resize=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    frames[:, :, :4] = 255                                   # left half white
    t = clip_tensor(frames, spec, offset=(2, 2))
    assert t.shape == (3, 2, 4, 4)
    assert torch.all(t[:, :, :, :2] == 1) and torch.all(t[:, :, :, 2:] == -1)
    flipped = clip_tensor(frames, spec, offset=(2, 2), flip=True)
    assert torch.equal(flipped, t.flip(-1))


def _make_cache(root, classes: ClassList, labels, t=12, size=40):
    samples = []
    for k, label in enumerate(labels):
        name = f"S001C001P001R001A{label + 1:03d}_{k}"
        frames = np.zeros((t, size, size, 3), dtype=np.uint8)
        frames[:, :, : size // 2] = 255                      # bright left half marks orientation
        atomic_write_bytes(pack_path(root, name), encode_pack(frames))
        samples.append({"name": name, "label": label, "num_frames": t,
                        "splits": {"bench": "train" if k % 2 == 0 else "test"}})
    atomic_write_json(root / "index.json", {"meta": {"classes": classes.to_dict(), "benchmarks": ["bench"]},
                                            "samples": samples})


def test_dataset_flip_swaps_mirror_labels_and_respects_flip_unsafe(tmp_path):
    classes = ClassList(("wave left", "wave right", "jump", "point left"), mirror=((0, 1),), flip_unsafe=(3,))
    _make_cache(tmp_path, classes, [0, 0, 1, 1, 2, 2, 3, 3])   # even positions are "train"
    spec = InputSpec(frames=4, size=32, resize=40)
    ds = ClipDataset(tmp_path, "bench", "train", train=True, spec=spec, flip_p=1.0)
    assert sorted(ds.labels.tolist()) == [0, 1, 2, 3]
    for i, sample in enumerate(ds.samples):
        clip, label = ds[i]
        assert clip.shape == (3, 4, 32, 32)
        flipped = bool(clip[0, 0, 16, -1] > clip[0, 0, 16, 0])   # bright half moved right
        if sample["label"] == 3:
            assert not flipped and label == 3
        else:
            assert flipped and label == classes.flip_label(sample["label"])


def test_dataset_test_items_have_five_centre_cropped_sets(tmp_path):
    classes = ClassList(("a", "b"))
    _make_cache(tmp_path, classes, [0, 1, 0, 1])
    spec = InputSpec(frames=8, size=32, resize=40)
    ds = ClipDataset(tmp_path, "bench", "test", train=False, spec=spec)
    clips, label = ds[0]
    assert clips.shape == (5, 3, 8, 32, 32) and label == ds.samples[0]["label"]
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    batch, labels = next(iter(loader))
    assert batch.shape == (2, 5, 3, 8, 32, 32) and labels.tolist() == [1, 1]


def test_dataset_errors_name_the_cache(tmp_path):
    with pytest.raises(EdgeactError, match="no index.json"):
        ClipDataset(tmp_path, "bench", "train", train=True)
    _make_cache(tmp_path, ClassList(("a",)), [0])
    with pytest.raises(EdgeactError, match="no samples in split 'test' of benchmark 'nope'"):
        ClipDataset(tmp_path, "nope", "test", train=False)
