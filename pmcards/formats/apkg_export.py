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

from sqlalchemy.engine import Connection

from pmcards import markup, media, queries
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.formats._anki import MODEL_OF_KIND, MODELS, guid_from_id
from pmcards.formats._export import notes_in_scope
from pmcards.formats.options import ExportOptions
from pmcards.kinds import KINDS
from pmcards.rows import LEECH_TAG, Note

CSS = ".card { font-family: sans-serif; font-size: 20px; } .why { margin-top: 1em; color: #555; }"
_MEDIA_REF = re.compile(r"""src=["']([^"'>]+)["']|\[sound:([^\]]+)\]""")
# Anki's card types and queues for our states.
ANKI_TYPE: dict[int, int] = {NEW: 0, LEARNING: 1, REVIEW: 2, RELEARNING: 3}
# Anki's review-log types (learn, review, relearn) by the state a card was answered in.
REVLOG_TYPE: dict[int, int] = {NEW: 0, LEARNING: 0, REVIEW: 1, RELEARNING: 2}


def export(conn: Connection, options: ExportOptions) -> bytes:
    import genanki

    notes = notes_in_scope(conn, options)
    models = {name: _model(genanki, name) for name in MODELS}
    deck_ids = {note.deck_id for note in notes}
    decks = {
        d.id: genanki.Deck(_deck_id(d.name), d.name, description=d.description)
        for d in queries.decks(conn)
        if d.id in deck_ids
    }
    wanted_media: set[str] = set()
    for note in notes:
        fields = note.fields
        model = models[MODEL_OF_KIND[note.kind]]
        values = [markup.to_anki_html(fields.get(f, "")) for f in MODELS[model.name][2]]
        for value in values:
            for match in _MEDIA_REF.finditer(value):
                wanted_media.add(match.group(1) or match.group(2))
        tags = [*note.user_tags, *([LEECH_TAG] if LEECH_TAG in note.tags else [])]
        decks[note.deck_id].add_note(
            genanki.Note(model=model, fields=values, tags=tags, guid=guid_from_id(note.guid))
        )
    folder = media.media_dir(conn)
    media_files = sorted(
        name for name in wanted_media if media.safe_media_name(name) and (folder / name).is_file()
    )
    package = genanki.Package(list(decks.values()))
    with tempfile.TemporaryDirectory(prefix="pmcards-apkg-") as tmp:
        db_path = Path(tmp) / "collection.anki2"
        db = sqlite3.connect(db_path)
        try:
            cursor = db.cursor()
            package.write_to_db(cursor, _timestamp(notes), _ids(notes))
            if options.with_history:
                _write_history(conn, db, notes)
            db.commit()
        finally:
            db.close()
        out = Path(tmp) / "out.apkg"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(db_path, "collection.anki2")
            archive.writestr("media", json.dumps({str(i): n for i, n in enumerate(media_files)}))
            for i, name in enumerate(media_files):
                archive.write(folder / name, str(i))
        return out.read_bytes()


def _model(genanki: Any, name: str) -> Any:
    kind = KINDS[MODELS[name][0]]
    return genanki.Model(
        kind.anki.id,
        name,
        fields=[{"name": kind.anki_fields[f]} for f in kind.fields],
        templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in kind.anki.templates],
        css=CSS,
        model_type=genanki.Model.CLOZE if kind.anki.cloze else genanki.Model.FRONT_BACK,
    )


def _deck_id(name: str) -> int:
    return (1 << 40) + int(hashlib.sha256(name.encode()).hexdigest()[:9], 16)


def _timestamp(notes: list[Note]) -> float:
    return max(note.updated_at for note in notes).timestamp()


def _ids(notes: list[Note]) -> Any:
    import itertools

    return itertools.count(int(_timestamp(notes) * 1000))


def _write_history(source: Connection, conn: sqlite3.Connection, notes: list[Note]) -> None:
    """Scheduling, FSRS memory and the review log of each card, in Anki's terms."""
    crt = int(conn.execute("SELECT crt FROM col").fetchone()[0])
    start = datetime.fromtimestamp(crt, UTC)
    anki_ids = {guid: nid for nid, guid in conn.execute("SELECT id, guid FROM notes")}
    anki_cards = {
        (nid, ord): cid for cid, nid, ord in conn.execute("SELECT id, nid, ord FROM cards")
    }
    card_ids: dict[int, int] = {}
    by_id = {n.id: n for n in notes}
    for card in queries.cards_of_notes(source, by_id):
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
    for log in queries.logs_of_cards(source, card_ids):
        rid = int(log.reviewed_at.timestamp() * 1000)
        while rid in used:
            rid += 1
        used.add(rid)
        ivl = round((log.due_after - log.reviewed_at).total_seconds() / 86400)
        rtype = REVLOG_TYPE[log.state_before]
        conn.execute(
            "INSERT INTO revlog VALUES (?, ?, -1, ?, ?, 0, 2500, ?, ?)",
            (rid, card_ids[log.card_id], log.rating, ivl, log.duration_ms or 0, rtype),
        )
