"""A cloze: text with deletions ({{c1::answer}} or {{c1::answer::hint}}), one card per
distinct deletion number, as in Anki (ord = number - 1).

Deletions are read by a bracket-matching scanner, as Anki reads them (`rslib/src/cloze.rs`):
they may nest (`{{c1::Canberra is the capital of {{c2::Australia}}}}` makes two cards), one
deletion may belong to several cards (`{{c1,2::...}}`), and a stray `}}` is text. The scanner
looks for its markers with `str.find`, so it runs in time linear in the text, whatever the
text holds (a regex with lazy groups backtracks on an unclosed `{{c1::`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmcards.kinds.base import CLOZE_WORDS, WHY, AnkiModel, Face, Kind, Recalled

MAX_CLOZE = 500
# Anki ignores deletions nested deeper than this (their markers count as text's closers).
MAX_DEPTH = 10
_OPEN, _CLOSE = "{{c", "}}"
_NUMBER_CHARS = frozenset("0123456789,")


@dataclass
class _Deletion:
    numbers: tuple[int, ...]  # the card numbers it belongs to, as written (c1,2 -> 1, 2)
    nodes: list[str | _Deletion] = field(default_factory=list)
    hint: str | None = None

    def text(self) -> str:
        """What the deletion hides: its own text and that of the deletions inside it."""
        return "".join(n if isinstance(n, str) else n.text() for n in self.nodes)


def _parse(text: str) -> list[str | _Deletion]:
    """The text as plain runs and deletions, nested as written."""
    out: list[str | _Deletion] = []
    open_: list[_Deletion] = []

    def add(node: str | _Deletion) -> None:
        (open_[-1].nodes if open_ else out).append(node)

    def add_text(run: str) -> None:
        if not run:
            return
        if open_:
            # In a deletion, the first "::" of a run starts its hint (as Anki splits it).
            head, sep, tail = run.partition("::")
            if sep:
                open_[-1].hint = tail
                run = head
        add(run)

    pos = 0
    size = len(text)
    next_open = text.find(_OPEN)
    next_close = text.find(_CLOSE)
    run_start = 0
    while pos < size:
        if next_open != -1 and next_open < pos:
            next_open = text.find(_OPEN, pos)
        if next_close != -1 and next_close < pos:
            next_close = text.find(_CLOSE, pos)
        candidates = [p for p in (next_open, next_close) if p != -1]
        if not candidates:
            break
        at = min(candidates)
        if at == next_close:
            add_text(text[run_start:at])
            if open_:
                done = open_.pop()
                add(done)
            else:
                add("}}")
            pos = run_start = at + 2
            continue
        # An opening marker: "{{c", digits and commas, "::".
        end = at + 3
        while end < size and text[end] in _NUMBER_CHARS:
            end += 1
        # Numbers as Anki reads them (u16): anything else in the list is dropped.
        numbers = sorted(
            {int(p) for p in text[at + 3 : end].split(",") if 0 < len(p) <= 5 and int(p) < 65536}
        )
        if numbers and text.startswith("::", end):
            add_text(text[run_start:at])
            if len(open_) < MAX_DEPTH:
                open_.append(_Deletion(tuple(numbers)))
            pos = run_start = end + 2
        else:
            pos = at + 1  # not a marker: text, and look again one character on
            next_open = text.find(_OPEN, pos)
    add_text(text[run_start:])
    # Deletions never closed are text with their marker (as Anki shows them): flattened.
    while open_:
        unclosed = open_.pop()
        written = ",".join(str(n) for n in unclosed.numbers)
        hint = f"::{unclosed.hint}" if unclosed.hint is not None else ""
        flat = f"{{{{c{written}::{unclosed.text()}{hint}"
        add(flat)
    return out


def _walk(nodes: list[str | _Deletion]) -> list[_Deletion]:
    """Every deletion, outer ones before the ones inside them."""
    found: list[_Deletion] = []
    stack = [n for n in reversed(nodes) if isinstance(n, _Deletion)]
    while stack:
        deletion = stack.pop()
        found.append(deletion)
        stack.extend(n for n in reversed(deletion.nodes) if isinstance(n, _Deletion))
    return found


def cloze_numbers(text: str) -> list[int]:
    """The distinct cloze numbers used in `text` (nested ones included), in increasing order."""
    return sorted({n for d in _walk(_parse(text)) for n in d.numbers if n > 0})


def deletions(text: str) -> list[str]:
    """The text of every deletion, in order, outer ones first (what the learner recalls)."""
    return [d.text() for d in _walk(_parse(text))]


def strip_clozes(text: str) -> str:
    """The text with its deletions' markers and hints removed: what the note says."""
    return _render(_parse(text), 0, reveal=True, mark=False)


def segments(text: str) -> list[str | tuple[str, str | None]]:
    """The text as runs of plain text and its outermost deletions, each as (what it hides,
    its hint): what a printed sheet bolds or blanks."""
    return [node if isinstance(node, str) else (node.text(), node.hint) for node in _parse(text)]


def cloze_problem(text: str) -> str | None:
    """Why `text` cannot be a cloze note, or None if it can."""
    numbers = cloze_numbers(text)
    if not numbers:
        return "a cloze needs at least one deletion such as {{c1::answer}}"
    if numbers[-1] > MAX_CLOZE:
        return f"cloze number c{numbers[-1]} is over the limit of c{MAX_CLOZE}"
    return None


def render_cloze(text: str, ord: int, *, reveal: bool) -> str:
    """The cloze text for card `ord`: its deletions hidden ([...] or [hint], with whatever
    they hold) or revealed in brackets; other deletions show their text, as in Anki."""
    return _render(_parse(text), ord + 1, reveal=reveal, mark=True)


def _render(nodes: list[str | _Deletion], active: int, *, reveal: bool, mark: bool) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif mark and active in node.numbers and not reveal:
            out.append(f"[{node.hint if node.hint is not None else '...'}]")
        elif mark and active in node.numbers:
            out.append("[" + _render(node.nodes, active, reveal=reveal, mark=mark) + "]")
        else:
            out.append(_render(node.nodes, active, reveal=reveal, mark=mark))
    return "".join(out)


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
        return strip_clozes(fields.get("text", ""))


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
