"""The one exception type edgeact raises for bad user input.

The CLI prints an ``EdgeactError`` as a single red line and exits with status 2; anything else
is a bug and keeps its traceback.
"""


class EdgeactError(ValueError):
    """Bad input from the user: a file, an option or a value. The message is one line and names
    the file or option and the problem."""


class SourceLost(EdgeactError):
    """The camera went away mid-run and ``--exit-on-disconnect`` asked us to stop: exit status
    75 (EX_TEMPFAIL), so a supervisor (systemd ``Restart=on-failure``) restarts us and bad input
    (status 2) stays distinguishable."""

    exit_code = 75
