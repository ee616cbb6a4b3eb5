"""The exceptions edgeact raises for bad user input, and the one-line text of a failed file operation.

The CLI prints an ``EdgeactError`` as a single red line and exits with status 2; an ``OSError``
that reaches the top (a full disk, a read-only folder, a file where a folder should be) is one red
line naming the path, exit status :data:`EXIT_IO`; anything else is a bug and keeps its traceback.

The library is called from Python as well as from the CLI, so its messages name what a caller
passed as that caller spelled it: an error about one argument carries the argument's keyword name
(``EdgeactError("must be >= 1, got 0", param="batch")`` reads ``batch: must be >= 1, got 0``), and
the CLI prints the option that sets it instead (``--batch-size: must be >= 1, got 0``, through
:func:`edgeact.cli_options.name_option`). A reason that points at another argument writes it as
``{keyword}`` and lists it in ``mention`` (``EdgeactError("needs {mqtt}", param="mqtt_every",
mention="mqtt")`` reads ``mqtt_every: needs mqtt``, and on the CLI ``--mqtt-every: needs --mqtt``).
Messages that suggest a whole command to run spell its options.
"""

from __future__ import annotations

import copy
import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

EXIT_USAGE = 2          # bad input: restarting cannot fix it
EXIT_IO = 74            # EX_IOERR (sysexits.h): the system refused a read or write
EXIT_TEMPFAIL = 75      # EX_TEMPFAIL: try again later (a supervisor restarts us)

# errnos that only a write produces: the message can say so
_WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class EdgeactError(ValueError):
    """Bad input from the user: a file, an argument or a value. The message is one line and names
    the file or argument and the problem.

    ``param``: the keyword argument (or config field) the problem is about, or several together;
    ``str(exc)`` is then ``"{param}: {reason}"`` (``"fp16, int8: choose one"``), and ``params``
    and ``reason`` keep them apart for the CLI to name its options. ``mention``: other keywords
    the reason points at, written ``{keyword}`` in it (only those names are replaced: any other
    brace in the text, a path's, stays as it is).
    """

    exit_code = EXIT_USAGE

    def __init__(self, reason: str, *, param: str | Sequence[str] = (), mention: str | Sequence[str] = ()):
        self.template = reason
        self.params = _names(param)
        self.mentions = _names(mention)
        super().__init__(self.render())

    @property
    def reason(self) -> str:
        """The reason with each mentioned keyword written as the keyword itself."""
        return self.render(params=False)

    def render(self, name: Callable[[str], str] = str, *, params: bool = True) -> str:
        """The message with every keyword (``params`` and mentions) written as ``name(keyword)``:
        the CLI passes the option that sets it."""
        reason = self.template
        for m in self.mentions:
            reason = reason.replace("{" + m + "}", name(m))
        if not (params and self.params):
            return reason
        return f"{', '.join(dict.fromkeys(name(p) for p in self.params))}: {reason}"

    def rename(self, names: dict[str, str]) -> None:
        """Name the keywords in ``names`` (old -> new) as the new ones, in place."""
        for m in self.mentions:
            if m in names:
                self.template = self.template.replace("{" + m + "}", "{" + names[m] + "}")
        self.params = tuple(dict.fromkeys(names.get(p, p) for p in self.params))
        self.mentions = tuple(names.get(m, m) for m in self.mentions)
        self.args = (self.render(),)

    def prefixed(self, prefix: str) -> "EdgeactError":
        """The same error (same type, keywords and mentions) with ``prefix: `` before its reason."""
        exc = copy.copy(self)      # keeps a subclass's own attributes (RecipeError.problem)
        exc.template = f"{prefix}: {self.template}"
        exc.args = (exc.render(),)
        return exc


def _names(names: str | Sequence[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def exactly_one(given: dict[str, bool], what: str) -> str:
    """The one keyword of ``given`` (keyword -> whether the caller passed it) that is set; none or
    several are ``give exactly one {what} (got N)``, naming the keywords given (all of them if none)."""
    chosen = [name for name, on in given.items() if on]
    if len(chosen) != 1:
        raise EdgeactError(f"give exactly one {what} (got {len(chosen) or 'none'})", param=chosen or list(given))
    return chosen[0]


@contextmanager
def keywords(**names: str) -> Iterator[None]:
    """Errors about keyword arguments raised inside name the caller's own keywords instead:
    ``with keywords(conf="pose_conf"): UltralyticsPose(conf=opts.pose_conf)`` turns
    ``conf: must be in (0, 1]`` into ``pose_conf: must be in (0, 1]`` (same type, same reason)."""
    try:
        yield
    except EdgeactError as exc:
        exc.rename(names)
        raise


class SourceLost(EdgeactError):
    """The camera went away mid-run and ``--exit-on-disconnect`` asked us to stop: exit status
    75 (EX_TEMPFAIL), so a supervisor (systemd ``Restart=on-failure``) restarts us and bad input
    (status 2) stays distinguishable."""

    exit_code = EXIT_TEMPFAIL


def os_error_message(exc: OSError) -> str:
    """One line for a failed file operation, naming the path: ``cannot write /ro/x.json:
    Read-only file system``, ``runs/a -> runs/b: Permission denied``, ``data/x: No such file or
    directory``. Errors without a path (a socket, a pipe) keep their own text."""
    # no strerror: re-raised from elsewhere (a DataLoader worker) with a traceback as text; its last line says it
    lines = [line for line in str(exc).splitlines() if line.strip()]
    reason = exc.strerror or (lines[-1].strip() if lines else type(exc).__name__)
    if exc.filename is None:
        return reason
    where = str(exc.filename) if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    if exc.errno == errno.ENOTDIR:
        blocker = _file_in_the_way(Path(exc.filename))
        if blocker is not None:
            reason = f"{blocker} is a file, not a folder"
    if exc.errno in _WRITE_ERRNOS:
        return f"cannot write {where}: {reason}"
    return f"{where}: {reason}"


def _file_in_the_way(path: Path) -> Optional[Path]:
    """The nearest parent of ``path`` that exists but is not a folder (``ENOTDIR``'s cause)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None
