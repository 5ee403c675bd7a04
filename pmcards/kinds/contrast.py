"""A contrast: a situation, the answer a capable but mistaken candidate gives (BAD), the
answer an interviewer scores (GOOD), and why. Two cards: recall the better move, and judge
one answer as BAD or GOOD."""

from __future__ import annotations

from dataclasses import dataclass

from pmcards.kinds.base import WHY, AnkiModel, Face, Kind

RECALL_ORD, JUDGE_ORD = 0, 1
BAD, GOOD = "bad", "good"


def judge_shows_bad(reps: int) -> bool:
    """The judge card alternates: the BAD answer on even reviews, the GOOD one on odd."""
    return reps % 2 == 0


@dataclass(frozen=True)
class ContrastKind(Kind):
    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        if ord == RECALL_ORD:
            return (
                Face(
                    "Contrast",
                    (
                        ("Situation", fields["situation"]),
                        ("", "What is the GOOD move, and why is the BAD one bad?"),
                    ),
                ),
                Face(
                    "Contrast",
                    (("GOOD", fields["good"]), ("BAD", fields["bad"]), *self.why(fields)),
                ),
            )
        bad = side != GOOD
        shown = fields["bad"] if bad else fields["good"]
        back: tuple[tuple[str, str], ...] = (("Verdict", "BAD" if bad else "GOOD"),)
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
            Face("BAD or GOOD?", back + self.why(fields)),
        )


_WHY = Kind.why_template()
CONTRAST = ContrastKind(
    name="contrast",
    required=("situation", "bad", "good"),
    card_names=("recall", "judge"),
    labels={"situation": "Situation", "bad": "BAD", "good": "GOOD", WHY: "Why"},
    anki_fields={"situation": "Situation", "bad": "BAD", "good": "GOOD", WHY: "Why"},
    anki=AnkiModel(
        "pmcards Contrast",
        1_742_000_004,
        (
            (
                "Recall",
                "{{Situation}}<p>What is the GOOD move, and why is the BAD one bad?</p>",
                "{{FrontSide}}<hr id=answer><b>GOOD</b>: {{GOOD}}<br><b>BAD</b>: {{BAD}}" + _WHY,
            ),
            (
                "Judge",
                "{{Situation}}<p>Answer: {{BAD}}</p><p>Is this answer BAD or GOOD?</p>",
                "{{FrontSide}}<hr id=answer><b>BAD</b>. GOOD instead: {{GOOD}}" + _WHY,
            ),
        ),
    ),
    answer_fields=("good", "bad"),
    question_fields=("situation",),
)
