"""A reframe: "not X, but Y" — what the interviewer scores instead of what candidates stress."""

from __future__ import annotations

from dataclasses import dataclass

from pmcards.kinds.base import WHY, AnkiModel, Face, Kind


@dataclass(frozen=True)
class ReframeKind(Kind):
    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        return (
            Face("Reframe", (("Not", fields["not"]), ("But", "…?"))),
            Face("Reframe", (("But", fields["but"]), *self.why(fields))),
        )

    def summary(self, fields: dict[str, str]) -> str:
        return f"Not {fields['not']}, but {fields['but']}"


REFRAME = ReframeKind(
    name="reframe",
    required=("not", "but"),
    card_names=("reframe",),
    labels={"not": "Not", "but": "But", WHY: "Why"},
    anki_fields={"not": "Not", "but": "But", WHY: "Why"},
    anki=AnkiModel(
        "pmcards Reframe",
        1_742_000_003,
        (
            (
                "Reframe",
                "Not {{Not}}, but …?",
                "Not {{Not}}, but …<hr id=answer>{{But}}" + Kind.why_template(),
            ),
        ),
    ),
    answer_fields=("but",),
    question_fields=("not",),
)
