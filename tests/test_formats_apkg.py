import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from anki_tools import export_package, import_package, new_collection, notes_of, sample_collection
from click.testing import CliRunner
from helpers import C, all_rows, cli_peak_mb, count

from pmcards import importer, paths, schema
from pmcards.cardstate import NEW
from pmcards.cli import cli
from pmcards.errors import DeckFormatError
from pmcards.formats import apkg
from pmcards.formats._anki import guid_from_id
from pmcards.formats.options import ParseOptions
from pmcards.store import Store

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("anki")
    col = sample_collection(folder / "col")
    out = {
        "latest": export_package(col, folder / "latest.apkg", legacy=False),
        "legacy": export_package(col, folder / "legacy.apkg", legacy=True),
    }
    col.close()
    return out


def do_import(store: Store, *paths: Path) -> importer.ImportReport:
    with store.write() as session:
        return importer.apply(session, importer.parse_files(list(paths)), NOW)


@pytest.mark.parametrize("which", ["latest", "legacy"])
def test_import_notes_decks_tags_html(packages: dict[str, Path], which: str) -> None:
    decks = apkg.parse(packages[which])
    by_name = {d.name: d for d in decks}
    assert set(by_name) == {"Parent::Child", "Other"}
    notes = {n.fields.get("front", n.fields.get("text")): n for d in decks for n in d.notes}
    basic = notes["Q <b>bold</b>"]
    assert basic.kind == "qa"
    assert basic.fields["back"] == "A & B\nline two"  # simple HTML becomes plain text
    assert basic.tags == ("a#b", "t1")  # Anki's tags as they are
    assert notes["F2"].kind == "qa_reversed"
    cloze = notes["{{c1::Paris}} is in {{c2::France}}"]
    assert cloze.kind == "cloze" and cloze.fields["why"] == "geo"
    assert {c.ord for c in cloze.cards} == {0, 1}
    assert [m.name for m in decks[0].media] == ["pic.png"]
    # Extracted to a file, never held in memory: read back whole it is the same bytes.
    assert b"".join(decks[0].media[0].chunks()) == b"\x89PNG fake"
    assert decks[0].warnings == []
    answered = [c for n in notes.values() for c in n.cards if c.reviews]
    assert len(answered) == 2 and all(c.state != NEW for c in answered)


def test_history_and_media_carried_over(
    packages: dict[str, Path], store: Store, isolated_home: Path
) -> None:
    report = do_import(store, packages["latest"])
    assert report.reviews_imported == 2 and report.media_written == 1
    assert (paths.media_dir(store.url) / "pic.png").read_bytes() == b"\x89PNG fake"
    assert count(store, schema.notes) == 4
    assert count(store, schema.cards) == 6
    logs = all_rows(store, schema.review_log)
    assert len(logs) == 2 and all(log.source == "import" for log in logs)
    assert all(log.stability_after > 0 for log in logs)
    reviewed = all_rows(store, schema.cards, C.state != NEW)
    assert len(reviewed) == 2
    assert all(c.stability and c.difficulty and c.last_review for c in reviewed)
    names = {d.name for d in all_rows(store, schema.decks)}
    assert {"Parent::Child", "Other"} <= names
    # Idempotent: the same package again changes nothing and keeps the history.
    again = do_import(store, packages["latest"])
    assert again.total("unchanged") == 4 and again.total("added") == 0
    assert count(store, schema.review_log) == 2


def test_export_opens_in_anki(tmp_path: Path, isolated_home: Path) -> None:
    deck = tmp_path / "deck.md"
    deck.write_text(
        "# Prep::Sub\n\nQ: a < b & c\nA: line one\nline two\nTags: x y\n<!-- id: n1 -->\n\n"
        "Not: accuracy\nBut: tolerance\nWhy: users\n<!-- id: n2 -->\n\n"
        "Situation: S\nBAD: b\nGOOD: g\n<!-- id: n3 -->\n\n"
        "Cloze: {{c1::one}} {{c2::two::hint}}\n<!-- id: n4 -->\n\n"
        "Q: F\nA: B\nReverse: yes\n<!-- id: n5 -->\n",
        encoding="utf-8",
    )
    assert run("import", str(deck))[0] == 0
    out = tmp_path / "out.apkg"
    code, output = run("export", "apkg", "--deck", "Prep", "-o", str(out))
    assert code == 0, output
    col = new_collection(tmp_path / "anki")
    import_package(col, out)
    notes = notes_of(col)
    assert col.note_count() == 5 and col.card_count() == 1 + 1 + 2 + 2 + 2
    # The last field is the note's section, which no card shows.
    assert notes["n1"]["fields"] == ["a &lt; b &amp; c", "line one<br>line two", "", ""]
    assert notes["n1"]["tags"] == ["x", "y"] and notes["n1"]["type"] == "pmcards Q/A"
    assert notes["n2"]["fields"] == ["accuracy", "tolerance", "users", ""]
    assert notes["n3"]["type"] == "pmcards Contrast"
    assert notes["n4"]["fields"][0] == "{{c1::one}} {{c2::two::hint}}"
    assert notes["n5"]["type"] == "pmcards Q/A and reversed"
    assert all(n["decks"] == ["Prep::Sub"] for n in notes.values())
    col.close()


def test_exported_html_is_sanitised_as_anki_reads_it(tmp_path: Path, isolated_home: Path) -> None:
    # Issue 16: a hand-written field's <img onerror> went to Anki verbatim.
    deck = tmp_path / "deck.toml"
    deck.write_text(
        '[deck]\nname = "Hostile"\n[[note]]\nid = "h1"\n'
        'front = \'<b>Q</b><img src="p.png" onerror="alert(1)">\'\n'
        "back = '<i>A</i><script>alert(2)</script><a href=\"jav&#x09;ascript:x()\">l</a>'\n"
        '[[note]]\nid = "h2"\nfront = "plain <script>alert(3)</script>"\nback = "a"\n',
        encoding="utf-8",
    )
    assert run("import", str(deck))[0] == 0
    out = tmp_path / "out.apkg"
    assert run("export", "apkg", "--deck", "Hostile", "-o", str(out))[0] == 0
    col = new_collection(tmp_path / "anki")
    import_package(col, out)
    notes = notes_of(col)
    assert notes["h1"]["fields"][:2] == ['<b>Q</b><img src="p.png">', "<i>A</i><a>l</a>"]
    assert notes["h2"]["fields"][0] == "plain &lt;script&gt;alert(3)&lt;/script&gt;"
    col.close()


def test_export_with_history_and_round_trip_through_anki(
    packages: dict[str, Path], tmp_path: Path
) -> None:
    assert run("import", str(packages["latest"]))[0] == 0
    out = tmp_path / "out.apkg"
    code, output = run("export", "apkg", "--deck", "Parent", "--with-history", "-o", str(out))
    assert code == 0, output
    col = new_collection(tmp_path / "anki")
    import_package(col, out)
    notes = notes_of(col)
    assert len(notes) == 3
    reviewed = [c for n in notes.values() for c in n["cards"] if c[2] > 0]
    assert len(reviewed) == 2 and all(c[1] != 0 for c in reviewed)
    assert col.db.scalar("select count() from revlog") == 2
    # The original Anki GUIDs come back, so Anki would update its own notes.
    original = {
        guid_from_id(n.guid)
        for d in apkg.parse(packages["latest"])
        for n in d.notes
        if d.name == "Parent::Child"
    }
    assert set(notes) == original
    assert sorted(n["decks"][0] for n in notes.values()) == ["Parent::Child"] * 3
    col.close()
    # Our package imports back into pmcards as the same notes.
    code, output = run("import", str(out))
    assert "0 added, 0 updated, 3 unchanged" in output


def test_genanki_package(tmp_path: Path, store: Store) -> None:
    import genanki

    model = genanki.Model(
        1234,
        "Vocab",
        fields=[{"name": "Word"}, {"name": "Meaning"}, {"name": "Example"}],
        templates=[{"name": "c", "qfmt": "{{Word}}", "afmt": "{{Meaning}}"}],
    )
    deck = genanki.Deck(5678, "Words")
    deck.add_note(genanki.Note(model=model, fields=["hola", "hello", ""], guid="g1"))
    deck.add_note(genanki.Note(model=model, fields=["adios", "bye", "used"], guid="g2"))
    path = tmp_path / "g.apkg"
    genanki.Package(deck).write_to_file(str(path))
    decks = apkg.parse(path)
    assert decks[0].name == "Words"
    assert [n.fields for n in decks[0].notes] == [
        {"front": "hola", "back": "hello"},
        {"front": "adios", "back": "bye"},
    ]
    assert decks[0].warnings == [
        f"{path}: note type 'Vocab': field 'Example' has no place in a pmcards note: not "
        "shown in pmcards, kept for the way back to Anki (note 'g2')"
    ]


def test_a_one_deck_package_streams_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed (`pmcards import` of a big package), a package of one deck is read once, as
    it is imported: the same notes, and the same warnings in the same order (the notes',
    then the media's), known once its notes are read."""
    import genanki

    model = genanki.Model(
        1234,
        "Vocab",
        fields=[{"name": "Word"}, {"name": "Meaning"}, {"name": "Example"}],
        templates=[{"name": "c", "qfmt": "{{Word}}", "afmt": "{{Meaning}}"}],
    )
    deck = genanki.Deck(5678, "Words")
    for i in range(3):
        fields = [f"w{i}", f"m{i}", "used" if i else ""]
        deck.add_note(genanki.Note(model=model, fields=fields, guid=f"g{i}"))
    inner = tmp_path / "inner.apkg"
    genanki.Package(deck).write_to_file(str(inner))
    path = tmp_path / "words.apkg"
    with zipfile.ZipFile(inner) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("collection.anki2", src.read("collection.anki2"))
        dst.writestr("media", json.dumps({"0": "../escape.txt"}))
        dst.writestr("0", b"x")
    (whole,) = apkg.parse(path)
    assert whole.warnings == [
        f"{path}: note type 'Vocab': field 'Example' has no place in a pmcards note: not "
        "shown in pmcards, kept for the way back to Anki (2 notes, the first note 'g1')",
        f"{path}: media file with an unsafe name: not imported ('../escape.txt')",
    ]
    monkeypatch.setattr(apkg, "STREAM_FROM_BYTES", 0)
    passes = []
    read = apkg._notes

    def counted(*args: Any) -> Any:
        passes.append(1)
        return read(*args)

    monkeypatch.setattr(apkg, "_notes", counted)
    (streamed,) = apkg.parse(path, ParseOptions("apkg", stream=True))
    assert (streamed.name, streamed.count(), streamed.notes) == ("Words", 3, [])
    assert [n for batch in streamed.batches() for n in batch] == whole.notes
    assert streamed.warnings == whole.warnings
    assert passes == [1]


def _legacy_package(path: Path, media: dict[str, str], files: dict[str, bytes]) -> Path:
    """A minimal legacy package made by hand, for what Anki would never write."""
    import genanki

    model = genanki.Model(
        99,
        "Basic",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "c", "qfmt": "{{Front}}", "afmt": "{{Back}}"}],
    )
    deck = genanki.Deck(77, "D")
    deck.add_note(genanki.Note(model=model, fields=["q", "a"], guid="x1"))
    inner = path.with_suffix(".inner.apkg")
    genanki.Package(deck).write_to_file(str(inner))
    with zipfile.ZipFile(inner) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("collection.anki2", src.read("collection.anki2"))
        dst.writestr("media", json.dumps(media))
        for name, data in files.items():
            if name == "link":
                info = zipfile.ZipInfo("2")
                info.external_attr = 0o120777 << 16
                dst.writestr(info, "/etc/passwd")
            else:
                dst.writestr(name, data)
    return path


def test_unsafe_media_is_refused_and_reported(
    tmp_path: Path, store: Store, isolated_home: Path
) -> None:
    path = _legacy_package(
        tmp_path / "evil.apkg",
        {"0": "../../escape.txt", "1": "/abs.txt", "2": "linked.png", "3": "ok.png"},
        {"0": b"x", "1": b"y", "link": b"", "3": b"fine"},
    )
    decks = apkg.parse(path)
    assert [m.name for m in decks[0].media] == ["ok.png"]
    # One line per kind of problem, with a count (a map naming 300,000 files is one line).
    assert decks[0].warnings == [
        f"{path}: media file with an unsafe name: not imported "
        "(2 files, the first '../../escape.txt')",
        f"{path}: media file that is a link, not a file: not imported ('linked.png')",
    ]
    do_import(store, path)
    assert sorted(p.name for p in paths.media_dir(store.url).iterdir()) == ["ok.png"]
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "not an Anki package: not a zip archive"),
        (None, "not an Anki package: no collection.anki21b, .anki21 or .anki2 inside"),
        (b"garbage", "the package's collection cannot be read: file is not a database"),
    ],
)
def test_broken_packages(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.apkg"
    if content == b"not a zip":
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            if content is None:
                archive.writestr("other", b"x")
            else:
                archive.writestr("collection.anki2", content)
    with pytest.raises(DeckFormatError) as info:
        apkg.parse(path)
    assert str(info.value) == f"{path}: {message}"


def test_damaged_anki21b_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.apkg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("collection.anki21b", b"not zstd")
    with pytest.raises(DeckFormatError, match=r"collection\.anki21b cannot be decompressed"):
        apkg.parse(path)


def _big_package(source: Path, out: Path, notes: int) -> Path:
    """`source` (a package of Anki's older format) with `notes` more Basic notes, each with
    one new card, made in its collection by SQL (Anki's engine would take minutes)."""
    import sqlite3

    folder = out.parent / f"{out.stem}-collection"
    with zipfile.ZipFile(source) as package:
        member = next(n for n in package.namelist() if n.startswith("collection.anki2"))
        db_path = Path(package.extract(member, folder))
    db = sqlite3.connect(db_path)
    with db:
        (nid,) = db.execute(
            "SELECT nid FROM cards GROUP BY nid HAVING count(*) = 1 ORDER BY nid LIMIT 1"
        ).fetchone()
        db.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
            "INSERT INTO notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data) "
            "SELECT 2000000000000 + i, 'big' || i, mid, mod, usn, 'bulk', "
            "'front ' || i || char(31) || 'back ' || i, 'front ' || i, 0, 0, '' "
            "FROM k, (SELECT mid, mod, usn FROM notes WHERE id = ?)",
            (notes, nid),
        )
        db.execute(
            "INSERT INTO cards (id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, "
            "reps, lapses, left, odue, odid, flags, data) "
            "SELECT id + 1000000000000, id, did, 0, n.mod, n.usn, 0, 0, id - 2000000000000, "
            "0, 0, 0, 0, 0, 0, 0, 0, '' FROM notes AS n, "
            "(SELECT did FROM cards WHERE nid = ?) WHERE n.id > 2000000000000",
            (nid,),
        )
    db.close()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.write(db_path, member)
    return out


def test_importing_a_100k_note_package_stays_under_100_mb(
    packages: dict[str, Path], tmp_path: Path
) -> None:
    """The whole `pmcards import` of a 100,000-note package, in a process of its own: its
    notes stream out of the package's collection, a deck at a time, so its peak memory stays
    under 100 MB (it was 206 MB for Anki's own package of 100,000 notes, read whole)."""

    path = _big_package(packages["legacy"], tmp_path / "big.apkg", 100_000)
    expect = ["deck 'Parent::Child': 100003 added", "deck 'Other': 1 added"]
    peak_mb = cli_peak_mb(["import", str(path)], tmp_path / "home", expect)
    assert peak_mb < 100, f"peak memory {peak_mb} MB importing a 100,000-note package"


def _synthetic_collection(path: Path, notes: int) -> Path:
    """A SQLite collection of `notes` notes in 10 decks, about 15 answers a note: bench's
    synthetic collection (bulk inserts into the schema the real migrations make)."""
    from helpers import bench_synth

    bench_synth().build(path, notes, NOW)
    return path


def test_exporting_5000_notes_with_history_stays_under_100_mb(tmp_path: Path) -> None:
    """The whole `pmcards export apkg --with-history` of 5,000 notes and 76,000 answers, in
    a process of its own: written a thousand notes at a time into the package's collection
    file, zipped from disk to the output, so its peak memory does not grow with the
    collection (it held every note, card and answer, then the package: 126 MB here, 1.6 GB
    at 100,000 notes)."""
    import sqlite3

    db = _synthetic_collection(tmp_path / "c.sqlite3", 5000)
    with sqlite3.connect(db) as conn:
        answers = conn.execute("SELECT count(*) FROM review_log").fetchone()[0]
    assert answers > 70_000
    out = tmp_path / "out.apkg"
    args = ["--db", str(db), "export", "apkg", "--with-history", "-o", str(out)]
    peak_mb = cli_peak_mb(args, tmp_path / "home")
    assert peak_mb < 100, f"peak memory {peak_mb} MB exporting 5,000 notes with history"
    with zipfile.ZipFile(out) as package:
        package.extract("collection.anki2", tmp_path / "pkg")
    with sqlite3.connect(tmp_path / "pkg" / "collection.anki2") as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 5000
        assert conn.execute("SELECT count(*) FROM revlog").fetchone()[0] == answers


def test_answers_at_the_same_millisecond_take_the_next_free_ids(tmp_path: Path) -> None:
    """Anki's review-log id is the answer's time in milliseconds: answers that coincide
    take the next free millisecond, oldest answer first, whatever their notes' order in
    the export."""
    import sqlite3

    db = _synthetic_collection(tmp_path / "c.sqlite3", 30)
    with sqlite3.connect(db) as conn:
        # Four answers to cards of the last and first notes: three at one time, then one a
        # millisecond later, whose own id is taken by then.
        last_card, first_card = conn.execute("SELECT max(id), min(id) FROM cards").fetchone()
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM review_log WHERE card_id IN (?, ?) ORDER BY id LIMIT 4",
                (last_card, first_card),
            )
        ]
        assert len(ids) == 4
        for n, log_id in enumerate(ids):
            at = "2026-01-05 10:00:00.001000" if n == 3 else "2026-01-05 10:00:00.000000"
            conn.execute(
                "UPDATE review_log SET reviewed_at = ?, duration_ms = ? WHERE id = ?",
                (at, 90001 + n, log_id),
            )
    out = tmp_path / "out.apkg"
    code, output = run("--db", str(db), "export", "apkg", "--with-history", "-o", str(out))
    assert code == 0, output
    with zipfile.ZipFile(out) as package:
        package.extract("collection.anki2", tmp_path / "pkg")
    with sqlite3.connect(tmp_path / "pkg" / "collection.anki2") as conn:
        rows = conn.execute("SELECT id, time FROM revlog WHERE time > 90000 ORDER BY id")
        millis = int(datetime(2026, 1, 5, 10, tzinfo=UTC).timestamp() * 1000)
        assert rows.fetchall() == [(millis + n, 90001 + n) for n in range(4)]
