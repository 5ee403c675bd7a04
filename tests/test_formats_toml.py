"""Big TOML decks are parsed a thousand notes at a time (three here) and, when imported,
written as they are read; the result, and every error, must be the same as parsing the
whole file, and a bad file must still import nothing."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import qa, write_deck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pmcards import importer, schema
from pmcards.cli import cli
from pmcards.errors import DeckFormatError
from pmcards.formats import toml_deck
from pmcards.formats.parsed import ParsedDeck
from pmcards.store import Store


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toml_deck, "CHUNKED_FROM_BYTES", 0)
    monkeypatch.setattr(toml_deck, "NOTES_PER_CHUNK", 3)


def whole(path: Path) -> ParsedDeck:
    return toml_deck._parse_whole(path, str(path))


def streamed(path: Path) -> ParsedDeck:
    deck = toml_deck.parse_deck(path, stream=True)
    assert deck.stream is not None and deck.notes == []  # nothing read yet
    return deck


def test_chunks_give_the_same_deck(tmp_path: Path, chunked: None) -> None:
    path = write_deck(
        tmp_path / "d.toml", "Big", [qa(i, section=f"s{i % 2}") for i in range(1, 11)]
    )
    deck = streamed(path)
    assert deck.expected == 10 and deck.count() == 10
    assert [len(b) for b in deck.batches()] == [3, 3, 3, 1]
    notes = [n for b in deck.batches() for n in b]  # a second pass reads the file again
    assert notes == whole(path).notes
    assert toml_deck.parse_deck(path) == whole(path)
    assert [n.line for n in toml_deck.parse_deck(path).notes] == [4 + 8 * i for i in range(10)]


def test_note_header_inside_a_string_falls_back(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "Tricky", [qa(i) for i in range(1, 8)])
    text = path.read_text().replace(
        'back = "Answer 5."', "back = '''Answer 5.\n[[note]]\nstill the answer'''"
    )
    path.write_text(text)
    # Notes 1-3 parse as a chunk; the next split falls inside note 5's answer, so the rest
    # comes from parsing the whole file.
    assert [len(b) for b in streamed(path).batches()] == [3, 3, 1]
    deck = toml_deck.parse_deck(path)
    assert deck == whole(path)
    assert len(deck.notes) == 7
    assert deck.notes[4].fields["back"] == "Answer 5.\n[[note]]\nstill the answer"


def test_a_header_that_cannot_be_split_falls_back(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 5)])
    path.write_text(
        path.read_text().replace('[deck]\nname = "D"\n', 'title = "x"\n[deck]\nname = "D"\n')
    )
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse_deck(path, stream=True)  # the whole file was parsed: its exact error
    assert (
        str(info.value)
        == f"{path}:1: unknown top-level key 'title' (expected [deck] and [[note]] tables)"
    )


def test_errors_are_the_same_in_chunks(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('front = "Question 6?"\n', ""))
    expected = f"{path}:39: note 6: missing field 'front' (kind 'qa' needs front, back)"
    for parse in (toml_deck.parse, lambda p: [n for b in streamed(p).batches() for n in b]):
        with pytest.raises(DeckFormatError) as info:
            parse(path)
        assert str(info.value) == expected
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('id = "n-007"', 'id = "n-002"'))
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse_deck(path)
    assert str(info.value) == f"{path}:46: duplicate note id 'n-002' (first at line 11)"


def test_syntax_error_in_a_later_chunk_reports_the_real_line(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    lines = path.read_text().splitlines()
    lines[49] = 'back = "unterminated'  # note 7's answer, in the third chunk
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DeckFormatError) as info:
        toml_deck.parse_deck(path)
    assert str(info.value).startswith(f"{path}:50: invalid TOML: ")
    deck = streamed(path)
    batches = deck.batches()
    assert len(next(batches)) == 3 and len(next(batches)) == 3  # good until the third
    with pytest.raises(DeckFormatError) as info:
        next(batches)
    assert str(info.value).startswith(f"{path}:50: invalid TOML: ")


def test_not_utf8_in_a_later_chunk(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    data = path.read_bytes().replace(b"Answer 6.", b"Answer \xff.")
    path.write_bytes(data)
    with pytest.raises(DeckFormatError) as info:
        [n for b in streamed(path).batches() for n in b]
    assert str(info.value) == f"{path}:44: not valid UTF-8 text"


def test_file_changed_while_streaming(tmp_path: Path, chunked: None) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('"Answer 5."', "'''5\n[[note]]\n5'''"))
    batches = streamed(path).batches()
    assert [n.guid for n in next(batches)] == ["n-001", "n-002", "n-003"]
    # Replaced under the importer; the next split cannot be vouched for, so the rest comes
    # from parsing the whole file, which is now another file.
    other = write_deck(tmp_path / "new.toml", "D", [qa(i, prefix="x") for i in range(1, 8)])
    other.replace(path)
    with pytest.raises(DeckFormatError) as info:
        next(batches)
    assert str(info.value) == f"{path}: the file changed while it was being imported"


# -- importing a streamed file -------------------------------------------------------------


def notes_in(url: str) -> int:
    """The test files' notes in the collection (not the built-in decks')."""
    store = Store(url)
    N = schema.notes.c
    try:
        with store.read() as conn:
            query = select(func.count()).where(N.guid.like("n-%") | N.guid.like("b-%"))
            return conn.scalar(query) or 0
    finally:
        store.close()


def test_streamed_import_writes_every_note(
    tmp_path: Path, chunked: None, collection_url: str
) -> None:
    path = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 11)])
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: deck 'Big': 10 added, 0 updated, 0 unchanged, 0 missing" in result.output
    assert notes_in(collection_url) == 10
    write_deck(path, "Big", [qa(i, back=f"Reworded {i}.") for i in range(2, 12)])
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: deck 'Big': 1 added, 9 updated, 0 unchanged, 1 missing" in result.output
    assert "in the collection but not in the file (kept): n-001" in result.output
    assert notes_in(collection_url) == 11


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda text: text.replace('front = "Question 8?"\n', ""),
            "{path}:53: note 8: missing field 'front' (kind 'qa' needs front, back)",
        ),
        (
            lambda text: text.replace('back = "Answer 9."', 'back = "Answer 9.'),
            "{path}:65: invalid TOML: ",
        ),
        (
            lambda text: text.replace('id = "n-010"', 'id = "n-001"'),
            "{path}:67: duplicate note id 'n-001' (first at line 4)",
        ),
    ],
)
def test_a_bad_note_late_in_a_streamed_file_imports_nothing(
    tmp_path: Path, chunked: None, collection_url: str, damage: object, message: str
) -> None:
    path = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 11)])
    assert callable(damage)
    path.write_text(damage(path.read_text()))
    runner = CliRunner()
    assert runner.invoke(cli, ["status"]).exit_code == 0  # the built-in decks
    for args in (["import", str(path)], ["import", "--prune", str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.output.startswith("Error: " + message.format(path=path)), result.output
        assert "added" not in result.output
    assert notes_in(collection_url) == 0
    store = Store(collection_url)
    try:
        with store.read() as conn:
            names = set(conn.scalars(select(schema.decks.c.name)))
    finally:
        store.close()
    assert "Big" not in names  # the deck made for it went with the rollback


def test_prune_checks_a_streamed_file_before_its_backup(
    tmp_path: Path, chunked: None, isolated_home: Path
) -> None:
    path = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 8)])
    path.write_text(path.read_text().replace('back = "Answer 7."', 'back = "Answer 7.'))
    runner = CliRunner()
    assert runner.invoke(cli, ["status"]).exit_code == 0
    result = runner.invoke(cli, ["import", "--prune", str(path)])
    assert result.exit_code == 1
    backups = list(isolated_home.rglob("*prune*"))
    assert backups == []


def test_id_of_a_streamed_file_used_in_another_file(
    tmp_path: Path, chunked: None, collection_url: str
) -> None:
    a = write_deck(tmp_path / "a.toml", "A", [qa(i) for i in range(1, 8)])
    b = write_deck(tmp_path / "b.toml", "B", [qa(i, prefix="b") for i in range(1, 5)] + [qa(6)])
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(a), str(b)])
    assert result.exit_code == 1
    assert result.output.endswith(f"Error: {b}:32: note id 'n-006' is also used in {a}:39\n")
    assert notes_in(collection_url) == 0


def test_dry_run_of_a_streamed_file(tmp_path: Path, chunked: None, collection_url: str) -> None:
    path = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 11)])
    result = CliRunner().invoke(cli, ["import", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    assert re.search(r"10 added, 0 updated, 0 unchanged, 0 missing \(would be so\)", result.output)
    assert "Dry run: nothing was changed." in result.output
    assert notes_in(collection_url) == 0


def test_mass_edit_keeps_leech_tags_and_changes_cards_where_needed(
    tmp_path: Path, chunked: None, store: Store
) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    path = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 8)])
    with store.write() as conn:
        importer.apply(conn, importer.parse_files([path], stream=True), now)
        N = schema.notes.c
        conn.execute(schema.notes.update().where(N.guid == "n-002").values(tags=" leech t "))
    edited = [qa(i, back=f"Reworded {i}.") for i in range(1, 8)]
    edited[4]["kind"] = "qa_reversed"  # n-005 gains a card: the ORM path, in a bulk batch
    write_deck(path, "Big", edited)
    with store.write() as conn:
        report = importer.apply(conn, importer.parse_files([path], stream=True), now)
    assert report.total("updated") == 7
    with store.read() as conn:
        N = schema.notes.c
        C = schema.cards.c
        rows = {guid: tags for guid, tags in conn.execute(select(N.guid, N.tags))}
        assert rows["n-002"] == " leech t "
        assert rows["n-003"] == " t "
        backs = [f for (f,) in conn.execute(select(N.fields).order_by(N.position))]
        assert all(f'"back": "Reworded {i}."' in backs[i - 1] for i in range(1, 8))
        cards = conn.execute(
            select(N.guid, func.count()).join(schema.cards, C.note_id == N.id).group_by(N.guid)
        )
        assert {guid: n for guid, n in cards} == {
            f"n-{i:03d}": 2 if i == 5 else 1 for i in range(1, 8)
        }


# -- streamed and whole parsing agree, whatever the file holds ------------------------------

# Pieces of answers: [[note]] lines, quotes, and line breaks that Python's str.splitlines()
# knows but TOML does not (U+2028, U+0085), or whitespace it does not (U+00A0).
_PIECES = ["a", " ", "\t", "\n", "\n[[note]]\n", "\n\u00a0[[note]]\n", "[[note]]", "'", '"']
_TEXT = st.lists(st.sampled_from([*_PIECES, "#", "=", "\u2028", "\x85"]), max_size=12).map("".join)


@st.composite
def tricky_decks(draw: st.DrawFn) -> str:
    """TOML decks whose answers are multi-line strings that may hold [[note]] lines, with a
    line sometimes deleted or duplicated: the splits are often wrong and the file often bad."""
    lines = ["[deck]", 'name = "D"', ""]
    for i in range(1, draw(st.integers(1, 9)) + 1):
        back = "b" + draw(_TEXT).replace("'''", "")
        style = draw(st.sampled_from(["json", "literal", "basic"]))
        if style == "literal" and not back.endswith("'"):
            value = f"'''{back}'''"
        elif style == "basic":
            value = '"""' + back.replace("\\", "").replace('"', "") + '"""'
        else:
            value = json.dumps(back)
        lines += ["[[note]]", f'id = "n-{i}"', f'front = "Q{i}"', f"back = {value}", ""]
    text = "\n".join(lines)
    damage = draw(st.sampled_from(["none", "drop", "double"]))
    split = text.split("\n")
    if damage != "none":
        at = draw(st.integers(0, len(split) - 1))
        split[at : at + 1] = [] if damage == "drop" else [split[at]] * 2
    return "\n".join(split)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=tricky_decks(), per_chunk=st.integers(1, 4))
def test_streamed_parse_agrees_with_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, per_chunk: int
) -> None:
    monkeypatch.setattr(toml_deck, "CHUNKED_FROM_BYTES", 0)
    monkeypatch.setattr(toml_deck, "NOTES_PER_CHUNK", per_chunk)
    path = tmp_path / "d.toml"
    path.write_text(text)
    try:
        expected = whole(path).notes
    except DeckFormatError:
        expected = None
    try:
        deck = toml_deck.parse_deck(path, stream=True)
        got = [n for b in deck.batches() for n in b]
    except DeckFormatError as exc:
        assert expected is None, f"streamed: {exc}; whole parse had no error"
        return
    assert got == expected


# -- what the review of the streaming import found ------------------------------------------


def test_ids_used_twice_in_small_files_stop_before_the_collection_opens(
    tmp_path: Path, isolated_home: Path
) -> None:
    a = write_deck(tmp_path / "a.toml", "A", [qa(1)])
    b = write_deck(tmp_path / "b.toml", "B", [qa(1)])
    result = CliRunner().invoke(cli, ["import", str(a), str(b)])
    assert result.exit_code == 1
    # No welcome, no built-in decks: the collection was never opened.
    assert result.output == f"Error: {b}:4: note id 'n-001' is also used in {a}:4\n"
    assert not (isolated_home / "collection.sqlite3").exists()


def test_no_media_left_by_an_import_that_fails_in_a_streamed_file(
    tmp_path: Path, chunked: None, store: Store, isolated_home: Path
) -> None:
    from datetime import UTC, datetime

    from pmcards import media
    from pmcards.formats.parsed import ParsedNote
    from pmcards.media import MediaFile

    package = ParsedDeck(
        path=str(tmp_path / "p.apkg"),
        name="Package",
        notes=[
            ParsedNote("p-1", "qa", {"front": '<img src="pic.png">', "back": "B"}, (), "", None)
        ],
        media=[MediaFile("pic.png", b"\x89PNG not really")],
    )
    big = write_deck(tmp_path / "d.toml", "Big", [qa(i) for i in range(1, 8)])
    big.write_text(big.read_text().replace('id = "n-006"', 'id = "p-1"'))
    decks = [package, *importer.parse_files([big], stream=True)]
    with pytest.raises(DeckFormatError) as info, store.write() as conn:
        importer.apply(conn, decks, datetime(2026, 3, 2, tzinfo=UTC))
    assert str(info.value) == f"{big}:39: note id 'p-1' is also used in {package.path}"
    folder = media.media_dir(store.url)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_note_lines_follow_strings_and_quoted_headers(tmp_path: Path) -> None:
    # Issue 16: a [[note]] line inside a multi-line string shifted every later note's
    # line, and a header written [["note"]] had none.
    path = tmp_path / "d.toml"
    path.write_text(
        '[deck]\nname = "D"\n'
        '[[note]]\nid = "a"\nfront = """one\n[[note]]\nstill one \\""" """\nback = "x"\n'
        "[[ 'note' ]] # quoted\nid = 'b'\nfront = '''two\n[[note]]'''\nback = \"y\"\n"
        '[["note"]]\nid = "c"\nfront = "[[note]] \\"#\\" three"\nback = "z" # [[note]]\n'
        '[[note]]\nid = "d"\nfront = "four"\n'
    )
    with pytest.raises(DeckFormatError) as caught:
        toml_deck.parse_deck(path)
    assert str(caught.value) == (
        f"{path}:18: note 4: missing field 'back' (kind 'qa' needs front, back)"
    )
    path.write_text(path.read_text() + 'back = "w"\n')
    deck = toml_deck.parse_deck(path)
    assert [(n.guid, n.line) for n in deck.notes] == [("a", 3), ("b", 9), ("c", 14), ("d", 18)]
    assert deck.notes[0].fields["front"] == 'one\n[[note]]\nstill one """'
