"""Note kinds, and the one registry of them.

A kind is one object that knows its fields (and how each is labelled in a Markdown deck and
named in Anki), the cards it makes, what each card shows, how a note is summed up in one
line, and what makes a note of it invalid. Every format, the importer, the review screen,
the exports and the linter ask the kind; none of them names kinds' fields. A new kind is a
module here with its `Kind` object, added to `KINDS` below.

Pure Python: no SQLAlchemy, no FSRS.
"""

from __future__ import annotations

from pmcards.kinds.base import AnkiModel, Face, Kind, Recalled
from pmcards.kinds.cloze import CLOZE
from pmcards.kinds.contrast import BAD, CONTRAST, GOOD, JUDGE_ORD, SIDES, SideDraw
from pmcards.kinds.prompt import (
    MAX_RED_FLAGS,
    MAX_RUBRIC_POINTS,
    PROMPT,
    RubricPoint,
    rubric_points,
)
from pmcards.kinds.qa import QA, QA_REVERSED
from pmcards.kinds.reframe import REFRAME

KINDS: dict[str, Kind] = {k.name: k for k in (QA, QA_REVERSED, REFRAME, CONTRAST, CLOZE, PROMPT)}


def card_ords(kind: str, fields: dict[str, str]) -> list[int]:
    """The card ordinals a note of `kind` with these fields makes."""
    return KINDS[kind].ords(fields)


def note_problem(kind: str, fields: dict[str, str]) -> tuple[str, str] | None:
    """(field, why) a note of `kind` cannot have these fields, or None if it can."""
    return KINDS[kind].problem(fields)


def render(
    kind: str, fields: dict[str, str], ord: int, side: str | None = None
) -> tuple[Face, Face]:
    """The front and back of card `ord` of a note (`side`: which answer a judge card shows)."""
    return KINDS[kind].render(fields, ord, side)


def out_of_review(prompts_in_review: bool) -> tuple[str, ...]:
    """The kinds whose cards daily review leaves out: those practised elsewhere (prompts, in
    `pmcards mock`), unless the `prompts_in_review` setting brings them back."""
    if prompts_in_review:
        return ()
    return tuple(name for name, kind in KINDS.items() if not kind.in_review)


def summary(kind: str, fields: dict[str, str]) -> str:
    """A one-line description of a note for listings."""
    return KINDS[kind].summary(fields)


def same_fields(a: str, b: str) -> bool:
    """Whether notes of kinds `a` and `b` have the same fields, so a note may move between
    them (gaining or keeping cards) without losing its history."""
    return KINDS[a].fields == KINDS[b].fields


__all__ = [
    "BAD",
    "CLOZE",
    "CONTRAST",
    "GOOD",
    "JUDGE_ORD",
    "KINDS",
    "MAX_RED_FLAGS",
    "MAX_RUBRIC_POINTS",
    "PROMPT",
    "QA",
    "QA_REVERSED",
    "REFRAME",
    "SIDES",
    "AnkiModel",
    "Face",
    "Kind",
    "Recalled",
    "RubricPoint",
    "SideDraw",
    "card_ords",
    "note_problem",
    "out_of_review",
    "render",
    "rubric_points",
    "same_fields",
    "summary",
]
