"""Exports. Each format is one module exposing `export(session, options) -> bytes`.

A new export is a new module plus one line in `EXPORTERS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from pmcards.queue import Scope

EXPORTERS = {
    "toml": "toml_deck",
    "md": "markdown",
    "csv": "csv_deck",
    "tsv": "tsv_deck",
    "apkg": "apkg",
    "html": "html_sheet",
    "report": "html_report",
}
# Options that only some formats take: the CLI refuses them for the others.
FORMAT_OPTIONS = {
    "order": {"html"},
    "on": {"html"},
    "mode": {"html"},
    "paper": {"html"},
    "template": {"html", "report"},
    "with_history": {"apkg"},
}


@dataclass(frozen=True)
class ExportOptions:
    scope: Scope = field(default_factory=Scope)
    order: str = "deck"
    on: date | None = None
    mode: str = "full"
    paper: str = "a4"
    template: Path | None = None
    with_history: bool = False


class Exporter(Protocol):
    def __call__(self, session: Session, options: ExportOptions) -> bytes: ...


def exporter(fmt: str) -> Exporter:
    module = importlib.import_module(f"pmcards.exporters.{EXPORTERS[fmt]}")
    function: Exporter = module.export
    return function
