"""File writing that never loses data: atomic replaces, append-only logs, and the guard that keeps
an output from landing on one of the command's own inputs.

* :func:`atomic_write_bytes` writes through a temporary file in the same folder and a rename, so a
  crash, Ctrl-C or full disk never leaves a half-written file under the real name. The result has
  the mode an ordinary ``open(path, "w")`` would give (``0o666`` less the umask), not ``mkstemp``'s
  private ``0o600``: a model or report written for a service user stays readable by it.
* :func:`refuse_output_over_input` is the one check every command runs before it writes.
* :func:`require_regular_file` is the one check every reader runs before it opens a file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from edgeact.errors import EdgeactError


def _umask() -> int:
    """The process umask. Linux reports it in /proc without changing it; elsewhere it can only be
    read by setting it, which would briefly change the mode of files other threads create."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    An existing file keeps its permission bits; a new one gets ``0o666 & ~umask``. A failure
    (read-only folder, full disk) raises an ``OSError`` whose ``filename`` is ``path``.
    """
    path = Path(path)
    try:
        _write_via_temp(path, data)
    except OSError as exc:
        # name the file the caller asked for, not the temporary one (a write error names none)
        if isinstance(exc, FileExistsError):    # mkdir met a file where a folder should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from exc
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _write_via_temp(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file (through links, ``..`` or another spelling).

    A path that does not exist yet is compared by its resolved name.
    """
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def require_regular_file(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`Path` when it names a regular file (through links); otherwise an
    :class:`EdgeactError`: ``"PATH: no such WHAT"``, or ``"PATH: not a regular file (a folder, FIFO
    or device); WHAT expected"``. Every reader calls it before opening: reading a FIFO blocks
    until something writes to it, which for a command means forever."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EdgeactError(f"{path}: no such {what}") from None
    except OSError as exc:     # a looping link, a folder we may not enter: reading would fail too
        raise EdgeactError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise EdgeactError(f"{path}: not a regular file (a folder, FIFO or device); {what} expected")
    return path


def refuse_output_over_input(out: Optional[str | Path], inputs: Iterable[Optional[str | Path]], *,
                             param: str) -> None:
    """Raise :class:`EdgeactError` when the output ``out`` is one of ``inputs`` (``None`` entries
    are skipped): no command writes over a file it reads.

    ``param`` is the keyword argument (or field) that gave the output, e.g. ``"out"`` or
    ``"jsonl"``: the message names it, and the CLI the option that sets it (``--out``, ``--jsonl``).
    """
    if out is None:
        return
    for src in inputs:
        if src is not None and Path(src).exists() and same_file(out, src):
            raise EdgeactError(f"{out}: is an input of this command ({src}); write the output elsewhere", param=param)
