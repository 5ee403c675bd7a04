"""Hostile input: a corpus of broken files for every import format, Hypothesis fuzzing of
every parser, terminal and HTML safety of card text, and every CLI option given a bad value.

Each broken file gets a one-line error naming the file (and the line, row, note or package
member), exit status 1, and the collection's content unchanged (compared as a dump of every
table, not as file bytes)."""

from __future__ import annotations

import io
import json
import random
import re
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import faults
import pytest
from click.testing import CliRunner
from helpers import cli_peak_mb, content
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmcards import importer, markup
from pmcards.cli import cli
from pmcards.errors import DeckFormatError
from pmcards.formats import apkg
from pmcards.store import Store

GOOD_TOML = faults.deck_text("Hostile", 3, "h")
GOOD_MD = "# Hostile\n\nQ: What?\nA: That.\n<!-- id: md-1 -->\n\nQ: Who?\nA: Them.\n"
GOOD_CSV = "id,front,back\nc-1,What?,That.\nc-2,Who?,Them.\n"
RNG = random.Random(6)
GARBAGE = RNG.randbytes(4000)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return faults.prepare(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def good_apkg(home: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("apkg") / "good.apkg"
    result = CliRunner().invoke(
        cli,
        ["export", "apkg", "--deck", "Mine", "--with-history", "-o", str(out)],
        env={"PMCARDS_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _lying_zip_bomb() -> bytes:
    """10 MB of zeros whose headers claim 1,000 bytes: zipfile reads only what is declared
    and the checksum then fails."""
    data = bytearray(_zip({"collection.anki2": bytes(10_000_000)}))
    real = (10_000_000).to_bytes(4, "little")
    fake = (1000).to_bytes(4, "little")
    return bytes(data.replace(real, fake))


def _zstd_bomb() -> bytes:
    import zstandard

    return _zip({"collection.anki21b": zstandard.ZstdCompressor().compress(bytes(3_000_000))})


def _sqlite_not_anki(tmp: Path) -> bytes:
    import sqlite3

    db = tmp / "x.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE hello (a)")
    data = db.read_bytes()
    db.unlink()
    return _zip({"collection.anki2": data})


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _huge_field(kind: str) -> str:
    big = "x" * 20_001
    if kind == "toml":
        return GOOD_TOML + f'\n[[note]]\nid = "big"\nfront = "{big}"\nback = "b"\n'
    if kind == "md":
        return GOOD_MD + f"\nQ: {big}\nA: b\n"
    return GOOD_CSV + f"c-3,{big},b\n"


# name -> (file name, content (bytes, text, or a builder given tmp and the good apkg),
#          the message it must give)
CORPUS: dict[str, tuple[str, Any, str]] = {
    # TOML
    "toml-truncated": ("t.toml", GOOD_TOML[: len(GOOD_TOML) // 2 + 7], "invalid TOML"),
    "toml-garbage": ("t.toml", GARBAGE, "not valid UTF-8 text"),
    "toml-utf16": ("t.toml", GOOD_TOML.encode("utf-16"), "not valid UTF-8 text"),
    "toml-latin1": ("t.toml", (GOOD_TOML + "# café\n").encode("latin-1"), "not valid UTF-8"),
    "toml-nul": ("t.toml", GOOD_TOML.replace("Answer 1", "Ans\x00wer"), "invalid TOML"),
    "toml-empty": ("t.toml", "", "missing [deck] table"),
    "toml-nested-arrays": ("t.toml", "x = " + "[" * 50_000 + "]" * 50_000, "nested too deeply"),
    "toml-nested-tables": (
        "t.toml",
        "x = " + "{a = " * 50_000 + "1" + "}" * 50_000,
        "nested too deeply",
    ),
    "toml-redeclared": ("t.toml", GOOD_TOML + '\n[deck]\nname = "again"\n', "invalid TOML"),
    "toml-wrong-types": ("t.toml", "[deck]\nname = 5\n", "[deck] needs a non-empty name"),
    "toml-id-type": ("t.toml", '[deck]\nname = "D"\n[[note]]\nid = 5\n', "needs an id"),
    "toml-huge-field": ("t.toml", _huge_field("toml"), "the limit is 20000"),
    "toml-huge-file": ("t.toml", "sparse", "the limit is 50 MB"),
    "toml-duplicate-id": (
        "t.toml",
        GOOD_TOML + '\n[[note]]\nid = "h-00001"\nfront = "f"\nback = "b"\n',
        "duplicate note id 'h-00001'",
    ),
    "toml-id-of-another-deck": (
        "t.toml",
        '[deck]\nname = "Other"\n[[note]]\nid = "mine-00001"\nfront = "f"\nback = "b"\n',
        "already belongs to deck 'Mine'",
    ),
    # Markdown
    "md-garbage": ("m.md", GARBAGE, "not valid UTF-8 text"),
    "md-utf16": ("m.md", GOOD_MD.encode("utf-16"), "not valid UTF-8 text"),
    "md-truncated": ("m.md", GOOD_MD[: GOOD_MD.index("A: That")], "missing"),
    "md-huge-field": ("m.md", _huge_field("md"), "the limit is 20000"),
    "md-huge-file": ("m.md", "sparse", "the limit is 50 MB"),
    "md-duplicate-id": ("m.md", GOOD_MD + "\nQ: Again?\nA: Yes.\n<!-- id: md-1 -->\n", "md-1"),
    "md-two-ids": (
        "m.md",
        GOOD_MD.replace("<!-- id: md-1 -->", "<!-- id: a -->\n<!-- id: b -->"),
        "second id",
    ),
    "md-id-of-another-deck": (
        "m.md",
        "# Other\n\nQ: f\nA: b\n<!-- id: mine-00002 -->\n",
        "already belongs to deck 'Mine'",
    ),
    # CSV / TSV
    "csv-garbage": ("c.csv", GARBAGE, "not valid UTF-8 text"),
    "csv-utf16": ("c.csv", GOOD_CSV.encode("utf-16"), "not valid UTF-8 text"),
    "csv-open-quote": ("c.csv", GOOD_CSV + 'c-3,"never closed,b\n', "malformed CSV"),
    "csv-nul": ("c.csv", GOOD_CSV + "c-3,a\x00b,c\n", "a NUL character: not a text file"),
    "md-nul": ("m.md", GOOD_MD + "Q: a\x00b\nA: c\n", "a NUL character: not a text file"),
    "csv-unknown-column": ("c.csv", "id,front,back,colour\n1,a,b,red\n", "unknown column 'colour'"),
    "csv-huge-field": ("c.csv", _huge_field("csv"), "the limit is 20000"),
    "csv-huge-file": ("c.csv", "sparse", "the limit is 50 MB"),
    "csv-duplicate-id": ("c.csv", GOOD_CSV + "c-1,Again?,Yes.\n", "duplicate note id 'c-1'"),
    "tsv-missing-field": ("c.tsv", "id\tfront\tback\nt-1\tonly front\t\n", "missing field 'back'"),
    "csv-id-of-another-deck": (
        "c.csv",
        "id,deck,front,back\nmine-00003,Other,f,b\n",
        "already belongs to deck 'Mine'",
    ),
    # Anki packages
    "apkg-text": ("a.apkg", b"hello, not a zip", "not an Anki package: not a zip archive"),
    "apkg-garbage": ("a.apkg", GARBAGE, "not an Anki package: not a zip archive"),
    "apkg-other-zip": ("a.apkg", _zip({"readme.txt": b"hi"}), "no collection.anki21b"),
    "apkg-truncated": ("a.apkg", lambda tmp, good: _truncate(good), "not an Anki package"),
    "apkg-collection-garbage": (
        "a.apkg",
        _zip({"collection.anki2": GARBAGE}),
        "the package's collection cannot be read",
    ),
    "apkg-sqlite-not-anki": (
        "a.apkg",
        lambda tmp, good: _sqlite_not_anki(tmp),
        "the package's collection cannot be read",
    ),
    "apkg-bad-zstd": (
        "a.apkg",
        _zip({"collection.anki21b": GARBAGE}),
        "collection.anki21b cannot be decompressed",
    ),
    "apkg-lying-zip-bomb": ("a.apkg", _lying_zip_bomb(), "collection.anki2 is damaged"),
    "apkg-zstd-bomb": ("a.apkg", _zstd_bomb(), "over 1 MB when decompressed: too large"),
    "apkg-media-map-damaged": (
        "a.apkg",
        lambda tmp, good: _with_member(good, "media", b"{not json"),
        "media map is damaged",
    ),
    "apkg-duplicate-guid": ("a.apkg", lambda tmp, good: good, "is also used in"),
    # Round two: what any format can say that no database or terminal should take.
    "toml-deck-name-escape": (
        "t.toml",
        '[deck]\nname = "Evil\\u001b]0;owned\\u0007"\n',
        "the deck name holds a control or invisible character",
    ),
    "toml-deck-name-bidi": (
        "t.toml",
        '[deck]\nname = "Evil \\u202e reversed"\n',
        "the deck name holds a control or invisible character",
    ),
    "toml-description-c1": (
        "t.toml",
        '[deck]\nname = "D"\ndescription = "csi \\u009b2J"\n',
        "the deck description holds a control",
    ),
    "toml-description-huge": (
        "t.toml",
        f'[deck]\nname = "D"\ndescription = "{"d" * 5001}"\n',
        "the deck description is 5001 characters; the limit is 5000",
    ),
    "toml-section-escape": (
        "t.toml",
        GOOD_TOML + '\n[[note]]\nid = "s1"\nsection = "\\u001b[2J"\nfront = "f"\nback = "b"\n',
        "note 's1': its section holds a control or invisible character",
    ),
    "toml-section-huge": (
        "t.toml",
        GOOD_TOML + f'\n[[note]]\nid = "s2"\nsection = "{"s" * 201}"\nfront = "f"\nback = "b"\n',
        "note 's2': its section is 201 characters; the limit is 200",
    ),
    "toml-many-tags": (
        "t.toml",
        GOOD_TOML
        + '\n[[note]]\nid = "s3"\nfront = "f"\nback = "b"\ntags = ['
        + ", ".join(f'"t{i}"' for i in range(101))
        + "]\n",
        "note 's3': it has 101 tags; the limit is 100",
    ),
    "md-heading-escape": ("m.md", "# Evil \x1b[2J deck\n\nQ: a\nA: b\n", "control or invisible"),
    "csv-deck-escape": ("c.csv", "deck,front,back\nEvil\x1b]52;c;x\x07,a,b\n", "control"),
    "apkg-infinite-stability": (
        "a.apkg",
        lambda tmp, good: _with_sql(good, 'UPDATE cards SET data = \'{"s": 1e999, "d": 5}\''),
        "its stability inf is outside what FSRS can use",
    ),
    "apkg-huge-reps": (
        "a.apkg",
        lambda tmp, good: _with_sql(good, "UPDATE cards SET reps = 5000000000"),
        "its count of answers 5000000000 is out of range",
    ),
    "apkg-review-in-9999": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good,
            "INSERT INTO revlog VALUES (253402214400000,"
            " (SELECT min(id) FROM cards), -1, 3, 1, 0, 2500, 1000, 0)",
        ),
        "an answer dated 9999-12-31 is out of range",
    ),
    # An 868-byte package filled a disk: its review log a view over an endless query.
    "apkg-revlog-endless-view": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good,
            "DROP TABLE revlog",
            "CREATE VIEW revlog AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1"
            " FROM r) SELECT n AS id, 1 AS cid, 0 AS usn, 3 AS ease, 1 AS ivl, 0 AS lastIvl,"
            " 0 AS factor, 0 AS time, 1 AS type FROM r",
        ),
        "not an Anki package: its 'revlog' is a view, not a table",
    ),
    "apkg-notes-view-of-huge-rows": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good,
            "ALTER TABLE notes RENAME TO real_notes",
            "CREATE VIEW notes AS SELECT id, guid, mid, mod, usn, tags,"
            " flds || zeroblob(20000000) AS flds, sfld, csum, flags, data FROM real_notes",
        ),
        "not an Anki package: its 'notes' is a view, not a table",
    ),
    "apkg-due-2-62": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good, "UPDATE cards SET type = 2, queue = 2, due = 4611686018427387904"
        ),
        "the package's collection is damaged",
    ),
    "apkg-models-nested-100000-deep": (
        "a.apkg",
        lambda tmp, good: _with_sql(good, "UPDATE col SET models = '" + "[" * 100_000 + "'"),
        "the package's collection is damaged (RecursionError",
    ),
    # A value computed as it is read can be far larger than the file (40 MB from one step).
    "apkg-generated-column": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good,
            "ALTER TABLE cards ADD COLUMN big TEXT"
            " GENERATED ALWAYS AS (printf('%.*c', 40000000, 'x')) VIRTUAL",
        ),
        "not an Anki package: its 'cards' has generated columns",
    ),
    "toml-deck-name-newline": (
        "t.toml",
        '[deck]\nname = "Mine\\nAI PM system design fundamentals  99  118"\n',
        "the deck name holds a control or invisible character",
    ),
    "toml-section-newline": (
        "t.toml",
        GOOD_TOML + '\n[[note]]\nid = "s4"\nsection = "a\\nb"\nfront = "f"\nback = "b"\n',
        "note 's4': its section holds a control or invisible character",
    ),
    "apkg-nul-in-field": (
        "a.apkg",
        lambda tmp, good: _with_sql(
            good, "UPDATE notes SET flds = 'Q' || char(0) || char(31) || 'A'"
        ),
        "holds a NUL character",
    ),
}


def _with_sql(package: bytes, *statements: str) -> bytes:
    """A package with its collection changed by SQL (a hand-made package can hold anything)."""
    import sqlite3
    import tempfile

    members = {}
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        for info in z.infolist():
            members[info.filename] = z.read(info)
    name = next(n for n in ("collection.anki21", "collection.anki2") if n in members)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.sqlite"
        db.write_bytes(members[name])
        conn = sqlite3.connect(db)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        members[name] = db.read_bytes()
    return _zip(members)


def _with_member(package: bytes, name: str, data: bytes) -> bytes:
    members = {}
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        for info in z.infolist():
            members[info.filename] = z.read(info)
    members[name] = data
    return _zip(members)


def _materialize(tmp: Path, name: str, spec: Any, good_apkg: bytes) -> list[Path]:
    path = tmp / name
    if spec == "sparse":
        with path.open("wb") as f:
            f.truncate(51 * 1024 * 1024)
        return [path]
    if callable(spec):
        spec = spec(tmp, good_apkg)
    if isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
    else:
        path.write_bytes(spec)
    if name == "a.apkg" and spec is good_apkg:
        twin = tmp / "twin.apkg"  # the same notes in two files of one import
        twin.write_bytes(spec)
        return [path, twin]
    return [path]


@pytest.mark.sqlite_only(reason="compares the collection's SQLite file content before and after")
@pytest.mark.parametrize("case", list(CORPUS))
def test_broken_file_changes_nothing(
    home: Path, good_apkg: bytes, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apkg, "MAX_COLLECTION_BYTES", 1024 * 1024)
    name, spec, message = CORPUS[case]
    files = _materialize(tmp_path, name, spec, good_apkg)
    home = faults.fresh_home(home, tmp_path / "home")
    before = content(home / faults.DB)
    result = CliRunner().invoke(cli, ["import", *map(str, files)], env={"PMCARDS_HOME": str(home)})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert re.match(rf"Error: {re.escape(str(tmp_path))}/\w+\.\w+(:\d+)?: ", lines[0]), lines[0]
    assert message in lines[0], lines[0]
    assert content(home / faults.DB) == before


def test_the_corpus_harness_accepts_good_files(
    home: Path, good_apkg: bytes, tmp_path: Path
) -> None:
    """The same harness with valid files imports them: the failures above are the files'."""
    copy = faults.fresh_home(home, tmp_path / "copy")
    files = []
    for name, text in (("t.toml", GOOD_TOML), ("m.md", GOOD_MD), ("c.csv", GOOD_CSV)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(str(tmp_path / name))
    (tmp_path / "a.apkg").write_bytes(good_apkg)
    files.append(str(tmp_path / "a.apkg"))
    result = CliRunner().invoke(cli, ["import", *files], env={"PMCARDS_HOME": str(copy)})
    assert result.exit_code == 0, result.output


def test_unsafe_media_names_are_refused(good_apkg: bytes, tmp_path: Path) -> None:
    """Names that escape the media folder, and links, never become files."""
    names = ["../evil.png", "/etc/passwd", "sub/dir.png", ".hidden", "CON", "a\x00b", "ok.png"]
    members = {}
    with zipfile.ZipFile(io.BytesIO(good_apkg)) as z:
        for info in z.infolist():
            members[info.filename] = z.read(info)
    members["media"] = json.dumps({str(i): n for i, n in enumerate(names)}).encode()
    for i in range(len(names)):
        members[str(i)] = b"data"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        link = zipfile.ZipInfo("7")
        link.external_attr = 0o120777 << 16
        z.writestr(link, "/etc/passwd")
    members_map = {str(i): n for i, n in enumerate(names)} | {"7": "link.png"}
    package = tmp_path / "m.apkg"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(package, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "media":
                data = json.dumps(members_map).encode()
            z.writestr(info, data)
    decks = apkg.parse(package)
    stored = {m.name for m in decks[0].media}
    assert stored == {"ok.png"}
    # One line per kind of problem, naming the first file and the count.
    assert decks[0].warnings == [
        f"{package}: media file with an unsafe name: not imported "
        "(6 files, the first '../evil.png')",
        f"{package}: media file that is a link, not a file: not imported ('link.png')",
    ]


# -- packages: bounded work, media on disk, nothing left behind --------------------------------


def test_reading_a_package_has_a_work_budget(
    good_apkg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plain tables are bounded by the file's size; SQLite's work on them is bounded too, so
    # no package can keep the importer busy for long (the budget is ~100x real packages').
    package = tmp_path / "a.apkg"
    package.write_bytes(good_apkg)
    assert apkg.parse(package)[0].notes
    monkeypatch.setattr(apkg, "MIN_STEPS", 1_000)
    monkeypatch.setattr(apkg, "STEPS_PER_BYTE", 0)
    monkeypatch.setattr(apkg, "STEP_CHECK", 100)
    with pytest.raises(DeckFormatError) as caught:
        apkg.parse(package)
    assert str(caught.value) == (
        f"{package}: the package's collection takes more work to read than its size allows: refused"
    )


def _with_media(package: bytes, files: dict[str, bytes]) -> bytes:
    members = {}
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        for info in z.infolist():
            members[info.filename] = z.read(info)
    members["media"] = json.dumps({str(i): name for i, name in enumerate(files)}).encode()
    for i, data in enumerate(files.values()):
        members[str(i)] = data
    return _zip(members)


@pytest.mark.sqlite_only(reason="compares the collection's SQLite file content before and after")
def test_a_refused_package_leaves_no_media_behind(
    home: Path, good_apkg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The media are written before the notes; an import that fails after that (here a
    failure injected at the end of the transaction) takes its files back with the
    transaction; a package refused before (a card's memory is infinite) never wrote them."""
    package = tmp_path / "a.apkg"
    files = {"pic.png": b"\x89PNG new", "old.png": b"same"}
    package.write_bytes(_with_media(good_apkg, files))
    home = faults.fresh_home(home, tmp_path / "home")
    media = home / "media"
    media.mkdir(exist_ok=True)
    temp = tmp_path / "temp"  # where the package's media are extracted
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    (media / "old.png").write_bytes(b"same")  # already there: kept
    before = content(home / faults.DB)
    env = {"PMCARDS_HOME": str(home)}
    from pmcards.errors import PmcardsError

    def fail(*args: object) -> None:
        raise PmcardsError("the disk is full (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(importer, "_match_edited_first_fields", fail)
        result = CliRunner().invoke(cli, ["import", str(package)], env=env)
    assert result.exit_code == 1 and "the disk is full (injected)" in result.output
    assert sorted(p.name for p in media.iterdir()) == ["old.png"]
    assert content(home / faults.DB) == before
    assert list(temp.iterdir()) == []  # and the package's temporary folder is gone
    bad = _with_sql(good_apkg, 'UPDATE cards SET data = \'{"s": 1e999, "d": 5}\'')
    package.write_bytes(_with_media(bad, files))
    result = CliRunner().invoke(cli, ["import", str(package)], env=env)
    assert result.exit_code == 1 and "is outside what FSRS can use" in result.output
    assert sorted(p.name for p in media.iterdir()) == ["old.png"]
    assert content(home / faults.DB) == before
    assert list(temp.iterdir()) == []


def test_a_full_disk_while_media_are_written_takes_them_all_back(
    home: Path, good_apkg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the second of two media files is written: one line, no
    traceback, and neither the first file nor the half-written second one stays."""
    import errno

    from pmcards import media

    package = tmp_path / "a.apkg"
    package.write_bytes(_with_media(good_apkg, {"a.png": b"a" * 1000, "b.png": b"b" * 5000}))
    home = faults.fresh_home(home, tmp_path / "home")
    real = media.MediaFile.chunks

    def chunks(self: media.MediaFile) -> Any:
        if self.name == "b.png":
            yield b"half"
            raise OSError(errno.ENOSPC, "No space left on device")
        yield from real(self)

    monkeypatch.setattr(media.MediaFile, "chunks", chunks)
    monkeypatch.setenv("PMCARDS_HOME", str(home))
    folder = _media_folder()
    result = CliRunner().invoke(cli, ["import", str(package)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: cannot write media files to {folder}: No space left on device; "
        "nothing was imported"
    ]
    assert list(folder.iterdir()) == []


def _media_folder() -> Path:
    """The collection's media folder: PMCARDS_HOME/media, or a folder of its own there on a
    PostgreSQL run (PMCARDS_DB set)."""
    from pmcards import paths

    return paths.media_dir(paths.resolve_db_url(None))


def test_a_media_map_of_300000_absent_files_is_one_line(good_apkg: bytes, tmp_path: Path) -> None:
    members = {}
    with zipfile.ZipFile(io.BytesIO(good_apkg)) as z:
        for info in z.infolist():
            members[info.filename] = z.read(info)
    members["media"] = json.dumps({str(i): f"f{i}.png" for i in range(300_000)}).encode()
    package = tmp_path / "a.apkg"
    package.write_bytes(_zip(members))
    (deck,) = apkg.parse(package)
    assert [w for w in deck.warnings if "media" in w] == [
        f"{package}: media file missing from the package (300,000 files, the first 'f0.png')"
    ]


def test_media_are_streamed_to_disk_not_held_in_memory(
    good_apkg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three 100 MB media files (zeros: the package is under 1 MB) import with the process's
    peak memory far below their size: each is extracted and copied a block at a time."""

    big = bytes(100 * 1024 * 1024)
    package = tmp_path / "a.apkg"
    package.write_bytes(_with_media(good_apkg, {f"big{i}.bin": big for i in range(3)}))
    del big
    assert package.stat().st_size < 2 * 1024 * 1024
    home = tmp_path / "home"
    peak_mb = cli_peak_mb(["import", str(package)], home, keep_db=True)
    assert peak_mb < 150, f"peak memory {peak_mb} MB for 300 MB of media"
    monkeypatch.setenv("PMCARDS_HOME", str(home))
    folder = _media_folder()
    assert sorted(p.stat().st_size for p in folder.iterdir()) == [100 * 1024 * 1024] * 3


def test_an_anki_guid_too_long_for_an_id(good_apkg: bytes, tmp_path: Path) -> None:
    """A 180-character GUID made a 365-character id, which pmcards' own CSV could not read
    back; it now gets an id from its hash, with a warning, and goes round trip."""
    guid = "é" * 180
    package = tmp_path / "a.apkg"
    package.write_bytes(
        _with_sql(
            good_apkg, f"UPDATE notes SET guid = '{guid}' WHERE id = (SELECT min(id) FROM notes)"
        )
    )
    (deck,) = apkg.parse(package)
    long = [n.guid for n in deck.notes if n.guid.startswith("anki-sha256-")]
    assert len(long) == 1 and len(long[0]) == 52
    assert any("a GUID over 61 bytes cannot be kept" in w for w in deck.warnings)
    home = {"PMCARDS_HOME": str(tmp_path / "home")}
    assert CliRunner().invoke(cli, ["import", str(package)], env=home).exit_code == 0
    out = tmp_path / "all.csv"
    assert CliRunner().invoke(cli, ["export", "csv", "-o", str(out)], env=home).exit_code == 0
    again = CliRunner().invoke(cli, ["import", str(out)], env=home)
    assert again.exit_code == 0, again.output


# -- fuzzing every parser ---------------------------------------------------------------------


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, cut, insert in edits:
        if not out:
            out.extend(insert)
            continue
        pos %= len(out)
        out[pos : pos + cut] = insert
    return bytes(out)


edits = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=8)), max_size=6
)
SAMPLES = {
    "t.toml": GOOD_TOML.encode(),
    "m.md": GOOD_MD.encode(),
    "c.csv": GOOD_CSV.encode(),
    "c.tsv": GOOD_CSV.replace(",", "\t").encode(),
}


class _Rollback(Exception):
    pass


def _only_deck_format_errors(path: Path, store: Store | None = None) -> None:
    """Parsing (and, with a store, importing in a transaction rolled back afterwards) either
    works or fails with a one-line DeckFormatError naming the file: nothing else escapes."""
    try:
        decks = importer.parse_files([path])
        if store is not None:
            with store.write() as session:
                importer.apply(session, decks, datetime(2026, 3, 2, tzinfo=UTC))
                raise _Rollback
    except _Rollback:
        pass
    except DeckFormatError as exc:
        text = str(exc)
        assert text.startswith(str(path)) and "\n" not in text, text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(list(SAMPLES)), changes=edits)
def test_fuzzed_text_decks_fail_only_with_a_clear_error(
    store: Store, tmp_path: Path, name: str, changes: list[tuple[int, int, bytes]]
) -> None:
    path = tmp_path / name
    path.write_bytes(_mutate(SAMPLES[name], changes))
    _only_deck_format_errors(path, store)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=edits)
def test_fuzzed_packages_fail_only_with_a_clear_error(
    good_apkg: bytes, tmp_path: Path, changes: list[tuple[int, int, bytes]]
) -> None:
    path = tmp_path / "f.apkg"
    path.write_bytes(_mutate(good_apkg, changes))
    _only_deck_format_errors(path)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=edits, member=st.sampled_from(["collection.anki2", "media"]))
def test_fuzzed_package_members_fail_only_with_a_clear_error(
    good_apkg: bytes,
    store: Store,
    tmp_path: Path,
    changes: list[tuple[int, int, bytes]],
    member: str,
) -> None:
    """A well-formed zip whose collection (an SQLite file) or media map is damaged."""
    with zipfile.ZipFile(io.BytesIO(good_apkg)) as z:
        original = z.read(member)
    path = tmp_path / "f.apkg"
    path.write_bytes(_with_member(good_apkg, member, _mutate(original, changes)))
    _only_deck_format_errors(path, store)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_any_text_as_a_field_imports_or_fails_cleanly(
    store: Store, tmp_path: Path, text: str
) -> None:
    path = tmp_path / "f.toml"
    path.write_text(
        f'[deck]\nname = "F"\n[[note]]\nid = "f1"\nfront = {json.dumps(text)}\nback = "b"\n',
        encoding="utf-8",
    )
    _only_deck_format_errors(path, store)


# -- card text on the terminal and in HTML -----------------------------------------------------

# Controls, and the invisible characters that reorder or hide text (bidi overrides,
# zero-width characters, tag characters).
_UNSAFE = re.compile(f"[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f{markup.INVISIBLE}]")


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_no_escape_or_control_character_reaches_the_terminal(text: str) -> None:
    for shown in (markup.safe(text), markup.safe(markup.to_terminal(text))):
        assert not _UNSAFE.search(shown), repr(shown)


EVIL = {
    "front": "<script>alert(1)</script> \x1b]0;owned\x07 \x1b[2J\x1b[31mred\x9b1m",
    "back": '<img src=x onerror="alert(2)"> & <b>bold</b> \x07\x08 \u202eevil\u200b',
}


@pytest.mark.sqlite_only(reason="builds its collection in the SQLite file")
def test_hostile_card_text_in_the_terminal_and_in_html(home: Path, tmp_path: Path) -> None:
    copy = faults.fresh_home(home, tmp_path / "copy")
    deck = tmp_path / "evil.toml"
    deck.write_text(
        '[deck]\nname = "Evil"\n[[note]]\nid = "evil-1"\n'
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in EVIL.items()),
        encoding="utf-8",
    )
    env = {"PMCARDS_HOME": str(copy)}
    assert CliRunner().invoke(cli, ["import", str(deck)], env=env).exit_code == 0
    shown = faults.pmcards(copy, "review", "--deck", "Evil", input=" 3q")
    assert shown.returncode == 0, shown.stderr
    assert "red" in shown.stdout and "alert(1)" in shown.stdout
    assert not _UNSAFE.search(shown.stdout.replace("\n", "")), repr(shown.stdout)
    for fmt in ("html", "report"):
        out = tmp_path / f"x.{fmt}.html"
        result = CliRunner().invoke(
            cli,
            ["export", fmt, *(["--deck", "Evil"] if fmt == "html" else []), "-o", str(out)],
            env=env,
        )
        assert result.exit_code == 0, result.output
        html = out.read_text(encoding="utf-8")
        assert "<script>alert" not in html and 'onerror="alert' not in html
        assert "\x1b" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (tmp_path / "x.html.html").read_text()


# -- every CLI option with a bad value ------------------------------------------------------------


def _bad_values(param: click.Parameter, tmp: Path) -> list[str]:
    kind = param.type
    if isinstance(kind, click.Choice):
        return ["not-a-choice"]
    if isinstance(kind, click.IntRange | click.FloatRange):
        values = ["x", "nan" if isinstance(kind, click.FloatRange) else "1.5"]
        if kind.min is not None:
            values.append(str(kind.min - 1))
        return values
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return ["x"]
    if isinstance(kind, click.DateTime):
        return ["notadate", "2026-13-45"]
    if isinstance(kind, click.Path):
        values = []
        if kind.exists:
            values.append(str(tmp / "missing"))
        if not kind.dir_okay:
            values.append(str(tmp))  # a folder where a file is wanted
        if not kind.file_okay:
            (tmp / "file.txt").write_text("x")
            values.append(str(tmp / "file.txt"))
        return values
    return []


def _commands() -> list[tuple[list[str], click.Command]]:
    out: list[tuple[list[str], click.Command]] = []
    for name, command in cli.commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            out.extend(([name, s], c) for s, c in sub.items())
        else:
            out.append(([name], command))
    return out


# What a command needs besides the option under test, to get as far as parsing it.
_REQUIRED = {"import": ["x.toml"], "export": ["toml"], "restore": ["x.sqlite3"]}
_SCOPED = {"review", "cards", "export"}


def test_every_option_with_a_bad_value_is_a_usage_error(tmp_path: Path) -> None:
    tried = 0
    runner = CliRunner()
    for words, command in _commands():
        for param in command.params:
            for bad in _bad_values(param, tmp_path):
                if isinstance(param, click.Argument):
                    args = [*words, bad]
                else:
                    args = [*words, param.opts[0], bad, *_REQUIRED.get(words[0], [])]
                result = runner.invoke(cli, args)
                tried += 1
                assert result.exit_code == 2, (args, result.output)
                assert "Traceback" not in result.output, (args, result.output)
                assert result.exception is None or isinstance(result.exception, SystemExit)
                assert "Error: Invalid value" in result.output or "Error:" in result.output
        if words[0] in _SCOPED:
            for option, value in (("--deck", "No such deck"), ("--tag", "no-such-tag")):
                result = runner.invoke(cli, [*words, option, value, *_REQUIRED.get(words[0], [])])
                tried += 1
                assert result.exit_code == 2, (words, option, result.output)
    for key in (
        "desired_retention",
        "maximum_interval",
        "new_per_day",
        "rollover_hour",
        "learning_steps",
        "fuzz",
        "parameters",
        "backups_keep",
        "leech_threshold",
    ):
        for bad in ("x", "-1", "1e999", ""):
            result = runner.invoke(cli, ["config", key, bad])
            tried += 1
            assert result.exit_code == 2 or (key == "learning_steps" and bad == ""), (
                key,
                bad,
                result.output,
            )
    assert tried >= 60
