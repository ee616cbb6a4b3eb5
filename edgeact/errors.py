"""The one exception type edgeact raises for bad user input.

The CLI prints an ``EdgeactError`` as a single red line and exits with status 2; anything else
is a bug and keeps its traceback.
"""


class EdgeactError(ValueError):
    """Bad input from the user: a file, an option or a value. The message is one line and names
    the file or option and the problem."""
