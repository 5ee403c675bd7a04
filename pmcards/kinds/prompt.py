"""A design prompt for `pmcards mock`: the prompt, and a rubric of the points a strong answer
makes, one per line, each may start with [tags] naming the cards that train it; a point may
be marked MUST (a must-hit) and a line may be a RED FLAG (a mistake a strong answer avoids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmcards.kinds.base import WHY, AnkiModel, Face, Kind

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


@dataclass(frozen=True)
class PromptKind(Kind):
    def problem(self, fields: dict[str, str]) -> tuple[str, str] | None:
        problem = rubric_problem(fields.get("rubric", ""))
        return ("rubric", problem) if problem else None

    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        points = "\n".join(f"{p.number}. {p.text}" for p in rubric_points(fields["rubric"]))
        return (
            Face(
                "Design prompt",
                (
                    ("Prompt", fields["prompt"]),
                    ("", "Which points must a strong answer make? (pmcards mock: the timed run)"),
                ),
            ),
            Face("Design prompt", (("Rubric", points), *self.why(fields))),
        )


PROMPT = PromptKind(
    name="prompt",
    required=("prompt", "rubric"),
    card_names=("mock",),
    labels={"prompt": "Prompt", "rubric": "Rubric", WHY: "Why"},
    anki_fields={"prompt": "Prompt", "rubric": "Rubric", WHY: "Why"},
    anki=AnkiModel(
        "pmcards Mock prompt",
        1_742_000_006,
        (
            (
                "Mock",
                "{{Prompt}}<p>Which points must a strong answer make?</p>",
                "{{FrontSide}}<hr id=answer>{{Rubric}}" + Kind.why_template(),
            ),
        ),
    ),
    question_fields=("prompt",),
    # Prompts share one rubric template: only the prompts themselves should differ.
    compared_fields=("prompt",),
    in_review=False,
)
