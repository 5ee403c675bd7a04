"""`pmcards check`: is the collection sound, and what can be repaired safely.

Checks, in order: the database file (SQLite's integrity check), foreign keys, the schema
version, every card's FSRS state (known state, finite values within FSRS's bounds, a step
only where the state has steps, due not before the last review, and the same state as the
card's last answer in the review log), cards and notes that lost their note, deck or cards,
burials and suspensions with impossible values, and settings that no longer validate.

Each problem says whether a repair is safe and what it would do. Safe repairs never drop an
answer from the review log: they rebuild a card's state from its log (or, with no history,
make it new again), clear burials, point a card at its note's deck, re-create a note's
missing cards, move notes whose deck is gone to a "Recovered" deck, reset a setting to its
default, and rebuild damaged indexes. Only rows that no longer belong to anything (a card
without a note, a review without a card) are deleted. The caller backs the collection up
first (`backup.automatic`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pmcards import cardstate, migrations, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW, STATE_NAMES
from pmcards.errors import SettingError

if TYPE_CHECKING:
    from pmcards.store import Store

# FSRS's own bounds (py-fsrs: STABILITY_MIN, MIN/MAX_DIFFICULTY); stability has no upper
# bound there, so anything past a thousand years is called damaged.
STABILITY_MIN = 0.001
STABILITY_MAX = 365_000.0
DIFFICULTY_MIN = 1.0
DIFFICULTY_MAX = 10.0
# A burial lasts until the next rollover: at most a day, plus an hour for DST.
MAX_BURIAL = timedelta(hours=26)
RECOVERED_DECK = "Recovered"

_CARD_COLUMNS = (
    "id, note_id, deck_id, ord, state, step, stability, difficulty, due, last_review, reps, "
    "lapses, suspended, buried_until"
)


@dataclass
class Problem:
    """One thing wrong, and the safe repair if there is one (None: report only)."""

    kind: str
    message: str
    repair: str | None = None
    card_id: int | None = None
    # Repairs run in this order (a note's deck is recovered before its cards are pointed at it).
    order: int = field(default=1, repr=False, compare=False)
    # How to repair, given the open write transaction (not part of the report).
    fix: Callable[[Connection], None] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("fix")
        data.pop("order")
        return data


@dataclass
class Report:
    location: str
    cards: int = 0
    reviews: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def repairable(self) -> list[Problem]:
        return [p for p in self.problems if p.fix is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "cards": self.cards,
            "reviews": self.reviews,
            "ok": not self.problems,
            "problems": [p.as_dict() for p in self.problems],
        }


def run(conn: Connection, location: str, now: datetime) -> Report:
    """Check the collection inside the caller's transaction; nothing is changed."""
    report = Report(location)
    if conn.dialect.name == "sqlite":
        _integrity(conn, report)
        _foreign_keys(conn, report, now)
        _foreign_objects(conn, report)
    _schema_version(conn, report)
    config = _settings(conn, report)
    report.cards = int(conn.exec_driver_sql("SELECT count(*) FROM cards").scalar() or 0)
    report.reviews = int(conn.exec_driver_sql("SELECT count(*) FROM review_log").scalar() or 0)
    _cards(conn, report, config, now)
    _notes_without_cards(conn, report, now)
    return report


@dataclass
class Repaired:
    """What `repair_collection` did: the backup made first, the repairs, the check after."""

    backup: Any  # backup.Backup | None
    repaired: list[Problem]
    after: Report


def repair_collection(store: Store, report: Report, now: datetime) -> Repaired:
    """Back the collection up, make the safe repairs `report` found in one write
    transaction, and check again."""
    from pmcards import backup

    saved = backup.before(store, "repair")
    with store.write() as conn:
        done = repair(conn, report.repairable)
    with store.read() as conn:
        after = run(conn, store.location, now)
    return Repaired(saved, done, after)


def repair(conn: Connection, problems: list[Problem]) -> list[Problem]:
    """Apply the safe repairs, in the caller's write transaction; returns what was repaired."""
    done = []
    for problem in sorted(problems, key=lambda p: p.order):
        if problem.fix is not None:
            problem.fix(conn)
            done.append(problem)
    return done


# -- the database file ----------------------------------------------------------------------


def _integrity(conn: Connection, report: Report) -> None:
    rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check(20)")]
    if rows == ["ok"]:
        return
    indexes_only = all("index" in r.lower() for r in rows)
    for row in rows:
        report.problems.append(
            Problem(
                "integrity",
                f"the database file is damaged: {row}",
                "rebuild the indexes (REINDEX)" if indexes_only else None,
                fix=_reindex if indexes_only else None,
            )
        )
    if not indexes_only:
        report.problems[
            -1
        ].message += " (restore the newest good backup: pmcards backups, then pmcards restore FILE)"


def _foreign_objects(conn: Connection, report: Report) -> None:
    """Triggers, views, tables and indexes pmcards did not make (a restored file's, another
    program's): a trigger could delete answers as they are written."""
    done = migrations.applied(conn)
    expected = migrations.sqlite_objects(len(done))
    found = set(conn.exec_driver_sql("SELECT type, name FROM sqlite_master").all())
    for kind, name in sorted(found - expected):
        droppable = kind in ("trigger", "view", "index")
        report.problems.append(
            Problem(
                "schema",
                f"the collection holds a {kind} {name!r} that pmcards does not make",
                f"drop the {kind}" if droppable else None,
                order=0,
                fix=_drop(kind, name) if droppable else None,
            )
        )


def _drop(kind: str, name: str) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        quoted = name.replace('"', '""')
        conn.exec_driver_sql(f'DROP {kind.upper()} IF EXISTS "{quoted}"')

    return fix


def _reindex(conn: Connection) -> None:
    conn.exec_driver_sql("REINDEX")


def _foreign_keys(conn: Connection, report: Report, now: datetime) -> None:
    rows = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
    recovered: list[int] = []
    for table, rowid, parent, _fk in rows:
        if table == "review_log":
            report.problems.append(
                Problem(
                    "orphan",
                    f"review {rowid} belongs to card that no longer exists",
                    "delete the review (its card is gone)",
                    fix=_delete_row("review_log", rowid),
                )
            )
        elif table == "cards" and parent == "notes":
            report.problems.append(
                Problem(
                    "orphan",
                    f"card {rowid} belongs to a note that no longer exists",
                    "delete the card and its reviews (it has no text to show)",
                    card_id=rowid,
                    fix=_delete_card(rowid),
                )
            )
        elif table == "cards" and parent == "decks":
            report.problems.append(
                Problem(
                    "orphan",
                    f"card {rowid} points at a deck that no longer exists",
                    "point it at its note's deck",
                    card_id=rowid,
                    fix=_card_to_note_deck(rowid),
                )
            )
        elif table == "notes" and parent == "decks":
            recovered.append(rowid)
            report.problems.append(
                Problem(
                    "orphan",
                    f"note {rowid} belongs to a deck that no longer exists",
                    f"move it (and its cards) to the deck {RECOVERED_DECK!r}",
                    order=0,
                    fix=_recover_note(rowid, now),
                )
            )
        else:
            report.problems.append(
                Problem("orphan", f"{table} row {rowid} points at a missing {parent} row")
            )


def _delete_row(table: str, rowid: int) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))

    return fix


def _delete_card(card_id: int) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        conn.exec_driver_sql("DELETE FROM review_log WHERE card_id = ?", (card_id,))
        conn.exec_driver_sql("DELETE FROM cards WHERE id = ?", (card_id,))

    return fix


def _card_to_note_deck(card_id: int) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        conn.exec_driver_sql(
            "UPDATE cards SET deck_id = (SELECT deck_id FROM notes WHERE notes.id = cards.note_id)"
            " WHERE id = ?",
            (card_id,),
        )

    return fix


def _recover_note(note_id: int, now: datetime) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        decks = schema.decks
        deck_id = conn.scalar(sa.select(decks.c.id).where(decks.c.name == RECOVERED_DECK))
        if deck_id is None:
            deck_id = conn.execute(
                sa.insert(decks)
                .values(
                    name=RECOVERED_DECK,
                    description="Notes found by pmcards check after their deck was lost",
                    created_at=now,
                )
                .returning(decks.c.id)
            ).scalar_one()
        conn.exec_driver_sql("UPDATE notes SET deck_id = ? WHERE id = ?", (deck_id, note_id))
        conn.exec_driver_sql("UPDATE cards SET deck_id = ? WHERE note_id = ?", (deck_id, note_id))

    return fix


def _schema_version(conn: Connection, report: Report) -> None:
    pending = [name for name, _ in migrations.pending(conn)]
    if pending:
        report.problems.append(
            Problem("schema", f"schema migrations not applied: {', '.join(pending)}")
        )


def _settings(conn: Connection, report: Report) -> settings_mod.Settings:
    values: dict[str, Any] = {}
    rows = conn.execute(sa.select(schema.settings.c.key, schema.settings.c.value))
    for key, raw in rows:
        if key not in settings_mod.PARSERS:
            continue
        try:
            value = json.loads(raw)
            value = tuple(value) if isinstance(value, list) else value
            # Validated as if typed by the user: the same parser as `pmcards config`.
            settings_mod.parse(key, settings_mod.format_value(value))
            values[key] = value
        except (ValueError, TypeError, SettingError) as exc:
            report.problems.append(
                Problem(
                    "setting",
                    f"setting {key!r} holds an invalid value {raw!r} ({exc})",
                    "reset it to its default",
                    fix=_reset_setting(key),
                )
            )
    from dataclasses import replace

    return replace(settings_mod.Settings(), **values)


def _reset_setting(key: str) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        settings_mod.reset(conn, key)

    return fix


# -- cards ------------------------------------------------------------------------------------


def _dt(value: Any) -> datetime | None:
    """A stored time (SQLite: naive UTC text) as an aware datetime; None if unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _finite(value: Any, lo: float, hi: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and lo <= value <= hi
    )


def state_problems(row: Any) -> list[str]:
    """What is wrong with one card's scheduling columns (empty when it is a valid state)."""
    out = []
    state = row.state
    if state not in (NEW, LEARNING, REVIEW, RELEARNING):
        return [f"unknown state {state!r}"]
    for name in ("reps", "lapses"):
        value = getattr(row, name)
        if not isinstance(value, int) or value < 0:
            out.append(f"{name} is {value!r}, not a count")
    due = _dt(row.due)
    if due is None:
        out.append(f"due is {row.due!r}, not a time")
    if state == NEW:
        if row.stability is not None or row.difficulty is not None or row.last_review is not None:
            out.append("a new card with a memory state (stability, difficulty or last review)")
        return out
    if not _finite(row.stability, STABILITY_MIN, STABILITY_MAX):
        out.append(
            f"stability is {row.stability!r} (must be from {STABILITY_MIN} to {STABILITY_MAX:g})"
        )
    if not _finite(row.difficulty, DIFFICULTY_MIN, DIFFICULTY_MAX):
        out.append(f"difficulty is {row.difficulty!r} (must be from 1 to 10)")
    last = _dt(row.last_review)
    if last is None:
        out.append(f"last review is {row.last_review!r}, not a time")
    elif due is not None and due < last:
        out.append("due before its last review (a negative interval)")
    if state in (LEARNING, RELEARNING) and (not isinstance(row.step, int) or row.step < 0):
        out.append(f"a {STATE_NAMES[state]} card without a learning step")
    if state == REVIEW and row.step is not None:
        out.append("a review card with a learning step")
    return out


def _log_problems(card: Any, log: Any) -> list[str]:
    """How the card differs from what its last answer left it as."""
    out = []
    if card.state != log.state_after:
        out.append(f"state {card.state} but its last answer left {log.state_after}")
    if card.step != log.step_after:
        out.append(f"step {card.step} but its last answer left {log.step_after}")
    for name in ("stability", "difficulty"):
        mine, logged = getattr(card, name), getattr(log, f"{name}_after")
        if not (
            isinstance(mine, int | float)
            and isinstance(logged, int | float)
            and math.isclose(mine, logged, rel_tol=1e-9)
        ):
            out.append(f"{name} {mine!r} but its last answer left {logged!r}")
    if _dt(card.due) != _dt(log.due_after):
        out.append(f"due {card.due} but its last answer set {log.due_after}")
    if card.reps != log.reps_before + 1:
        out.append(f"{card.reps} answers counted but the log says {log.reps_before + 1}")
    return out


# Cards checked a batch at a time, each batch's last answers and changes read with it: a
# collection of 100,000 notes and 1.5 million answers never holds every card's last answer.
_BATCH = 1000
_LAST_OF_CARDS = {
    table: sa.text(
        f"SELECT * FROM {table} WHERE id IN "
        f"(SELECT max(id) FROM {table} WHERE card_id IN :ids GROUP BY card_id)"
    ).bindparams(sa.bindparam("ids", expanding=True))
    for table in ("review_log", "card_changes")
}


def _last_of(conn: Connection, table: str, card_ids: list[int]) -> dict[int, Any]:
    """The newest row of `table` (review_log, card_changes) for each of these cards."""
    return {row.card_id: row for row in conn.execute(_LAST_OF_CARDS[table], {"ids": card_ids})}


def _cards(conn: Connection, report: Report, config: settings_mod.Settings, now: datetime) -> None:
    notes = conn.exec_driver_sql("SELECT id, deck_id FROM notes")
    note_decks: dict[int, int] = {row[0]: row[1] for row in notes}
    cards = conn.exec_driver_sql(f"SELECT {_CARD_COLUMNS} FROM cards ORDER BY id")
    while batch := cards.fetchmany(_BATCH):
        ids = [card.id for card in batch]
        last_logs = _last_of(conn, "review_log", ids)
        last_changes = _last_of(conn, "card_changes", ids)
        for card in batch:
            _card(conn, report, config, now, card, last_logs, last_changes, note_decks)


def _card(
    conn: Connection,
    report: Report,
    config: settings_mod.Settings,
    now: datetime,
    card: Any,
    last_logs: dict[int, Any],
    last_changes: dict[int, Any],
    note_decks: dict[int, int],
) -> None:
    """The problems of one card: its state against its last answer or change, its
    suspension, its burial, its deck."""
    log = last_logs.get(card.id)
    # A change that no answer made (a plan, a mock, a fit) explains the card when it was
    # made after the card's newest answer.
    change = last_changes.get(card.id)
    if change is not None and change.after_log_id != (log.id if log is not None else None):
        change = None
    if change is not None:
        recorded = state_problems(_Row(**_memory_after_change(change)))
        if recorded:
            report.problems.append(
                Problem(
                    "log",
                    f"change {change.id} (card {card.id}, {change.source}) records an "
                    f"impossible state: {'; '.join(recorded)}",
                    card_id=card.id,
                )
            )
            change = None
    if log is not None and log.source != "import":
        logged = state_problems(_Row(**_memory_after(log)))
        if logged:
            # History is the user's: reported, never rewritten.
            report.problems.append(
                Problem(
                    "log",
                    f"review {log.id} (card {card.id}) records an impossible state after "
                    f"the answer: {'; '.join(logged)}",
                    card_id=card.id,
                )
            )
            log = None  # rebuild the card from the answers' ratings instead
    wrong = state_problems(card)
    if not wrong and change is not None:
        wrong = _change_problems(card, change)
    elif not wrong and log is not None and log.source != "import":
        wrong = _log_problems(card, log)
    if wrong:
        if change is not None:
            rebuilt = _memory_after_change(change)
            how = f"set it to what its last change left ({change.source}, change {change.id})"
        else:
            rebuilt, how = _rebuild(conn, card.id, log, config, now)
        _card_repair(report, "card", card.id, f"card {card.id}: {'; '.join(wrong)}", how, rebuilt)
    if card.suspended not in (0, 1):
        message = f"card {card.id}: suspended is {card.suspended!r}, not on or off"
        _card_repair(
            report, "suspended", card.id, message, "mark it suspended", {"suspended": True}
        )
    if card.buried_until is not None:
        until = _dt(card.buried_until)
        if until is None or until > now + MAX_BURIAL:
            message = f"card {card.id}: buried until {card.buried_until}, longer than a day"
            _card_repair(
                report, "burial", card.id, message, "clear the burial", {"buried_until": None}
            )
    expected_deck = note_decks.get(card.note_id)
    if expected_deck is not None and card.deck_id != expected_deck:
        message = f"card {card.id}: in deck {card.deck_id} but its note is in {expected_deck}"
        how = "move it to its note's deck"
        _card_repair(report, "deck", card.id, message, how, {"deck_id": expected_deck})


def _card_repair(
    report: Report, kind: str, card_id: int, message: str, how: str, values: dict[str, Any]
) -> None:
    """A problem of one card, repaired by setting these of its columns."""
    report.problems.append(
        Problem(kind, message, how, card_id=card_id, fix=_set_card(card_id, values))
    )


def _rebuild(
    conn: Connection, card_id: int, log: Any, config: settings_mod.Settings, now: datetime
) -> tuple[dict[str, Any], str]:
    """The state to repair a card to, and the repair in words."""
    if log is not None and log.source != "import":
        return _memory_after(log), f"set it to what its last answer left (review {log.id})"
    ratings = [
        (_dt(r.reviewed_at), r.rating)
        for r in conn.exec_driver_sql(
            "SELECT reviewed_at, rating FROM review_log WHERE card_id = ? ORDER BY id", (card_id,)
        )
    ]
    usable = [(t, r) for t, r in ratings if t is not None and r in (1, 2, 3, 4)]
    if usable:
        from pmcards import scheduling

        after = scheduling.replay(config, usable)[-1][1]
        values = cardstate.memory_values(after)
        return values, f"rebuild its state by replaying its {len(usable)} answers through FSRS"
    return (
        cardstate.memory_values(cardstate.new_memory(now)),
        "make it a new card (it has no review history to rebuild from)",
    )


@dataclass
class _Row:
    state: Any
    step: Any
    stability: Any
    difficulty: Any
    due: Any
    last_review: Any
    reps: Any
    lapses: Any


def _memory_after(log: Any) -> dict[str, Any]:
    """What a raw log row's answer left the card as (`cardstate.memory_after`), with its
    times read past the UTC column type (they may be damaged)."""
    memory = cardstate.memory_after(log)
    values = cardstate.memory_values(memory)
    values["due"] = _dt(log.due_after)
    values["last_review"] = _dt(log.reviewed_at)
    return values


def _memory_after_change(change: Any) -> dict[str, Any]:
    """What a raw `card_changes` row left the card as, its times read past the UTC type."""
    values = cardstate.memory_values(cardstate.memory_after_change(change))
    values["due"] = _dt(change.due_after)
    values["last_review"] = _dt(change.last_review_after)
    return values


def _change_problems(card: Any, change: Any) -> list[str]:
    """How the card differs from what the change that explains it left."""
    expected = _memory_after_change(change)
    out = []
    for name, value in expected.items():
        mine = _dt(getattr(card, name)) if name in ("due", "last_review") else getattr(card, name)
        same = (
            math.isclose(mine, value, rel_tol=1e-9)
            if isinstance(mine, float) and isinstance(value, float)
            else mine == value
        )
        if not same:
            out.append(
                f"{name} {getattr(card, name)!r} but its last change ({change.source}) "
                f"left {value!r}"
            )
    return out


def _set_card(card_id: int, values: dict[str, Any]) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        conn.execute(sa.update(schema.cards).where(schema.cards.c.id == card_id).values(**values))

    return fix


def _notes_without_cards(conn: Connection, report: Report, now: datetime) -> None:
    from pmcards.kinds import KINDS, card_ords

    rows = conn.exec_driver_sql(
        "SELECT id, guid, deck_id, kind, fields FROM notes n "
        "WHERE NOT EXISTS (SELECT 1 FROM cards c WHERE c.note_id = n.id)"
    )
    for note in rows:
        try:
            fields = json.loads(note.fields)
            ords = card_ords(note.kind, fields) if note.kind in KINDS else []
        except (ValueError, TypeError, AttributeError):
            ords = []
        report.problems.append(
            Problem(
                "orphan",
                f"note {note.guid!r} has no cards",
                f"create its {len(ords)} new card(s)" if ords else None,
                fix=_create_cards(note.id, note.deck_id, ords, now) if ords else None,
            )
        )


def _create_cards(
    note_id: int, deck_id: int, ords: list[int], now: datetime
) -> Callable[[Connection], None]:
    def fix(conn: Connection) -> None:
        conn.execute(
            sa.insert(schema.cards),
            [
                {
                    "note_id": note_id,
                    "deck_id": deck_id,
                    "ord": ord,
                    **cardstate.memory_values(cardstate.new_memory(now)),
                    "suspended": False,
                }
                for ord in ords
            ],
        )

    return fix
