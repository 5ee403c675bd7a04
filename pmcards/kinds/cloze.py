"""A cloze: text with deletions ({{c1::answer}} or {{c1::answer::hint}}), one card per
distinct deletion number, as in Anki (ord = number - 1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmcards.kinds.base import CLOZE_WORDS, WHY, AnkiModel, Face, Kind, Recalled

# {{c1::answer}} or {{c1::answer::hint}}; the answer may not contain "}}" (as in Anki).
CLOZE_RE = re.compile(r"\{\{c(\d+)::(.*?)(?:::(.*?))?\}\}", re.DOTALL)
MAX_CLOZE = 500


def cloze_numbers(text: str) -> list[int]:
    """The distinct cloze numbers used in `text`, in increasing order."""
    return sorted({int(m.group(1)) for m in CLOZE_RE.finditer(text) if int(m.group(1)) > 0})


def deletions(text: str) -> list[str]:
    """The text of every deletion, in order (what the learner must recall)."""
    return [m.group(2) for m in CLOZE_RE.finditer(text)]


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

    return CLOZE_RE.sub(one, text)


@dataclass(frozen=True)
class ClozeKind(Kind):
    def ords(self, fields: dict[str, str]) -> list[int]:
        return [n - 1 for n in cloze_numbers(fields.get("text", ""))]

    def card_name(self, ord: int) -> str:
        return f"c{ord + 1}"

    def problem(self, fields: dict[str, str]) -> tuple[str, str] | None:
        problem = cloze_problem(fields.get("text", ""))
        return ("text", problem) if problem else None

    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        text = fields["text"]
        if ord + 1 not in cloze_numbers(text):
            note = "(This card's deletion is no longer in the note: suspend or delete it.)"
            return (Face("Cloze", (("", text), ("", note))), Face("Cloze", (("", text),)))
        return (
            Face("Cloze", (("", render_cloze(text, ord, reveal=False)),)),
            Face("Cloze", (("", render_cloze(text, ord, reveal=True)), *self.why(fields))),
        )

    def recalled(self, fields: dict[str, str]) -> tuple[Recalled, ...]:
        """Each deletion is recalled on its own card: short, and never a list (a list belongs
        in deletions of its own)."""
        return tuple(
            Recalled("text", text, CLOZE_WORDS, listable=False)
            for text in deletions(fields.get("text", ""))
        )

    def summary(self, fields: dict[str, str]) -> str:
        return CLOZE_RE.sub(lambda m: m.group(2), fields.get("text", ""))


CLOZE = ClozeKind(
    name="cloze",
    required=("text",),
    card_names=("cloze",),
    labels={"text": "Cloze", WHY: "Why"},
    anki_fields={"text": "Text", WHY: "Why"},
    anki=AnkiModel(
        "pmcards Cloze",
        1_742_000_005,
        (("Cloze", "{{cloze:Text}}", "{{cloze:Text}}" + Kind.why_template()),),
        cloze=True,
    ),
    question_fields=("text",),
)
