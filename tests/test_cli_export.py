"""`pmcards export` end to end: a deck file per deck into a folder, and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import qa, write_deck

from pmcards.cli import cli
from pmcards.formats._export import deck_file_name


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


DECKS = {
    "Prep": [qa(1, "p")],
    "Prep::Metrics": [qa(2, "m"), qa(3, "m", tags=["t", "picked"])],
    'Odd/name: "x"?': [qa(4, "o")],
    'odd/name: "X"?': [qa(5, "o")],
}


@pytest.fixture
def decks(tmp_path: Path) -> list[Path]:
    files = [
        write_deck(tmp_path / f"in{i}.toml", name, notes)
        for i, (name, notes) in enumerate(DECKS.items())
    ]
    code, output = run("import", *map(str, files))
    assert code == 0, output
    return files


@pytest.mark.parametrize("fmt", ["toml", "md"])
def test_one_file_per_deck_round_trips(
    fmt: str, decks: list[Path], tmp_path: Path, new_db: Callable[[str], str]
) -> None:
    out = tmp_path / "all"
    # (Every note here is tagged "t"; the tag leaves out the built-in decks.)
    code, output = run("export", fmt, "--tag", "t", "-o", f"{out}/")
    assert code == 0, output
    assert f"Wrote 4 deck files to {out}" in output
    assert sorted(p.name for p in out.iterdir()) == [
        f"Odd_name_ _x__.{fmt}",
        f"Prep -- Metrics.{fmt}",
        f"Prep.{fmt}",
        f"odd_name_ _X__ (2).{fmt}",
    ]
    # Each file holds its own deck, not its subdecks: read back, they rebuild every deck.
    other = new_db("other")
    code, output = run("--db", other, "import", *sorted(map(str, out.iterdir())))
    assert code == 0, output
    code, listing = run("--db", other, "decks", "--json")
    import json

    counts = {deck["name"]: deck["notes"] for deck in json.loads(listing)}
    assert {name: counts.get(name) for name in DECKS} == {
        name: len(notes) for name, notes in DECKS.items()
    }


def test_a_filter_narrows_the_folder(decks: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "picked"
    code, output = run("export", "toml", "--tag", "picked", "-o", str(out) + "/")
    assert code == 0, output
    assert [p.name for p in out.iterdir()] == ["Prep -- Metrics.toml"]
    assert out.joinpath("Prep -- Metrics.toml").read_text().count("[[note]]") == 1


def test_an_existing_folder_needs_no_slash(decks: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "there"
    out.mkdir()
    code, output = run("export", "md", "--tag", "t", "-o", str(out))
    assert code == 0 and len(list(out.iterdir())) == 4, output


def test_formats_of_one_file_refuse_a_folder(decks: list[Path], tmp_path: Path) -> None:
    code, output = run("export", "csv", "-o", f"{tmp_path}/x/")
    assert code == 2
    assert (
        "Error: csv writes one file: give -o FILE (a folder, one file per deck, is for toml, md)"
        in output
    )
    assert not (tmp_path / "x").exists()


def test_one_file_names_the_folder_way(decks: list[Path]) -> None:
    code, output = run("export", "toml", "--tag", "t")
    assert code == 1
    assert (
        "Error: a TOML deck file holds one deck: choose one with --deck, or give -o DIR/ " in output
    )


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("Prep::Metrics", "Prep -- Metrics.md"),
        ("a/b\\c", "a_b_c.md"),
        ("..", "deck.md"),
        ("CON\x01", "CON_.md"),
        ("x" * 300, "x" * 120 + ".md"),
    ],
)
def test_deck_file_names(name: str, file: str) -> None:
    assert deck_file_name(name, ".md") == file


def test_deck_names_alike_past_the_cut_get_numbers(tmp_path: Path) -> None:
    """Two names the same for their first 120 characters once cleaned: the number goes on
    after the cut (it was cut off, and the export never ended)."""
    stem = "Long deck name " * 9
    files = [
        write_deck(tmp_path / f"{end}.toml", stem + end, [qa(i, end, tags=["t"])])
        for i, end in enumerate(("one", "two"), start=1)
    ]
    assert run("import", *map(str, files))[0] == 0
    out = tmp_path / "all"
    code, output = run("export", "toml", "--tag", "t", "-o", f"{out}/")
    assert code == 0, output
    names = {p.name for p in out.iterdir()}
    assert names == {deck_file_name(stem, ".toml"), deck_file_name(stem, ".toml", 2)}
    numbered = deck_file_name(stem, ".toml", 2)
    assert numbered.endswith(" (2).toml") and len(numbered) <= 120 + len(".toml")


def test_a_streamed_toml_file_is_the_deck_dumped_whole(tmp_path: Path) -> None:
    # The TOML writer puts out one `[[note]]` table at a time; the file must be the one a
    # single dump of the deck gives (tomli_w would write short notes as an inline array if it
    # were handed them one array at a time).
    import tomli
    import tomli_w

    notes = [qa(1, "s"), qa(2, "s", back="A longer answer\nover two lines.")]
    source = write_deck(tmp_path / "in.toml", "Streamed", notes)
    assert run("import", str(source))[0] == 0
    out = tmp_path / "out.toml"
    code, output = run("export", "toml", "--deck", "Streamed", "-o", str(out))
    assert code == 0, output
    written = out.read_text()
    assert written == tomli_w.dumps(tomli.loads(written), multiline_strings=True)
    assert written.count("[[note]]\n") == 2


def test_a_failed_export_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "deck.toml"
    out.write_text("kept\n")
    # Several decks for a one-deck file: refused after the file was opened for writing.
    code, output = run("export", "toml", "-o", str(out))
    assert code == 1
    assert "a TOML deck file holds one deck" in output
    assert out.read_text() == "kept\n"
    assert [p.name for p in folder.iterdir()] == ["deck.toml"]  # no temporary file left
