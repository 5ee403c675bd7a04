"""Export notes as an Anki package (.apkg) that Anki imports: notes, decks, tags, sections,
media, and with `--with-history` each card's scheduling (FSRS memory, due date, learning
step, last review, suspension, burial, flag) and its review log.

The package is a schema-11 collection (`collection.anki2`), which every Anki version reads:
genanki gives its tables, its collection row and pmcards' note types; pmcards writes the
notes, cards and review log itself, because it writes what genanki does not (scheduling,
the note types notes came from in Anki). The collection says it is from Anki's v2 scheduler
(`schedVer`): without it Anki reads the package as a v1 one and rewrites learning answers
(Hard becomes Good, Good becomes Easy). Due dates are study days counted from the
collection's creation (`crt`, at the start of a study day), in this machine's time zone
(`creationOffset`) with pmcards' rollover hour, as Anki counts them; its deck options are
pmcards' settings (steps, FSRS parameters, desired retention, limits).

A pmcards note goes as a "pmcards ..." note type of its kind, with its section in a field no
card shows. A note that came from Anki goes back under its own note type, its fields in that
note type's order, unchanged fields as Anki wrote them, so that importing the package into
the collection it came from updates the same notes (same GUIDs) without conflicts or new
cards.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sqlite3
import tempfile
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from pmcards import cardstate, clock, markup, media, queries, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.errors import PmcardsError
from pmcards.formats._anki import (
    MODEL_OF_KIND,
    SECTION_FIELD,
    Mapping,
    fields_for_anki,
    guid_from_id,
    notetype_mapping,
)
from pmcards.formats._export import batches
from pmcards.formats.options import ExportOptions
from pmcards.kinds import KINDS
from pmcards.queries import C, L, N
from pmcards.rows import LEECH_TAG, Card, Note, ReviewLog

CSS = ".card { font-family: sans-serif; font-size: 20px; } .why { margin-top: 1em; color: #555; }"
_MEDIA_REF = re.compile(r"""src=["']?([^"'>\s]+)["']?|\[sound:([^\]]+)\]""")
_TAGS = re.compile(r"<[^>]*>")
# Anki's review-log types (learn, review, relearn) by the state a card was answered in.
REVLOG_TYPE: dict[int, int] = {NEW: 0, LEARNING: 0, REVIEW: 1, RELEARNING: 2}
# Anki's queues. A buried card is buried by a sibling's answer, or by hand.
QUEUE_NEW, QUEUE_LEARN, QUEUE_REVIEW, QUEUE_DAY_LEARN = 0, 1, 2, 3
QUEUE_SUSPENDED, QUEUE_SIBLING_BURIED, QUEUE_BURIED = -1, -2, -3
DEFAULT_EASE = 2500


@dataclass(frozen=True)
class _Days:
    """Anki's day numbers: study days since the collection's creation."""

    created: date  # day 0
    rollover: int

    def of(self, when: datetime) -> int:
        return (clock.study_day(when, self.rollover).date - self.created).days


def write(conn: Connection, options: ExportOptions, out: BinaryIO) -> None:
    """Write the package to `out`, streamed: the notes in scope a thousand at a time, each
    batch's notes, cards and answers straight into the package's collection file, which is
    then zipped to `out` from disk. What the package holds is what holding every row at
    once made; what stays in memory is the cards' id order and the media names."""
    import genanki
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA

    scope = options.scope or queries.Scope()
    count, latest, last_position = conn.execute(
        scope.apply_to_notes(select(func.count(), func.max(N.updated_at), func.max(N.position)))
    ).one()
    if not count:
        raise PmcardsError("no notes to export")
    config = settings.load(conn)
    now: datetime = options.now or latest
    timestamp = latest.timestamp()

    # Day 0: the start of the study day of the earliest time the package mentions.
    times = [now, *_earliest_times(conn, scope, with_history=options.with_history)]
    first = clock.study_day(min(times), config.rollover_hour)
    days = _Days(first.date, config.rollover_hour)
    crt = int(first.start.timestamp())

    deck_names = {d.id: d.name for d in queries.decks(conn)}
    deck_ids = {
        deck_id: _deck_id(deck_names[deck_id])
        for deck_id in set(queries.scoped_deck_ids(conn, scope))
    }
    models: dict[str, dict[str, Any]] = {}
    # Anki's ids count up from the newest edit: the notes in deck order, then their cards by
    # pmcards' note id and ordinal (what a whole export did), so a card's id is the count
    # of notes plus its place in that order.
    first_id = int(timestamp * 1000)
    ranks = _CardRanks.of(conn, scope)
    wanted_media: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="pmcards-apkg-") as tmp:
        db_path = Path(tmp) / "collection.anki2"
        db = sqlite3.connect(db_path)
        try:
            db.executescript(APKG_SCHEMA)
            db.executescript(APKG_COL)
            nid = first_id
            for batch in batches(queries.iter_scoped_notes(conn, scope)):
                anki = _anki_sides(conn, [note.id for note in batch])
                note_rows: list[tuple[Any, ...]] = []
                anki_note_ids: dict[int, int] = {}
                for note in batch:
                    model_id, values, mod = _note_fields(
                        genanki, note, anki.get(note.id), models, timestamp
                    )
                    for value in values:
                        for match in _MEDIA_REF.finditer(value):
                            wanted_media.add(match.group(1) or match.group(2))
                    anki_note_ids[note.id] = nid
                    note_rows.append(_note_row(nid, note, model_id, values, mod))
                    nid += 1
                db.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", note_rows)
                by_id = {note.id: note for note in batch}
                cards = queries.cards_of_notes(conn, by_id)
                db.executemany(
                    "INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    _card_rows(
                        cards,
                        by_id,
                        anki_note_ids,
                        deck_ids,
                        first_id + count,
                        ranks,
                        config,
                        days,
                        now,
                        with_history=options.with_history,
                    ),
                )
            if options.with_history:
                _write_revlog(db, _scoped_logs(conn, scope), first_id + count, ranks)
            _write_col(
                db, genanki, config, crt, timestamp, models, deck_ids, deck_names, last_position
            )
            db.commit()
        finally:
            db.close()
        folder = media.media_dir(conn)
        media_files = sorted(
            name
            for name in wanted_media
            if media.safe_media_name(name) and (folder / name).is_file()
        )
        # Zipped from the file on disk, a block at a time, straight to `out`.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(db_path, "collection.anki2")
            archive.writestr("media", json.dumps({str(i): n for i, n in enumerate(media_files)}))
            for i, name in enumerate(media_files):
                archive.write(folder / name, str(i))


def _earliest_times(
    conn: Connection, scope: queries.Scope, *, with_history: bool
) -> list[datetime]:
    """The earliest due date of a studied card, last review, and (with history) answer."""
    cards = schema.cards.join(schema.notes, N.id == C.note_id)
    aggregates = [
        select(func.min(C.due)).select_from(cards).where(C.state != int(NEW)),
        select(func.min(C.last_review)).select_from(cards),
    ]
    if with_history:
        logs = schema.review_log.join(schema.cards, C.id == L.card_id).join(
            schema.notes, N.id == C.note_id
        )
        aggregates.append(select(func.min(L.reviewed_at)).select_from(logs))
    found = (conn.scalar(scope.apply_to_notes(q)) for q in aggregates)
    return [when for when in found if when is not None]


class _CardRanks:
    """Each card's place among the cards in scope ordered by note id and ordinal, found by
    its id: two arrays (pmcards' card ids sorted, and their places), not a dict of 100,000
    entries."""

    def __init__(self, ids: array[int], places: array[int]) -> None:
        self.ids, self.places = ids, places

    @classmethod
    def of(cls, conn: Connection, scope: queries.Scope) -> _CardRanks:
        stmt = scope.apply_to_notes(
            select(C.id).join(schema.notes, N.id == C.note_id).order_by(C.note_id, C.ord)
        )
        in_order = array("q", conn.execute(stmt).scalars())
        places = sorted(range(len(in_order)), key=in_order.__getitem__)
        return cls(array("q", (in_order[i] for i in places)), array("q", places))

    def place(self, card_id: int) -> int:
        i = bisect.bisect_left(self.ids, card_id)
        assert i < len(self.ids) and self.ids[i] == card_id, "a card out of scope"
        return self.places[i]


def _note_row(nid: int, note: Note, model_id: int, values: list[str], mod: int) -> tuple[Any, ...]:
    tags = [*note.user_tags, *([LEECH_TAG] if LEECH_TAG in note.tags else [])]
    sort_field = _TAGS.sub("", values[0]) if values else ""
    return (
        nid,
        guid_from_id(note.guid),
        model_id,
        mod,
        -1,
        " " + " ".join(tags) + " " if tags else "",
        "\x1f".join(values),
        sort_field,
        int(hashlib.sha1(sort_field.encode()).hexdigest()[:8], 16),
        0,
        "",
    )


def _card_rows(
    cards: list[Card],
    notes: dict[int, Note],
    anki_note_ids: dict[int, int],
    deck_ids: dict[int, int],
    first_card_id: int,
    ranks: _CardRanks,
    config: settings.Settings,
    days: _Days,
    now: datetime,
    *,
    with_history: bool,
) -> Iterator[tuple[Any, ...]]:
    # Each note's latest answer: a card buried the study day a sibling was answered was
    # buried by that answer (pmcards buries siblings as Anki does), else by hand.
    answered: dict[int, datetime] = {}
    for card in cards:
        if card.last_review is not None and card.last_review > answered.get(card.note_id, _EPOCH):
            answered[card.note_id] = card.last_review
    for card in cards:
        note = notes[card.note_id]
        yield (
            first_card_id + ranks.place(card.id),
            anki_note_ids[note.id],
            deck_ids[note.deck_id],
            card.ord,
            int(now.timestamp()),  # its state, as of the export (a burial is today's)
            -1,
            *_scheduling(
                card,
                note,
                config,
                days,
                now,
                with_history=with_history,
                sibling_answered=answered.get(card.note_id),
            ),
        )


def _scoped_logs(conn: Connection, scope: queries.Scope) -> Iterator[ReviewLog]:
    """Every answer to a card in scope, oldest first, read a thousand at a time."""
    stmt = scope.apply_to_notes(
        select(schema.review_log)
        .join(schema.cards, C.id == L.card_id)
        .join(schema.notes, N.id == C.note_id)
        .order_by(L.id)
    )
    # On the statement, not the connection: it would stay set for the rest of the
    # transaction, and PostgreSQL refuses a write through the server-side cursor it makes.
    for row in conn.execute(stmt.execution_options(yield_per=1000)):
        yield ReviewLog.from_row(row._mapping)


@dataclass(frozen=True)
class _AnkiSide:
    """A note from Anki: its note type (schema-11 JSON) and the note as Anki had it."""

    notetype: dict[str, Any]
    note: dict[str, Any]


def _anki_sides(conn: Connection, note_ids: list[int]) -> dict[int, _AnkiSide]:
    N, T = schema.notes.c, schema.anki_notetypes.c
    out: dict[int, _AnkiSide] = {}
    notetypes: dict[int, dict[str, Any]] = {}
    for start in range(0, len(note_ids), 500):
        query = (
            select(N.id, N.anki_note, T.id.label("tid"), T.definition)
            .join(schema.anki_notetypes, T.id == N.anki_notetype_id)
            .where(N.id.in_(note_ids[start : start + 500]))
        )
        for note_id, anki_note, tid, definition in conn.execute(query):
            if tid not in notetypes:
                notetypes[tid] = json.loads(definition)
            out[note_id] = _AnkiSide(notetypes[tid], json.loads(anki_note or "{}"))
    return out


def _note_fields(
    genanki: Any,
    note: Note,
    side: _AnkiSide | None,
    models: dict[str, dict[str, Any]],
    timestamp: float,
) -> tuple[int, list[str], int]:
    """The note's note type (added to `models`), its fields for it, and its modification
    time: under the note type it came from in Anki when that still fits its kind, else
    under pmcards' note type for its kind."""
    mapping: Mapping | None = notetype_mapping(side.notetype) if side is not None else None
    if side is not None and mapping is not None and note.kind in mapping.kinds():
        definition = side.notetype
        model_id = int(definition["id"])
        models.setdefault(str(model_id), definition)
        original = side.note.get("fields")
        values = fields_for_anki(mapping, note.kind, note.fields, note.section, original)
        mod = int(side.note.get("mod") or 0)
        if note.checksum != side.note.get("checksum") or values != original:
            # Edited here since it came from Anki: newer than Anki's copy, so Anki takes it.
            mod = max(mod + 1, int(note.updated_at.timestamp()))
        return model_id, values, mod
    kind = KINDS[note.kind]
    name = MODEL_OF_KIND[note.kind]
    if name not in {m["name"] for m in models.values()}:
        model = genanki.Model(
            kind.anki.id,
            name,
            fields=[{"name": kind.anki_fields[f]} for f in kind.fields] + [{"name": SECTION_FIELD}],
            templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in kind.anki.templates],
            css=CSS,
            model_type=genanki.Model.CLOZE if kind.anki.cloze else genanki.Model.FRONT_BACK,
        )
        models[str(kind.anki.id)] = model.to_json(timestamp, None)
    values = [markup.to_anki_html(note.fields.get(f, "")) for f in kind.fields]
    return (
        kind.anki.id,
        [*values, markup.to_anki_html(note.section)],
        int(note.updated_at.timestamp()),
    )


def _scheduling(
    card: Card,
    note: Note,
    config: settings.Settings,
    days: _Days,
    now: datetime,
    *,
    with_history: bool,
    sibling_answered: datetime | None,
) -> tuple[Any, ...]:
    """A card's columns from `type` on: type, queue, due, ivl, factor, reps, lapses, left,
    odue, odid, flags, data."""
    buried: int | None = None
    if with_history and card.buried_until is not None and card.buried_until > now:
        by_sibling = (
            sibling_answered is not None
            and sibling_answered != card.last_review
            and days.of(sibling_answered) == days.of(card.buried_until - timedelta(seconds=1))
        )
        buried = QUEUE_SIBLING_BURIED if by_sibling else QUEUE_BURIED
    if not with_history or card.state == NEW:
        queue = QUEUE_NEW
        if with_history and card.suspended:
            queue = QUEUE_SUSPENDED
        elif buried is not None:
            queue = buried
        flag = card.flag if with_history else 0
        return (0, queue, note.position, 0, 0, 0, 0, 0, 0, 0, flag, "")
    memory = card.memory
    last = memory.last_review or memory.due
    interval = memory.due - last
    left = 0
    factor = DEFAULT_EASE
    if memory.state == REVIEW:
        queue, due = QUEUE_REVIEW, days.of(memory.due)
        ivl = max(1, days.of(memory.due) - days.of(last))
    else:
        steps = config.learning_steps if memory.state == LEARNING else config.relearning_steps
        left = cardstate.remaining_from_step(memory.step, len(steps))
        if days.of(memory.due) > days.of(last) or interval >= timedelta(days=1):
            # A step that ends on a later study day (ten minutes at 03:55, a rollover at
            # 04:00) is counted in days, as Anki's answer makes it (`maybe_as_days`).
            queue, due = QUEUE_DAY_LEARN, days.of(memory.due)
        else:
            queue, due = QUEUE_LEARN, int(memory.due.timestamp())
        # A relearning card's interval is the one it goes back to: about its stability.
        ivl = max(1, round(memory.stability or 1)) if memory.state == RELEARNING else 0
        if memory.state == LEARNING:
            factor = 0
    if card.suspended:
        queue = QUEUE_SUSPENDED
    elif buried is not None:
        queue = buried
    data: dict[str, Any] = {}
    if memory.stability and memory.difficulty:
        data = {"s": memory.stability, "d": memory.difficulty, "dr": config.desired_retention}
        parameters = config.fsrs_parameters()
        if len(parameters) >= 21:
            data["decay"] = parameters[20]
    if memory.last_review is not None:
        data["lrt"] = int(memory.last_review.timestamp())
    return (
        memory.state,  # Anki's card types are pmcards' states (cardstate.State)
        queue,
        due,
        ivl,
        factor,
        memory.reps,
        memory.lapses,
        left,
        0,
        0,
        card.flag,
        json.dumps(data),
    )


def _write_revlog(
    db: sqlite3.Connection, logs: Iterator[ReviewLog], first_card_id: int, ranks: _CardRanks
) -> None:
    """Each answer as Anki's review log has it: its time in milliseconds as its id (moved a
    millisecond on when two coincide), the rating as the button, the interval it gave and
    the one before (days, or seconds as a negative number for a learning step). The log's
    primary key finds a taken id (no set of every id in memory); the answers come oldest
    first, so each takes the id it always did."""
    insert = "INSERT INTO revlog VALUES (?,?,?,?,?,?,?,?,?)"
    for log in logs:
        ivl = _interval(log.reviewed_at, log.due_after, log.state_after)
        last = 0
        if log.state_before != NEW and log.last_review_before is not None:
            last = _interval(log.last_review_before, log.due_before, log.state_before)
        row = [
            _millis(log.reviewed_at),
            first_card_id + ranks.place(log.card_id),
            -1,
            log.rating,
            ivl,
            last,
            0 if log.state_before in (NEW, LEARNING) else DEFAULT_EASE,
            log.duration_ms or 0,
            REVLOG_TYPE[log.state_before],
        ]
        while True:
            try:
                db.execute(insert, row)
                break
            except sqlite3.IntegrityError as exc:
                # Only a taken id moves it on (OR IGNORE would loop on any other refusal).
                if "UNIQUE" not in str(exc):
                    raise
                row[0] += 1


def _interval(start: datetime, end: datetime, state: int) -> int:
    """Anki's review-log interval: whole days, or a learning step under a day as negative
    seconds."""
    delta = end - start
    if state in (LEARNING, RELEARNING) and delta < timedelta(days=1):
        return -max(1, round(delta.total_seconds()))
    return max(1, round(delta / timedelta(days=1)))


def _millis(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _write_col(
    db: sqlite3.Connection,
    genanki: Any,
    config: settings.Settings,
    crt: int,
    timestamp: float,
    models: dict[str, dict[str, Any]],
    deck_ids: dict[int, int],
    deck_names: dict[int, str],
    last_position: int,
) -> None:
    """The collection row: its creation day, its v2 scheduler and time zone, the note types,
    the decks, and deck options that are pmcards' settings."""
    conf = json.loads(db.execute("SELECT conf FROM col").fetchone()[0])
    offset = datetime.fromtimestamp(crt, UTC).astimezone().utcoffset() or timedelta(0)
    conf.update(
        {
            "schedVer": 2,
            "sched2021": True,
            "rollover": config.rollover_hour,
            "creationOffset": -int(offset.total_seconds() // 60),
            "nextPos": last_position + 1,
        }
    )
    decks = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
    for deck_id, anki_id in deck_ids.items():
        decks[str(anki_id)] = genanki.Deck(anki_id, deck_names[deck_id]).to_json()
    dconf = json.loads(db.execute("SELECT dconf FROM col").fetchone()[0])
    options = dconf["1"]
    options["new"]["delays"] = [_minutes(s) for s in config.learning_step_deltas()]
    options["new"]["perDay"] = config.new_per_day
    options["lapse"]["delays"] = [_minutes(s) for s in config.relearning_step_deltas()]
    options["lapse"]["leechFails"] = config.leech_threshold
    options["rev"]["perDay"] = config.reviews_per_day
    options["rev"]["maxIvl"] = config.maximum_interval
    options["desiredRetention"] = config.desired_retention
    options["fsrsParams6"] = list(config.fsrs_parameters())
    db.execute(
        "UPDATE col SET crt = ?, mod = ?, conf = ?, models = ?, decks = ?, dconf = ?",
        (
            crt,
            int(timestamp * 1000),
            json.dumps(conf),
            json.dumps(models),
            json.dumps(decks),
            json.dumps(dconf),
        ),
    )


def _minutes(step: timedelta) -> float:
    return step.total_seconds() / 60


def _deck_id(name: str) -> int:
    return (1 << 40) + int(hashlib.sha256(name.encode()).hexdigest()[:9], 16)
