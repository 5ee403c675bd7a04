from datetime import UTC, datetime
from pathlib import Path

import pytest
from fsrs import Rating
from helpers import FakeClock, card_of, count, note_of, qa, write_deck
from sqlalchemy import update

from pmcards import importer, schema
from pmcards.errors import DeckFormatError
from pmcards.review import ReviewSession
from pmcards.store import Store

UTC = UTC
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def do_import(store: Store, *paths: Path, dry_run: bool = False) -> importer.ImportReport:
    decks = importer.parse_files(list(paths))
    with store.read() if dry_run else store.write() as conn:
        return importer.apply(conn, decks, NOW, dry_run=dry_run)


def counts(store: Store) -> tuple[int, int, int]:
    return (
        count(store, schema.notes),
        count(store, schema.cards),
        count(store, schema.review_log),
    )


def test_import_adds_notes_and_cards_per_kind(store: Store, tmp_path: Path) -> None:
    path = write_deck(
        tmp_path / "d.toml",
        "Mixed",
        [
            qa(1),
            {
                "id": "r1",
                "kind": "reframe",
                "tags": ["x"],
                "not": "uptime",
                "but": "model decay",
                "why": "w",
            },
            {
                "id": "c1",
                "kind": "contrast",
                "tags": ["x"],
                "situation": "S",
                "bad": "B",
                "good": "G",
            },
        ],
    )
    report = do_import(store, path)
    assert report.total("added") == 3
    assert counts(store) == (3, 4, 0)  # the contrast has two sibling cards


def test_reimport_edited_file_updates_in_place_and_keeps_history(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(1), qa(2)])
    do_import(store, path)
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None and shown.guid == "n-001"
    session.answer(shown.card_id, Rating.Good)

    write_deck(tmp_path / "d.toml", "D", [qa(1, front="Question one, reworded?"), qa(2), qa(3)])
    preview = do_import(store, path, dry_run=True)
    assert (preview.total("added"), preview.total("updated"), preview.total("unchanged")) == (
        1,
        1,
        1,
    )
    assert counts(store) == (2, 2, 1)  # the dry run changed nothing

    report = do_import(store, path)
    assert report.decks[0].updated == ["n-001"]
    assert report.decks[0].added == ["n-003"]
    assert note_of(store, "n-001").fields["front"] == "Question one, reworded?"
    assert card_of(store, "n-001").reps == 1  # history kept
    assert counts(store) == (3, 3, 1)
    again = do_import(store, path)
    assert again.total("unchanged") == 3 and again.total("updated") == 0


def test_missing_notes_are_reported_and_kept(store: Store, tmp_path: Path) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(1), qa(2)])
    do_import(store, path)
    write_deck(path, "D", [qa(2)])
    report = do_import(store, path)
    assert report.decks[0].missing == ["n-001"]
    assert counts(store)[0] == 2


def test_bad_file_imports_nothing_even_with_good_files(store: Store, tmp_path: Path) -> None:
    good = write_deck(tmp_path / "a.toml", "A", [qa(1)])
    bad = tmp_path / "b.toml"
    bad.write_text('[deck]\nname = "B"\n\n[[note]]\nid = "b-1"\nkind = "qa"\nfront = "F?"\n')
    with pytest.raises(DeckFormatError) as info:
        do_import(store, good, bad)
    assert str(info.value) == f"{bad}:4: note 1: missing field 'back' (kind 'qa' needs front, back)"
    assert counts(store) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[deck]\nname = "D"\n[[note]]\nid = "x"\nfront = "unterminated\n', ":5: invalid TOML: "),
        ('[deck]\nname = ""\n', ":1: [deck] needs a non-empty name"),
        ('[[note]]\nid = "x"\n', ": missing [deck] table with a name"),
        (
            '[deck]\nname = "D"\n[[note]]\nid = "bad id"\nfront = "a"\nback = "b"\n',
            ":3: note 1: needs an id",
        ),
        (
            '[deck]\nname = "D"\n[[note]]\nid = "a"\nkind = "poem"\n',
            ":3: note 1: unknown kind 'poem'",
        ),
        (
            '[deck]\nname = "D"\n[[note]]\nid = "a"\nfront = "F"\nback = "B"\ncolour = "red"\n',
            ":3: note 1: unknown field 'colour' for kind 'qa'",
        ),
        (
            '[deck]\nname = "D"\n[[note]]\nid = "a"\nfront = "F"\nback = "B"\ntags = ["two words"]\n',
            ":3: note 1: invalid tag 'two words'",
        ),
        (
            '[deck]\nname = "D"\n\n[[note]]\nid = "a"\nfront = "F"\nback = "B"\n\n'
            '[[note]]\nid = "a"\nfront = "G"\nback = "C"\n',
            ":9: duplicate note id 'a' (first at line 4)",
        ),
        (
            '[deck]\nname = "D"\n[[note]]\nid = "a"\nfront = 3\nback = "B"\n',
            ":3: note 1: field 'front' must be a string",
        ),
    ],
)
def test_format_errors_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "deck.toml"
    path.write_text(text)
    with pytest.raises(DeckFormatError) as info:
        importer.parse_files([path])
    assert str(info.value).startswith(f"{path}{expected}")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_bytes(b'[deck]\nname = "caf\xe9"\n')
    with pytest.raises(DeckFormatError) as info:
        importer.parse_files([path])
    assert str(info.value) == f"{path}:2: not valid UTF-8 text"


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "deck.yaml"
    path.write_text("x")
    with pytest.raises(DeckFormatError, match=r"unknown deck format '\.yaml'"):
        importer.parse_files([path])


def test_same_id_in_two_files(tmp_path: Path) -> None:
    a = write_deck(tmp_path / "a.toml", "A", [qa(1)])
    b = write_deck(tmp_path / "b.toml", "B", [qa(1)])
    with pytest.raises(DeckFormatError) as info:
        importer.parse_files([a, b])
    assert str(info.value) == f"{b}:4: note id 'n-001' is also used in {a}:4"


def test_id_owned_by_another_deck(store: Store, tmp_path: Path) -> None:
    do_import(store, write_deck(tmp_path / "a.toml", "A", [qa(1)]))
    other = write_deck(tmp_path / "b.toml", "B", [qa(1)])
    with pytest.raises(DeckFormatError) as info:
        do_import(store, other)
    assert "note id 'n-001' already belongs to deck 'A'" in str(info.value)
    assert counts(store) == (1, 1, 0)


def test_kind_change_refused(store: Store, tmp_path: Path) -> None:
    path = write_deck(tmp_path / "a.toml", "A", [qa(1)])
    do_import(store, path)
    write_deck(path, "A", [{"id": "n-001", "kind": "reframe", "not": "x", "but": "y"}])
    with pytest.raises(DeckFormatError, match="changes kind from 'qa' to 'reframe'"):
        do_import(store, path)


def test_leech_tag_survives_reimport(store: Store, tmp_path: Path) -> None:
    path = write_deck(tmp_path / "a.toml", "A", [qa(1)])
    do_import(store, path)
    with store.write() as conn:
        conn.execute(update(schema.notes).values(tags=schema.tags_to_text(["t", "leech"])))
    write_deck(path, "A", [qa(1, tags=["t", "new"])])
    do_import(store, path)
    assert note_of(store, "n-001").tags == ("leech", "new", "t")
