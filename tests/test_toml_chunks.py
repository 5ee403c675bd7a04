"""Big TOML decks are parsed a thousand notes at a time; the result must be the same."""

from pathlib import Path

import pytest
from helpers import qa, write_deck

from pmcards.errors import DeckFormatError
from pmcards.formats import toml_deck


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toml_deck, "CHUNKED_FROM_BYTES", 0)
    monkeypatch.setattr(toml_deck, "NOTES_PER_CHUNK", 3)


def whole(path: Path) -> object:
    return toml_deck._build(
        __import__("tomli").loads(path.read_text()), path.read_text(), str(path)
    )


def test_chunks_give_the_same_deck(tmp_path: Path, chunked: None) -> None:
    path = write_deck(
        tmp_path / "d.toml", "Big", [qa(i, section=f"s{i % 2}") for i in range(1, 11)]
    )
    assert toml_deck._parse_in_chunks(path, str(path)) is not None  # the fast path was taken
    assert toml_deck.parse(path) == whole(path)
    assert [n.line for n in toml_deck.parse(path).notes] == [4 + 8 * i for i in range(10)]


def test_note_header_inside_a_string_falls_back(tmp_path: Path, chunked: None) -> None:
    notes = [qa(i) for i in range(1, 6)]
    path = write_deck(tmp_path / "d.toml", "Tricky", notes)
    text = path.read_text().replace(
        'back = "Answer 2."', "back = '''Answer 2.\n[[note]]\nstill the answer'''"
    )
    path.write_text(text)
    assert toml_deck._parse_in_chunks(path, str(path)) is None
    deck = toml_deck.parse(path)
    assert len(deck.notes) == 5
    assert deck.notes[1].fields["back"] == "Answer 2.\n[[note]]\nstill the answer"


def test_errors_are_the_same_in_chunks(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('front = "Question 6?"\n', ""))
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse(path)
    assert (
        str(info.value) == f"{path}:39: note 6: missing field 'front' (kind 'qa' needs front, back)"
    )
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('id = "n-007"', 'id = "n-002"'))
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse(path)
    assert "duplicate note id 'n-002' (first at line 11)" in str(info.value)


def test_syntax_error_in_a_later_chunk_reports_the_real_line(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    lines = path.read_text().splitlines()
    lines[49] = 'back = "unterminated'  # note 7's answer, in the third chunk
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse(path)
    assert str(info.value).startswith(f"{path}:50: invalid TOML: ")
