"""Decks as a whole: rename one (its subdecks follow) and remove one. Cards keep their
history through a rename: they belong to the deck by its id, not its name. Each function
works in the caller's write transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pmcards import importer, interview, queries, schema
from pmcards.errors import BadValueError

D = schema.decks.c
N = schema.notes.c
MAX_NAME = 200


def _family(name: str) -> ColumnElement[bool]:
    """The deck `name` and its subdecks."""
    return queries.deck_family(D.name, name)


def target(conn: Connection, name: str, now: datetime, *, new_deck: bool = False) -> str:
    """The deck `add` or `deck move` puts notes in: the one `name` means (as `--deck` names
    one: any case, or the unique start of a name), else a new deck of that name. A name
    close to an existing deck's is taken for a typo and refused with a suggestion, unless
    `new_deck` says a new deck is meant."""
    try:
        return queries.resolve_deck(conn, name)
    except BadValueError as exc:
        if "could be any of" in exc.message:
            raise
    clean = "::".join(" ".join(part.split()) for part in name.split("::"))
    if not all(clean.split("::")):
        raise BadValueError(f"{name!r} is not a deck name")
    problem = importer.deck_name_problem(clean)
    if problem:
        raise BadValueError(problem)
    if not new_deck:
        import difflib

        names = {n.casefold(): n for n in conn.scalars(select(D.name))}
        close = difflib.get_close_matches(clean.casefold(), list(names), n=1, cutoff=0.75)
        if close:
            raise BadValueError(
                f"no deck named {clean!r}; did you mean {names[close[0]]!r}? "
                f"(--new-deck makes a new deck named {clean!r})"
            )
    conn.execute(schema.decks.insert().values(name=clean, description="", created_at=now))
    return clean


def rename(conn: Connection, old: str, new: str) -> tuple[str, str, int]:
    """Rename the deck `old` (as `--deck` names one) to `new`; its subdecks follow. Returns
    the old and new names and how many decks were renamed. An interview plan on the deck
    follows too."""
    name = queries.resolve_deck(conn, old)
    parts = [" ".join(part.split()) for part in new.split("::")]
    if not all(parts):
        raise BadValueError(f"{new!r} is not a deck name")
    new = "::".join(parts)
    problem = importer.deck_name_problem(new)
    if problem:
        raise BadValueError(problem)
    if new == name:
        return name, new, 0
    taken = conn.scalar(select(D.name).where(_family(new)).limit(1))
    if taken is not None and not taken.startswith(name + "::"):
        raise BadValueError(f"a deck named {taken!r} exists already: choose another name")
    if new.startswith(name + "::"):
        raise BadValueError(f"{new!r} is inside {name!r}: a deck cannot move into itself")
    rows = conn.execute(select(D.id, D.name).where(_family(name))).all()
    renamed = [{"id": deck_id, "name": new + deck[len(name) :]} for deck_id, deck in rows]
    too_long = [r["name"] for r in renamed if len(r["name"]) > MAX_NAME]
    if too_long:
        raise BadValueError(f"deck name {too_long[0]!r} would be over {MAX_NAME} characters")
    schema.update_rows(conn, schema.decks, renamed)
    plan = interview.load(conn)
    if plan is not None and plan.decks:
        decks = tuple(new + d[len(name) :] if _inside(d, name) else d for d in plan.decks)
        interview.save(conn, replace(plan, decks=decks))
    return name, new, len(renamed)


def _inside(deck: str, name: str) -> bool:
    return deck == name or deck.startswith(name + "::")


def remove(conn: Connection, name: str, now: datetime) -> tuple[str, int, int]:
    """Delete a deck, its subdecks, their notes, cards and review history. Returns the
    deck's name, how many decks and how many notes went. An interview plan loses the deck;
    a plan left with none of its decks ends."""
    name = queries.resolve_deck(conn, name)
    ids = list(conn.scalars(select(D.id).where(_family(name))))
    notes = int(conn.scalar(select(func.count()).where(N.deck_id.in_(ids))) or 0)
    conn.execute(delete(schema.decks).where(D.id.in_(ids)))  # notes and cards cascade
    plan = interview.load(conn)
    if plan is not None and plan.decks:
        kept = tuple(d for d in plan.decks if not _inside(d, name))
        if not kept:
            interview.clear_plan(conn, now)
        elif kept != plan.decks:
            interview.save(conn, replace(plan, decks=kept))
    return name, len(ids), notes
