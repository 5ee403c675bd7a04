import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import N, all_rows, card_of, count, set_card
from sqlalchemy import func, select

from pmcards import importer, schema
from pmcards.cli import cli
from pmcards.errors import DeckFormatError
from pmcards.formats import markdown
from pmcards.formats.options import ParseOptions
from pmcards.store import Store

SAMPLE = """\
# My prep
A deck for practice.

## Framing

Q: What do you agree first?
A: The metric.

   Then the guardrails.
Why: Measurement before mechanism.
Tags: metrics, framing
<!-- id: mine-001 -->

Not: accuracy
But: error tolerance

## Contrasts

Situation: Design a feed.
BAD: Two towers.
GOOD: Metric first.
Why: w

Cloze: The {{c1::north star}} and {{c3::guardrails::what else?}}.

Q: Term
A: Definition
\\Q: this line belongs to the answer
Reverse: yes
"""


def write(tmp_path: Path, text: str, name: str = "deck.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_parse_every_kind(tmp_path: Path) -> None:
    deck = markdown.parse_deck(write(tmp_path, SAMPLE))
    assert deck.name == "My prep"
    assert deck.description == "A deck for practice."
    kinds = [n.kind for n in deck.notes]
    assert kinds == ["qa", "reframe", "contrast", "cloze", "qa_reversed"]
    first = deck.notes[0]
    assert first.guid == "mine-001"
    assert first.fields == {
        "front": "What do you agree first?",
        "back": "The metric.\n\n   Then the guardrails.",
        "why": "Measurement before mechanism.",
    }
    assert first.tags == ("framing", "metrics")
    assert first.section == "Framing" and first.line == 6
    assert deck.notes[2].section == "Contrasts"
    assert deck.notes[1].guid.startswith("md-")
    assert deck.notes[4].fields["back"] == "Definition\nQ: this line belongs to the answer"


def test_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_bytes("\ufeff# D\r\n\r\nQ: a\r\nA: b\r\n".encode())
    deck = markdown.parse_deck(path)
    assert deck.name == "D" and deck.notes[0].fields == {"front": "a", "back": "b"}


def test_classic_mac_line_ends(tmp_path: Path, isolated_home: Path) -> None:
    # Issue 16: a file with \r-only line ends imported no notes, into a deck named after
    # the whole file.
    path = tmp_path / "d.md"
    path.write_bytes(b"# D\r\r## S\rQ: a\rA: b\rline two\r\rQ: c\rA: d\r")
    deck = markdown.parse_deck(path)
    assert deck.name == "D" and [n.line for n in deck.notes] == [4, 8]
    assert deck.notes[0].fields == {"front": "a", "back": "b\nline two"}
    assert deck.notes[0].section == "S"
    code, output = run("import", str(path), "--write-ids")
    assert code == 0, output
    written = path.read_bytes()
    assert b"\n" not in written and written.count(b"<!-- id: md-") == 2
    assert [n.guid for n in markdown.parse_deck(path).notes] == [n.guid for n in deck.notes]


def test_no_heading_uses_the_file_name(tmp_path: Path) -> None:
    deck = markdown.parse_deck(write(tmp_path, "Q: a\nA: b\n", "interview.md"))
    assert deck.name == "interview" and not deck.named


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "# D\n\nQ: a\nWhy: w\n",
            "deck.md:3: note at line 3: missing 'A:' (this note needs Q:, A:)",
        ),
        ("# D\n\nQ: a\nA:\n", "deck.md:4: note at line 3: empty 'A:' (this note needs Q:, A:)"),
        (
            "# D\n# E\n",
            "deck.md:2: a second '# ' deck heading: a file holds one deck (use '## ' for sections)",
        ),
        (
            "# D\n## S\nsome prose\n",
            "deck.md:3: text outside a note: start a note with Q:, Not:, Situation:, Cloze: or Prompt: (or escape the line with '\\' to continue the field above)",
        ),
        (
            "# D\nA: b\n",
            "deck.md:2: 'A:' outside a note: start a note with Q:, Not:, Situation:, Cloze: or Prompt:",
        ),
        (
            "# D\nQ: a\nA: b\nBut: c\n",
            "deck.md:4: 'But:' does not belong in a Q: note (started at line 2); escape a line of text that starts like a label with '\\'",
        ),
        ("# D\nQ: a\nA: b\nA: c\n", "deck.md:4: a second 'A:' in the note that starts at line 2"),
        (
            "# D\nCloze: no deletion\n",
            "deck.md:2: a cloze needs at least one deletion such as {{c1::answer}}",
        ),
        (
            "# D\nQ: a\nA: b\n<!-- id: x -->\nQ: c\nA: d\n<!-- id: x -->\n",
            "deck.md:5: duplicate note id 'x' (first at line 2)",
        ),
        ("# D\nQ: a\nA: b\nQ: a\nA: c\n", "deck.md:4: duplicate note id 'md-"),
        ("# D\nQ: a\nA: b\n<!-- id: bad id -->\n", "deck.md:4: invalid note id 'bad id'"),
        ('# D\nQ: a\nA: b\nTags: no"quote\n', "deck.md:2: invalid tag 'no\"quote'"),
        ("<!-- id: x -->\n", "deck.md:1: id comment outside a note: put it under the note's lines"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DeckFormatError) as info:
        markdown.parse_deck(path)
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_bad_file_imports_nothing(tmp_path: Path) -> None:
    good = write(tmp_path, "# Good\nQ: a\nA: b\n", "good.md")
    bad = write(tmp_path, "# Bad\nQ: a\n", "bad.md")
    code, output = run("import", str(good), str(bad))
    assert code == 1
    assert f"Error: {bad}:2: note at line 2: missing 'A:'" in output
    code, output = run("decks", "--json")
    assert "Good" not in output


def test_write_ids_then_edits_keep_history(tmp_path: Path, collection_url: str) -> None:
    path = write(tmp_path, "# D\n\nQ: one\nA: first\n\nQ: two\nA: second\nTags: x\n")
    code, output = run("import", str(path), "--write-ids")
    assert code == 0, output
    assert "wrote 2 note ids" in output
    text = path.read_text()
    ids = [line for line in text.splitlines() if line.startswith("<!-- id: md-")]
    assert len(ids) == 2
    assert text.splitlines()[4].startswith("<!-- id: md-")  # right under the first note
    assert markdown.write_ids(path) == 0
    # Give a card some history, then edit the question: the id keeps it the same note.
    store = Store(collection_url)
    set_card(store, ids[0][9:-4], reps=3)
    path.write_text(text.replace("Q: one", "Q: one, edited"))
    code, output = run("import", str(path))
    assert "0 added, 1 updated, 1 unchanged" in output
    assert card_of(store, ids[0][9:-4]).reps == 3
    assert count(store, schema.notes, N.guid.like("md-%")) == 2
    store.close()


def test_write_ids_refused_for_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('[deck]\nname = "D"\n')
    code, output = run("import", str(path), "--write-ids")
    assert code == 2 and "--write-ids applies only to Markdown files" in output


def test_cloze_reimport_adds_cards_for_new_numbers(store: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, tzinfo=UTC)
    path = write(tmp_path, "# D\nCloze: {{c1::a}} {{c2::b}}\n<!-- id: z -->\n")
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), now)
    path.write_text("# D\nCloze: {{c1::a}} {{c2::b}} {{c4::d}}\n<!-- id: z -->\n")
    with store.write() as session:
        report = importer.apply(session, importer.parse_files([path]), now)
    assert report.decks[0].notices == ["note 'z': new card c4"]
    assert [c.ord for c in all_rows(store, schema.cards)] == [0, 1, 3]
    path.write_text("# D\nCloze: {{c1::a}}\n<!-- id: z -->\n")
    set_card(store, "z", 1, reps=2)
    with store.write() as session:
        report = importer.apply(session, importer.parse_files([path]), now)
    assert report.decks[0].notices == [
        "note 'z': card c2 is no longer in the note: kept with its history, suspended",
        "note 'z': card c4 is no longer in the note: removed (never reviewed)",
    ]
    assert [(c.ord, c.suspended) for c in all_rows(store, schema.cards)] == [(0, False), (1, True)]


def test_an_edited_question_without_an_id_keeps_its_history(
    tmp_path: Path, collection_url: str
) -> None:
    """A note written without an id gets one made from its question: editing the question
    makes a new id, and the import pairs it with the note it replaces, history and all,
    instead of adding a second note and leaving the first as missing."""
    path = write(tmp_path, "# D\n\nQ: one\nA: first\n\nQ: two\nA: second\n")
    assert run("import", str(path))[0] == 0
    (old,) = [
        c
        for c in json.loads(run("cards", "--json", "--deck", "D")[1])
        if c["fields"]["front"] == "one"
    ]
    store = Store(collection_url)
    set_card(store, old["note_id"], reps=3)
    path.write_text("# D\n\nQ: one, reworded\nA: first\n\nQ: two\nA: second\n")
    code, output = run("import", str(path))
    assert code == 0, output
    assert "0 added, 1 updated, 1 unchanged, 0 missing" in output
    assert f"replaces {old['note_id']!r}, whose history it keeps" in output
    notes = json.loads(run("cards", "--json", "--deck", "D")[1])
    assert len(notes) == 2
    (edited,) = [c for c in notes if c["fields"]["front"] == "one, reworded"]
    assert edited["reps"] == 3 and edited["note_id"] != old["note_id"]
    store.close()


def _big_md(path: Path, notes: int, bad_at: int | None = None) -> Path:
    """A Markdown deck of `notes` Q/A notes over 1 MB (so it streams), four lines each after
    two of heading; note `bad_at` has an empty answer."""
    lines = ["# Big deck", "Its description.", ""]
    for n in range(1, notes + 1):
        answer = "" if n == bad_at else f"A strong answer {n} that defines failure first."
        lines += [f"Q: Situation {n}: the interviewer asks about metric {n % 97}.", f"A: {answer}"]
        lines += [f"<!-- id: big-{n:06d} -->", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    assert path.stat().st_size > markdown.STREAM_FROM_BYTES
    return path


def test_a_big_file_streams_with_the_same_notes_as_read_whole(tmp_path: Path) -> None:
    path = _big_md(tmp_path / "big.md", 20_000)
    whole = markdown.parse(path)[0]
    (streamed,) = markdown.parse(path, ParseOptions("md", stream=True))
    assert streamed.stream is not None and not streamed.notes
    assert (streamed.name, streamed.description) == ("Big deck", "Its description.")
    batches = list(streamed.batches())
    assert [len(b) for b in batches] == [markdown.NOTES_PER_BATCH] * 20
    assert [note for batch in batches for note in batch] == whole.notes
    assert streamed.expected == 20_000


def test_a_bad_note_late_in_a_streamed_file_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = _big_md(tmp_path / "big.md", 20_000, bad_at=19_500)
    decks = importer.parse_files([path], stream=True)
    with pytest.raises(DeckFormatError) as info, store.write() as conn:
        importer.apply(conn, decks, datetime.now(UTC))
    line = 4 + 4 * (19_500 - 1)
    assert str(info.value) == (
        f"{path}:{line + 1}: note at line {line}: empty 'A:' (this note needs Q:, A:)"
    )
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.notes)) == 0
