"""Note kinds: which fields a note has, which cards it makes, and what each card asks.

A kind is data plus two small functions, so a new kind is one entry here.
"""

from __future__ import annotations

import re
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
    "qa_reversed": Kind("qa_reversed", ("front", "back"), ("why",), ("recall", "reverse")),
    "reframe": Kind("reframe", ("not", "but"), ("why",), ("reframe",)),
    "contrast": Kind("contrast", ("situation", "bad", "good"), ("why",), ("recall", "judge")),
    # One card per distinct cloze number: `cards` names them all; card_ords() picks the ones
    # a note's text uses (ord = number - 1, as in Anki).
    "cloze": Kind("cloze", ("text",), ("why",), ("cloze",)),
    # A design prompt for `pmcards mock`: the rubric holds one point a strong answer makes
    # per line, each may start with [tags] naming the cards that train it.
    "prompt": Kind("prompt", ("prompt", "rubric"), ("why",), ("mock",)),
}

# {{c1::answer}} or {{c1::answer::hint}}; the answer may not contain "}}" (as in Anki).
CLOZE = re.compile(r"\{\{c(\d+)::(.*?)(?:::(.*?))?\}\}", re.DOTALL)
MAX_CLOZE = 500


def cloze_numbers(text: str) -> list[int]:
    """The distinct cloze numbers used in `text`, in increasing order."""
    return sorted({int(m.group(1)) for m in CLOZE.finditer(text) if int(m.group(1)) > 0})


def card_ords(kind: str, fields: dict[str, str]) -> list[int]:
    """The card ordinals a note of `kind` with these fields makes.

    Fixed per kind, except for clozes: one card per distinct cloze number.
    """
    if kind == "cloze":
        return [n - 1 for n in cloze_numbers(fields.get("text", ""))]
    return list(range(len(KINDS[kind].cards)))


def cloze_problem(text: str) -> str | None:
    """Why `text` cannot be a cloze note, or None if it can."""
    numbers = cloze_numbers(text)
    if not numbers:
        return "a cloze needs at least one deletion such as {{c1::answer}}"
    if numbers[-1] > MAX_CLOZE:
        return f"cloze number c{numbers[-1]} is over the limit of c{MAX_CLOZE}"
    return None


def render_cloze(text: str, ord: int, *, reveal: bool) -> str:
    """The cloze text for card `ord`: its deletions hidden ([...] or [hint]) or revealed."""
    active = ord + 1

    def one(match: re.Match[str]) -> str:
        number, answer, hint = int(match.group(1)), match.group(2), match.group(3)
        if number != active:
            return answer
        if reveal:
            return f"[{answer}]"
        return f"[{hint}]" if hint else "[...]"

    return CLOZE.sub(one, text)


MAX_RUBRIC_POINTS = 9  # one digit key each in the mock session
MAX_RED_FLAGS = 3
# A rubric line: `- [tag tag] text`, optionally marked `MUST:` (a point a strong answer
# cannot miss) or `RED FLAG:` (something a strong answer must not say), before the tags.
_POINT = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:(MUST|RED FLAG)\s*:\s*)?(?:\[([^\]]*)\]\s*)?(.*?)\s*$",
    re.IGNORECASE,
)
_TAG_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]*$")


@dataclass(frozen=True)
class RubricPoint:
    number: int  # from 1, counted separately for points and for red flags
    text: str
    tags: tuple[str, ...]
    must: bool = False  # a must-hit point: missing it caps the mock's rating at Hard
    red_flag: bool = False  # a mistake: ticking it as said rates the mock Again


def rubric_points(rubric: str) -> list[RubricPoint]:
    """The points and red flags of a prompt's rubric, one per non-empty line."""
    points: list[RubricPoint] = []
    flags = 0
    for line in rubric.splitlines():
        match = _POINT.match(line)
        if match is None or not match.group(3):
            continue
        marker = (match.group(1) or "").upper()
        tags = tuple(t for t in re.split(r"[\s,]+", match.group(2) or "") if t)
        if marker == "RED FLAG":
            flags += 1
            points.append(RubricPoint(flags, match.group(3), tags, red_flag=True))
        else:
            number = sum(1 for p in points if not p.red_flag) + 1
            points.append(RubricPoint(number, match.group(3), tags, must=marker == "MUST"))
    return points


def rubric_problem(rubric: str) -> str | None:
    """Why `rubric` cannot be a prompt's rubric, or None if it can."""
    found = rubric_points(rubric)
    points = [p for p in found if not p.red_flag]
    flags = [p for p in found if p.red_flag]
    if len(points) < 2:
        return "a prompt's rubric needs at least 2 points, one per line"
    if len(points) > MAX_RUBRIC_POINTS:
        return f"a prompt's rubric has {len(points)} points, over the limit of {MAX_RUBRIC_POINTS}"
    if len(flags) > MAX_RED_FLAGS:
        return f"a prompt's rubric has {len(flags)} red flags, over the limit of {MAX_RED_FLAGS}"
    for point in found:
        bad = [t for t in point.tags if not _TAG_WORD.match(t)]
        if bad:
            return f"rubric point {point.number}: {bad[0]!r} is not a tag"
    return None


def note_problem(kind: str, fields: dict[str, str]) -> tuple[str, str] | None:
    """(field, why) a note of `kind` cannot have these fields, or None if it can."""
    if kind == "cloze":
        problem = cloze_problem(fields.get("text", ""))
        return ("text", problem) if problem else None
    if kind == "prompt":
        problem = rubric_problem(fields.get("rubric", ""))
        return ("rubric", problem) if problem else None
    return None


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
    if kind == "cloze":
        text = fields["text"]
        if ord + 1 not in cloze_numbers(text):
            note = "(This card's deletion is no longer in the note: suspend or delete it.)"
            return (Face("Cloze", (("", text), ("", note))), Face("Cloze", (("", text),)))
        return (
            Face("Cloze", (("", render_cloze(text, ord, reveal=False)),)),
            Face("Cloze", (("", render_cloze(text, ord, reveal=True)), *why_block)),
        )
    if kind == "prompt":
        points = "\n".join(f"{p.number}. {p.text}" for p in rubric_points(fields["rubric"]))
        return (
            Face(
                "Design prompt",
                (
                    ("Prompt", fields["prompt"]),
                    ("", "Which points must a strong answer make? (pmcards mock: the timed run)"),
                ),
            ),
            Face("Design prompt", (("Rubric", points), *why_block)),
        )
    if kind == "qa_reversed" and ord == 1:
        return (
            Face("Question", (("", fields["back"]),)),
            Face("Answer", (("", fields["front"]), *why_block)),
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
    if kind == "cloze":
        return CLOZE.sub(lambda m: m.group(2), fields.get("text", ""))
    if kind == "prompt":
        return fields["prompt"]
    return fields.get("front", "")
