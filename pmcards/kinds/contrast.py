"""A contrast: a situation, the answer a capable but mistaken candidate gives (BAD), the
answer an interviewer scores (GOOD), and why. Two cards: recall the better move with the BAD
answer in view, and judge one answer, drawn at random, as BAD or GOOD."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pmcards.kinds.base import WHY, AnkiModel, Face, Kind

RECALL_ORD, JUDGE_ORD = 0, 1
BAD, GOOD = "bad", "good"
SIDES = (BAD, GOOD)
# The longest run of one side the draw allows: a fourth BAD in a row would be a pattern a
# learner could ride; the forced switch it costs is the only predictable presentation.
MAX_RUN = 3


class SideDraw:
    """Which answer each judge card shows: BAD or GOOD at random for every presentation (never
    from the card's review count, which a learner can see through), at most MAX_RUN of one
    side in a row. One per study session, seeded by it."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.last: str | None = None
        self.run = 0

    def __call__(self) -> str:
        if self.run >= MAX_RUN:
            side = GOOD if self.last == BAD else BAD
        else:
            side = self._rng.choice(SIDES)
        self.run = self.run + 1 if side == self.last else 1
        self.last = side
        return side


@dataclass(frozen=True)
class ContrastKind(Kind):
    def sides(self, ord: int) -> tuple[str, ...]:
        return SIDES if ord == JUDGE_ORD else ()

    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        if ord == RECALL_ORD:
            return (
                Face(
                    "Contrast",
                    (
                        ("Situation", fields["situation"]),
                        ("BAD", fields["bad"]),
                        ("", "What is the better move, and why is this answer weak?"),
                    ),
                ),
                Face("Contrast", (("GOOD", fields["good"]), *self.why(fields))),
            )
        if side not in SIDES:
            raise ValueError(f"a judge card shows one side, bad or good (got {side!r})")
        bad = side == BAD
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
# The judge card in Anki. Both answers are in the card's HTML, hidden; this script shows one,
# drawn at random when the front is shown, and the same one on the back. The back re-runs it
# twice: inside {{FrontSide}} and at its own end (where the verdicts are in the page, for
# clients that run each script as the page is parsed, as AnkiDroid does). The marker
# #pm-back, placed before {{FrontSide}}, tells either copy that the answer is showing: it then
# keeps the side stored by the front instead of drawing again. The side is kept in
# sessionStorage (AnkiDroid, AnkiMobile, desktop Anki since 2.1.50) and in a window property
# (desktop Anki keeps one page for both sides), keyed by the situation's text so that a back
# previewed on its own never takes another card's side. No "{{" or "}}" may appear in it:
# Anki would read them as template tags.
JUDGE_SCRIPT = """<script>
(function () {
  var KEY = "pmcards-judge-side";
  var situation = document.querySelector(".pm-situation");
  var card = situation ? situation.textContent : "";
  var back = document.getElementById("pm-back") !== null;
  var last = null;
  try {
    last = JSON.parse(window.sessionStorage.getItem(KEY));
  } catch (e) {
    last = null;
  }
  if (!last) {
    last = window.pmcardsJudgeSide || null;
  }
  var side;
  if (back && last && last.card === card && (last.side === "bad" || last.side === "good")) {
    side = last.side;
  } else {
    var run = last && last.run ? last.run : 0;
    if (last && run >= 3) {
      side = last.side === "bad" ? "good" : "bad";
    } else {
      side = Math.random() < 0.5 ? "bad" : "good";
    }
    var kept = { card: card, side: side, run: last && last.side === side ? run + 1 : 1 };
    window.pmcardsJudgeSide = kept;
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(kept));
    } catch (e) {
      // No sessionStorage here: the window property keeps the side.
    }
  }
  var parts = document.querySelectorAll("[data-pm-side]");
  for (var i = 0; i < parts.length; i++) {
    parts[i].style.display = parts[i].getAttribute("data-pm-side") === side ? "" : "none";
  }
})();
</script>"""
JUDGE_FRONT = (
    "<div class=pm-situation>{{Situation}}</div>"
    '<div data-pm-side=bad style="display:none"><p>Answer: {{BAD}}</p></div>'
    '<div data-pm-side=good style="display:none"><p>Answer: {{GOOD}}</p></div>'
    "<p>Is this answer BAD or GOOD?</p>" + JUDGE_SCRIPT
)
JUDGE_BACK = (
    "<div id=pm-back></div>{{FrontSide}}<hr id=answer>"
    '<div data-pm-side=bad style="display:none"><b>BAD</b>. GOOD instead: {{GOOD}}</div>'
    '<div data-pm-side=good style="display:none"><b>GOOD</b>.</div>' + _WHY + JUDGE_SCRIPT
)
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
                "{{Situation}}<p><b>BAD</b>: {{BAD}}</p>"
                "<p>What is the better move, and why is this answer weak?</p>",
                "{{FrontSide}}<hr id=answer><b>GOOD</b>: {{GOOD}}" + _WHY,
            ),
            ("Judge", JUDGE_FRONT, JUDGE_BACK),
        ),
    ),
    answer_fields=("good", "bad"),
    question_fields=("situation",),
    balanced_fields=("good", "bad"),
)
