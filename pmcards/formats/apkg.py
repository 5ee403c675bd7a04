"""Anki packages (.apkg, .colpkg): notes, decks, tags, scheduling, review history and media.

Reads the packages of current Anki (`collection.anki21b`: zstd-compressed SQLite, schema 18,
a protobuf media map, zstd-compressed media) and of older Anki and genanki
(`collection.anki21` / `collection.anki2`: schema 11, JSON note types and decks).

Each note keeps its Anki note type and its fields as Anki had them (`AnkiSource`), so that it
goes back into Anki under that note type. Scheduling comes with each card: FSRS memory, due
date (a study day for reviews), learning step, last review, suspension, burial, flag, and
its review log; a package from Anki's old (v1) scheduler has its learning answers converted
as Anki converts them. Everything pmcards cannot use is listed in the deck's warnings, one
line per kind of problem with its count, never silently dropped.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import shutil
import sqlite3
import stat
import tempfile
import weakref
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from pmcards import markup
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.errors import DeckFormatError
from pmcards.formats import MAX_FIELD_CHARS, TAG
from pmcards.formats._anki import (
    LONG_GUID_PREFIX,
    MODELS,
    SECTION,
    Mapping,
    Warnings,
    clean_tag,
    cut,
    dumps,
    field_from_anki,
    id_from_guid,
    map_notetype,
)
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import AnkiSource, ParsedCard, ParsedDeck, ParsedNote, ParsedReview
from pmcards.kinds import KINDS, QA_REVERSED, card_ords, note_problem
from pmcards.media import MediaFile, safe_media_name

MAX_COLLECTION_BYTES = 1024 * 1024 * 1024
MAX_MEDIA_BYTES = 100 * 1024 * 1024
# All media files of one package together, and the map naming them: a zip bomb made of many
# small members, or of one huge map, stops here.
MAX_TOTAL_MEDIA_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEDIA_MAP_BYTES = 64 * 1024 * 1024
# Anki's card types -> our states (the same numbers, as cardstate.State notes).
STATES = {0: NEW, 1: LEARNING, 2: REVIEW, 3: RELEARNING}
# Anki's queues: suspended, buried (by a sibling's answer, by hand).
SUSPENDED, BURIED = -1, (-2, -3)
# Review-log types that are answers (learn, review, relearn, filtered); 4 is a manual
# reschedule and 5 a reschedule by Anki, not answers.
ANSWER_TYPES = (0, 1, 2, 3)


@dataclass(frozen=True)
class _Notetype:
    anki_id: int
    name: str
    fields: list[str]
    is_cloze: bool
    templates: list[str]  # their names, in order
    stock_kind: int
    definition: str  # Anki's schema-11 JSON of it


@dataclass(frozen=True)
class _Timing:
    """How the package counts days: review due dates are day numbers from its creation."""

    created: date  # the local date of the collection's creation (day 0)

    def date_of(self, day: int) -> date:
        return self.created + timedelta(days=day)


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    where = str(path)

    def fail(message: str) -> DeckFormatError:
        return DeckFormatError(message, path=where)

    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise fail("cannot read file: No such file or directory") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        # ValueError: a damaged directory (a member name that is not UTF-8, bad offsets).
        raise fail("not an Anki package: not a zip archive") from None
    warnings = Warnings(where)
    inline: dict[str, MediaFile] = {}
    # The package's media are extracted into this folder and copied from there by the
    # import (never held in memory); the deck keeps it alive until then, and it goes when
    # the import is done (or, killed, at the next start: collection.clean_leftovers).
    folder = Path(tempfile.mkdtemp(prefix="pmcards-apkg-"))
    try:
        with archive:
            names = set(archive.namelist())
            latest = "collection.anki21b" in names
            for member in ("collection.anki21b", "collection.anki21", "collection.anki2"):
                if member in names:
                    break
            else:
                raise fail("not an Anki package: no collection.anki21b, .anki21 or .anki2 inside")
            db_path = folder / "collection.sqlite"
            _extract(archive, member, db_path, MAX_COLLECTION_BYTES, compressed=latest, fail=fail)
            streamed = options is not None and options.stream
            with _reading(fail):
                conn = _open_collection(db_path, fail)
                try:
                    package = _package(conn, warnings)
                    if streamed and db_path.stat().st_size > STREAM_FROM_BYTES:
                        decks = _streamed(conn, package, db_path, where, warnings, inline, fail)
                    else:
                        decks = _read_collection(conn, package, where, warnings, inline)
                finally:
                    conn.close()
            if not any(d.stream is not None for d in decks):
                db_path.unlink()
            media = _read_media(archive, latest, folder, warnings, fail)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not decks:
        decks = [ParsedDeck(path=where, name=path.stem, named=False, from_anki=True)]
    decks[0].warnings.extend(warnings.lines())
    decks[0].media = media + list(inline.values())
    # The folder goes when the deck does (its media copied by then), or at exit.
    decks[0].keep = weakref.finalize(decks[0], shutil.rmtree, folder, ignore_errors=True)
    return decks


# The tables pmcards reads from a package, by schema: each must be a plain table. A view
# there could be anything (an endless recursive query filled a disk at 1 GB per 20 s).
READ_TABLES = ("col", "notes", "cards", "revlog")
READ_TABLES_18 = ("notetypes", "fields", "templates", "decks", "config")
# The work SQLite may do to read a package, in virtual-machine steps per byte of its
# collection, with a floor for small ones: 150 times what reading Anki's own packages takes
# (measured: 0.13 steps a byte for a 2,000-note, 13,611-answer collection exported by Anki),
# so a 1 GB collection gets about 2 * 10^10 steps, a minute or so of work at most.
STEPS_PER_BYTE = 20
MIN_STEPS = 50_000_000
STEP_CHECK = 10_000  # how often (in steps) the budget is checked
# The longest value (a field list, a note type's JSON) SQLite may hand back from a package.
MAX_VALUE_BYTES = 64 * 1024 * 1024


def _open_collection(db_path: Path, fail: Any) -> sqlite3.Connection:
    """The package's collection, read-only, every table read checked to be a table, and the
    work SQLite may do to read it bounded by the file's size."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        # Functions in the schema (views, triggers, defaults) run as untrusted, and nothing
        # can be written, whatever the file holds.
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA query_only = ON")
        # No value may be longer than this: a generated value can be far larger than the
        # file (`printf('%.*c', 40000000, 'x')` is one step of SQLite's work).
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        objects = {
            name: (kind, sql or "")
            for name, kind, sql in conn.execute("SELECT name, type, sql FROM sqlite_master")
        }
        for name in READ_TABLES + (READ_TABLES_18 if "notetypes" in objects else ()):
            if name not in objects:
                continue
            kind, sql = objects[name]
            if kind != "table" or sql.lstrip().upper().startswith("CREATE VIRTUAL"):
                what = "a virtual table" if kind == "table" else f"a {kind}"
                raise fail(f"not an Anki package: its {name!r} is {what}, not a table")
            # table_xinfo's `hidden`: 2 and 3 are generated columns, computed as read.
            if any(row[6] in (2, 3) for row in conn.execute(f"PRAGMA table_xinfo('{name}')")):
                raise fail(f"not an Anki package: its {name!r} has generated columns")
        budget = max(MIN_STEPS, db_path.stat().st_size * STEPS_PER_BYTE) // STEP_CHECK
        calls = 0

        def spend() -> int:
            nonlocal calls
            calls += 1
            return 1 if calls > budget else 0  # non-zero interrupts the query

        conn.set_progress_handler(spend, STEP_CHECK)
    except BaseException:
        conn.close()
        raise
    return conn


def _read_member(
    archive: zipfile.ZipFile,
    member: str,
    limit: int,
    *,
    compressed: bool,
    fail: Any,
) -> bytes:
    """A small member (the media map) in memory, within `limit` bytes."""
    out = io.BytesIO()
    _copy_member(archive, member, out, limit, compressed=compressed, fail=fail)
    return out.getvalue()


def _extract(
    archive: zipfile.ZipFile,
    member: str,
    dest: Path,
    limit: int,
    *,
    compressed: bool,
    fail: Any,
) -> int:
    """Write a member to `dest` a block at a time (decompressed, within `limit` bytes)."""
    with dest.open("wb") as out:
        return _copy_member(archive, member, out, limit, compressed=compressed, fail=fail)


def _copy_member(
    archive: zipfile.ZipFile,
    member: str,
    out: BinaryIO,
    limit: int,
    *,
    compressed: bool,
    fail: Any,
) -> int:
    info = archive.getinfo(member)
    if info.file_size > limit:
        raise fail(f"{member} is {info.file_size // 1_048_576} MB: too large")
    written = 0
    try:
        with archive.open(member) as raw:
            source: Any = raw
            if compressed:
                import zstandard

                source = zstandard.ZstdDecompressor().stream_reader(raw)
            while block := source.read(_BLOCK):
                written += len(block)
                if written > limit:
                    what = "when decompressed: too large" if compressed else "too large"
                    raise fail(f"{member} is over {limit // 1_048_576} MB {what}")
                out.write(block)
    except (
        zipfile.BadZipFile,
        EOFError,
        ValueError,
        zlib.error,
        NotImplementedError,
    ) as exc:
        # zlib.error: a deflate stream broken inside; NotImplementedError: a compression
        # method zipfile does not know.
        raise fail(f"{member} is damaged: {exc}") from None
    except OSError as exc:
        raise fail(f"{member} cannot be read: {exc}") from None
    except Exception as exc:
        import zstandard

        if isinstance(exc, zstandard.ZstdError):
            raise fail(f"{member} cannot be decompressed: {exc}") from None
        raise
    return written


_BLOCK = 1 << 20


@dataclass(frozen=True)
class _Package:
    """What every pass over a package's notes needs from its collection, read once."""

    notetypes: dict[int, _Notetype]
    deck_names: dict[int, str]
    timing: _Timing
    v1: bool


def _package(conn: sqlite3.Connection, warnings: Warnings) -> _Package:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "notetypes" in tables:
        notetypes, deck_names, config = _schema18(conn)
    else:
        notetypes, deck_names, config = _schema11(conn)
    crt = int(conn.execute("SELECT crt FROM col").fetchone()[0])
    timing = _timing(crt, config)
    # Anki reads a package without `schedVer` as one from its v1 scheduler, and converts
    # its scheduling when it has any (`maybe_upgrade_scheduler`); so does pmcards.
    v1 = int(config.get("schedVer") or 1) == 1 and (
        conn.execute("SELECT 1 FROM cards WHERE queue != 0 LIMIT 1").fetchone() is not None
    )
    if v1:
        warnings.say(
            "the package comes from Anki's old (v1) scheduler: its learning answers are read "
            "as Anki converts them (Good and Easy were buttons 2 and 3 there)"
        )
    # Counted here, not as the answers are read: those of cards no note has are never read.
    # (A v1 answer's button moves from 2 or 3 to 3 or 4: still an answer.)
    (others,) = conn.execute(
        f"SELECT count(*) FROM revlog WHERE NOT (ease BETWEEN 1 AND 4 AND type IN {ANSWER_TYPES})"
    ).fetchone()
    if others:
        warnings.add(
            "the review log's manual reschedules (set due date, forget) are not answers: "
            "not imported",
            unit="entry",
            units="entries",
            count=others,
        )
    return _Package(notetypes, deck_names, timing, v1)


def _read_collection(
    conn: sqlite3.Connection,
    package: _Package,
    where: str,
    warnings: Warnings,
    inline: dict[str, MediaFile],
) -> list[ParsedDeck]:
    """The package's notes, read whole into their decks."""
    by_deck: dict[str, ParsedDeck] = {}
    for _nid, deck_name, note in _notes(conn, package, warnings, inline):
        parsed = by_deck.get(deck_name)
        if parsed is None:
            parsed = by_deck[deck_name] = ParsedDeck(path=where, name=deck_name, from_anki=True)
        parsed.notes.append(note)
    decks = list(by_deck.values())
    if not decks and warnings.counts:
        decks = [ParsedDeck(path=where, name="Default", named=False, from_anki=True)]
    return decks


# A package whose collection is this big is read as it is imported (when the caller
# streams: `pmcards import`), a thousand notes at a time, as a big CSV or TOML file is.
STREAM_FROM_BYTES = 1_000_000
NOTES_PER_BATCH = 1000


def _streamed(
    conn: sqlite3.Connection,
    package: _Package,
    db_path: Path,
    where: str,
    warnings: Warnings,
    inline: dict[str, MediaFile],
    fail: Any,
) -> list[ParsedDeck]:
    """The package's decks, their notes read by `batches()` from the extracted collection as
    they are imported. A first pass here finds which deck each note goes to, the decks'
    order, every warning and the inline images (media are stored before the import's
    transaction): what reading it whole finds, with only the notes' deck numbers held.
    A package of one deck needs no first pass: its notes are read once, as imported."""
    one = _one_deck(conn, package)
    if one is not None:
        (count,) = conn.execute("SELECT count(*) FROM notes").fetchone()
        deck = ParsedDeck(path=where, name=one, from_anki=True, expected=count)
        before = _copy(warnings)  # the package's own; `warnings` gets its media's next
        said = functools.partial(_said, deck, before, warnings)
        deck.stream = functools.partial(_note_batches, db_path, package, where, None, fail, said)
        return [deck]
    order: dict[str, int] = {}
    nids: list[list[int]] = []  # each deck's notes (Anki's ids, in order)
    for nid, deck_name, _note in _notes(conn, package, warnings, inline):
        index = order.setdefault(deck_name, len(order))
        if index == len(nids):
            nids.append([])
        if not nids[index] or nids[index][-1] != nid:
            nids[index].append(nid)
    if not order:
        return (
            [ParsedDeck(path=where, name="Default", named=False, from_anki=True)]
            if (warnings.counts)
            else []
        )
    decks = []
    for deck_name, index in order.items():
        deck = ParsedDeck(path=where, name=deck_name, from_anki=True, expected=len(nids[index]))
        # One deck: every note is its own, read in one pass (no need to keep their ids).
        wanted = None if len(order) == 1 else nids[index]
        deck.stream = functools.partial(_note_batches, db_path, package, where, wanted, fail)
        decks.append(deck)
    return decks


def _one_deck(conn: sqlite3.Connection, package: _Package) -> str | None:
    """The one deck all the package's notes go to, if it is so (every note has a card and
    every card is in that deck), and no note inlines an image (whose media file is made
    before the import's transaction): else None."""
    for query in (
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM notes)",
        "SELECT 1 FROM notes WHERE flds LIKE '%data:%' LIMIT 1",
        "SELECT 1 FROM notes WHERE id NOT IN (SELECT nid FROM cards) LIMIT 1",
    ):
        if conn.execute(query).fetchone() is not None:
            return None
    # A card's deck: the one it came from when it is in a filtered deck (as `_notes` says).
    decks = conn.execute(
        "SELECT DISTINCT CASE WHEN odid THEN odid ELSE did END FROM cards LIMIT 2"
    ).fetchall()
    return package.deck_names.get(decks[0][0], "Default") if len(decks) == 1 else None


def _copy(warnings: Warnings) -> Warnings:
    return Warnings(
        warnings.where, dict(warnings.counts), dict(warnings.first), dict(warnings.units)
    )


def _said(deck: ParsedDeck, before: Warnings, after: Warnings, notes: Warnings) -> None:
    """A deck streamed in one pass gets its warnings once its notes are read, in the order
    reading the package whole gives them: the package's (`before`), its notes', then its
    media's (what `after` has besides `before`)."""
    merged = _copy(before)
    for source in (notes, after):
        for message, count in source.counts.items():
            if source is after and message in before.counts:
                continue
            merged.counts[message] = merged.counts.get(message, 0) + count
            if message in source.first:
                merged.first.setdefault(message, source.first[message])
            if message in source.units:
                merged.units.setdefault(message, source.units[message])
    deck.warnings[:] = merged.lines()


def _note_batches(
    db_path: Path,
    package: _Package,
    where: str,
    nids: list[int] | None,
    fail: Any,
    said: Callable[[Warnings], None] | None = None,
) -> Iterator[list[ParsedNote]]:
    """One streamed deck's notes, a batch at a time, read anew (the import may read a file
    twice). What this pass finds wrong was said by a first one (`_streamed`), or, with
    `said`, is handed to it once the notes are read."""
    found = Warnings(where)
    with _reading(fail):
        conn = _open_collection(db_path, fail)
        try:
            batch: list[ParsedNote] = []
            for _nid, _deck, note in _notes(conn, package, found, {}, nids):
                batch.append(note)
                if len(batch) == NOTES_PER_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch
        finally:
            conn.close()
    if said is not None:
        said(found)


@contextlib.contextmanager
def _reading(fail: Any) -> Iterator[None]:
    """What reading a package's collection can raise, as the one-line refusal of the file."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if "interrupted" in str(exc):
            raise fail(
                "the package's collection takes more work to read than its size allows: refused"
            ) from None
        raise fail(f"the package's collection cannot be read: {exc}") from None
    except (
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as exc:
        # The tables are there but their content is not what Anki writes (a damaged or
        # hand-made package): the file is refused, whatever field broke.
        what = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise fail(f"the package's collection is damaged ({what})") from None


class _Rows:
    """The rows of a query ordered by a note id (column 0 or `key`), handed out one note's
    at a time as the notes, read in the same order, ask for them."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], key: int = 0) -> None:
        self._rows = rows
        self._key = key
        self._next = next(rows, None)

    def take(self, nid: int) -> list[tuple[Any, ...]]:
        """The rows of note `nid`; those of notes before it (none read, or no such note)
        are passed over."""
        key, out = self._key, []
        while self._next is not None and self._next[key] < nid:
            self._next = next(self._rows, None)
        while self._next is not None and self._next[key] == nid:
            out.append(self._next)
            self._next = next(self._rows, None)
        return out


def _reviews(rows: list[tuple[Any, ...]], *, v1: bool) -> dict[int, list[ParsedReview]]:
    """One note's answers by card, in order, from (nid, cid, id, ease, time, type) rows."""
    reviews: dict[int, list[ParsedReview]] = {}
    for _nid, cid, rid, ease, duration, rtype in rows:
        if v1 and ease in (2, 3) and rtype in (0, 2):
            ease += 1  # Anki's v2_upgrade.sql
        if 1 <= ease <= 4 and rtype in ANSWER_TYPES:
            reviews.setdefault(cid, []).append(
                ParsedReview(
                    reviewed_at=_utc(rid / 1000, "an answer's time"),
                    rating=int(ease),
                    duration_ms=max(0, int(duration)) or None,
                )
            )
    return reviews


_NOTES = "SELECT id, guid, mid, mod, tags, flds FROM notes"
_CARDS = (
    "SELECT id, nid, did, odid, ord, type, queue, due, odue, ivl, reps, lapses, left, flags, "
    "data, mod FROM cards"
)
# Each card's answers in the order of their ids (their times), grouped by note.
_ANSWERS = (
    "SELECT c.nid, r.cid, r.id, r.ease, r.time, r.type FROM revlog AS r "
    "JOIN cards AS c ON c.id = r.cid"
)
_ANSWERS_ORDER = " ORDER BY c.nid, r.cid, r.id"


def _note_rows(
    conn: sqlite3.Connection, nids: list[int] | None
) -> Iterator[tuple[tuple[Any, ...], _Rows, _Rows]]:
    """Each note's row in the order of their ids, with where its cards' rows and their
    answers are taken from (`_Rows`: in step with the notes, so nothing is held for the
    whole package). With `nids` (sorted), only those notes: looked up a batch at a time
    when the package's indexes allow (Anki's collections have them), else picked out of
    a whole pass."""
    if nids is not None and _can_look_up(conn):
        for start in range(0, len(nids), NOTES_PER_BATCH):
            chunk = nids[start : start + NOTES_PER_BATCH]
            marks = ", ".join("?" * len(chunk))
            cards = _Rows(
                conn.execute(f"{_CARDS} WHERE nid IN ({marks}) ORDER BY nid, ord", chunk), key=1
            )
            answers = _Rows(
                conn.execute(f"{_ANSWERS} WHERE c.nid IN ({marks}){_ANSWERS_ORDER}", chunk)
            )
            for row in conn.execute(f"{_NOTES} WHERE id IN ({marks}) ORDER BY id", chunk):
                yield row, cards, answers
        return
    cards = _Rows(conn.execute(f"{_CARDS} ORDER BY nid, ord"), key=1)
    answers = _Rows(conn.execute(f"{_ANSWERS}{_ANSWERS_ORDER}"))
    wanted = None if nids is None else set(nids)
    for row in conn.execute(f"{_NOTES} ORDER BY id"):
        if wanted is None or row[0] in wanted:
            yield row, cards, answers


def _can_look_up(conn: sqlite3.Connection) -> bool:
    """Whether a batch of notes' rows, cards and answers can be found by index: without,
    every batch would read the whole package (a hand-made package may have no index)."""
    marks = "?, ?"
    for query in (
        f"{_NOTES} WHERE id IN ({marks})",
        f"{_CARDS} WHERE nid IN ({marks})",
        f"{_ANSWERS} WHERE c.nid IN ({marks})",
    ):
        plan = conn.execute(f"EXPLAIN QUERY PLAN {query}", (0, 0)).fetchall()
        if any(str(step[-1]).startswith("SCAN") for step in plan):
            return False
    return True


def _notes(
    conn: sqlite3.Connection,
    package: _Package,
    warnings: Warnings,
    inline: dict[str, MediaFile],
    nids: list[int] | None = None,
) -> Iterator[tuple[int, str, ParsedNote]]:
    """The package's notes in the order of their ids, each with its Anki id and the name of
    the deck it goes to (its first card's), with their cards and answers. With `nids`
    (Anki's, sorted), only those notes."""
    mappings: dict[int, Mapping | None] = {}
    new_cards: dict[ParsedCard, ParsedCard] = {}
    for (nid, guid, mid, mod, tags_text, flds), card_rows, answer_rows in _note_rows(conn, nids):
        note_id = id_from_guid(guid)
        if note_id.startswith(LONG_GUID_PREFIX):
            warnings.add(
                "a GUID over 61 bytes cannot be kept: the note's id is made from its hash (an "
                "export back to Anki makes it a new note there)",
                f"note {note_id!r}",
            )
        notetype = package.notetypes.get(mid)
        if notetype is None:
            warnings.add(
                "the note type is missing from the package: not imported", f"note {note_id!r}"
            )
            continue
        if mid not in mappings:
            mappings[mid] = map_notetype(
                notetype.name,
                notetype.fields,
                is_cloze=notetype.is_cloze,
                templates=len(notetype.templates),
                stock_kind=notetype.stock_kind,
            )
        mapping = mappings[mid]
        type_name = f"note type {notetype.name!r}"
        if mapping is None:
            warnings.add(
                f"{type_name} has no fields pmcards can use as front and back: not imported",
                f"note {note_id!r}",
            )
            continue
        values = flds.split("\x1f")
        if mapping.image_occlusion or any("image-occlusion:" in v for v in values):
            warnings.add(
                f"{type_name}: an image occlusion: pmcards cannot show masks over an image: "
                "not imported",
                f"note {note_id!r}",
            )
            continue
        kind = mapping.kind
        fields: dict[str, str] = {}
        section = ""
        for i, raw in enumerate(values):
            target = mapping.fields[i] if i < len(mapping.fields) else None
            name = notetype.fields[i] if i < len(notetype.fields) else str(i + 1)
            if i == mapping.optional_reverse:
                kind = QA_REVERSED.name if raw.strip() else kind
                continue
            if target is None:
                if raw.strip():
                    warnings.add(
                        f"{type_name}: field {name!r} has no place in a pmcards note: not shown "
                        "in pmcards, kept for the way back to Anki",
                        f"note {note_id!r}",
                    )
                continue
            text, files, dropped = field_from_anki(raw)
            for file in files:
                inline[file.name] = file
            for what in dropped:
                warnings.add(
                    f"{type_name}: field {name!r}: an inline {what} image (a data: URL) is not "
                    "kept",
                    f"note {note_id!r}",
                )
            if target == SECTION:
                section = " ".join(text.split())
            elif text:
                fields[target] = cut(text)
                if len(text) > MAX_FIELD_CHARS:
                    warnings.add(
                        f"{type_name}: field {name!r} cut to {MAX_FIELD_CHARS:,} characters",
                        f"note {note_id!r}",
                    )
        missing = [k for k in KINDS[kind].required if k not in fields]
        if missing:
            warnings.add(
                f"{type_name}: empty {', '.join(missing)}: not imported (a pmcards {kind!r} "
                f"note needs {', '.join(KINDS[kind].required)})",
                f"note {note_id!r}",
            )
            continue
        problem = note_problem(kind, fields)
        if problem:
            warnings.add(f"{type_name}: {problem[1]}: not imported", f"note {note_id!r}")
            continue
        tags = []
        for tag in tags_text.split():
            if not TAG.match(tag):
                cleaned = clean_tag(tag)
                warnings.add(f"tag {tag!r} imported as {cleaned!r}", f"note {note_id!r}")
                tag = cleaned
            tags.append(tag)
        # Taken as used, in step with the notes (a note's id is the notes table's key: read
        # once), so only one note's card rows and answers are held at a time.
        rows = card_rows.take(nid)
        reviews = _reviews(answer_rows.take(nid), v1=package.v1)
        wanted = set(card_ords(kind, fields))
        cards = []
        deck_ids = []
        for row in rows:
            card_ord = row[4]
            if card_ord not in wanted:
                template = (
                    notetype.templates[card_ord]
                    if not notetype.is_cloze and card_ord < len(notetype.templates)
                    else f"c{card_ord + 1}"
                    if notetype.is_cloze
                    else str(card_ord + 1)
                )
                warnings.add(
                    f"{type_name}: card {template!r} has no pmcards counterpart: not imported",
                    f"note {note_id!r}",
                    unit="card",
                )
                continue
            deck_ids.append(row[3] or row[2])
            card = _card(row, package.timing, reviews.get(row[0], []), v1=package.v1)
            if card.state == NEW and not card.reviews:
                # Most cards of a big package are new and alike: one (frozen) object for
                # each such card there is, not one a card.
                card = new_cards.setdefault(card, card)
            cards.append(card)
        deck_id = deck_ids[0] if deck_ids else (rows[0][3] or rows[0][2] if rows else 1)
        deck_name = package.deck_names.get(deck_id, "Default")
        if len(set(deck_ids)) > 1:
            warnings.add(
                "the note's cards are in several decks: it goes to its first card's deck",
                f"note {note_id!r}",
            )
        ours = notetype.name in MODELS and MODELS[notetype.name][0] in mapping.kinds()
        yield (
            nid,
            deck_name,
            ParsedNote(
                guid=note_id,
                kind=kind,
                fields=fields,
                tags=tuple(sorted(set(tags))),
                section=section,
                line=None,
                cards=tuple(cards),
                anki=None
                if ours
                else AnkiSource(
                    notetype_id=notetype.anki_id,
                    notetype_name=notetype.name,
                    notetype=notetype.definition,
                    fields=tuple(values),
                    mod=int(mod),
                ),
            ),
        )


# The last second a datetime holds (9999-12-31 23:59:59 UTC).
_LAST_SECOND = 253_402_300_799


def _utc(seconds: float, what: str) -> datetime:
    """A time of the package in seconds since 1970, or a ValueError naming it (the package
    is refused as damaged) when no date can hold it."""
    if not 0 <= seconds <= _LAST_SECOND:
        raise ValueError(f"{what} {seconds:g} s after 1970 is out of range")
    return datetime.fromtimestamp(seconds, UTC)


def _timing(crt: int, config: dict[str, Any]) -> _Timing:
    """Day 0 of the package: the local date of its creation, in the time zone it was made in
    when it says (`creationOffset`, minutes west of UTC), else this machine's."""
    offset = config.get("creationOffset")
    zone: tzinfo | None = None
    if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) < 24 * 60:
        zone = timezone(-timedelta(minutes=offset))
    created = _utc(crt, "the collection's creation time").astimezone(zone)
    return _Timing(created.date())


def _card(
    row: tuple[Any, ...], timing: _Timing, reviews: list[ParsedReview], *, v1: bool
) -> ParsedCard:
    (_id, _nid, _did, odid, card_ord, ctype, queue, due, odue, ivl, reps, lapses, left, flags) = (
        row[:14]
    )
    data, mod = row[14], row[15]
    if odid and odue:
        due = odue  # in a filtered deck: its due date at home
    state = STATES.get(ctype, NEW)
    if v1 and ctype == 2 and queue in (1, 3):
        state = RELEARNING  # v1 kept relearning cards as reviews in the learning queue
    when: datetime | None = None
    day: date | None = None
    if state != NEW:
        if due > 1_000_000_000:  # a learning step's due time, in seconds
            when = _utc(due, "a card's due time")
        else:  # a study day, counted from the collection's creation
            day = timing.date_of(due)
    stability = difficulty = None
    last_review = None
    if data and data != "{}":  # "{}": a card Anki never scheduled with FSRS (most)
        try:
            memory = json.loads(data)
        except ValueError:
            memory = {}
        if isinstance(memory, dict):
            s, d = memory.get("s"), memory.get("d")
            if isinstance(s, int | float) and isinstance(d, int | float) and s > 0:
                stability, difficulty = float(s), float(d)
            lrt = memory.get("lrt")
            if isinstance(lrt, int) and 0 < lrt < 1 << 40:
                last_review = datetime.fromtimestamp(lrt, UTC)
    return ParsedCard(
        ord=card_ord,
        state=state,
        due=when,
        due_date=day,
        stability=stability,
        difficulty=difficulty,
        interval_days=float(ivl) if ivl and ivl > 0 else None,
        reps=max(0, reps),
        lapses=max(0, lapses),
        suspended=queue == SUSPENDED,
        reviews=tuple(reviews),
        remaining_steps=left % 1000 if state in (LEARNING, RELEARNING) else None,
        last_review=last_review,
        buried=queue in BURIED,
        flag=flags & 7,
        modified=_utc(mod, "a card's modification time") if queue in BURIED and mod > 0 else None,
    )


def _schema11(
    conn: sqlite3.Connection,
) -> tuple[dict[int, _Notetype], dict[int, str], dict[str, Any]]:
    models_json, decks_json, conf_json = conn.execute(
        "SELECT models, decks, conf FROM col"
    ).fetchone()
    notetypes = {}
    for model in json.loads(models_json).values():
        fields = [f["name"] for f in sorted(model["flds"], key=lambda f: f["ord"])]
        templates = [t["name"] for t in sorted(model.get("tmpls", []), key=lambda t: t["ord"])]
        notetypes[int(model["id"])] = _Notetype(
            anki_id=int(model["id"]),
            name=model["name"],
            fields=fields,
            is_cloze=model.get("type") == 1,
            templates=templates,
            stock_kind=_int(model.get("originalStockKind")),
            definition=dumps(model),
        )
    deck_names = {int(d["id"]): d["name"] for d in json.loads(decks_json).values()}
    config = json.loads(conf_json or "{}")
    return notetypes, deck_names, config if isinstance(config, dict) else {}


def _schema18(
    conn: sqlite3.Connection,
) -> tuple[dict[int, _Notetype], dict[int, str], dict[str, Any]]:
    """Note types from their tables and protobuf configs, as the schema-11 JSON Anki would
    write for them (what an export back to Anki writes)."""
    fields: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ntid, ord, name, raw in conn.execute(
        "SELECT ntid, ord, name, config FROM fields ORDER BY ntid, ord"
    ):
        c = _protobuf_fields(raw)
        field = {
            "name": name,
            "ord": ord,
            "sticky": bool(_first(c, 1, 0)),
            "rtl": bool(_first(c, 2, 0)),
            "font": _text(c, 3) or "Arial",
            "size": _first(c, 4, 20),
            "description": _text(c, 5),
            "plainText": bool(_first(c, 6, 0)),
            "collapsed": bool(_first(c, 7, 0)),
            "excludeFromSearch": bool(_first(c, 8, 0)),
            "id": _signed(c[9][0]) if 9 in c else None,
            "tag": _first(c, 10, None),
            "preventDeletion": bool(_first(c, 11, 0)),
        }
        fields[ntid].append(_with_other(field, c))
    templates: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ntid, ord, name, raw in conn.execute(
        "SELECT ntid, ord, name, config FROM templates ORDER BY ntid, ord"
    ):
        c = _protobuf_fields(raw)
        target = _first(c, 5, 0)
        template = {
            "name": name,
            "ord": ord,
            "qfmt": _text(c, 1),
            "afmt": _text(c, 2),
            "bqfmt": _text(c, 3),
            "bafmt": _text(c, 4),
            "did": _signed(target) or None,
            "bfont": _text(c, 6),
            "bsize": _first(c, 7, 0),
            "id": _signed(c[8][0]) if 8 in c else None,
        }
        templates[ntid].append(_with_other(template, c))
    notetypes = {}
    for ntid, name, mtime, raw in conn.execute(
        "SELECT id, name, mtime_secs, config FROM notetypes"
    ):
        c = _protobuf_fields(raw)
        kind = _first(c, 1, 0)
        model: dict[str, Any] = {
            "id": ntid,
            "name": name,
            "type": kind,
            "mod": mtime,
            "usn": -1,
            "sortf": _first(c, 2, 0),
            "did": None,
            "tmpls": templates[ntid],
            "flds": fields[ntid],
            "css": _text(c, 3),
            "latexPre": _text(c, 5),
            "latexPost": _text(c, 6),
            "latexsvg": bool(_first(c, 7, 0)),
            "req": [],
        }
        if _first(c, 9, 0):
            model["originalStockKind"] = _first(c, 9, 0)
        if 10 in c:
            model["originalId"] = _signed(c[10][0])
        model = _with_other(model, c)
        notetypes[ntid] = _Notetype(
            anki_id=ntid,
            name=name,
            fields=[f["name"] for f in fields[ntid]],
            is_cloze=kind == 1,
            templates=[t["name"] for t in templates[ntid]],
            stock_kind=_first(c, 9, 0),
            definition=dumps(model),
        )
    deck_names = {
        did: name.replace("\x1f", "::") for did, name in conn.execute("SELECT id, name FROM decks")
    }
    config: dict[str, Any] = {}
    for key, val in conn.execute(
        "SELECT key, val FROM config WHERE key IN ('schedVer', 'creationOffset', 'rollover')"
    ):
        with contextlib.suppress(ValueError):
            config[key] = json.loads(val)
    return notetypes, deck_names, config


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _first(message: dict[int, list[int | bytes]], number: int, default: Any) -> Any:
    values = message.get(number)
    return values[0] if values and isinstance(values[0], int) else default


def _text(message: dict[int, list[int | bytes]], number: int) -> str:
    values = message.get(number)
    value = values[0] if values else b""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _signed(value: int | bytes) -> int:
    """A protobuf int64 as Python reads it: negative numbers are ten-byte varints."""
    if not isinstance(value, int):
        return 0
    return value - (1 << 64) if value >= 1 << 63 else value


def _with_other(values: dict[str, Any], message: dict[int, list[int | bytes]]) -> dict[str, Any]:
    """Keys Anki keeps in a config's `other` bytes (JSON from older versions), added back."""
    other = message.get(255)
    if other and isinstance(other[0], bytes):
        try:
            extra = json.loads(other[0])
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            for key, value in extra.items():
                values.setdefault(key, value)
    return values


def _read_media(
    archive: zipfile.ZipFile, latest: bool, folder: Path, warnings: Warnings, fail: Any
) -> list[MediaFile]:
    """The package's media files under safe names, extracted into `folder`; what was refused
    goes to `warnings`, one line per kind of problem (a map naming 300,000 absent files is
    one line)."""
    if "media" not in archive.namelist():
        return []
    raw = _read_member(archive, "media", MAX_MEDIA_MAP_BYTES, compressed=False, fail=fail)
    entries: list[tuple[str, str]] = []  # (zip member, file name)
    if raw[:1] == b"{" or not raw:
        try:
            mapping = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            raise fail("the package's media map is damaged") from None
        if not isinstance(mapping, dict):
            raise fail("the package's media map is damaged")
        entries = [(str(k), str(v)) for k, v in mapping.items()]
    else:
        import zstandard

        try:
            data = zstandard.ZstdDecompressor().stream_reader(raw).read(MAX_MEDIA_MAP_BYTES + 1)
        except zstandard.ZstdError:
            raise fail("the package's media map is damaged") from None
        if len(data) > MAX_MEDIA_MAP_BYTES:
            raise fail(f"the package's media map is over {MAX_MEDIA_MAP_BYTES // 1_048_576} MB")
        try:
            found = [
                _protobuf_fields(e)
                for e in _protobuf_fields(data).get(1, [])
                if isinstance(e, bytes)
            ]
        except sqlite3.DatabaseError:
            raise fail("the package's media map is damaged") from None
        for index, values in enumerate(found):
            raw_name = values.get(1, [b""])[0]
            legacy = values.get(255, [index])[0]
            if isinstance(raw_name, bytes):
                entries.append((str(legacy), raw_name.decode("utf-8", "replace")))
    files = []
    total = 0
    media_dir = folder / "media"
    media_dir.mkdir()
    for number, (member, name) in enumerate(entries):
        shown = repr(markup.cut(name, 80))
        safe = safe_media_name(name)
        if safe is None:
            warnings.add("media file with an unsafe name: not imported", shown, unit="file")
            continue
        try:
            info = archive.getinfo(member)
        except KeyError:
            warnings.add("media file missing from the package", shown, unit="file")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            warnings.add("media file that is a link, not a file: not imported", shown, "file")
            continue
        # Extracted under a number: two map entries may name one file.
        dest = media_dir / str(number)
        try:
            size = _extract(archive, member, dest, MAX_MEDIA_BYTES, compressed=latest, fail=fail)
        except DeckFormatError as exc:
            dest.unlink(missing_ok=True)
            warnings.add(f"media file: {exc.message}: not imported", shown, unit="file")
            continue
        total += size
        if total > MAX_TOTAL_MEDIA_BYTES:
            raise fail(
                f"the package's media files are over {MAX_TOTAL_MEDIA_BYTES // 1_048_576} MB "
                "together: too large"
            )
        files.append(MediaFile(name=safe, path=dest))
    return files


def _protobuf_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """The fields of a protobuf message: enough of the wire format for Anki's small messages."""
    out: dict[int, list[int | bytes]] = defaultdict(list)
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data):
                raise sqlite3.DatabaseError("truncated protobuf")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number].append(varint())
        elif wire == 2:
            size = varint()
            out[number].append(data[pos : pos + size])
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise sqlite3.DatabaseError(f"unsupported protobuf wire type {wire}")
    return out
