"""Queries over the collection: the scope filter, what is due today, the daily limits, the
order cards are studied in, and rows read as `rows` dataclasses.

Everything here counts in SQL; nothing loads the whole collection. Every function takes the
caller's connection: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Select, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pmcards import rows, schema
from pmcards.cardstate import (
    LEARNING,
    MEMORY_COLUMNS,
    NEW,
    RELEARNING,
    REVIEW,
    STATE_OF_NAME,
    memory_of,
)
from pmcards.clock import Day
from pmcards.errors import BadValueError
from pmcards.kinds import out_of_review
from pmcards.markup import fold
from pmcards.settings import Settings
from pmcards.sqltime import days_between

# Any select statement, whatever its columns.
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

C = schema.cards.c
N = schema.notes.c
D = schema.decks.c
L = schema.review_log.c
# A card's memory columns, for selects that rebuild a `cardstate.Memory` from rows.
MEMORY = tuple(C[name] for name in MEMORY_COLUMNS)
# Rows are read in chunks of ids, below every database's limit on bound parameters.
CHUNK = 500


# What `--state` filters by: the card states, and the two flags a card may carry.
CARD_FILTERS = (*STATE_OF_NAME, "suspended", "buried")


@lru_cache(maxsize=32)
def _excluded_cards(kinds: tuple[str, ...]) -> Any:
    """The ids of the cards of these kinds, built once per set of kinds: making the aliases
    anew on every call cost milliseconds of SQLAlchemy column set-up per query, the review
    queue's hottest cost. By card id, which every index of `cards` holds: the counts stay
    index-only scans, and the few excluded cards are found through ix_notes_kind (m006)."""
    kc, kn = schema.cards.alias("kc"), schema.notes.alias("kn")
    return select(kc.c.id).join(kn, kn.c.id == kc.c.note_id).where(kn.c.kind.in_(kinds))


def deck_family(column: Any, name: str) -> ColumnElement[bool]:
    """`column` names the deck `name` or one of its subdecks, in exactly that case: not
    `startswith`, which is SQL's LIKE, and SQLite's LIKE ignores case (`metrics::old` is
    not a subdeck of `Metrics`)."""
    prefix = name + "::"
    return or_(column == name, func.substr(column, 1, len(prefix)) == prefix)


@dataclass(frozen=True)
class Scope:
    """Which cards a command looks at: a deck (with its subdecks), a tag, a state, a search
    (every field and tag, any case and accents). Empty: every card."""

    deck: str | None = None
    tag: str | None = None
    state: str | None = None  # one of CARD_FILTERS
    search: str | None = None
    subdecks: bool = True  # False: the deck's own cards only
    # Kinds whose cards are left out: daily review leaves prompts to `pmcards mock`.
    exclude_kinds: tuple[str, ...] = ()

    def deck_ids(self) -> Any:
        """A subquery of the ids of the deck and (unless told not to) its subdecks."""
        assert self.deck is not None
        if not self.subdecks:
            return select(D.id).where(D.name == self.deck)
        return select(D.id).where(deck_family(D.name, self.deck))

    def tag_filter(self) -> Any:
        assert self.tag is not None
        return N.tags.contains(f" {self.tag} ", autoescape=True)

    def _note_filters(self) -> list[Any]:
        out = []
        if self.tag is not None:
            out.append(self.tag_filter())
        if self.search:
            out += [N.search.contains(word, autoescape=True) for word in fold(self.search).split()]
        return out

    def apply(self, stmt: S, now: datetime | None = None) -> S:
        """Restrict a statement over `cards` to this scope (it need not join `notes`). A
        `buried` state needs `now`."""
        if self.deck is not None:
            stmt = stmt.where(C.deck_id.in_(self.deck_ids()))
        notes = self._note_filters()
        if notes:
            stmt = stmt.where(C.note_id.in_(select(N.id).where(*notes)))
        if self.exclude_kinds:
            stmt = stmt.where(C.id.not_in(_excluded_cards(self.exclude_kinds)))
        if self.state == "suspended":
            stmt = stmt.where(C.suspended.is_(True))
        elif self.state == "buried":
            assert now is not None, "the buried state needs the time"
            stmt = stmt.where(C.buried_until > now)
        elif self.state is not None:
            stmt = stmt.where(C.state == int(STATE_OF_NAME[self.state]))
        return stmt

    def apply_to_notes(self, stmt: S) -> S:
        """Restrict a statement over `notes` to this scope (its deck, tag and search)."""
        if self.deck is not None:
            stmt = stmt.where(N.deck_id.in_(self.deck_ids()))
        stmt = stmt.where(*self._note_filters())
        if self.exclude_kinds:
            stmt = stmt.where(N.kind.not_in(self.exclude_kinds))
        return stmt

    def check(self, conn: Connection) -> Scope:
        """This scope with its deck named as the collection names it (any case, or a unique
        beginning of the name); refuses a deck or tag that matches nothing, with a
        suggestion, rather than showing an empty session."""
        scope = self
        if self.search is not None and not fold(self.search).split():
            raise BadValueError("--search needs at least one word")
        if self.deck is not None:
            scope = replace(scope, deck=resolve_deck(conn, self.deck))
        if self.tag is not None:
            found = conn.scalar(select(N.id).where(self.tag_filter()).limit(1))
            if not found:
                tags = {
                    t for (text,) in conn.execute(select(N.tags).distinct()) for t in text.split()
                }
                raise BadValueError(
                    f"no note is tagged {self.tag!r}{_did_you_mean(self.tag, tags)}"
                )
        return scope


def resolve_deck(conn: Connection, name: str) -> str:
    """The deck a user means by `name`: the deck of that name, or the one whose name matches
    it in any case, or the one it begins (with its subdecks); refuses anything else with
    the decks it might have meant."""
    names: list[str] = list(conn.scalars(select(D.name).order_by(D.name)))
    if name in names:
        return name
    wanted = name.casefold().strip()
    same = [n for n in names if n.casefold() == wanted]
    if len(same) == 1:
        return same[0]
    starts = [n for n in names if n.casefold().startswith(wanted)]
    # A deck and its subdecks all begin with the same prefix: the deck is the one meant.
    tops = [n for n in starts if not any(n.startswith(other + "::") for other in starts)]
    if len(tops) == 1 and wanted:
        return tops[0]
    if len(tops) > 1 and wanted:
        raise BadValueError(
            f"{name!r} could be any of these decks: {', '.join(tops)}; give more of the name"
        )
    hint = _did_you_mean(name, names)
    listing = "" if hint else f" (decks: {', '.join(names) or 'none'})"
    raise BadValueError(f"no deck named {name!r}{hint}{listing}")


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    import difflib

    folded = {k.casefold(): k for k in known}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(folded[c]) for c in close) + "?"


def review_scope(settings: Settings, scope: Scope = Scope()) -> Scope:
    """`scope` as daily review sees it: without the kinds practised elsewhere (prompts, unless
    the `prompts_in_review` setting brings them back). Review, status and stats count the
    same cards through it."""
    return replace(scope, exclude_kinds=out_of_review(settings.prompts_in_review))


def not_buried(now: datetime) -> Any:
    return or_(C.buried_until.is_(None), C.buried_until <= now)


def available() -> Any:
    return C.suspended.is_(False)


def risk_order(now: datetime) -> Any:
    """Elapsed days over stability: FSRS's forgetting curve maps it monotonically to
    retrievability, so ordering by it descending puts the cards most at risk first, in SQL."""
    return days_between(literal(now, type_=C.due.type), C.last_review) / C.stability


@dataclass(frozen=True)
class Today:
    """Answers given so far this study day, across all sessions."""

    answered: int
    new_introduced: int
    reviews_done: int


def answered_today(conn: Connection, day: Day) -> Today:
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((L.state_before == NEW, 1), else_=0)), 0),
            func.coalesce(func.sum(case((L.state_before == REVIEW, 1), else_=0)), 0),
        ).where(L.reviewed_at >= day.start, L.reviewed_at < day.end)
    ).one()
    return Today(answered=int(row[0]), new_introduced=int(row[1]), reviews_done=int(row[2]))


@dataclass(frozen=True)
class Due:
    """Cards waiting today, before the daily limits: new, learning and review."""

    new: int = 0
    learning: int = 0
    review: int = 0


def _due_conditions(day: Day, now: datetime) -> dict[str, Any]:
    # Each condition is a range of ix_cards_queue (suspended, state, due, deck_id, buried_until),
    # so every count is an index-only scan of the cards that qualify.
    return {
        "new": and_(C.state == NEW, not_buried(now)),
        "learning": and_(C.state.in_((LEARNING, RELEARNING)), C.due < day.end),
        "review": and_(C.state == REVIEW, C.due < day.end, not_buried(now)),
    }


def due_counts(
    conn: Connection, day: Day, now: datetime, scope: Scope = Scope(), limits: Limits | None = None
) -> Due:
    """New, learning and review cards due today. With `limits`, new and review cards are
    counted only up to them (`limits.cap` of the full counts, which is what a review session
    shows): each count then stops after that many index entries instead of reading every
    due card, which the review screen's header would otherwise do before every card (at
    1,000,000 notes, 265,000 reviews due, about 0.3 s a card)."""
    caps = {} if limits is None else {"new": limits.new, "review": limits.review}
    counts = {}
    for name, condition in _due_conditions(day, now).items():
        cap = caps.get(name)
        if cap is None:
            stmt = scope.apply(select(func.count()).select_from(schema.cards))
            stmt = stmt.where(available(), condition)
        else:
            due = scope.apply(select(C.id)).where(available(), condition).limit(cap)
            stmt = select(func.count()).select_from(due.subquery())
        counts[name] = int(conn.scalar(stmt) or 0)
    return Due(**counts)


def due_counts_by_deck(
    conn: Connection, day: Day, now: datetime, scope: Scope = Scope(), limits: Limits | None = None
) -> dict[int, Due]:
    """Due counts per deck id (decks with none may be left out). With `limits`, each deck's
    new and review cards are counted only up to them, as `due_counts` does: what `status`
    shows (`limits.cap` of each deck's counts, and of their sum, which capping each deck
    first leaves the same). One statement, a few index ranges per deck that stop early."""
    if limits is not None:
        return _capped_by_deck(conn, day, now, scope, limits)
    per_deck: dict[int, dict[str, int]] = {}
    for name, condition in _due_conditions(day, now).items():
        stmt = scope.apply(select(C.deck_id, func.count()).where(available(), condition))
        stmt = stmt.group_by(C.deck_id)
        for deck_id, count in conn.execute(stmt):
            per_deck.setdefault(deck_id, {})[name] = int(count)
    return {deck_id: Due(**counts) for deck_id, counts in per_deck.items()}


def _capped_by_deck(
    conn: Connection, day: Day, now: datetime, scope: Scope, limits: Limits
) -> dict[int, Due]:
    conditions = _due_conditions(day, now)

    def count(name: str, cap: int | None) -> Any:
        # Each deck's cards through ix_cards_deck (deck_id, suspended, state, due, ...).
        cards = scope.apply(select(C.id)).where(available(), C.deck_id == D.id, conditions[name])
        if cap is not None:
            cards = cards.limit(cap)
        counted = select(func.count()).select_from(cards.correlate(schema.decks).subquery())
        return counted.scalar_subquery()

    stmt = select(
        D.id, count("new", limits.new), count("learning", None), count("review", limits.review)
    )
    return {deck: Due(new, learning, review) for deck, new, learning, review in conn.execute(stmt)}


@dataclass(frozen=True)
class Limits:
    """How many new and review cards may still be studied now."""

    new: int
    review: int

    @classmethod
    def left_today(cls, settings: Settings, today: Today, extra_new: int = 0) -> Limits:
        return cls(
            new=max(0, settings.new_per_day - today.new_introduced) + extra_new,
            review=max(0, settings.reviews_per_day - today.reviews_done),
        )

    def cap(self, due: Due) -> Due:
        return Due(
            new=min(due.new, self.new), learning=due.learning, review=min(due.review, self.review)
        )


def forecast(
    conn: Connection, day: Day, days: int, boundaries: Sequence[datetime], scope: Scope = Scope()
) -> list[int]:
    """Cards (learning or review) falling due on each of the next `days` study days.

    `boundaries` are the study-day ends after today's: one per day, computed by the caller
    from local time so DST days keep their real length. One range count per day: each is an
    index-only scan, cheaper than labelling every card of the week with a CASE.
    """
    counts = []
    start = day.end
    for end in boundaries[:days]:
        stmt = scope.apply(
            select(func.count())
            .select_from(schema.cards)
            .where(
                available(),
                C.state.in_((LEARNING, REVIEW, RELEARNING)),
                C.due >= start,
                C.due < end,
            )
        )
        counts.append(int(conn.scalar(stmt) or 0))
        start = end
    return counts


def next_learning(
    conn: Connection, now: datetime, ahead: timedelta, scope: Scope, skip: Sequence[int] = ()
) -> int | None:
    """The id of the learning card due first, if one is due by `now + ahead`."""
    params: dict[str, Any] = {"until": now + ahead}
    if skip:
        params["skip"] = list(skip)
    found: int | None = conn.scalar(_next_learning_stmt(scope, bool(skip)), params)
    return found


@lru_cache(maxsize=64)
def _next_learning_stmt(scope: Scope, skipping: bool) -> Any:
    """`next_learning`'s statement, built once per scope: the session asks it before every
    card, and building it anew was most of a review's time."""
    stmt = scope.apply(select(C.id)).where(
        available(),
        C.state.in_((LEARNING, RELEARNING)),
        C.due <= bindparam("until", type_=C.due.type),
    )
    if skipping:
        stmt = stmt.where(C.id.not_in(bindparam("skip", expanding=True)))
    return stmt.order_by(C.due, C.id).limit(1)


def due_reviews_by_risk(
    conn: Connection, settings: Settings, day: Day, now: datetime, scope: Scope, limit: int
) -> list[int]:
    """Ids of up to `limit` review cards due today, the most at risk of being forgotten first.

    FSRS's forgetting curve makes retrievability a decreasing function of elapsed days over
    stability (the curve's shape is one per collection), so SQL can rank by that ratio and
    stop at `limit`; py-fsrs then gives the exact order of the few chosen.
    """
    from pmcards import scheduling  # FSRS loads only for commands that schedule

    # The ranking reads ix_cards_queue alone (it holds last_review and stability); only the
    # few chosen cards' rows are read for their memory.
    stmt = (
        scope.apply(select(C.id))
        .where(available(), C.state == REVIEW, C.due < day.end, not_buried(now))
        .order_by(risk_order(now).desc(), C.id)
        .limit(limit)
    )
    chosen = list(conn.scalars(stmt))
    found: list[Any] = []
    for start in range(0, len(chosen), CHUNK):
        ids = chosen[start : start + CHUNK]
        found += conn.execute(select(C.id, *MEMORY).where(C.id.in_(ids))).all()

    def risk(row: Any) -> tuple[float, int]:
        return (scheduling.retrievability(settings, memory_of(row), now), row.id)

    return [row.id for row in sorted(found, key=risk)]


def new_cards_in_order(
    conn: Connection, now: datetime, scope: Scope, after: tuple[int, int, int], count: int
) -> list[tuple[int, int, int]]:
    """The next `count` new cards in deck order, after the (position, ord, id) key `after`."""
    key = (N.position, C.ord, C.id)
    stmt = scope.apply(
        select(C.id, N.position, C.ord)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
    )
    position, ord, card_id = after
    stmt = (
        stmt.where(available(), C.state == NEW, not_buried(now))
        .where(
            or_(
                N.position > position,
                and_(N.position == position, C.ord > ord),
                and_(N.position == position, C.ord == ord, C.id > card_id),
            )
        )
        .order_by(*key)
        .limit(count)
    )
    return [(pos, o, cid) for cid, pos, o in conn.execute(stmt)]


def decks_with_new(conn: Connection, now: datetime, scope: Scope) -> list[int]:
    """Ids of the decks with new cards to study in scope (a range of ix_cards_queue)."""
    stmt = scope.apply(select(C.deck_id)).where(available(), C.state == NEW, not_buried(now))
    return sorted({deck_id for (deck_id,) in conn.execute(stmt.group_by(C.deck_id))})


def new_cards_of_deck(
    conn: Connection,
    now: datetime,
    scope: Scope,
    deck_id: int,
    after: tuple[int, int, int],
    count: int,
) -> list[tuple[int, int, int]]:
    """The next `count` new cards of one deck in deck order, after the (position, ord, id)
    key `after`: what `new_order = interleaved` takes from each deck in turn.

    The deck's notes are walked in position order (ix_notes_deck) and each one's cards
    looked up (ix_cards_note), so the query stops after `count` cards: under a millisecond
    at 100,000 notes, where sorting a deck's new cards took 13 ms. `state + 0` keeps the
    planner from starting at the queue index instead (SQLite's documented way to disqualify
    a term from index use; the same arithmetic on PostgreSQL).
    """
    position, ord, card_id = after
    stmt = scope.apply(
        select(C.id, N.position, C.ord)
        .select_from(schema.notes)
        .join(schema.cards, C.note_id == N.id)
        .where(N.deck_id == deck_id, N.position >= position)
        .where((C.state + 0) == int(NEW), C.suspended.is_(False), not_buried(now))
        .where(
            or_(
                N.position > position,
                and_(N.position == position, C.ord > ord),
                and_(N.position == position, C.ord == ord, C.id > card_id),
            )
        )
        .order_by(N.position, C.ord, C.id)
        .limit(count)
    )
    return [(pos, o, cid) for cid, pos, o in conn.execute(stmt)]


def scoped_notes(conn: Connection, scope: Scope) -> list[rows.Note]:
    """The notes in scope, in deck order: deck name, position."""
    return list(iter_scoped_notes(conn, scope))


def iter_scoped_notes(
    conn: Connection, scope: Scope, *where: Any, batch: int = 1000
) -> Iterator[rows.Note]:
    """The notes in scope (and `where`), in deck order, read `batch` rows at a time (a
    server-side cursor on PostgreSQL): an export of 100,000 notes never holds them all."""
    stmt = scope.apply_to_notes(
        select(schema.notes)
        .join(schema.decks, D.id == N.deck_id)
        .where(*where)
        .order_by(D.name, N.position)
    )
    # On the statement: the connection's options would stay set for the rest of the
    # transaction (see interview.scoped_cards).
    result = conn.execute(stmt.execution_options(yield_per=batch))
    for row in result:
        yield rows.Note.from_row(row._mapping)


def scoped_deck_ids(conn: Connection, scope: Scope) -> list[int]:
    """The ids of the decks that hold notes in scope."""
    stmt = scope.apply_to_notes(select(N.deck_id).distinct())
    return sorted(conn.execute(stmt).scalars())


# -- rows by id ----------------------------------------------------------------------------


def card(conn: Connection, card_id: int) -> rows.Card | None:
    row = conn.execute(select(schema.cards).where(C.id == card_id)).first()
    return None if row is None else rows.Card.from_row(row._mapping)


def note(conn: Connection, note_id: int) -> rows.Note | None:
    row = conn.execute(select(schema.notes).where(N.id == note_id)).first()
    return None if row is None else rows.Note.from_row(row._mapping)


def note_by_guid(conn: Connection, guid: str) -> rows.Note | None:
    row = conn.execute(select(schema.notes).where(N.guid == guid)).first()
    return None if row is None else rows.Note.from_row(row._mapping)


def cards_of_notes(conn: Connection, note_ids: Iterable[int]) -> list[rows.Card]:
    """The cards of these notes, by note and ordinal."""
    ids = list(note_ids)
    out: list[rows.Card] = []
    for start in range(0, len(ids), CHUNK):
        stmt = select(schema.cards).where(C.note_id.in_(ids[start : start + CHUNK]))
        out += [rows.Card.from_row(row._mapping) for row in conn.execute(stmt)]
    return sorted(out, key=lambda c: (c.note_id, c.ord))


def logs_of_cards(conn: Connection, card_ids: Iterable[int]) -> list[rows.ReviewLog]:
    """The review log of these cards, oldest answer first."""
    ids = list(card_ids)
    out: list[rows.ReviewLog] = []
    for start in range(0, len(ids), CHUNK):
        stmt = select(schema.review_log).where(L.card_id.in_(ids[start : start + CHUNK]))
        out += [rows.ReviewLog.from_row(row._mapping) for row in conn.execute(stmt)]
    return sorted(out, key=lambda log: log.id)


def decks(conn: Connection) -> list[rows.Deck]:
    """Every deck, by name."""
    stmt = select(schema.decks).order_by(D.name)
    return [rows.Deck.from_row(row._mapping) for row in conn.execute(stmt)]
