from pathlib import Path

import pytest

from pmcards import importer
from pmcards.errors import DeckFormatError
from pmcards.formats import csv_deck
from pmcards.formats.options import ParseOptions


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
    assert basic.tags == ("a_b", "t1")
    assert reverse.kind == "qa_reversed"
    (cloze,) = by_name["Other"].notes
    assert cloze.kind == "cloze" and cloze.fields == {
        "text": "{{c1::Paris}} is in {{c2::France}}",
        "why": "geo",
    }
    assert decks[0].warnings == [f"{tmp_path}/notes.txt:7: row 1: tag 'a#b' imported as 'a_b'"]


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
        f"{tmp_path}/n.txt:6: row 3: field 3 of note type 'Basic' has no place in a pmcards "
        "'qa' note: not kept"
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
