"""The benchmarks' errors and how the command line words them: the bottom layer, imported by
every module that raises or reports them.

Examples:
    >>> describe_error(FileNotFoundError(2, "No such file or directory", "out/x"))
    'out/x: No such file or directory'
"""

from __future__ import annotations

import errno

__all__ = ["ModelFactoryError"]


class ModelFactoryError(ValueError):
    """A user's model factory, or the model it built, failed: the message says which and how."""


def describe_error(e: BaseException) -> str:
    """``e`` as the one line the command line prints: a file error as ``FILE: what``, the API's
    ``download=True`` as the option ``--download``, line breaks folded."""
    if isinstance(e, OSError) and e.strerror:
        msg = e.strerror if e.filename is None else f"{e.filename}: {e.strerror}"
        if e.errno == errno.ENOSPC:
            msg += " (free some space, then run the same command again: it resumes there)"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(msg.replace("download=True", "--download").split())
