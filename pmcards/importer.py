"""Applying parsed deck files to the collection: add, update in place, report what is missing.

Notes are matched by their stable id, so editing a note's text keeps its review history.
All files of one import are one transaction: any error and nothing is written. Everything
goes through SQLAlchemy Core in batches: new notes, their cards and any review history
carried over as bulk inserts, edits as bulk updates, so a 10,000-note import takes under a
second and a big file is written as it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from pmcards import cardstate, formats, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.errors import DeckFormatError
from pmcards.formats.parsed import ParsedCard, ParsedDeck, ParsedNote
from pmcards.kinds import KINDS, card_ords, same_fields
from pmcards.rows import SYSTEM_TAGS
from pmcards.schema import tags_to_text

_T = TypeVar("_T")


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


@dataclass
class ImportReport:
    decks: list[DeckReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the files held that was not used
    pruned: list[str] = field(default_factory=list)
    media_written: int = 0
    reviews_imported: int = 0

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
    for path in paths:
        found = formats.parse(path, fmt, stream=stream)
        if deck:
            deck = deck.strip()
            single = len(found) == 1
            for parsed in found:
                parsed.name = deck if single else f"{deck}::{parsed.name}"
        decks.extend(found)
    for parsed_deck in decks:
        if len(parsed_deck.name) > 200:
            raise DeckFormatError(
                f"deck name is {len(parsed_deck.name)} characters; the limit is 200",
                path=parsed_deck.path,
            )
    # Ids used twice among the files read whole are found now, before the collection is
    # opened; a streamed file's are found as it is imported.
    validate([d for d in decks if d.stream is None])
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
        owner = self._by_guid.get(note.guid)
        if owner is not None:
            other, line = owner
            at = f"{other}:{line}" if line else other
            raise DeckFormatError(
                f"note id {note.guid!r} is also used in {at}", path=deck.path, line=note.line
            )
        self._by_guid[note.guid] = (deck.path, note.line)


class _Known(NamedTuple):
    """A note already in the collection, as much of it as matching needs."""

    id: int
    guid: str
    deck_id: int
    kind: str
    checksum: str
    tags: str


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
            for parsed in batch:
                note = existing.get(parsed.guid)
                if note is None:
                    result.added.append(parsed.guid)
                    if not dry_run:
                        assert deck is not None
                        new.append((parsed, deck, position))
                    position += 1
                    continue
                _check_same_deck(note, parsed, parsed_deck, deck_names[note.deck_id])
                if note.checksum == parsed.checksum:
                    result.unchanged.append(parsed.guid)
                    continue
                result.updated.append(parsed.guid)
                changed.append((note, parsed))
            if not dry_run:
                if changed:
                    _update_notes(conn, changed, now, result)
                if new:
                    report.reviews_imported += _insert_new(conn, new, now)
            if progress is not None:
                progress(len(batch))

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
    if prune:
        report.pruned = [
            g for result in report.decks for g in result.missing if prunable is None or prunable(g)
        ]
    if not dry_run:
        for chunk in _chunks(report.pruned, 500):
            # Their cards and review logs go with them (ON DELETE CASCADE).
            conn.execute(delete(schema.notes).where(N.guid.in_(chunk)))
    return report


def _known(conn: Connection, guids: list[str]) -> dict[str, _Known]:
    """The notes of the collection with these ids, as much as matching needs."""
    N = schema.notes.c
    columns = select(N.id, N.guid, N.deck_id, N.kind, N.checksum, N.tags)
    found: dict[str, _Known] = {}
    for chunk in _chunks(guids, 500):
        for row in conn.execute(columns.where(N.guid.in_(chunk))):
            found[row.guid] = _Known(*row)
    return found


def _store_media(
    conn: Connection, decks: Sequence[ParsedDeck], report: ImportReport
) -> Sequence[ParsedDeck]:
    """Copy the files' media into the media folder; notes follow files that were renamed."""
    if not any(d.media for d in decks):
        return decks
    from pmcards import media

    renamed_by_path: dict[str, dict[str, str]] = {}
    for parsed_deck in decks:
        if parsed_deck.media:
            written, renamed = media.store(parsed_deck.media, media.media_dir(conn))
            report.media_written += written
            if renamed:
                renamed_by_path.setdefault(parsed_deck.path, {}).update(renamed)
    for parsed_deck in decks:
        renamed = renamed_by_path.get(parsed_deck.path, {})
        if renamed:
            parsed_deck.notes = [
                replace(
                    n,
                    fields={k: media.rewrite_references(v, renamed) for k, v in n.fields.items()},
                )
                for n in parsed_deck.notes
            ]
    return decks


def _insert_new(
    conn: Connection,
    new: list[tuple[ParsedNote, int, int]],
    now: datetime,
) -> int:
    """Bulk-insert new notes, their cards and any history they bring; returns reviews added.

    SQLAlchemy Core in batches: one INSERT ... RETURNING per thousand notes and one
    executemany for their cards, where the ORM's bulk path ran one statement per row; and
    a batch's rows are dropped before the next is built, so memory stays flat.
    """
    config = None
    imported = 0
    for start in range(0, len(new), 2000):
        batch = new[start : start + 2000]
        rows = [
            {
                "guid": parsed.guid,
                "deck_id": deck_id,
                "kind": parsed.kind,
                "fields": json.dumps(parsed.fields, ensure_ascii=False),
                "tags": tags_to_text(list(parsed.tags)),
                "section": parsed.section,
                "checksum": parsed.checksum,
                "lint_ignore": tags_to_text(list(parsed.lint_ignore)),
                "position": position,
                "created_at": now,
                "updated_at": now,
            }
            for parsed, deck_id, position in batch
        ]
        notes = schema.notes
        returning = insert(notes).returning(notes.c.id, notes.c.guid)
        note_ids = {guid: note_id for note_id, guid in conn.execute(returning, rows)}
        plain: list[dict[str, Any]] = []
        with_history: list[dict[str, Any]] = []
        logs: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for parsed, deck_id, _ in batch:
            note_id = note_ids[parsed.guid]
            carried = {card.ord: card for card in parsed.cards}
            for ord in card_ords(parsed.kind, parsed.fields):
                source = carried.get(ord)
                if source is None or (source.state == NEW and not source.reviews):
                    plain.append({**_new_card(note_id, ord, now, source), "deck_id": deck_id})
                    continue
                if config is None:
                    config = settings.load(conn)
                card, card_logs = _carried_card(config, source, now)
                card.update(note_id=note_id, ord=ord, deck_id=deck_id)
                with_history.append(card)
                if card_logs:
                    logs[(note_id, ord)] = card_logs
        cards = schema.cards
        if plain:
            conn.execute(insert(cards), plain)
        log_rows: list[dict[str, Any]] = []
        if with_history:
            returned = conn.execute(
                insert(cards).returning(cards.c.id, cards.c.note_id, cards.c.ord), with_history
            )
            for card_id, note_id, ord in returned:
                for log in logs.get((note_id, ord), []):
                    log_rows.append({**log, "card_id": card_id})
        if log_rows:
            conn.execute(insert(schema.review_log), log_rows)
        imported += len(log_rows)
    return imported


def _new_card(note_id: int, ord: int, now: datetime, source: ParsedCard | None) -> dict[str, Any]:
    return {
        "note_id": note_id,
        "ord": ord,
        **cardstate.memory_values(cardstate.new_memory(now)),
        "suspended": bool(source and source.suspended),
        "buried_until": None,
    }


def _carried_card(
    config: settings.Settings, source: ParsedCard, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A card's state and review log from another program's scheduling and history.

    FSRS memory is rebuilt by replaying the answers through py-fsrs; the source's own FSRS
    memory (Anki's, when it used FSRS) and its due date win where it has them, so the next
    review falls when the user expects it.
    """
    from pmcards import scheduling  # FSRS loads only for packages that bring history

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
        return _new_card(0, 0, now, source), logs
    last = steps[-1][1] if steps else None
    stability = source.stability or (last.stability if last else None)
    stability = stability or source.interval_days or 1.0
    difficulty = source.difficulty or (last.difficulty if last else None) or 5.0
    due = source.due or (last.due if last else now)
    last_review = last.last_review if last else None
    if last_review is None:
        last_review = due - timedelta(days=source.interval_days or max(1.0, stability))
    step = None
    if source.state in (LEARNING, RELEARNING):
        step = (last.step if last is not None and last.state == source.state else None) or 0
    card = {
        "state": source.state if source.state in (LEARNING, REVIEW, RELEARNING) else REVIEW,
        "step": step,
        "stability": stability,
        "difficulty": difficulty,
        "due": due,
        "last_review": last_review,
        "reps": max(source.reps, len(steps)),
        "lapses": source.lapses,
        "suspended": source.suspended,
        "buried_until": None,
    }
    return card, logs


def _update_notes(
    conn: Connection, changed: list[tuple[_Known, ParsedNote]], now: datetime, result: DeckReport
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
    for known, parsed in changed:
        _sync_cards(conn, known, parsed, cards.get(known.id, {}), now, result)
        kept = [t for t in known.tags.split() if t in SYSTEM_TAGS]
        rows.append(
            {
                "id": known.id,
                "fields": json.dumps(parsed.fields, ensure_ascii=False),
                "tags": tags_to_text([*parsed.tags, *kept]),
                "section": parsed.section,
                "checksum": parsed.checksum,
                "lint_ignore": tags_to_text(list(parsed.lint_ignore)),
                "updated_at": now,
                "kind": parsed.kind,
            }
        )
    schema.update_rows(conn, schema.notes, rows)


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
        new = [{**_new_card(known.id, ord, now, None), "deck_id": known.deck_id} for ord in added]
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
            f"{result.path}: deck {result.deck!r}: {len(result.added)} added, "
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
