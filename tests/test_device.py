"""The one device resolver and the one optional-import helper."""

import sys

import pytest
import torch

from edgeact.device import device_name, resolve_device
from edgeact.errors import EdgeactError
from edgeact.optional import require


def test_names_are_spelled_one_way():
    assert device_name("auto") == "auto"
    assert device_name("CPU") == "cpu"
    assert device_name("cuda") == "cuda"
    assert device_name("0") == "cuda:0"                 # ultralytics' spelling
    assert device_name(" cuda:1 ") == "cuda:1"
    assert device_name(torch.device("cpu")) == "cpu"


@pytest.mark.parametrize("bad", ["gpu0", "cuda:x", "", "-1"])
def test_a_name_that_is_no_device_is_one_line(bad):
    with pytest.raises(EdgeactError, match=r"not a device name \(auto, cpu, cuda, cuda:N\)"):
        device_name(bad)


def test_a_torch_device_edgeact_does_not_run_on():
    with pytest.raises(EdgeactError, match="edgeact runs on cpu, cuda, mps"):
        device_name("meta")


def test_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu():
    with pytest.raises(EdgeactError, match="^device cuda: CUDA is not available on this machine$"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_past_the_last_gpu():
    n = torch.cuda.device_count()
    with pytest.raises(EdgeactError, match=f"this machine has {n} CUDA device"):
        resolve_device(f"cuda:{n}")


def test_require_names_the_extra(monkeypatch):
    assert require("json", "x", "json") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)   # what an environment without it gives
    with pytest.raises(EdgeactError) as exc:
        require("pyrealsense2", "realsense", "RealSense support")
    assert str(exc.value) == ("RealSense support needs the pyrealsense2 package (pip install 'edgeact[realsense]'; "
                              "on Linux also the system library libusb-1.0-0)")


def test_require_says_why_an_installed_package_failed(tmp_path, monkeypatch):
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("raise ImportError('libfoo.so.1: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EdgeactError, match=r"^x needs the brokenpkg package \(pip install 'edgeact\[y\]'\): "
                                           r"libfoo.so.1: cannot open"):
        require("brokenpkg", "y", "x")
