import pytest
import torch

from edgeact.checkpoint import build_meta, load_checkpoint, read_checkpoint, save_checkpoint
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.models import create_model
from edgeact.pruning import prune_filters, pruning_report
from edgeact.types import InputSpec


def test_round_trip_rebuilds_model_masks_and_metadata(tmp_path):
    model = create_model("i3d_r18", num_classes=4, levels=(None, 2, 3), width=0.125)
    prune_filters(model, 0.2)
    classes = ClassList(("wave left", "wave right", "jump", "clap"), mirror=((0, 1),))
    spec = InputSpec(frames=4, size=64, resize=72)
    meta = build_meta(model, classes, spec, hierarchy={"assignments": [[0, 0, 1, 1], [0, 1, 2, 2]]})
    path = save_checkpoint(tmp_path / "m.pt", model, meta, train_state={"epoch": 3})
    # the file is loadable by plain torch in safe mode: no pickled objects inside
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "edgeact-checkpoint"
    ck = load_checkpoint(path)
    assert ck.config == model.config
    assert ck.classes == classes and ck.input_spec == spec
    assert ck.meta["hierarchy"]["assignments"][1] == [0, 1, 2, 2]
    assert ck.train_state["epoch"] == 3
    assert pruning_report(ck.model) == pruning_report(model)
    model.eval(), ck.model.eval()
    x = torch.randn(1, 3, 4, 64, 64)
    for a, b in zip(model(x), ck.model(x)):
        assert torch.equal(a, b)


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(EdgeactError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(EdgeactError, match="junk.pt: not a readable checkpoint"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(EdgeactError, match="other.pt: not an edgeact checkpoint"):
        read_checkpoint(other)


def test_weights_that_do_not_match_the_named_architecture(tmp_path):
    model = create_model("i3d_r18", num_classes=4, width=0.125)
    meta = build_meta(model, ClassList(("a", "b", "c", "d")), InputSpec())
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    payload = torch.load(path, weights_only=True)
    payload["meta"] = payload["meta"].replace('"num_classes": 4', '"num_classes": 5')
    torch.save(payload, path)
    with pytest.raises(EdgeactError, match="do not match"):
        load_checkpoint(path)
