"""Note kinds: which fields a note has, which cards it makes, and what each card asks.

A kind is data plus two small functions, so a new kind is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    cards: tuple[str, ...]  # one name per card ordinal

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


KINDS: dict[str, Kind] = {
    "qa": Kind("qa", ("front", "back"), ("why",), ("recall",)),
    "reframe": Kind("reframe", ("not", "but"), ("why",), ("reframe",)),
    "contrast": Kind("contrast", ("situation", "bad", "good"), ("why",), ("recall", "judge")),
}


@dataclass(frozen=True)
class Face:
    """What one side of a card shows: a heading and labelled blocks of text."""

    heading: str
    blocks: tuple[tuple[str, str], ...]  # (label, text); an empty label is plain text


def judge_shows_bad(reps: int) -> bool:
    """The judge card alternates: the BAD answer on even reviews, the GOOD one on odd."""
    return reps % 2 == 0


def render(kind: str, fields: dict[str, str], ord: int, reps: int = 0) -> tuple[Face, Face]:
    """The front and back of card `ord` of a note."""
    why = fields.get("why", "")
    why_block = (("Why", why),) if why else ()
    if kind == "reframe":
        return (
            Face("Reframe", (("Not", fields["not"]), ("But", "…?"))),
            Face("Reframe", (("But", fields["but"]), *why_block)),
        )
    if kind == "contrast" and ord == 0:
        return (
            Face(
                "Contrast",
                (
                    ("Situation", fields["situation"]),
                    ("", "What is the GOOD move, and why is the BAD one bad?"),
                ),
            ),
            Face("Contrast", (("GOOD", fields["good"]), ("BAD", fields["bad"]), *why_block)),
        )
    if kind == "contrast":
        bad = judge_shows_bad(reps)
        shown = fields["bad"] if bad else fields["good"]
        verdict = "BAD" if bad else "GOOD"
        back: tuple[tuple[str, str], ...] = (("Verdict", verdict),)
        if bad:
            back += (("GOOD instead", fields["good"]),)
        return (
            Face(
                "BAD or GOOD?",
                (
                    ("Situation", fields["situation"]),
                    ("Answer", shown),
                    ("", "Is this answer BAD or GOOD, and why?"),
                ),
            ),
            Face("BAD or GOOD?", back + why_block),
        )
    return (
        Face("Question", (("", fields["front"]),)),
        Face("Answer", (("", fields["back"]), *why_block)),
    )


def summary(kind: str, fields: dict[str, str]) -> str:
    """A one-line description of a note for listings."""
    if kind == "reframe":
        return f"Not {fields['not']}, but {fields['but']}"
    if kind == "contrast":
        return fields["situation"]
    return fields.get("front", "")
