"""OpenVINO runtimes leave the process able to handle signals.

Each ``ov.Core`` loads an instance of OpenVINO's CPU plugin that swaps the thread's alternate
signal stack for one it maps, and unmaps it when the instance goes (see
:func:`edgeact.runtime.openvino_backend.shared_core`). Released in the order they were made, two
instances left the main thread on an unmapped stack: the next Python signal handler (SIGCHLD when
a DataLoader worker exits, here SIGUSR1) then killed the process with SIGSEGV, or, where a library
had since been mapped at that address, wrote its frame over that library's data (the test session
crashed in ``_dl_fini`` at exit). The check runs in a child process so that a failure is a failed
test, not a crashed session.
"""

import subprocess
import sys

import pytest
import torch

pytest.importorskip("openvino")

from edgeact.checkpoint import build_meta, save_checkpoint  # noqa: E402
from edgeact.data.classes import ClassList  # noqa: E402
from edgeact.export import export_model  # noqa: E402
from edgeact.models import create_model  # noqa: E402
from edgeact.types import InputSpec  # noqa: E402

CHILD = r"""
import gc, os, signal, sys
from edgeact.runtime import load_runtime

first = load_runtime(sys.argv[1], "cpu", backend="openvino", threads=1)
second = load_runtime(sys.argv[1], "cpu", backend="openvino", threads=1)
del first          # released in the order they were made
gc.collect()
del second
gc.collect()
seen = []
signal.signal(signal.SIGUSR1, lambda *_: seen.append(1))   # Python handlers run on the alternate stack
os.kill(os.getpid(), signal.SIGUSR1)
print("handled" if seen else "not handled")
"""


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("sigstack")
    model = create_model("i3d_r18", num_classes=2, levels=(None, None, None), width=0.125).eval()
    meta = build_meta(model, ClassList(("a", "b")), InputSpec(frames=4, size=32, resize=40), benchmark="toy")
    return export_model(save_checkpoint(root / "m.pt", model, meta), "onnx").path


def test_openvino_runtimes_released_in_creation_order_leave_signals_working(onnx_file):
    torch.manual_seed(0)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(onnx_file)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.split() == ["handled"], (proc.returncode, proc.stderr[-2000:])
