"""Deck file formats. Each format is one module exposing `parse(path) -> ParsedDeck`.

A new format is a new module plus one line in `FORMATS`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pmcards.errors import DeckFormatError


@dataclass(frozen=True)
class ParsedNote:
    guid: str
    kind: str
    fields: dict[str, str]
    tags: tuple[str, ...]
    section: str
    line: int | None  # where the note starts in its file, for error messages

    @property
    def checksum(self) -> str:
        """Detects edits: the id stays, the checksum changes."""
        payload = json.dumps(
            [self.kind, self.fields, sorted(self.tags), self.section],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class ParsedDeck:
    path: str
    name: str
    description: str = ""
    notes: list[ParsedNote] = field(default_factory=list)


FORMATS = {".toml": "toml_deck"}


def parse(path: Path) -> ParsedDeck:
    """Parse a deck file, choosing the format by its extension."""
    module_name = FORMATS.get(path.suffix.lower())
    if module_name is None:
        known = ", ".join(sorted(FORMATS))
        raise DeckFormatError(
            f"unknown deck format {path.suffix!r} (known: {known})", path=str(path)
        )
    import importlib

    module = importlib.import_module(f"pmcards.formats.{module_name}")
    deck: ParsedDeck = module.parse(path)
    return deck
