"""Export notes as an Anki package (.apkg) that Anki imports: notes, decks, tags, media,
and with `--with-history` the cards' scheduling, FSRS memory and review log.

genanki writes the package (the schema, note types, decks and notes Anki expects); the
scheduling is then written into the same SQLite file before it is zipped. Each pmcards kind
becomes a "pmcards ..." note type, and note ids become Anki GUIDs, so importing the package
again updates the same notes in Anki instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmcards import markup, media
from pmcards.errors import PmcardsError
from pmcards.exporters import ExportOptions
from pmcards.formats._anki import MODEL_OF_KIND, MODELS, guid_from_id
from pmcards.models import LEARNING, NEW, RELEARNING, REVIEW, Card, Deck, Note, ReviewLog
from pmcards.queue import scoped_notes

# Fixed ids, so a second export updates the note types Anki already has.
MODEL_IDS = {
    "pmcards Q/A": 1_742_000_001,
    "pmcards Q/A and reversed": 1_742_000_002,
    "pmcards Reframe": 1_742_000_003,
    "pmcards Contrast": 1_742_000_004,
    "pmcards Cloze": 1_742_000_005,
    "pmcards Mock prompt": 1_742_000_006,
}
_WHY = "{{#Why}}<div class=why>{{Why}}</div>{{/Why}}"
TEMPLATES: dict[str, list[tuple[str, str, str]]] = {
    "pmcards Q/A": [("Recall", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}" + _WHY)],
    "pmcards Q/A and reversed": [
        ("Recall", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}" + _WHY),
        ("Reverse", "{{Back}}", "{{FrontSide}}<hr id=answer>{{Front}}" + _WHY),
    ],
    "pmcards Reframe": [
        ("Reframe", "Not {{Not}}, but …?", "Not {{Not}}, but …<hr id=answer>{{But}}" + _WHY)
    ],
    "pmcards Contrast": [
        (
            "Recall",
            "{{Situation}}<p>What is the GOOD move, and why is the BAD one bad?</p>",
            "{{FrontSide}}<hr id=answer><b>GOOD</b>: {{GOOD}}<br><b>BAD</b>: {{BAD}}" + _WHY,
        ),
        (
            "Judge",
            "{{Situation}}<p>Answer: {{BAD}}</p><p>Is this answer BAD or GOOD?</p>",
            "{{FrontSide}}<hr id=answer><b>BAD</b>. GOOD instead: {{GOOD}}" + _WHY,
        ),
    ],
    "pmcards Cloze": [("Cloze", "{{cloze:Text}}", "{{cloze:Text}}" + _WHY)],
    "pmcards Mock prompt": [
        (
            "Mock",
            "{{Prompt}}<p>Which points must a strong answer make?</p>",
            "{{FrontSide}}<hr id=answer>{{Rubric}}" + _WHY,
        )
    ],
}
CSS = ".card { font-family: sans-serif; font-size: 20px; } .why { margin-top: 1em; color: #555; }"
_MEDIA_REF = re.compile(r"""src=["']([^"'>]+)["']|\[sound:([^\]]+)\]""")
# Anki's card types and queues for our states.
ANKI_TYPE = {NEW: 0, LEARNING: 1, REVIEW: 2, RELEARNING: 3}


def export(session: Session, options: ExportOptions) -> bytes:
    import genanki

    notes = scoped_notes(session, options.scope)
    if not notes:
        raise PmcardsError("no notes to export")
    models = {name: _model(genanki, name) for name in MODELS}
    deck_ids = {note.deck_id for note in notes}
    decks = {
        d.id: genanki.Deck(_deck_id(d.name), d.name, description=d.description)
        for d in session.scalars(select(Deck).where(Deck.id.in_(deck_ids)))
    }
    wanted_media: set[str] = set()
    for note in notes:
        fields = note.fields
        model = models[MODEL_OF_KIND[note.kind]]
        values = [markup.to_anki_html(fields.get(f, "")) for f in MODELS[model.name][2]]
        for value in values:
            for match in _MEDIA_REF.finditer(value):
                wanted_media.add(match.group(1) or match.group(2))
        tags = [t for t in note.tags if t != "leech"] + (["leech"] if "leech" in note.tags else [])
        decks[note.deck_id].add_note(
            genanki.Note(model=model, fields=values, tags=tags, guid=guid_from_id(note.guid))
        )
    folder = media.media_dir()
    media_files = sorted(
        name for name in wanted_media if media.safe_media_name(name) and (folder / name).is_file()
    )
    package = genanki.Package(list(decks.values()))
    with tempfile.TemporaryDirectory(prefix="pmcards-apkg-") as tmp:
        db_path = Path(tmp) / "collection.anki2"
        conn = sqlite3.connect(db_path)
        try:
            cursor = conn.cursor()
            package.write_to_db(cursor, _timestamp(notes), _ids(notes))
            if options.with_history:
                _write_history(session, conn, notes)
            conn.commit()
        finally:
            conn.close()
        out = Path(tmp) / "out.apkg"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(db_path, "collection.anki2")
            archive.writestr("media", json.dumps({str(i): n for i, n in enumerate(media_files)}))
            for i, name in enumerate(media_files):
                archive.write(folder / name, str(i))
        return out.read_bytes()


def _model(genanki: Any, name: str) -> Any:
    kind, anki_fields, _ = MODELS[name]
    return genanki.Model(
        MODEL_IDS[name],
        name,
        fields=[{"name": f} for f in anki_fields],
        templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in TEMPLATES[name]],
        css=CSS,
        model_type=genanki.Model.CLOZE if kind == "cloze" else genanki.Model.FRONT_BACK,
    )


def _deck_id(name: str) -> int:
    return (1 << 40) + int(hashlib.sha256(name.encode()).hexdigest()[:9], 16)


def _timestamp(notes: list[Note]) -> float:
    return max(note.updated_at for note in notes).timestamp()


def _ids(notes: list[Note]) -> Any:
    import itertools

    return itertools.count(int(_timestamp(notes) * 1000))


def _write_history(session: Session, conn: sqlite3.Connection, notes: list[Note]) -> None:
    """Scheduling, FSRS memory and the review log of each card, in Anki's terms."""
    crt = int(conn.execute("SELECT crt FROM col").fetchone()[0])
    start = datetime.fromtimestamp(crt, UTC)
    anki_ids = {guid: nid for nid, guid in conn.execute("SELECT id, guid FROM notes")}
    anki_cards = {
        (nid, ord): cid for cid, nid, ord in conn.execute("SELECT id, nid, ord FROM cards")
    }
    card_ids: dict[int, int] = {}
    note_ids = [n.id for n in notes]
    by_id = {n.id: n for n in notes}
    for i in range(0, len(note_ids), 500):
        cards = session.scalars(select(Card).where(Card.note_id.in_(note_ids[i : i + 500])))
        for card in cards:
            nid = anki_ids.get(guid_from_id(by_id[card.note_id].guid))
            cid = anki_cards.get((nid, card.ord)) if nid is not None else None
            if cid is None:
                continue
            card_ids[card.id] = cid
            if card.state == NEW:
                if card.suspended:
                    conn.execute("UPDATE cards SET queue = -1 WHERE id = ?", (cid,))
                continue
            interval = 0
            if card.last_review is not None:
                interval = max(1, round((card.due - card.last_review).total_seconds() / 86400))
            if card.state == REVIEW:
                queue, due = 2, (card.due - start).days
            elif card.last_review is not None and card.due - card.last_review >= timedelta(days=1):
                queue, due = 3, (card.due - start).days  # a learning step of a day or more
            else:
                queue, due = 1, int(card.due.timestamp())
            data = {"s": card.stability, "d": card.difficulty} if card.stability else {}
            conn.execute(
                "UPDATE cards SET type = ?, queue = ?, due = ?, ivl = ?, factor = 2500, "
                "reps = ?, lapses = ?, left = 0, data = ? WHERE id = ?",
                (
                    ANKI_TYPE[card.state],
                    -1 if card.suspended else queue,
                    due,
                    interval if card.state == REVIEW else 0,
                    card.reps,
                    card.lapses,
                    json.dumps(data),
                    cid,
                ),
            )
    used: set[int] = set()
    ours = list(card_ids)
    logs = [
        log
        for i in range(0, len(ours), 500)
        for log in session.scalars(
            select(ReviewLog).where(ReviewLog.card_id.in_(ours[i : i + 500]))
        )
    ]
    for log in sorted(logs, key=lambda log: log.id):
        rid = int(log.reviewed_at.timestamp() * 1000)
        while rid in used:
            rid += 1
        used.add(rid)
        ivl = round((log.due_after - log.reviewed_at).total_seconds() / 86400)
        rtype = {NEW: 0, LEARNING: 0, REVIEW: 1, RELEARNING: 2}[log.state_before]
        conn.execute(
            "INSERT INTO revlog VALUES (?, ?, -1, ?, ?, 0, 2500, ?, ?)",
            (rid, card_ids[log.card_id], log.rating, ivl, log.duration_ms or 0, rtype),
        )
