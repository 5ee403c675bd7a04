"""What a note prints as on paper: its cue, its answer, the BAD | GOOD or NOT | BUT pair side
by side, a rubric's points, the why, and what the quiz asks and its answer key says.

Built from the note's `Kind` (its question and answer fields, its labels, its rubric or
cloze parser), so the templates lay out blocks and never ask which kind a note is. Card text
becomes HTML here and only here: plain text is escaped, kept HTML (from Anki) is cleaned by
`markup.sanitize`, and both pass the sanitiser before they are marked safe.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from pmcards.kinds import CLOZE, CONTRAST, PROMPT, REFRAME, Kind, rubric_points
from pmcards.kinds.base import WHY
from pmcards.kinds.cloze import segments
from pmcards.markup import looks_like_html, sanitize

# Handwriting takes about 40 characters a line in a column of the printed quiz.
HANDWRITTEN_PER_LINE = 40
MIN_LINES, MAX_LINES = 2, 12


# In sanitised HTML every attribute is ` name="value"` with the value escaped, so these
# patterns cannot be fooled by a quote inside a value.
_IMG = re.compile(r"<img\b[^>]*>")
_SRC = re.compile(r'\ssrc="([^"]*)"')
_HREF = re.compile(r'\shref="[^"]*"')


def text(value: str) -> str:
    """A field for a template: plain text as it is (the template escapes it), kept HTML
    cleaned and marked safe, and plain text with line breaks escaped with `<br>` for them
    (through the sanitiser too: nothing is marked safe that did not pass it)."""
    if looks_like_html(value):
        return Markup(offline(sanitize(value)))
    if "\n" in value:
        return Markup(sanitize(html.escape(value, quote=False).replace("\n", "<br>")))
    return value


def offline(cleaned: str) -> str:
    """Sanitised HTML that fetches nothing when the page is opened: an image becomes
    "[image: name]" and a link its text (a printed page cannot follow it anyway)."""

    def image(match: re.Match[str]) -> str:
        src = _SRC.search(match.group(0))
        return f"[image: {src.group(1)}]" if src else "[image]"

    return _HREF.sub("", _IMG.sub(image, cleaned))


@dataclass(frozen=True)
class Block:
    """A labelled piece of a note: one side of a pair, or a line of the answer key."""

    label: str  # the kind's own label ("BAD", "GOOD", "Not", "But"); "" for none
    text: str  # plain text (escaped by the template) or sanitised Markup
    tone: str = ""  # "against" (BAD, NOT), "for" (GOOD, BUT), or "" (neutral)


@dataclass(frozen=True)
class Point:
    """A rubric point or red flag, numbered as `kinds.prompt.rubric_points` numbers it."""

    number: int
    text: str  # as Block.text
    must: bool = False


@dataclass(frozen=True)
class Quiz:
    """The note as a quiz question, and its line in the answer key."""

    cue: str  # what the question shows, in bold (as Block.text)
    shown: Block | None  # an answer to judge (a contrast's BAD answer)
    ask: str  # what the learner is asked to write ("" when the cue says it)
    lines: int  # ruled lines to write on, in proportion to the answer's length
    key: tuple[Block, ...]  # the answer key's lines (then the note's points and why)


@dataclass(frozen=True)
class Entry:
    """A note laid out for paper. Every part is optional; the templates print those set."""

    # Text is as Block.text: plain (escaped by the template) or sanitised Markup.
    cue: str | None = None  # bold: the question, the situation, the prompt
    pair: tuple[Block, Block] | None = None  # side by side: BAD | GOOD, NOT | BUT
    answer: str | None = None
    points: tuple[Point, ...] = ()
    flags: tuple[Point, ...] = ()
    why: str | None = None
    quiz: Quiz | None = None


def lines_for(chars: int, extra: int = 0) -> int:
    """Ruled lines for an answer of `chars` characters (plus `extra` for a second ask)."""
    return max(MIN_LINES, min(MAX_LINES, math.ceil(chars / HANDWRITTEN_PER_LINE) + 1 + extra))


def entry(kind: Kind, fields: dict[str, str]) -> Entry:
    """The printed form of a note of `kind`."""
    return _BUILDERS.get(kind.name, _plain)(kind, fields)


def _why(fields: dict[str, str]) -> str | None:
    value = fields.get(WHY, "")
    return text(value) if value else None


def _plain(kind: Kind, fields: dict[str, str]) -> Entry:
    """Question and answer, for Q/A notes and any kind without a layout of its own: the
    kind's question fields as the cue, its answer fields (else its other fields) beneath."""
    cue_fields = kind.question_fields or kind.required[:1]
    answer_fields = kind.answer_fields or tuple(f for f in kind.required if f not in cue_fields)
    cue = text(" ".join(fields.get(f, "") for f in cue_fields))
    answers = [(f, fields.get(f, "")) for f in answer_fields if fields.get(f)]
    answer = text("\n".join(v for _, v in answers)) if answers else None
    labelled = len(answers) > 1
    key = tuple(Block(kind.labels[f] if labelled else "", text(v)) for f, v in answers)
    return Entry(
        cue=cue,
        answer=answer,
        why=_why(fields),
        quiz=Quiz(cue, None, "", lines_for(sum(len(v) for _, v in answers)), key),
    )


def _contrast(kind: Kind, fields: dict[str, str]) -> Entry:
    """Situation, then BAD | GOOD side by side. The quiz shows the BAD answer to judge and
    asks for the better move and why the shown one is weak, as the review's recall card."""
    labels = kind.labels
    bad = Block(labels["bad"], text(fields["bad"]), "against")
    good = Block(labels["good"], text(fields["good"]), "for")
    situation = text(fields["situation"])
    why = _why(fields)
    ask = f"What is the better move, and why is this {labels['bad']} answer weak?"
    return Entry(
        cue=situation,
        pair=(bad, good),
        why=why,
        quiz=Quiz(situation, bad, ask, lines_for(len(fields["good"]), extra=2), (good,)),
    )


def _reframe(kind: Kind, fields: dict[str, str]) -> Entry:
    """NOT | BUT side by side; the quiz gives the NOT and asks for the BUT."""
    labels = kind.labels
    not_ = Block(labels["not"], text(fields["not"]), "against")
    but = Block(labels["but"], text(fields["but"]), "for")
    cue = Markup("{} {}, {} …?").format(labels["not"], not_.text, labels["but"].lower())
    return Entry(
        pair=(not_, but),
        why=_why(fields),
        quiz=Quiz(cue, None, "", lines_for(len(fields["but"])), (but,)),
    )


def _cloze(kind: Kind, fields: dict[str, str]) -> Entry:
    """The text with its deletions in bold; the quiz blanks them, numbered, and the key
    lists them by number."""
    source = fields.get("text", "")
    parts = segments(source)
    answers = [part[0] for part in parts if not isinstance(part, str)]
    # Kept HTML (from Anki) stays HTML, to be sanitised whole; plain text is escaped.
    kept = looks_like_html(source)

    def piece(value: str) -> str:
        return value if kept else html.escape(value, quote=False).replace("\n", "<br>")

    def marked(blank: bool) -> Markup:
        count = iter(range(1, len(answers) + 1))
        pieces: list[str] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(piece(part))
                continue
            answer, hint = part
            if not blank:
                pieces.append("<b class=cloze>" + piece(answer) + "</b>")
            else:
                label = f"{next(count)}" + (f": {piece(hint)}" if hint else "")
                pieces.append(f"<span class=blank>({label})</span>")
        return Markup(offline(sanitize("".join(pieces))))

    key = tuple(Block(str(n), text(a)) for n, a in enumerate(answers, start=1))
    return Entry(
        answer=marked(blank=False),
        why=_why(fields),
        quiz=Quiz(marked(blank=True), None, "", lines_for(sum(len(a) for a in answers)), key),
    )


def _prompt(kind: Kind, fields: dict[str, str]) -> Entry:
    """The prompt in bold, then the rubric as a numbered list (tags hidden), must-hit points
    marked, red flags listed apart; the quiz asks for the points."""
    found = rubric_points(fields.get("rubric", ""))
    points = tuple(Point(p.number, text(p.text), p.must) for p in found if not p.red_flag)
    flags = tuple(Point(p.number, text(p.text)) for p in found if p.red_flag)
    prompt = text(fields["prompt"])
    ask = "Which points must a strong answer make, and which red flags does it avoid?"
    return Entry(
        cue=prompt,
        points=points,
        flags=flags,
        why=_why(fields),
        quiz=Quiz(prompt, None, ask, min(MAX_LINES, len(points) + len(flags) + 1), ()),
    )


_BUILDERS: dict[str, Callable[[Kind, dict[str, str]], Entry]] = {
    CONTRAST.name: _contrast,
    REFRAME.name: _reframe,
    CLOZE.name: _cloze,
    PROMPT.name: _prompt,
}
