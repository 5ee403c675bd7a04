"""Exports, and the one registry of them: every deck format pmcards writes (from
`formats.FORMATS`), plus the pages rendered with Jinja (the study sheet and the report).

An export is a module with `write(conn, options, out)`, reading in the caller's transaction
and writing to a binary file as it reads (a deck file of 100,000 notes is never held whole);
one that can only make its file whole (a page, a package) has `export(conn, options) ->
bytes` instead. A new page is its module here plus one `Export` entry; a new deck format is
registered in `formats`. The CLI's choices and the options each export takes come from
`EXPORTS` (a test checks it). This module stays light: the CLI reads it to build `--help`.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from pmcards.formats import FORMATS

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions


class Export(NamedTuple):
    """One thing `pmcards export` writes: its module and the options only it takes."""

    name: str
    module: str  # the full module name
    description: str
    options: frozenset[str] = frozenset()
    binary: bool = False  # needs -o FILE
    suffix: str = ".html"
    one_deck: bool = False  # a file holds one deck: -o DIR/ writes one file per deck


EXPORTS: dict[str, Export] = {
    **{
        f.name: Export(
            f.name,
            f.writer_module,
            f.description,
            f.export_options,
            f.binary,
            f.suffixes[0],
            f.one_deck,
        )
        for f in FORMATS.values()
        if f.writer_module is not None
    },
    "html": Export(
        "html",
        "pmcards.exporters.html_sheet",
        "a printable study sheet",
        frozenset({"order", "on", "mode", "paper", "template"}),
    ),
    "report": Export(
        "report",
        "pmcards.exporters.html_report",
        "a progress report with charts",
        frozenset({"template"}),
    ),
}


# The study sheet's choices (html_sheet.py renders them; the CLI offers them, with these
# descriptions as its help).
SHEET_ORDERS = {
    "deck": "by deck and section, as the decks are written (the default)",
    "weakest": "studied notes by predicted recall at --on, lowest first, then the notes "
    "never studied under a heading of their own",
    "due": "studied notes by due date, soonest first, then the notes never studied",
}
SHEET_MODES = {
    "full": "every note with its answer and why, in two columns (the default)",
    "compact": "questions and answers without the why, a dense cheat sheet",
    "quiz": "questions with room to write, and an answer key at the end numbered to match",
    "onepage": "one page for the morning of the interview: the opening, the four-part "
    "answer on its clock, the reframes, and the contrasts you are most likely to get wrong",
}
PAPERS = ("a4", "letter")


def takes(option: str) -> list[str]:
    """The exports that take an option (ExportOptions' field name)."""
    return sorted(name for name, e in EXPORTS.items() if option in e.options)


Writer = Callable[["Connection", "ExportOptions", BinaryIO], None]
Exporter = Callable[["Connection", "ExportOptions"], bytes]
__all__ = [
    "EXPORTS",
    "PAPERS",
    "SHEET_MODES",
    "SHEET_ORDERS",
    "Export",
    "exporter",
    "writer",
]


def writer(fmt: str) -> Writer:
    """The export that writes `fmt` to a binary file."""
    module = importlib.import_module(EXPORTS[fmt].module)
    streamed: Writer | None = getattr(module, "write", None)
    if streamed is not None:
        return streamed
    whole: Exporter = module.export

    def write(conn: Connection, options: ExportOptions, out: BinaryIO) -> None:
        out.write(whole(conn, options))

    return write


def exporter(fmt: str) -> Exporter:
    """The export of `fmt` as bytes in memory (what tests and small callers want)."""
    write = writer(fmt)

    def export(conn: Connection, options: ExportOptions) -> bytes:
        out = io.BytesIO()
        write(conn, options, out)
        return out.getvalue()

    return export
