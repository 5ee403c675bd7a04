"""What a deck format's parser, and an export, are asked besides the collection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmcards.queries import Scope


@dataclass(frozen=True)
class ParseOptions:
    """What a parser may be asked besides the path."""

    name: str  # the format's name (csv_deck serves csv and tsv)
    stream: bool = False  # a big file's notes may be read while they are imported


@dataclass(frozen=True)
class ExportOptions:
    """What `pmcards export` asks of an export (deck formats here, pages in `exporters`)."""

    format: str = "toml"
    scope: Scope | None = None  # None: everything
    order: str = "deck"
    on: date | None = None  # a naive datetime (local time) when a time was given too
    mode: str = "full"
    paper: str = "a4"
    template: Path | None = None
    with_history: bool = False
    # The moment the export is made (the CLI passes it; pages print it and predict from it).
    now: Any = field(default=None)
