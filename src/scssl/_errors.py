"""Error types shared by every step; the CLI maps them to exit codes."""

from __future__ import annotations


class ScsslError(Exception):
    """Base class for errors that scssl reports to the user without a traceback."""

    exit_code = 1


class InputError(ScsslError):
    """Bad input or usage: the message names the file, row or field and what to do (exit 2)."""

    exit_code = 2


class QCError(ScsslError):
    """QC removed too many cells; the message says which filter removed how many (exit 1)."""

    exit_code = 1
