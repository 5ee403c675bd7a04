"""Applying parsed deck files to the collection: add, update in place, report what is missing.

Notes are matched by their stable id, so editing a note's text keeps its review history.
All files of one import are one transaction: any error and nothing is written. Everything
goes through SQLAlchemy Core in batches: new notes, their cards and any review history
carried over as bulk inserts, edits as bulk updates, so a 10,000-note import takes under a
second and a big file is written as it is read.

Anki's files (a package, a text export) say more: where a note is now (a note Anki moved
follows it), the Anki note type it has (kept, for the way back), and each card's scheduling
and history, which merge into cards already here (`_merge_history`).
"""

from __future__ import annotations

import bisect
import functools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import String, bindparam, delete, func, insert, literal, null, select, update
from sqlalchemy.engine import Connection

from pmcards import bulk, cardstate, clock, formats, jsontext, markup, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING, Memory
from pmcards.errors import DeckFormatError
from pmcards.formats.parsed import AnkiSource, ParsedCard, ParsedDeck, ParsedNote
from pmcards.kinds import KINDS, card_ords, same_fields
from pmcards.markup import safe
from pmcards.rows import SYSTEM_TAGS, search_text
from pmcards.schema import tags_to_text

_T = TypeVar("_T")


# json.dumps(fields, ensure_ascii=False), without making an encoder a note.
_fields_json = jsontext.encoder()


@dataclass
class DeckReport:
    deck: str
    path: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # What else the import did or could not do, one line each (new cloze cards, orphans).
    notices: list[str] = field(default_factory=list)
    # Notes Anki moved into this deck (renamed or moved decks), by the deck they were in.
    moved_from: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportReport:
    decks: list[DeckReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the files held that was not used
    pruned: list[str] = field(default_factory=list)
    media_written: int = 0
    reviews_imported: int = 0
    # Cards already here that took a package's scheduling (they had no answers of their own).
    cards_rescheduled: int = 0
    # A package's answers left out, and the cards they belong to: those cards were answered
    # in pmcards since (pmcards keeps their schedule), or the answers are older than theirs.
    reviews_left_out: int = 0
    cards_left_out: int = 0

    def total(self, what: str) -> int:
        return sum(len(getattr(d, what)) for d in self.decks)


def parse_files(
    paths: Sequence[Path], fmt: str = "auto", deck: str | None = None, *, stream: bool = False
) -> list[ParsedDeck]:
    """Parse the files before the import opens its transaction: a bad file stops it there.

    `deck` names the deck to import into: a file with one deck goes there; the decks of a
    file with several (an Anki package, a CSV with a deck column) become its subdecks.

    With `stream`, only the header of a big TOML file is read here; its notes are read
    while they are imported (see `ParsedDeck.batches`). Their errors, and ids used twice,
    are then found by `apply`, inside the import's one transaction: a bad file still
    imports nothing.
    """
    decks: list[ParsedDeck] = []
    try:
        for path in paths:
            found = formats.parse(path, fmt, stream=stream)
            if deck:
                deck = deck.strip()
                single = len(found) == 1
                for parsed in found:
                    parsed.name = deck if single else f"{deck}::{parsed.name}"
            decks.extend(found)
        for parsed_deck in decks:
            check_deck(parsed_deck)
        # Ids used twice among the files read whole are found now, before the collection is
        # opened; a streamed file's are found as it is imported.
        validate([d for d in decks if d.stream is None])
    except BaseException:
        release(decks)  # a refused file's extracted media go at once
        raise
    return decks


def validate(decks: Sequence[ParsedDeck]) -> None:
    """Read every note once, raising the first error: a note id used twice, or, in a
    streamed file, whatever is wrong with it. For an import that must not start unless its
    files are good (one that prunes makes a backup first)."""
    owners = _Owners()
    for parsed_deck in decks:
        for batch in parsed_deck.batches():
            for note in batch:
                owners.claim(note, parsed_deck)


def note_count(decks: Sequence[ParsedDeck]) -> int:
    """How many notes the files hold (an estimate for a streamed file)."""
    return sum(d.count() for d in decks)


class _Owners:
    """The file and line each note id of an import came from: an id may appear only once."""

    def __init__(self) -> None:
        self._by_guid: dict[str, tuple[str, int | None]] = {}

    def claim(self, note: ParsedNote, deck: ParsedDeck) -> None:
        check_note(note, deck)
        owner = self._by_guid.get(note.guid)
        if owner is not None:
            other, line = owner
            at = f"{other}:{line}" if line else other
            raise DeckFormatError(
                f"note id {note.guid!r} is also used in {at}", path=deck.path, line=note.line
            )
        self._by_guid[note.guid] = (deck.path, note.line)


# What every import accepts, whatever the format: the formats check their own syntax, and
# these limits hold for all of them (a hand-made package can say anything).
MAX_DECK_NAME = 200
MAX_DESCRIPTION = 5_000
MAX_SECTION = 200
MAX_TAGS = 100
MAX_COUNT = 1_000_000  # answers or lapses of one card
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def deck_name_problem(name: str) -> str | None:
    """Why `name` cannot be a deck's name, or None: every way a deck gets a name (an import,
    `add`, `deck move`, `deck rename`) asks this."""
    if len(name) > MAX_DECK_NAME:
        return f"deck name is {len(name)} characters; the limit is {MAX_DECK_NAME}"
    if _not_shown_as_is(name):
        return "the deck name holds a control or invisible character"
    return None


def _not_shown_as_is(text: str) -> bool:
    """Text shown on one line as it is (a deck name, a section) must hold no control,
    invisible or line-breaking character: a newline in a deck name draws a false row."""
    return markup.has_control(text) or any(c in text for c in "\n\r\t")


def check_deck(deck: ParsedDeck) -> None:
    """A deck's name and description: within limits, with nothing a terminal would act on
    (they are shown as they are)."""
    name, where = deck.name, deck.path
    problem = deck_name_problem(name)
    if problem:
        raise DeckFormatError(problem, path=where)
    if len(deck.description) > MAX_DESCRIPTION:
        raise DeckFormatError(
            f"the deck description is {len(deck.description)} characters; the limit is "
            f"{MAX_DESCRIPTION}",
            path=where,
        )
    if markup.has_control(deck.description.replace("\n", " ")):
        raise DeckFormatError(
            "the deck description holds a control or invisible character", path=where
        )


def check_note(note: ParsedNote, deck: ParsedDeck) -> None:
    """What any note must be, whatever its format: a section and tags within limits and
    shown as they are, no NUL in a field (no database stores it), and scheduling carried
    over from another program that FSRS can use."""

    def fail(message: str) -> DeckFormatError:
        return DeckFormatError(f"note {note.guid!r}: {message}", path=deck.path, line=note.line)

    if len(note.section) > MAX_SECTION:
        raise fail(f"its section is {len(note.section)} characters; the limit is {MAX_SECTION}")
    if note.section and _not_shown_as_is(note.section):
        raise fail("its section holds a control or invisible character")
    if len(note.tags) > MAX_TAGS:
        raise fail(f"it has {len(note.tags)} tags; the limit is {MAX_TAGS}")
    for name, value in note.fields.items():
        if "\x00" in value:
            raise fail(f"field {name!r} holds a NUL character")
    for card in note.cards:
        problem = _card_problem(card)
        if problem:
            raise fail(f"card {card.ord + 1}: {problem}")


def _card_problem(card: ParsedCard) -> str | None:
    """What makes another program's scheduling of a card unusable, or None."""
    if (
        card.stability is None
        and card.difficulty is None
        and card.interval_days is None
        and card.due is None
        and not (card.reps or card.lapses or card.reviews)
    ):
        return None  # a new card: nothing to check (most of a big package)
    from pmcards.check import DIFFICULTY_MAX, DIFFICULTY_MIN, STABILITY_MAX, STABILITY_MIN

    for name, value, low, high in (
        ("stability", card.stability, STABILITY_MIN, STABILITY_MAX),
        ("difficulty", card.difficulty, DIFFICULTY_MIN, DIFFICULTY_MAX),
        ("interval", card.interval_days, 0, STABILITY_MAX),
    ):
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            return f"its {name} {value!r} is outside what FSRS can use ({low:g} to {high:g})"
    for name, count in (("answers", card.reps), ("lapses", card.lapses)):
        if not 0 <= count <= MAX_COUNT:
            return f"its count of {name} {count} is out of range"
    latest = datetime(2999, 12, 31, tzinfo=UTC)
    if card.due is not None and not EARLIEST <= card.due <= latest:
        return f"its due date {card.due:%Y-%m-%d} is out of range"
    for review in card.reviews:
        if not EARLIEST <= review.reviewed_at <= latest:
            return f"an answer dated {review.reviewed_at:%Y-%m-%d} is out of range"
    return None


class _Known(NamedTuple):
    """A note already in the collection, as much of it as matching needs."""

    id: int
    guid: str
    deck_id: int
    kind: str
    checksum: str
    tags: str
    anki_notetype_id: int | None
    anki_note: str | None


def apply(
    conn: Connection,
    decks: Sequence[ParsedDeck],
    now: datetime,
    *,
    dry_run: bool = False,
    prune: bool = False,
    progress: Callable[[int], None] | None = None,
    inspect: Callable[[ParsedDeck, list[ParsedNote]], None] | None = None,
    prunable: Callable[[str], bool] | None = None,
) -> ImportReport:
    """Add and update the notes of `decks` in the caller's transaction.

    The notes go a batch at a time: matched against the collection, written, and dropped
    before the next batch is read, so a streamed 100,000-note file is never held whole.
    An error in any batch (a streamed file is checked as it is read) leaves the caller's
    transaction to roll back: nothing is imported.

    With `prune`, notes of the imported decks that the files no longer hold are deleted (the
    caller makes a backup first); `prunable`, if given, says which of them may go (by id).
    With `dry_run`, nothing is changed; the report says what would be. `progress` is called
    with the number of notes done after each batch, and `inspect` with each batch of notes
    as it is read (the CLI lints them: a streamed file is read only once).
    """
    report = ImportReport()
    for parsed_deck in decks:
        if parsed_deck.stream is None:
            report.warnings.extend(parsed_deck.warnings)
    if not dry_run and any(d.media for d in decks):
        if any(d.stream is not None for d in decks):
            # Media files are written outside the transaction: read the streamed files
            # through first, so that a bad one leaves no media behind.
            validate(decks)
        decks = _store_media(conn, decks, report)
    N = schema.notes.c
    # Into an empty collection every note is new: no need to look any up.
    empty = conn.scalar(select(N.id).limit(1)) is None
    position = (conn.scalar(select(func.max(N.position))) or 0) + 1
    D = schema.decks.c
    deck_by_name: dict[str, int] = {
        name: deck_id for name, deck_id in conn.execute(select(D.name, D.id))
    }
    deck_names = {deck_id: name for name, deck_id in deck_by_name.items()}
    owners = _Owners()
    context = _Context(conn, now, dry_run=dry_run)

    for parsed_deck in decks:
        deck = deck_by_name.get(parsed_deck.name)
        if deck is None and not dry_run:
            deck = conn.scalar(
                insert(schema.decks)
                .values(name=parsed_deck.name, description=parsed_deck.description, created_at=now)
                .returning(D.id)
            )
            assert deck is not None
            deck_by_name[parsed_deck.name] = deck
            deck_names[deck] = parsed_deck.name
        elif deck is not None and not dry_run and parsed_deck.description:
            conn.execute(
                update(schema.decks).where(D.id == deck).values(description=parsed_deck.description)
            )
        result = DeckReport(deck=parsed_deck.name, path=parsed_deck.path)
        report.decks.append(result)
        for batch in parsed_deck.batches():
            for parsed in batch:
                owners.claim(parsed, parsed_deck)
            if inspect is not None:
                inspect(parsed_deck, batch)
            existing = {} if empty else _known(conn, [parsed.guid for parsed in batch])
            new: list[tuple[ParsedNote, int, int]] = []  # (note, deck id, position)
            changed: list[tuple[_Known, ParsedNote]] = []
            # Notes already here whose Anki side changed alone (fields pmcards does not show).
            anki_only: list[tuple[_Known, ParsedNote]] = []
            merge: list[tuple[int, ParsedNote]] = []  # notes here whose cards a package has
            moves: list[tuple[_Known, ParsedNote]] = []
            for parsed in batch:
                note = existing.get(parsed.guid)
                if note is None:
                    result.added.append(parsed.guid)
                    if not dry_run:
                        assert deck is not None
                        new.append((parsed, deck, position))
                    position += 1
                    continue
                current = deck_names[note.deck_id]
                if parsed_deck.from_anki:
                    # Anki's files say where a note is now: a note renamed or moved there
                    # follows, and one whose note type changed kind keeps its history here.
                    if note.kind != parsed.kind and not same_fields(note.kind, parsed.kind):
                        report.warnings.append(
                            f"{parsed_deck.path}: note {parsed.guid!r} changed from a "
                            f"{note.kind!r} note to a {parsed.kind!r} note in Anki: not "
                            "updated (its cards would not match their history here)"
                        )
                        result.unchanged.append(parsed.guid)
                        continue
                    if current != parsed_deck.name:
                        moves.append((note, parsed))
                        result.moved_from[current] = result.moved_from.get(current, 0) + 1
                else:
                    _check_same_deck(note, parsed, parsed_deck, current)
                if parsed.cards:
                    merge.append((note.id, parsed))
                if note.checksum == parsed.checksum:
                    result.unchanged.append(parsed.guid)
                    if parsed.anki is not None and _anki_changed(note, parsed, context):
                        anki_only.append((note, parsed))
                    continue
                result.updated.append(parsed.guid)
                changed.append((note, parsed))
            if not dry_run:
                if moves:
                    assert deck is not None
                    _move_notes(conn, [note.id for note, _ in moves], deck)
                if changed:
                    _update_notes(conn, changed, now, result, context)
                if anki_only:
                    _update_anki(conn, anki_only, context)
                if new:
                    report.reviews_imported += _insert_new(conn, new, now, context)
            if merge:
                _merge_history(conn, merge, context, report, dry_run=dry_run)
            if progress is not None:
                progress(len(batch))
        if parsed_deck.stream is not None:
            # A streamed file's warnings are known once it has been read.
            report.warnings.extend(parsed_deck.warnings)
        for source, count in result.moved_from.items():
            result.notices.append(
                f"{count} note{'s' if count != 1 else ''} moved here from deck {source!r}, "
                "as in Anki" + (" (would be)" if dry_run else "")
            )

    # Missing notes, per deck name across all the files of this import.
    by_name: dict[str, list[DeckReport]] = {}
    for result in report.decks:
        by_name.setdefault(result.deck, []).append(result)
    for name, results in by_name.items():
        if name not in deck_by_name:
            continue  # a dry run's new deck
        present = {g for r in results for g in (*r.added, *r.updated, *r.unchanged)}
        in_db = conn.execute(select(N.guid).where(N.deck_id == deck_by_name[name]))
        results[0].missing = sorted(g for (g,) in in_db if g not in present)
        if not dry_run:
            _match_edited_first_fields(conn, results[0], now, context)
    if prune:
        report.pruned = [
            g for result in report.decks for g in result.missing if prunable is None or prunable(g)
        ]
    if not dry_run:
        for chunk in _chunks(report.pruned, 500):
            # Their cards and review logs go with them (ON DELETE CASCADE).
            conn.execute(delete(schema.notes).where(N.guid.in_(chunk)))
    return report


def _match_edited_first_fields(
    conn: Connection, result: DeckReport, now: datetime, context: _Context
) -> None:
    """A note written without an id has one made from its first field (its question), so
    editing the question made it a new note and left the old one, with its history, as
    missing. Pair each such new note with the missing note it replaces (same kind, and the
    same answer or a similar question, one to one), and give the old note the new text and
    id: the history stays with the card."""
    import difflib

    from pmcards.formats import GENERATED_ID

    added = [g for g in result.added if GENERATED_ID.match(g)]
    missing = [g for g in result.missing if GENERATED_ID.match(g)]
    if not added or not missing:
        return
    N = schema.notes.c
    columns = select(
        N.id,
        N.guid,
        N.deck_id,
        N.kind,
        N.checksum,
        N.tags,
        N.anki_notetype_id,
        N.anki_note,
        N.fields,
        N.section,
    )
    rows = {row.guid: row for row in conn.execute(columns.where(N.guid.in_(added + missing)))}

    def texts(guid: str) -> list[str]:
        fields = json.loads(rows[guid].fields)
        return [fields.get(name, "") for name in KINDS[rows[guid].kind].fields]

    scored = []
    for new in added:
        for old in missing:
            if rows[new].kind != rows[old].kind:
                continue
            a, b = texts(new), texts(old)
            same_rest = a[1:] == b[1:] and any(a[1:])
            ratio = difflib.SequenceMatcher(None, a[0], b[0]).ratio()
            if same_rest or ratio >= 0.6:
                scored.append((1.0 + ratio if same_rest else ratio, new, old))
    paired_new: set[str] = set()
    paired_old: set[str] = set()
    for _, new, old in sorted(scored, reverse=True):
        if new in paired_new or old in paired_old:
            continue
        paired_new.add(new)
        paired_old.add(old)
        row = rows[new]
        parsed = ParsedNote(
            guid=new,
            kind=row.kind,
            fields=json.loads(row.fields),
            tags=tuple(t for t in row.tags.split() if t not in SYSTEM_TAGS),
            section=row.section,
            line=None,
        )
        conn.execute(delete(schema.notes).where(N.id == row.id))  # its cards are new
        conn.execute(update(schema.notes).where(N.id == rows[old].id).values(guid=new))
        old_row = rows[old]
        known = _Known(
            old_row.id,
            new,
            old_row.deck_id,
            old_row.kind,
            old_row.checksum,
            old_row.tags,
            old_row.anki_notetype_id,
            old_row.anki_note,
        )
        _update_notes(conn, [(known, parsed)], now, result, context)
        result.added.remove(new)
        result.updated.append(new)
        result.missing.remove(old)
        result.notices.append(
            f"note {new!r}: its first line changed, and with it the id made from it; it "
            f"replaces {old!r}, whose history it keeps (import --write-ids gives notes "
            "ids that edits never change)"
        )


def _known(conn: Connection, guids: list[str]) -> dict[str, _Known]:
    """The notes of the collection with these ids, as much as matching needs."""
    N = schema.notes.c
    columns = select(
        N.id, N.guid, N.deck_id, N.kind, N.checksum, N.tags, N.anki_notetype_id, N.anki_note
    )
    query = columns.where(bulk.in_json(N.guid, bindparam("guids", type_=String())))
    found: dict[str, _Known] = {}
    for chunk in _chunks(guids, bulk.BATCH):
        for row in conn.execute(query, {"guids": bulk.json_list(chunk)}):
            found[row.guid] = _Known(*row)
    return found


def release(decks: Sequence[ParsedDeck]) -> None:
    """Remove what parsing left for the import (a package's media, extracted to a temporary
    folder); the decks' media cannot be stored after this."""
    for deck in decks:
        if callable(deck.keep):
            deck.keep()


def _store_media(
    conn: Connection, decks: Sequence[ParsedDeck], report: ImportReport
) -> Sequence[ParsedDeck]:
    """Copy the files' media into the media folder; notes follow files that were renamed."""
    if not any(d.media for d in decks):
        return decks
    from sqlalchemy import event

    from pmcards import media

    renamed_by_path: dict[str, dict[str, str]] = {}
    written: list[Path] = []
    # The files are written before the notes that use them; if the import's transaction is
    # rolled back (a bad note later, a full disk at commit), the new files go too.
    event.listen(conn, "rollback", lambda _conn: media.remove(written))
    for parsed_deck in decks:
        if parsed_deck.media:
            count = len(written)
            renamed = media.store(parsed_deck.media, media.media_dir(conn), written)
            report.media_written += len(written) - count
            if renamed:
                renamed_by_path.setdefault(parsed_deck.path, {}).update(renamed)
    for parsed_deck in decks:
        renamed = renamed_by_path.get(parsed_deck.path, {})
        if renamed:
            parsed_deck.notes = _renamed(parsed_deck.notes, renamed)
            stream = parsed_deck.stream
            if stream is not None:
                # A streamed deck's notes follow the renamed files as they are read.
                parsed_deck.stream = functools.partial(_renamed_batches, stream, renamed)
    return decks


def _renamed(notes: list[ParsedNote], renamed: dict[str, str]) -> list[ParsedNote]:
    """The notes with their references to media files that were stored renamed, renamed."""
    from pmcards import media

    return [
        replace(n, fields={k: media.rewrite_references(v, renamed) for k, v in n.fields.items()})
        for n in notes
    ]


def _renamed_batches(
    stream: Callable[[], Iterator[list[ParsedNote]]], renamed: dict[str, str]
) -> Iterator[list[ParsedNote]]:
    for batch in stream():
        yield _renamed(batch, renamed)


def _insert_new(
    conn: Connection,
    new: list[tuple[ParsedNote, int, int]],
    now: datetime,
    context: _Context,
) -> int:
    """Bulk-insert new notes, their cards and any history they bring; returns reviews added.

    SQLAlchemy Core in batches, each batch's rows bound as one JSON parameter (`bulk`): one
    INSERT ... SELECT ... RETURNING per thousand notes, one INSERT ... SELECT per card of
    theirs; a batch's rows are dropped before the next is built, so memory stays flat.
    """
    imported = 0
    for start in range(0, len(new), 2000):
        batch = new[start : start + 2000]
        rows = []
        for parsed, deck_id, position in batch:
            anki = context.anki_values(parsed)
            rows.append(
                (
                    parsed.guid,
                    deck_id,
                    parsed.kind,
                    _fields_json(parsed.fields),
                    tags_to_text(parsed.tags),
                    parsed.section,
                    search_text(parsed.fields, parsed.tags, parsed.section),
                    parsed.checksum,
                    tags_to_text(parsed.lint_ignore),
                    position,
                    anki["anki_notetype_id"],
                    anki["anki_note"],
                )
            )
        notes = schema.notes
        returned = bulk.insert_rows(
            conn,
            notes,
            _NOTE_COLUMNS,
            rows,
            constants={"created_at": now, "updated_at": now},
            returning=("id", "guid"),
        )
        note_ids = {guid: note_id for note_id, guid in returned}
        plain: dict[int, list[int]] = {}  # ord -> the notes that get a new card of it
        plain_status: list[dict[str, Any]] = []  # a new card with a status of its own
        with_history: list[dict[str, Any]] = []
        # Each card's answers as rows of values (columns `log_columns`), not dicts: a
        # thousand notes of a package with history bring 15,000 answers or more.
        logs: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        log_columns: list[str] = []
        for parsed, deck_id, _ in batch:
            note_id = note_ids[parsed.guid]
            carried = {card.ord: card for card in parsed.cards}
            for ord in card_ords(parsed.kind, parsed.fields):
                source = carried.get(ord)
                base = {"note_id": note_id, "ord": ord, "deck_id": deck_id}
                if source is None:
                    plain.setdefault(ord, []).append(note_id)
                    continue
                if source.state == NEW and not source.reviews:
                    if source.suspended or source.buried or source.flag:
                        plain_status.append({**base, **_new_card(now, source, context)})
                    else:
                        plain.setdefault(ord, []).append(note_id)
                    continue
                memory, card_logs = _carried(context, source)
                memory = memory or cardstate.new_memory(now)
                with_history.append(
                    {**base, **cardstate.memory_values(memory), **context.status(source)}
                )
                if card_logs:
                    log_columns = list(card_logs[0])
                    logs[(note_id, ord)] = [tuple(log.values()) for log in card_logs]
        cards = schema.cards
        for ord, ids in plain.items():
            _insert_new_cards(conn, ord, ids, now)
        bulk.insert_dicts(conn, cards, plain_status)
        log_rows: list[tuple[Any, ...]] = []
        if with_history:
            made = bulk.insert_dicts(conn, cards, with_history, returning=("id", "note_id", "ord"))
            for card_id, note_id, ord in made:
                log_rows += [(*log, card_id) for log in logs.pop((note_id, ord), [])]
        bulk.insert_rows(conn, schema.review_log, [*log_columns, "card_id"], log_rows)
        imported += len(log_rows)
    return imported


# The note columns an import writes a row each, in the order `_insert_new` gives them.
_NOTE_COLUMNS = (
    "guid",
    "deck_id",
    "kind",
    "fields",
    "tags",
    "section",
    "search",
    "checksum",
    "lint_ignore",
    "position",
    "anki_notetype_id",
    "anki_note",
)


def _insert_new_cards(conn: Connection, ord: int, note_ids: list[int], now: datetime) -> None:
    """Card `ord` of each of these notes, never studied, in the note's deck: made by one
    INSERT ... SELECT from the notes, 500 at a time, rather than bound row by row (which was
    most of the cost of adding a card)."""
    C = schema.cards.c
    N = schema.notes.c
    values: dict[str, Any] = {
        "note_id": N.id,
        "deck_id": N.deck_id,
        "ord": literal(ord, C.ord.type),
    }
    for name, value in _new_card(now, None).items():
        values[name] = null() if value is None else literal(value, C[name].type)
    names = list(values)
    # The notes' ids go as one JSON parameter (`bulk.in_json`), not one parameter an id.
    ids = bindparam("ids", type_=String())
    chosen = select(*values.values()).where(bulk.in_json(N.id, ids))
    statement = insert(schema.cards).from_select(names, chosen)
    for chunk in _chunks(note_ids, bulk.BATCH):
        conn.execute(statement, {"ids": bulk.json_list(chunk)})


def _new_card(
    now: datetime, source: ParsedCard | None, context: _Context | None = None
) -> dict[str, Any]:
    """A card never studied; from another program, with its suspension, burial and flag."""
    status: dict[str, Any] = {"suspended": False, "buried_until": None, "flag": 0}
    if source is not None and context is not None:
        status = context.status(source)
    return {**cardstate.memory_values(cardstate.new_memory(now)), **status}


def _carried(context: _Context, source: ParsedCard) -> tuple[Memory | None, list[dict[str, Any]]]:
    """A card's memory and review log from another program's scheduling and history (None:
    a new card).

    FSRS memory is rebuilt by replaying the answers through py-fsrs; the source's own FSRS
    memory (Anki's, when it used FSRS), due date, step and last review win where it has
    them, so the next review falls when the user expects it.
    """
    from pmcards import scheduling  # FSRS loads only for packages that bring history

    config = context.config
    steps = scheduling.replay(config, [(r.reviewed_at, r.rating) for r in source.reviews])
    logs = [
        cardstate.log_values(
            before,
            after,
            rating=review.rating,
            reviewed_at=review.reviewed_at,
            duration_ms=review.duration_ms,
            source="import",
        )
        for review, (before, after) in zip(source.reviews, steps, strict=True)
    ]
    if source.state == NEW:
        return None, logs
    replayed = steps[-1][1] if steps else None
    step = None
    if source.remaining_steps is not None and source.state in (LEARNING, RELEARNING):
        count = config.learning_steps if source.state == LEARNING else config.relearning_steps
        step = cardstate.step_from_remaining(source.remaining_steps, len(count))
    last_review = source.last_review
    # The log's time is to the millisecond; Anki's `lrt` to the second.
    if (
        replayed is not None
        and replayed.last_review is not None
        and (last_review is None or abs(replayed.last_review - last_review) < _SAME_ANSWER)
    ):
        last_review = replayed.last_review
    due = source.due
    if due is None and source.due_date is not None:
        due = context.day_start(source.due_date)
    memory = cardstate.carried_memory(
        state=source.state,
        due=due,
        stability=source.stability,
        difficulty=source.difficulty,
        interval_days=source.interval_days,
        reps=source.reps,
        lapses=source.lapses,
        last_review=last_review,
        step=step,
        replayed=replayed,
        now=context.now,
    )
    return memory, logs


def _update_notes(
    conn: Connection,
    changed: list[tuple[_Known, ParsedNote]],
    now: datetime,
    result: DeckReport,
    context: _Context,
) -> None:
    """Write the edits of a batch of notes: one bulk UPDATE of their rows, and, for a note
    that gains or loses cards (a new cloze, a change of kind), those cards."""
    C = schema.cards.c
    cards: dict[int, dict[int, tuple[int, int]]] = {}  # note id -> ord -> (card id, reps)
    for chunk in _chunks([known.id for known, _ in changed], 500):
        query = select(C.id, C.note_id, C.ord, C.reps).where(C.note_id.in_(chunk))
        for card_id, note_id, ord, reps in conn.execute(query):
            cards.setdefault(note_id, {})[ord] = (card_id, reps)
    rows: list[dict[str, Any]] = []
    from_anki: list[dict[str, Any]] = []
    for known, parsed in changed:
        _sync_cards(conn, known, parsed, cards.get(known.id, {}), now, result)
        kept = [t for t in known.tags.split() if t in SYSTEM_TAGS]
        row = {
            "id": known.id,
            "fields": _fields_json(parsed.fields),
            "tags": tags_to_text([*parsed.tags, *kept]),
            "section": parsed.section,
            "search": search_text(parsed.fields, [*parsed.tags, *kept], parsed.section),
            "checksum": parsed.checksum,
            "lint_ignore": tags_to_text(list(parsed.lint_ignore)),
            "updated_at": now,
            "kind": parsed.kind,
        }
        # A note from Anki records its Anki side anew; other files leave it as it was.
        if parsed.anki is not None:
            from_anki.append({**row, **context.anki_values(parsed)})
        else:
            rows.append(row)
    bulk.update_dicts(conn, schema.notes, rows)
    bulk.update_dicts(conn, schema.notes, from_anki)


def _update_anki(
    conn: Connection, notes: list[tuple[_Known, ParsedNote]], context: _Context
) -> None:
    """Record the Anki side of notes whose pmcards side is unchanged (a field pmcards has no
    place for was edited in Anki, or the note type changed)."""
    rows = [{"id": known.id, **context.anki_values(parsed)} for known, parsed in notes]
    bulk.update_dicts(conn, schema.notes, rows)


def _anki_changed(known: _Known, parsed: ParsedNote, context: _Context) -> bool:
    values = context.anki_values(parsed)
    return (known.anki_notetype_id, known.anki_note) != (
        values["anki_notetype_id"],
        values["anki_note"],
    )


def _move_notes(conn: Connection, note_ids: list[int], deck_id: int) -> None:
    """Move notes, and their cards, to another deck (Anki moved them, or renamed theirs)."""
    for chunk in _chunks(note_ids, 500):
        conn.execute(
            update(schema.notes).where(schema.notes.c.id.in_(chunk)).values(deck_id=deck_id)
        )
        conn.execute(
            update(schema.cards).where(schema.cards.c.note_id.in_(chunk)).values(deck_id=deck_id)
        )


class _Context:
    """What an import reads from the collection when it first needs it (the settings, the
    Anki note types its notes came from) and works out from them."""

    def __init__(self, conn: Connection, now: datetime, *, dry_run: bool = False) -> None:
        self.conn = conn
        self.now = now
        self.dry_run = dry_run
        self._config: settings.Settings | None = None
        self._notetypes: dict[int, int | None] = {}  # Anki's note type id -> ours

    @property
    def config(self) -> settings.Settings:
        if self._config is None:
            self._config = settings.load(self.conn)
        return self._config

    def day_start(self, day: date) -> datetime:
        """The start of a study day, with the collection's rollover hour."""
        return clock.day_start(day, self.config.rollover_hour)

    def same_day(self, a: datetime, b: datetime) -> bool:
        hour = self.config.rollover_hour
        return clock.study_day(a, hour).date == clock.study_day(b, hour).date

    @functools.cached_property
    def today(self) -> clock.Day:
        return clock.study_day(self.now, self.config.rollover_hour)

    def status(self, source: ParsedCard) -> dict[str, Any]:
        """A card's suspension, burial (until the next study day) and flag, from the source.
        A card buried on an earlier study day is buried no more, as in Anki."""
        if not (source.suspended or source.buried or source.flag):
            return {"suspended": False, "buried_until": None, "flag": 0}
        today = self.today
        buried = source.buried and (source.modified is None or source.modified >= today.start)
        return {
            "suspended": source.suspended,
            "buried_until": today.end if buried else None,
            "flag": source.flag,
        }

    def anki_values(self, parsed: ParsedNote) -> dict[str, Any]:
        """A note's Anki columns: its Anki note type and the note as Anki had it."""
        source = parsed.anki
        if source is None:
            return {"anki_notetype_id": None, "anki_note": None}
        note = {"fields": list(source.fields), "mod": source.mod, "checksum": parsed.checksum}
        return {
            "anki_notetype_id": self._notetype_id(source),
            "anki_note": json.dumps(note, ensure_ascii=False, sort_keys=True),
        }

    def _notetype_id(self, source: AnkiSource) -> int | None:
        """Our id of the note's Anki note type, added the first time it is seen; a newer
        version of it (Anki's modification time) replaces the one kept."""
        if source.notetype_id in self._notetypes:
            return self._notetypes[source.notetype_id]
        T = schema.anki_notetypes.c
        row = self.conn.execute(
            select(T.id, T.definition).where(T.anki_id == source.notetype_id)
        ).first()
        found: int | None
        if row is None:
            found = None
            if not self.dry_run:
                found = self.conn.scalar(
                    insert(schema.anki_notetypes)
                    .values(
                        anki_id=source.notetype_id,
                        name=source.notetype_name,
                        definition=source.notetype,
                    )
                    .returning(T.id)
                )
        else:
            found = row.id
            if row.definition != source.notetype and not self.dry_run:
                mine = json.loads(row.definition).get("mod", 0)
                if json.loads(source.notetype).get("mod", 0) >= mine:
                    self.conn.execute(
                        update(schema.anki_notetypes)
                        .where(T.id == row.id)
                        .values(name=source.notetype_name, definition=source.notetype)
                    )
        self._notetypes[source.notetype_id] = found
        return found


def _merge_history(
    conn: Connection,
    notes: list[tuple[int, ParsedNote]],
    context: _Context,
    report: ImportReport,
    *,
    dry_run: bool,
) -> None:
    """Merge a package's scheduling and history into cards already here.

    A card that has no answers of its own (every answer pmcards has for it is in the
    package too: it came from this package, or went out in one) takes the package's
    scheduling, suspension, burial and flag, and the package's answers it lacks; a review's
    id in Anki is its time, so an answer is the same one when the times agree (to the
    second: Anki's ids may be moved a millisecond to stay unique). A card answered in
    pmcards since keeps its own schedule, and the package's answers it lacks are counted as
    left out, as are answers older than the card's history here (they cannot go in order).
    Changes of memory go through `changes.apply`, so `pmcards check` can explain them.
    """
    from pmcards import changes, queries

    L = schema.review_log.c
    cards = {(c.note_id, c.ord): c for c in queries.cards_of_notes(conn, [n for n, _ in notes])}
    times: dict[int, list[datetime]] = {}
    for chunk in _chunks([c.id for c in cards.values()], 500):
        query = select(L.card_id, L.reviewed_at).where(L.card_id.in_(chunk)).order_by(L.id)
        for card_id, reviewed_at in conn.execute(query):
            times.setdefault(card_id, []).append(reviewed_at)
    memories: list[tuple[int, Memory, Memory]] = []
    statuses: list[dict[str, Any]] = []
    log_rows: list[dict[str, Any]] = []
    for note_id, parsed in notes:
        for source in parsed.cards:
            card = cards.get((note_id, source.ord))
            if card is None:
                continue  # not a card this note makes here
            mine = sorted(times.get(card.id, []))
            theirs = [r.reviewed_at for r in source.reviews]
            new, own = _unmatched(theirs, mine)
            if own or (new and mine and theirs[new[0]] <= mine[-1]):
                if new:
                    report.reviews_left_out += len(new)
                    report.cards_left_out += 1
                continue
            status = context.status(source)
            buried = card.buried_until is not None and card.buried_until > context.now
            if buried == (status["buried_until"] is not None):
                status["buried_until"] = card.buried_until  # the same burial, or none
            if status != {
                "suspended": card.suspended,
                "buried_until": card.buried_until,
                "flag": card.flag,
            }:
                statuses.append({"id": card.id, **status})
            if source.state == NEW and not source.reviews:
                continue  # nothing to take: the card keeps its memory
            memory, logs = _carried(context, source)
            before = card.memory
            if memory is None or cardstate.anki_equivalent(before, memory, context.same_day):
                memory = before  # the same card as far as Anki can tell: keep ours exact
            log_rows += [{**logs[i], "card_id": card.id} for i in new]
            if memory != before:
                memories.append((card.id, before, memory))
    report.reviews_imported += len(log_rows)
    report.cards_rescheduled += len(memories)
    if dry_run:
        return
    bulk.insert_dicts(conn, schema.review_log, log_rows)
    changes.apply(conn, "import", context.now, memories)
    bulk.update_dicts(conn, schema.cards, statuses)


def _unmatched(theirs: list[datetime], mine: list[datetime]) -> tuple[list[int], list[int]]:
    """Which answers of a package are not here (their indexes), and which answers here are
    not in the package, matching each to one within a second. Both lists sorted."""
    used = [False] * len(mine)
    new = []
    for i, when in enumerate(theirs):
        at = bisect.bisect_left(mine, when - _SAME_ANSWER)
        while at < len(mine) and mine[at] <= when + _SAME_ANSWER and used[at]:
            at += 1
        if at < len(mine) and mine[at] <= when + _SAME_ANSWER:
            used[at] = True
        else:
            new.append(i)
    return new, [i for i, hit in enumerate(used) if not hit]


# Two answers to one card within a second are one answer seen twice: Anki's review ids are
# times to the millisecond, moved by a millisecond or so when two collide.
_SAME_ANSWER = timedelta(seconds=1)


def _sync_cards(
    conn: Connection,
    known: _Known,
    parsed: ParsedNote,
    have: dict[int, tuple[int, int]],
    now: datetime,
    result: DeckReport,
) -> None:
    """Give an edited note the cards its new fields make: new ones are added; one no longer
    made is suspended if it has history, else removed."""
    C = schema.cards.c
    wanted = set(card_ords(parsed.kind, parsed.fields))
    added = sorted(wanted - set(have))
    if added:
        new = [
            {"note_id": known.id, "ord": ord, "deck_id": known.deck_id, **_new_card(now, None)}
            for ord in added
        ]
        conn.execute(insert(schema.cards), new)
    for ord in added:
        result.notices.append(f"note {known.guid!r}: new card {_card_name(parsed.kind, ord)}")
    for ord in sorted(set(have) - wanted):
        card_id, reps = have[ord]
        name = _card_name(parsed.kind, ord)
        L = schema.review_log.c
        reviewed = reps > 0 or conn.scalar(select(func.count()).where(L.card_id == card_id))
        if reviewed:
            conn.execute(update(schema.cards).where(C.id == card_id).values(suspended=True))
            result.notices.append(
                f"note {known.guid!r}: card {name} is no longer in the note: kept with its "
                "history, suspended"
            )
        else:
            conn.execute(delete(schema.cards).where(C.id == card_id))
            result.notices.append(
                f"note {known.guid!r}: card {name} is no longer in the note: removed "
                "(never reviewed)"
            )


def _card_name(kind: str, ord: int) -> str:
    return KINDS[kind].card_name(ord)


def _check_same_deck(note: Any, parsed: ParsedNote, deck: ParsedDeck, current: str) -> None:
    if current != deck.name:
        raise DeckFormatError(
            f"note id {parsed.guid!r} already belongs to deck {current!r}; "
            "give this note a new id or move it there",
            path=deck.path,
            line=parsed.line,
        )
    if note.kind != parsed.kind and not same_fields(note.kind, parsed.kind):
        raise DeckFormatError(
            f"note {parsed.guid!r} changes kind from {note.kind!r} to {parsed.kind!r}; "
            "its cards would not match its history: give it a new id",
            path=deck.path,
            line=parsed.line,
        )


def _chunks(items: list[_T], size: int) -> list[list[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def format_report(report: ImportReport, *, dry_run: bool, prune: bool) -> list[str]:
    """The report for the terminal, one line each: per file, its notices and what is missing,
    then history and media carried over. (Warnings are the caller's, for standard error.)"""
    verb = " (would be so)" if dry_run else ""
    lines = []
    for result in report.decks:
        lines.append(
            f"{safe(result.path)}: deck {safe(repr(result.deck))}: {len(result.added)} added, "
            f"{len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged, {len(result.missing)} missing{verb}"
        )
        lines += [f"  {notice}" for notice in result.notices]
        pruned = set(report.pruned)
        gone = [g for g in result.missing if g in pruned]
        kept = [g for g in result.missing if g not in pruned]
        for guids, fate in ((gone, "would be deleted" if dry_run else "deleted"), (kept, "kept")):
            if guids:
                shown = ", ".join(guids[:10]) + (" …" if len(guids) > 10 else "")
                lines.append(f"  in the collection but not in the file ({fate}): {shown}")
    if report.reviews_imported:
        lines.append(f"Carried over {report.reviews_imported} reviews of history.")
    if report.cards_rescheduled:
        lines.append(
            f"Took the package's scheduling for {report.cards_rescheduled:,} cards already "
            "here (they had no answers of their own here)."
        )
    if report.reviews_left_out:
        lines.append(
            f"Left out {report.reviews_left_out:,} reviews of {report.cards_left_out:,} cards "
            "in the package: those cards were answered here since (or the reviews are older "
            "than their history here), and keep their schedule here."
        )
    if report.media_written:
        lines.append(f"Copied {report.media_written} media files.")
    return lines


def builtin_deck_paths() -> list[Path]:
    from pmcards.resources import decks_dir

    return sorted(decks_dir().glob("*.toml"))


def builtin_prefixes(decks: Sequence[ParsedDeck]) -> tuple[str, ...]:
    """The id prefixes of the built-in notes ("frm-", "con-" ...), read from the shipped
    decks: a retired built-in note has one; a note of the user's own in a built-in deck
    (imported there with --deck) need not."""
    return tuple(
        sorted({n.guid.split("-", 1)[0] + "-" for d in decks for n in d.notes if "-" in n.guid})
    )


def retired_builtin(report: ImportReport, prefixes: tuple[str, ...]) -> list[str]:
    """The built-in notes in the collection that this pmcards no longer ships (deleted or
    merged in a newer version of the decks): missing from the built-in decks, with a
    built-in id."""
    return [g for r in report.decks for g in r.missing if g.startswith(prefixes)]


def ensure_builtin_decks(conn: Connection, now: datetime) -> ImportReport | None:
    """Import the built-in decks into a collection that has never had them."""
    if settings.get_raw(conn, settings.BUILTIN_FLAG):
        return None
    report = None
    if conn.scalar(select(func.count()).select_from(schema.notes)) == 0:
        report = apply(conn, parse_files(builtin_deck_paths()), now)
    settings.save(conn, settings.BUILTIN_FLAG, True)
    return report
