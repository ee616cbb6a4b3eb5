"""Optional dependencies: import one, or say in one line which pip extra installs it.

The extras are declared in ``pyproject.toml`` (``onnx``, ``openvino``, ``realsense``,
``tensorrt``, ...). Every optional import in edgeact goes through :func:`require`, so a missing
package reads the same wherever it is needed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edgeact.errors import EdgeactError

# What pip alone does not bring, by top-level module.
_NOTES = {
    "pyrealsense2": "on Linux also the system library libusb-1.0-0",
    "tensorrt": "on Jetson it comes with JetPack",
}


def install_hint(extra: str, module: str = "") -> str:
    """``pip install 'edgeact[EXTRA]'``, plus what pip alone does not install for ``module``."""
    note = _NOTES.get(module.split(".")[0])
    return f"pip install 'edgeact[{extra}]'" + (f"; {note}" if note else "")


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` (dotted names allowed) and return it.

    Raises:
        EdgeactError: one line, ``"{what} needs the {package} package (pip install
            'edgeact[{extra}]')"``. When the package is there but its own import failed (a
            missing shared library, a missing dependency of its own), the ImportError's text is
            appended, since reinstalling the extra may not be the fix.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        missing_itself = isinstance(exc, ModuleNotFoundError) and exc.name in (top, module)
        text = str(exc).strip()
        detail = "" if missing_itself else f": {text.splitlines()[0] if text else type(exc).__name__}"
        raise EdgeactError(f"{what} needs the {top} package ({install_hint(extra, module)}){detail}") from None
