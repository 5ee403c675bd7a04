"""Build real Anki collections and packages with Anki's own engine (the `anki` package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

anki_collection = pytest.importorskip("anki.collection")


def new_collection(folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    return anki_collection.Collection(str(folder / "collection.anki2"))


def sample_collection(folder: Path) -> Any:
    """Basic, reversed and cloze notes in a deck and subdeck, tags, HTML, media, 2 answers."""
    col = new_collection(folder)
    child = col.decks.id("Parent::Child")
    basic = col.models.by_name("Basic")
    note = col.new_note(basic)
    note["Front"] = "Q <b>bold</b>"
    note["Back"] = "A &amp; B<br>line two"
    note.tags = ["t1", "a#b"]
    col.add_note(note, child)
    reverse = col.new_note(col.models.by_name("Basic (and reversed card)"))
    reverse["Front"] = "F2"
    reverse["Back"] = "B2"
    col.add_note(reverse, child)
    cloze = col.new_note(col.models.by_name("Cloze"))
    cloze["Text"] = "{{c1::Paris}} is in {{c2::France}}"
    cloze["Back Extra"] = "geo"
    col.add_note(cloze, col.decks.id("Other"))
    name = col.media.write_data("pic.png", b"\x89PNG fake")
    image = col.new_note(basic)
    image["Front"] = f'<img src="{name}">'
    image["Back"] = "an image"
    col.add_note(image, child)
    col.decks.select(child)
    for _ in range(2):
        card = col.sched.getCard()
        col.sched.answerCard(card, 3)
    return col


def export_package(col: Any, path: Path, *, legacy: bool) -> Path:
    from anki.import_export_pb2 import ExportAnkiPackageOptions

    col.export_anki_package(
        out_path=str(path),
        options=ExportAnkiPackageOptions(with_scheduling=True, with_media=True, legacy=legacy),
        limit=None,
    )
    return path


def import_package(col: Any, path: Path) -> Any:
    from anki.import_export_pb2 import (
        ImportAnkiPackageOptions,
        ImportAnkiPackageRequest,
        ImportAnkiPackageUpdateCondition,
    )

    return col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(path),
            options=ImportAnkiPackageOptions(
                with_scheduling=True,
                update_notes=ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS,
            ),
        )
    )


def notes_of(col: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        out[note.guid] = {
            "type": note.note_type()["name"],
            "fields": list(note.fields),
            "tags": sorted(note.tags),
            "decks": sorted({col.decks.name(c.did) for c in note.cards()}),
            "cards": [(c.ord, c.type, c.reps) for c in sorted(note.cards(), key=lambda c: c.ord)],
        }
    return out
