import re
from collections import Counter
from pathlib import Path

import pytest

from pmcards import importer
from pmcards.formats.parsed import ParsedNote
from pmcards.kinds import KINDS

# The source material sits in a `shared/source` folder beside the checkout (or beside the
# folder of git worktrees that holds it).
SOURCE = next(
    (
        p / "shared" / "source"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "source").is_dir()
    ),
    Path("/nonexistent"),
)


@pytest.fixture(scope="module")
def notes() -> list[tuple[str, ParsedNote]]:
    decks = importer.parse_files(importer.builtin_deck_paths())
    return [(deck.name, note) for deck in decks for note in deck.notes]


def test_enough_notes_in_several_decks(notes: list[tuple[str, ParsedNote]]) -> None:
    per_deck = Counter(deck for deck, _ in notes)
    assert len(notes) >= 260
    assert len(per_deck) == 6
    assert all(count >= 20 for count in per_deck.values())
    kinds = Counter(note.kind for _, note in notes)
    assert set(kinds) == set(KINDS)
    assert kinds["reframe"] >= 19 and kinds["contrast"] >= 25
    # Ordered lists (the four parts, the opening, the clock, rollout stages) are clozes.
    assert kinds["cloze"] >= 8
    assert kinds["prompt"] >= 24


def test_every_note_has_tags_and_a_why(notes: list[tuple[str, ParsedNote]]) -> None:
    for _, note in notes:
        assert note.tags, note.guid
        assert note.fields.get("why"), note.guid


def test_reframes_from_the_source_are_present(notes: list[tuple[str, ParsedNote]]) -> None:
    reframes = {
        (n.fields["not"].lower(), n.fields["but"].lower()) for _, n in notes if n.kind == "reframe"
    }
    text = " ".join(f"{a} | {b}" for a, b in reframes)
    for key in (
        "technical fluency",
        "uptime",
        "request latency",
        "feature flags",
        "bert",
        "precision versus recall",
        "dashboard",
        "open source",
    ):
        assert key in text, key


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?”\"])\s+", text)
    return [" ".join(p.split()) for p in parts if len(p.split()) >= 8]


@pytest.mark.skipif(not SOURCE.is_dir(), reason="source material not beside the checkout")
def test_cards_are_in_our_own_words(notes: list[tuple[str, ParsedNote]]) -> None:
    source = " ".join(p.read_text(encoding="utf-8") for p in SOURCE.glob("*.txt"))
    ours = " ".join(" ".join(v.split()) for _, n in notes for v in n.fields.values()).lower()
    copied = [s for s in _sentences(source) if s.lower() in ours]
    assert copied == []
