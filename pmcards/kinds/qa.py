"""Question and answer, one way (qa) or both ways (qa_reversed)."""

from __future__ import annotations

from dataclasses import dataclass

from pmcards.kinds.base import WHY, AnkiModel, Face, Kind

_LABELS = {"front": "Q", "back": "A", WHY: "Why"}
_ANKI_FIELDS = {"front": "Front", "back": "Back", WHY: "Why"}
_WHY = Kind.why_template()


@dataclass(frozen=True)
class QaKind(Kind):
    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        question, answer = ("back", "front") if ord == 1 else ("front", "back")
        return (
            Face("Question", (("", fields[question]),)),
            Face("Answer", (("", fields[answer]), *self.why(fields))),
        )


QA = QaKind(
    name="qa",
    required=("front", "back"),
    card_names=("recall",),
    labels=_LABELS,
    anki_fields=_ANKI_FIELDS,
    anki=AnkiModel(
        "pmcards Q/A",
        1_742_000_001,
        (("Recall", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}" + _WHY),),
    ),
    answer_fields=("back",),
    question_fields=("front",),
)
QA_REVERSED = QaKind(
    name="qa_reversed",
    required=("front", "back"),
    card_names=("recall", "reverse"),
    labels=_LABELS,
    anki_fields=_ANKI_FIELDS,
    anki=AnkiModel(
        "pmcards Q/A and reversed",
        1_742_000_002,
        (
            ("Recall", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}" + _WHY),
            ("Reverse", "{{Back}}", "{{FrontSide}}<hr id=answer>{{Front}}" + _WHY),
        ),
    ),
    answer_fields=("back",),
    question_fields=("front",),
    variant_of="qa",
)
