"""The command line: Click, input and output only; each command parses, calls one function
of the core, and prints. Commands live in modules by what they are for; `base` holds the
group and what they share.
"""

from __future__ import annotations

import sys

from pmcards.cli import admin, browse, exchange, lint, manage, notes, study  # noqa: F401  (registers)
from pmcards.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    """The console script: run the command, then leave without interpreter teardown.

    Freeing SQLAlchemy's thousands of objects at exit costs about 50 ms on every command,
    longer than some commands take. By the time `cli` returns, every command has committed
    and closed its database (each opens it in a `with` block), so the only work left is
    flushing output; then `os._exit` ends the process. Errors that escape as exceptions
    (bugs) still unwind normally and print their traceback.
    """
    import os

    from pmcards.cli.base import defer_gc

    defer_gc()
    try:
        cli(prog_name="pmcards")
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # The reader went away (`pmcards cards | head`): not an error of ours.
        code = code or 0
    os._exit(code)
