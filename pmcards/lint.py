"""`pmcards lint`: how cards are written, checked against the minimum-information principle.

Pure: notes in, findings out. Each kind says what its cards ask the learner to recall
(`Kind.recalled`), what cues them (`question_fields`), which two answers must be told apart
by their content alone (`balanced_fields`) and what to compare with other notes
(`compared_text`); no rule names a kind. The thresholds are the ones the built-in decks are
written to, and the built-in decks lint clean (a test).

A note silences a rule with `lint_ignore = ["rule"]` (TOML; `Lint-ignore:` in Markdown, a
`lint_ignore` column in CSV), kept in the collection so `pmcards lint` of the collection
honours it too.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import (
    Callable,
    Collection,
    Iterable,
    Iterator,
    MutableSequence,
    Sequence,
    Set,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmcards.kinds import KINDS
from pmcards.kinds.base import WHY

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.parsed import ParsedDeck, ParsedNote
    from pmcards.queries import Scope

# rule -> what it finds (the help text, and the table in docs/interview.md)
RULES: dict[str, str] = {
    "long-answer": "an answer too long to recall in one piece (over 30 words; a cloze "
    "deletion over 8)",
    "enumeration": "an answer that lists more than 3 items outside a cloze",
    "answer-in-question": "half or more of the answer's words already in the question",
    "lopsided-contrast": "a contrast whose two answers differ in length by more than 1.5 times",
    "verdict-word": "a verdict word (bad, good, wrong, better, weak ...) in a contrast's answer",
    "near-duplicate": "two notes that say nearly the same (word 3-shingles, Jaccard 0.5 or more)",
    "missing-why": "no `why`: the mechanism behind the answer",
    "long-why": "a `why` over 50 words",
    "unseen-reference": "a reference to material the learner cannot see (the article, the FAQ, "
    "above ...)",
}

WHY_WORDS = 50
MAX_RATIO = 1.5
MAX_LIST = 3
DUPLICATE_JACCARD = 0.5
VERDICT = re.compile(
    r"\b(bad|good|wrong|right|correct|incorrect|mistakes?|better|best|worse|worst|weak|strong)\b",
    re.IGNORECASE,
)
UNSEEN = re.compile(
    r"\b(the (article|source|author|checklist|faq|book)|as mentioned|above|below|this deck)\b",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S")
# Words of four letters or more that carry no content (shorter words are ignored anyway).
_STOP = frozenset(
    [
        "could",
        "does",
        "from",
        "have",
        "into",
        "more",
        "most",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class LintNote:
    """A note as the linter sees it: from a deck file (with its file and line) or the
    collection (without)."""

    guid: str
    kind: str
    fields: dict[str, str]
    deck: str = ""
    path: str | None = None
    line: int | None = None
    ignore: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Finding:
    note_id: str
    rule: str
    message: str
    path: str | None = None
    line: int | None = None
    deck: str = ""

    def text(self) -> str:
        """`FILE:LINE: NOTE-ID: RULE: message`, or the note id alone for the collection."""
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return f"{where}{self.note_id}: {self.rule}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "line": self.line,
            "note_id": self.note_id,
            "deck": self.deck,
            "rule": self.rule,
            "message": self.message,
        }


def unknown_rules(names: Iterable[str]) -> str | None:
    """Why `names` cannot be a note's `lint_ignore`, or None if they can."""
    for name in names:
        if name not in RULES:
            return f"unknown lint rule {name!r} in lint_ignore (rules: {', '.join(RULES)})"
    return None


# -- measuring text --------------------------------------------------------------------------


def words(text: str) -> int:
    return len(text.split())


def list_items(text: str) -> int:
    """How many items the longest list in `text` has, if it has more than MAX_LIST: bullet
    lines, or a clause of short items separated by commas ("a, b, c and d") or semicolons;
    else 0."""
    if text.count(",") + text.count(";") < MAX_LIST - 1 and text.count("\n") < MAX_LIST:
        return 0  # no room for a list: most answers, cheaply
    longest = sum(1 for line in text.splitlines() if _BULLET.match(line))
    for clause in re.split(r"[:.?!]\s+|\s+—\s+", text):
        for sep in (",", ";"):
            segs = [s.strip() for s in clause.split(sep) if s.strip()]
            if len(segs) < 2:
                continue
            if sep == ";" or re.match(r"(and|or|then)\s", segs[-1]):
                n = len(segs)
            elif re.search(r"\s(and|or)\s", segs[-1]):
                n = len(segs) + 1
            else:
                continue
            if n > MAX_LIST and sum(words(s) <= 4 for s in segs) >= MAX_LIST:
                longest = max(longest, n)
    return longest if longest > MAX_LIST else 0


def content_words(text: str) -> set[str]:
    """The words that carry content: four letters or more, no function words, no plural s."""
    return {
        w.rstrip("s")
        for w in re.findall(r"[a-z][a-z-]+", text.lower())
        if len(w) >= 4 and w not in _STOP
    }


def shingles(text: str) -> set[str]:
    """Word 3-shingles: every run of three words, lower case."""
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[i : i + 3]) for i in range(len(w) - 2)}


def jaccard(a: Set[Any], b: Set[Any]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _quote(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- one note ----------------------------------------------------------------------------------


def check_note(note: LintNote) -> list[Finding]:
    """The findings on one note, each rule it does not silence."""
    kind = KINDS[note.kind]
    fields = note.fields
    found: list[tuple[str, str]] = []
    for part in kind.recalled(fields):
        n = words(part.text)
        if n > part.max_words:
            what = (
                f"a deletion is {n} words ({_quote(part.text)!r})"
                if part.field not in kind.answer_fields
                else f"'{part.field}' is {n} words"
            )
            found.append(
                (
                    "long-answer",
                    f"{what}; recall fails past {part.max_words}: keep the one idea, move "
                    "the rest to why or to a note of its own",
                )
            )
        if part.listable and (items := list_items(part.text)):
            found.append(
                (
                    "enumeration",
                    f"'{part.field}' lists {items} items; a list is recalled item by item: "
                    "make it a cloze with one deletion per item, or split the note",
                )
            )
    cue = content_words(" ".join(fields.get(q, "") for q in kind.question_fields))
    for name in kind.answer_fields:
        answer = content_words(fields.get(name, ""))
        shared = answer & cue
        if answer and len(shared) >= max(2, len(answer) / 2):
            found.append(
                (
                    "answer-in-question",
                    f"{len(shared)} of the {len(answer)} content words of '{name}' are in the "
                    f"question ({', '.join(sorted(shared)[:4])}): the cue gives the answer away",
                )
            )
    balanced = [fields[name] for name in kind.balanced_fields if name in fields]
    if len(balanced) == 2 and min(words(b) for b in balanced) > 0:
        a, b = (words(text) for text in balanced)
        if max(a, b) / min(a, b) > MAX_RATIO:
            first, second = kind.balanced_fields
            found.append(
                (
                    "lopsided-contrast",
                    f"'{first}' is {a} words and '{second}' {b}: the longer one gives the "
                    f"verdict away (keep them within {MAX_RATIO:g} times)",
                )
            )
    for name in kind.balanced_fields:
        if match := VERDICT.search(fields.get(name, "")):
            found.append(
                (
                    "verdict-word",
                    f"'{name}' says {match.group(0)!r}: a verdict word gives the verdict away; "
                    "let the content show it",
                )
            )
    why = fields.get(WHY, "")
    if not why:
        found.append(
            ("missing-why", "no why: one sentence on the mechanism makes the answer stick")
        )
    elif words(why) > WHY_WORDS:
        found.append(("long-why", f"why is {words(why)} words; keep it to {WHY_WORDS}"))
    for name in kind.fields:
        if match := UNSEEN.search(fields.get(name, "")):
            found.append(
                (
                    "unseen-reference",
                    f"'{name}' says {match.group(0)!r}: the learner sees only this card, "
                    "so say what is meant",
                )
            )
    return [_finding(note, rule, message) for rule, message in found if rule not in note.ignore]


def _finding(note: LintNote, rule: str, message: str) -> Finding:
    return Finding(note.guid, rule, message, note.path, note.line, note.deck)


# -- near-duplicates ---------------------------------------------------------------------------

# A shingle is held as one int: the ids of its three words in the vocabulary, packed
# _WORD_BITS apart (63 bits), equal exactly when the shingles' texts are. A shingle with a
# word past the first 2**_WORD_BITS of a vocabulary packs into a wider, negative int, as exact.
_WORD_BITS = 21
_WORDS = 1 << _WORD_BITS
_WORD = re.compile(r"\w+")
# Shingles are counted, and notes indexed, per bucket of a hash of the shingle: two arrays
# of 2**_BUCKET_BITS ints (8 MB) rather than dicts keyed by shingle (760,000 distinct
# shingles at 100,000 notes: over 150 MB of Python objects).
_BUCKET_BITS = 20
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: the packed ids' high bits, well mixed
_MASK64 = (1 << 64) - 1


class _Sets:
    """Sets of ints held one after another in one array (a tuple of ints each would take
    four times the memory); `sets[k]` is the k-th, in no particular order."""

    def __init__(self) -> None:
        self.items: MutableSequence[int] = array("q")
        self.starts = array("q", [0])

    def __getitem__(self, k: int) -> Sequence[int]:
        return self.items[self.starts[k] : self.starts[k + 1]]

    def append(self, values: Collection[int]) -> None:
        if isinstance(self.items, array):
            try:
                values = array("q", values)
            except OverflowError:  # a wide shingle (see _WORD_BITS): a list holds any int
                self.items = list(self.items)
        self.items.extend(values)
        self.starts.append(len(self.items))


class _Duplicates:
    """Near-duplicate notes: word 3-shingle sets with a Jaccard similarity of 0.5 or more.

    An exact set-similarity join with prefix filtering (Bayardo, Ma and Srikant, "Scaling up
    all pairs similarity search", 2007; what SetSimilaritySearch implements, without its
    numpy): with the shingles of every note in one global order, rarest first, two sets with
    Jaccard >= t share a shingle among the first |A| - ceil(t|A|) + 1 of each, so only notes
    sharing one of those are compared. Each note is reported once, against the earlier note
    it most nearly repeats (the first of those if several tie); a note found a duplicate is
    not indexed itself, so a cluster of many copies costs one comparison each instead of all
    pairs.

    Two passes over the notes compared, in the same order: `count` each note's shingles,
    then `check` each. Rarest first is by the count of the shingle's hash bucket, then the
    shingle: a total order, so the join stays exact, and the index is kept per bucket too
    (a candidate that only shares a bucket is compared and dropped). Only the notes indexed
    are held (their shingles, id, file and line), none of their text.
    """

    def __init__(self, bits: int = _BUCKET_BITS) -> None:
        # Fewer buckets for a search bounded to a few notes (the import's hint): more
        # shingles share one, which costs comparisons, not exactness.
        self.shift = 64 - bits
        self.words: dict[str, int] = {}
        self.counts = array("I", bytes(4 << bits))
        # The index: per bucket, a chain of entries (each an indexed note and the next entry).
        self.heads = array("i", [-1]) * (1 << bits)
        self.entry_slot = array("i")
        self.entry_next = array("i")
        self.indexed = _Sets()  # per indexed note: its shingles
        self.where: list[tuple[str, str | None, int | None]] = []  # ... its id, file, line

    def shingles(self, note: LintNote) -> set[int] | None:
        """The note's word 3-shingles as ints; None when it is left out of the comparison
        (it silences the rule, or has no three words)."""
        if "near-duplicate" in note.ignore:
            return None
        text = KINDS[note.kind].compared_text(note.fields)
        words = self.words
        ids = [words.setdefault(w, len(words)) for w in _WORD.findall(text.lower())]
        triples = zip(ids, ids[1:], ids[2:], strict=False)
        if len(words) <= _WORDS:
            found = {(a << 42) | (b << 21) | c for a, b, c in triples}
        else:
            found = {
                (a << 42) | (b << 21) | c
                if max(a, b, c) < _WORDS
                else -1 - ((a << 128) | (b << 64) | c)
                for a, b, c in triples
            }
        return found or None

    def count(self, shingles: Iterable[int]) -> None:
        """First pass: count a note's shingles."""
        counts, shift = self.counts, self.shift
        for token in shingles:
            counts[((token * _GOLDEN) & _MASK64) >> shift] += 1

    def check(
        self, note: LintNote, shingles: set[int], *, any_match: bool = False
    ) -> Finding | None:
        """Second pass: the near-duplicate finding on `note` against the notes checked
        before it, or None (and the note is indexed for those after it).

        With `any_match`, the search stops at the first earlier note alike enough, which the
        finding then names: whether there is a finding (and which notes are indexed) is the
        same, only not which note it names, so counting findings (the import's hint) needs
        no more."""
        counts, shift = self.counts, self.shift
        size = len(shingles)
        keyed = sorted((counts[((t * _GOLDEN) & _MASK64) >> shift], t) for t in shingles)
        buckets = [
            ((t * _GOLDEN) & _MASK64) >> shift for _, t in keyed[: size - (size + 1) // 2 + 1]
        ]
        indexed, heads, slots, chain = self.indexed, self.heads, self.entry_slot, self.entry_next
        items, starts = indexed.items, indexed.starts
        low, high = DUPLICATE_JACCARD * size, size / DUPLICATE_JACCARD
        seen: set[int] = set()
        best, first = 0.0, -1
        for bucket in buckets:
            entry = heads[bucket]
            while entry >= 0:
                slot, entry = slots[entry], chain[entry]
                if slot in seen:
                    continue
                seen.add(slot)
                start, end = starts[slot], starts[slot + 1]
                if not low <= end - start <= high:
                    continue
                # jaccard(), without making a set of the other note's shingles
                shared = len(shingles.intersection(items[start:end]))
                similarity = shared / (size + end - start - shared) if shared else 0.0
                if similarity >= DUPLICATE_JACCARD and (
                    similarity > best or (similarity == best and slot < first)
                ):
                    best, first = similarity, slot
                    if any_match:
                        break
            if any_match and first >= 0:
                break
        if first < 0:
            slot = len(self.where)
            self.where.append((note.guid, note.path, note.line))
            indexed.append(shingles)
            for bucket in set(buckets):
                slots.append(slot)
                chain.append(heads[bucket])
                heads[bucket] = len(slots) - 1
            return None
        guid, path, line = self.where[first]
        where = ""
        if path is not None and path != note.path:
            where = f" ({path}:{line})"
        elif line:
            where = f" (line {line})"
        return _finding(
            note,
            "near-duplicate",
            f"says nearly what {guid}{where} says ({best:.0%} of their word triples shared): "
            "merge them, or make each ask one distinct thing",
        )


# -- a whole lint ------------------------------------------------------------------------------

_RANK = {rule: i for i, rule in enumerate(RULES)}


@dataclass
class Linter:
    """Lints notes as they come (so an import can lint its files a batch at a time); the
    near-duplicates are found once all are in, from the shingles kept meanwhile (`streamed`
    reads its notes twice instead and keeps nothing).

    `duplicates_up_to` bounds the near-duplicate search, the one rule that must hold every
    note's shingles at once: past that many notes it is skipped (`duplicates_skipped`), as
    the import's hint does for a big import (`pmcards lint` itself checks every note).
    """

    duplicates_up_to: int | None = None
    # False: only count the findings per rule (`counts`), as the import's hint needs.
    keep: bool = True
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    _order: dict[str, int] = field(default_factory=dict)  # note id -> place in the input
    _duplicates: _Duplicates | None = field(init=False)
    # The notes compared, in order (no fields), and their shingles, until `finish`.
    _compared: list[LintNote] = field(default_factory=list)
    _shingles: _Sets = field(default_factory=_Sets)

    def __post_init__(self) -> None:
        bits = _BUCKET_BITS
        if self.duplicates_up_to is not None:
            # A search bounded to a few notes (the import's hint: 2,000) gets buckets to its
            # size, about 32 a note, not the 8 MB of arrays a collection's search needs.
            bits = min(bits, max(10, (32 * self.duplicates_up_to).bit_length()))
        self._duplicates = _Duplicates(bits)

    @property
    def notes(self) -> int:
        return len(self._order)

    @property
    def duplicates_skipped(self) -> bool:
        return self._duplicates is None

    def add(self, note: LintNote) -> None:
        self._order.setdefault(note.guid, len(self._order))
        self._found(check_note(note))
        if self._duplicates is not None:
            if self.duplicates_up_to is not None and self.notes > self.duplicates_up_to:
                # Its memory goes now, not at the end.
                self._duplicates, self._compared, self._shingles = None, [], _Sets()
            elif (shingles := self._duplicates.shingles(note)) is not None:
                self._duplicates.count(shingles)
                self._compared.append(
                    LintNote(note.guid, note.kind, {}, note.deck, note.path, note.line)
                )
                self._shingles.append(shingles)

    def finish(self) -> list[Finding]:
        """Every finding, in the order of the notes and of the rules (a near-duplicate is
        reported at the later of the two notes)."""
        if self._duplicates is not None:
            duplicates = self._duplicates
            for k, note in enumerate(self._compared):
                shingles = set(self._shingles[k])
                if (
                    finding := duplicates.check(note, shingles, any_match=not self.keep)
                ) is not None:
                    self._found([finding])
            # Finished: a second call finds nothing new.
            self._duplicates, self._compared, self._shingles = _Duplicates(0), [], _Sets()
        return sorted(self.findings, key=lambda f: (self._order[f.note_id], _RANK[f.rule]))

    def _found(self, findings: list[Finding]) -> None:
        for finding in findings:
            self.counts[finding.rule] = self.counts.get(finding.rule, 0) + 1
        if self.keep:
            self.findings += findings


def lint(notes: Iterable[LintNote]) -> list[Finding]:
    linter = Linter()
    for note in notes:
        linter.add(note)
    return linter.finish()


def streamed(read: Callable[[], Iterable[LintNote]]) -> tuple[int, Iterator[Finding]]:
    """`lint` of notes that can be read twice (`read()` gives them, the same each time),
    with no finding held: how many notes, and their findings as they are found, in `lint`'s
    order. The first read counts the notes' shingles, the second finds. The notes' ids must
    be unique, as the collection's are (`lint` puts a repeated id's findings at its first
    note)."""
    duplicates = _Duplicates()
    notes = 0
    for note in read():
        notes += 1
        if (shingles := duplicates.shingles(note)) is not None:
            duplicates.count(shingles)

    def findings() -> Iterator[Finding]:
        for note in read():
            found = check_note(note)
            shingles = duplicates.shingles(note)
            if shingles is not None and (near := duplicates.check(note, shingles)) is not None:
                found.append(near)
            if len(found) > 1:
                found.sort(key=lambda f: _RANK[f.rule])
            yield from found

    return notes, findings()


def in_deck(name: str, deck: str | None) -> bool:
    """Whether deck `name` is `deck` or one of its subdecks (no `deck`: every deck)."""
    return deck is None or name == deck or name.startswith(deck + "::")


def file_notes(decks: Sequence[ParsedDeck], deck: str | None = None) -> Iterator[LintNote]:
    """The notes of parsed deck files, with their file and line."""
    for parsed in decks:
        if not in_deck(parsed.name, deck):
            continue
        for batch in parsed.batches():
            for note in batch:
                yield from_parsed(note, parsed)


def from_parsed(note: ParsedNote, deck: ParsedDeck) -> LintNote:
    return LintNote(
        note.guid,
        note.kind,
        note.fields,
        deck.name,
        deck.path,
        note.line,
        frozenset(note.lint_ignore),
    )


def collection_notes(conn: Connection, scope: Scope) -> Iterator[LintNote]:
    """The notes of the collection in `scope`, in deck order, without file or line."""
    from pmcards import queries

    names = {d.id: d.name for d in queries.decks(conn)}
    for note in queries.iter_scoped_notes(conn, scope):
        yield LintNote(
            note.guid,
            note.kind,
            note.fields,
            names[note.deck_id],
            ignore=frozenset(note.lint_ignore),
        )
