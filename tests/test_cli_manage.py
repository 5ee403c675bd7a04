"""Changing the collection by hand from the command line: card actions, notes, decks,
search, deck names, completion."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import qa, write_deck

from pmcards.cli import cli

NOW = "2026-03-02T12:00:00+00:00"


def invoke(*args: str, input: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env={"PMCARDS_NOW": NOW, **env})


def run(*args: str, input: str | None = None, **env: str) -> tuple[int, str]:
    result = invoke(*args, input=input, **env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def cards(*args: str) -> list[dict[str, object]]:
    code, out = run("cards", "--json", *args)
    assert code == 0, out
    data: list[dict[str, object]] = json.loads(out)
    return data


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    """A collection with the built-in decks and a deck of our own, Mine: 3 Q/A notes and a
    reversed one (2 cards), a section and tags."""
    notes = [
        qa(1, prefix="m", tags=["alpha"], section="Basics"),
        qa(2, prefix="m", tags=["beta"], front="Qué es el régime?", back="Un régime."),
        qa(3, prefix="m", tags=["alpha", "beta"]),
        qa(4, prefix="m", kind="qa_reversed"),
    ]
    path = write_deck(tmp_path / "mine.toml", "Mine", notes)
    # A first command that imports brings no built-in decks: ask for them.
    assert run("import", "--builtin")[0] == 0
    code, out = run("import", str(path))
    assert code == 0, out
    return path


def states(deck: str = "Mine") -> dict[str, tuple[object, ...]]:
    return {
        f"{c['note_id']}#{c['ord']}": (c["state"], c["suspended"], c["buried"], c["due"])
        for c in cards("--deck", deck)
    }


def test_suspend_and_unsuspend_by_id_card_and_filter(mine: Path) -> None:
    assert run("suspend", "m-001")[1] == "Suspended 1 card.\n"
    assert run("suspend", "m-004#1")[1] == "Suspended 1 card.\n"
    assert run("suspend", "m-001", "m-004#1")[1] == "Suspended 0 cards (2 were already).\n"
    suspended = {k for k, v in states().items() if v[1]}
    assert suspended == {"m-001#0", "m-004#1"}
    assert [c["note_id"] for c in cards("--state", "suspended")] == ["m-001", "m-004"]
    # The leech message's advice works: unsuspend by tag or by state.
    assert run("unsuspend", "--deck", "mine", "--tag", "alpha")[1] == (
        "Unsuspended 1 card (1 was not suspended).\n"
    )
    assert run("unsuspend", "--state", "suspended")[1] == "Unsuspended 1 card.\n"
    assert not any(v[1] for v in states().values())


def test_actions_refuse_what_names_nothing(mine: Path) -> None:
    code, out = run("suspend")
    assert code == 2 and "name the cards" in out
    code, out = run("suspend", "nope")
    assert code == 2 and "no note or card 'nope'" in out
    code, out = run("suspend", "m-001#7")
    assert code == 2 and "note 'm-001' has no card #7" in out
    code, out = run("bury", "--deck", "Mien")
    assert code == 2 and "no deck named 'Mien'; did you mean 'Mine'?" in out
    assert run("unsuspend", "--tag", "alpha")[1] == "Unsuspended 0 cards (2 were not suspended).\n"


def test_bury_lasts_until_the_next_study_day_and_unbury(mine: Path) -> None:
    assert run("bury", "m-002")[1] == "Buried 1 card.\n"
    assert states()["m-002#0"][2] is True
    # The next study day starts at 04:00 (the rollover hour, UTC here): it is back.
    later = "2026-03-03T04:00:00+00:00"
    result = invoke("cards", "--json", "--state", "buried", PMCARDS_NOW=later)
    assert json.loads(result.output) == []
    assert run("unbury", "m-002")[1] == "Unburied 1 card.\n"
    assert states()["m-002#0"][2] is False


def test_forget_and_reschedule_keep_history_and_check_explains_them(mine: Path) -> None:
    # Study Mine: Easy on a new card makes a review card. The reversed note's second card
    # is buried by its sibling's answer until tomorrow: four answers.
    code, out = run("review", "--deck", "Mine", input=" 4" * 5 + "q")
    assert code == 0 and "Cards answered: 4" in out
    studied = states()
    assert {k for k, v in studied.items() if v[0] == "review"} == {
        "m-001#0",
        "m-002#0",
        "m-003#0",
        "m-004#0",
    }
    code, out = run("reschedule", "--days", "3", "m-001")
    assert code == 0 and out == "Rescheduled 1 card.\n"
    assert states()["m-001#0"][3] == "2026-03-05T04:00:00+00:00"  # the start of that day
    assert run("reschedule", "--days", "0", "m-002")[1] == "Rescheduled 1 card.\n"
    assert states()["m-002#0"][3] == "2026-03-02T12:00:00+00:00"
    assert run("forget", "m-003")[1] == "Forgot 1 card.\n"
    assert states()["m-003#0"][0] == "new"
    code, out = run("check")
    assert code == 0 and out.endswith("No problems found.\n"), out
    data = json.loads(run("stats", "--json")[1])
    assert data["time"]["reviews_total"] == 4  # forgetting keeps the history
    assert run("forget", "m-003")[1] == "Forgot 0 cards (1 was new).\n"
    assert run("reschedule", "--days", "2", "m-003")[1] == "Rescheduled 0 cards (1 is new).\n"


def test_forget_and_reschedule_work_a_chunk_of_cards_at_a_time(
    mine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of two cards: the four studied cards of Mine and a new one span three chunks.
    from pmcards import queries

    monkeypatch.setattr(queries, "CHUNK", 2)
    assert run("review", "--deck", "Mine", input=" 4" * 5 + "q")[0] == 0
    assert run("reschedule", "--deck", "Mine", "--days", "3")[1] == (
        "Rescheduled 4 cards (1 is new).\n"
    )
    assert {v[3] for k, v in states().items() if k != "m-004#1"} == {"2026-03-05T04:00:00+00:00"}
    assert run("forget", "--deck", "Mine")[1] == "Forgot 4 cards (1 was new).\n"
    assert {v[0] for v in states().values()} == {"new"}
    code, out = run("check")
    assert code == 0 and out.endswith("No problems found.\n"), out


def test_add_with_fields_prints_the_id_and_any_kind(mine: Path) -> None:
    result = invoke(
        "add", "--deck", "mine", "--front", "What is SRM?", "--back", "Sample-ratio mismatch",
        "--why", "An uneven split means the experiment is broken.", "--tag", "exp",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    guid = result.stdout.strip()
    assert guid.startswith("note-") and "Added to 'Mine'." in result.stderr
    (card,) = cards("--search", "srm")
    assert card["note_id"] == guid and card["tags"] == ["exp"] and card["deck"] == "Mine"
    code, out = run(
        "add", "--deck", "New deck", "--kind", "contrast", "--situation", "The prompt.",
        "--bad", "Pick a model first.", "--good", "Define success first.", "--id", "c-9",
    )  # fmt: skip
    assert code == 0 and out.splitlines()[0] == "c-9"
    assert [c["ord"] for c in cards("--deck", "New deck")] == [0, 1]
    code, out = run("add", "--deck", "Mine", "--front", "Only a question")
    assert code == 1 and "missing field 'back'" in out
    code, out = run("add", "--deck", "Mine", "--id", "m-001", "--front", "x", "--back", "y")
    assert code == 2 and "a note with id 'm-001' exists already" in out


def editor(tmp_path: Path, *replacements: tuple[str, str]) -> str:
    """An $EDITOR that applies text replacements to the file it is given, one set per
    call: the first call applies the first, and so on (to answer a re-opened editor)."""
    script = tmp_path / "editor.py"
    calls = tmp_path / "calls"
    script.write_text(
        "import sys, json, pathlib\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "n = int(calls.read_text()) if calls.exists() else 0\n"
        "calls.write_text(str(n + 1))\n"
        f"steps = json.loads({json.dumps(json.dumps(replacements))})\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "text = path.read_text()\n"
        "old, new = steps[min(n, len(steps) - 1)]\n"
        "path.write_text(text.replace(old, new) if old else new)\n"
    )
    launcher = tmp_path / "editor.sh"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$1"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    return str(launcher)


def test_edit_keeps_history_and_reopens_on_a_mistake(mine: Path, tmp_path: Path) -> None:
    run("review", "--deck", "Mine", "--limit", "1", input=" 4")
    before = states()["m-001#0"]
    assert before[0] == "review"
    # First save: the front emptied (a mistake); the editor reopens with the error on top;
    # second save: a real edit.
    ed = editor(
        tmp_path,
        ('front = "Question 1?"', 'front = ""'),
        ('front = ""', 'front = "Question one, reworded?"'),
    )
    result = invoke("edit", "m-001", EDITOR=ed, VISUAL=ed)
    assert result.exit_code == 0, result.output
    assert "field 'front' is empty" in result.stderr
    assert result.stdout == "Saved m-001.\n"
    assert (tmp_path / "calls").read_text() == "2"
    (card,) = [c for c in cards("--deck", "Mine") if c["note_id"] == "m-001"]
    assert card["fields"] == {"front": "Question one, reworded?", "back": "Answer 1."}
    assert states()["m-001#0"] == before  # the card keeps its state and history
    unchanged = editor(tmp_path / "..", ("not in the note", ""))  # saves it as it was
    assert invoke("edit", "m-002", EDITOR=unchanged).stdout == "Nothing changed.\n"


def test_add_in_the_editor(mine: Path, tmp_path: Path) -> None:
    ed = editor(
        tmp_path,
        ('front = ""\nback = ""', 'front = "Typed in the editor?"\nback = "Yes."'),
    )
    result = invoke("add", "--deck", "Mine", EDITOR=ed)
    assert result.exit_code == 0, result.output
    guid = result.stdout.strip()
    (card,) = cards("--search", "typed in the editor")
    assert card["note_id"] == guid and card["fields"] == {
        "front": "Typed in the editor?",
        "back": "Yes.",
    }
    untouched = editor(tmp_path / "..", ("", ""))  # saves an empty file
    assert invoke("add", "--deck", "Mine", EDITOR=untouched).stdout == "Nothing added.\n"


def test_rm_asks_backs_up_and_deletes(mine: Path, isolated_home: Path) -> None:
    code, out = run("rm", "m-001", "m-002", input="n\n")
    assert code == 1 and "Aborted" in out
    code, out = run("rm", "m-001", "m-002", "--yes")
    assert code == 0 and "Deleted 2 note(s)." in out
    assert {c["note_id"] for c in cards("--deck", "Mine")} == {"m-003", "m-004"}
    code, out = run("rm", "m-001", "--yes")
    assert code == 2 and "no note with id 'm-001'" in out
    if not os.environ.get("PMCARDS_DB"):
        assert list((isolated_home / "backups").glob("collection-*-rm.sqlite3"))


def test_deck_rename_move_and_rm(mine: Path) -> None:
    run("review", "--deck", "Mine", "--limit", "1", input=" 4")
    before = states()
    code, out = run("deck", "rename", "mine", "Mine::Sub")
    assert code == 2 and "a deck cannot move into itself" in out
    code, out = run("deck", "rename", "mine", "Mine two")
    assert code == 0 and out == "Renamed 'Mine' to 'Mine two' (1 deck).\n"
    assert states("Mine two") == before  # history kept
    code, out = run("deck", "rename", "Mine two", "BAD vs GOOD answers")
    assert code == 2 and "exists already" in out
    code, out = run("deck", "move", "m-001", "m-002", "--to", "Elsewhere")
    assert code == 0 and out == "Moved 2 note(s) to 'Elsewhere'.\n"
    assert {c["note_id"] for c in cards("--deck", "Elsewhere")} == {"m-001", "m-002"}
    assert states("Elsewhere")["m-001#0"] == before["m-001#0"]
    code, out = run("deck", "rm", "Elsewhere", "--yes")
    assert code == 0 and out.startswith("Deleted 'Elsewhere': 1 deck(s), 2 note(s).")
    code, out = run("cards", "--deck", "Elsewhere")
    assert code == 2 and "no deck named 'Elsewhere'" in out


def test_deck_names_any_case_or_a_unique_start(mine: Path) -> None:
    assert {c["deck"] for c in cards("--deck", "bad vs")} == {"BAD vs GOOD answers"}
    assert {c["deck"] for c in cards("--deck", "MINE")} == {"Mine"}
    code, out = run("cards", "--deck", "a")
    assert code == 2 and "could be any of these decks" in out
    assert "AI PM system design fundamentals" in out and "Answer structure" in out
    code, out = run("review", "--deck", "Frming and judgment")
    assert code == 2 and "did you mean 'Framing and judgement'?" in out


def test_search_is_case_and_accent_insensitive(mine: Path) -> None:
    assert [c["note_id"] for c in cards("--search", "REGIME")] == ["m-002"]
    assert [c["note_id"] for c in cards("--search", "qué régime", "--deck", "mine")] == ["m-002"]
    assert [c["note_id"] for c in cards("--search", "basics")] == ["m-001"]  # the section
    assert cards("--search", "nothing like this anywhere") == []
    # Every word must match, in a field, a tag or the section.
    assert {c["note_id"] for c in cards("--search", "beta", "--deck", "Mine")} == {
        "m-002",
        "m-003",
    }
    assert [c["note_id"] for c in cards("--search", "beta answer", "--deck", "Mine")] == ["m-003"]


def test_shell_completion_reads_the_collection(mine: Path) -> None:
    def complete(*words: str) -> list[str]:
        env = {
            "_PMCARDS_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(["pmcards", *words]),
            "COMP_CWORD": str(len(words)),
        }
        result = CliRunner().invoke(cli, [], env=env, prog_name="pmcards")
        return [line.split(",", 1)[1] for line in result.output.splitlines()]

    assert complete("review", "--deck", "Mi") == ["Mine"]
    assert complete("cards", "--tag", "al") == ["alpha"]
    assert complete("config", "new_p") == ["new_per_day"]
    assert "mock-fraud" in complete("mock", "--prompt", "mock-f")
    assert complete("deck", "rename", "BAD") == ["BAD vs GOOD answers"]


def test_mock_list(mine: Path) -> None:
    code, out = run("mock", "--list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 27 and lines[0].split()[1] == "new"
    assert any(line.startswith("mock-fraud ") for line in lines)


# -- what a review of this work found ---------------------------------------------------------


def test_a_deck_differing_only_in_case_is_not_a_subdeck(mine: Path, tmp_path: Path) -> None:
    """SQL's LIKE ignores case on SQLite: `metrics::old` was taken for a subdeck of
    `Metrics` by `deck rm`, `deck rename` and every `--deck`."""
    upper = write_deck(tmp_path / "u.toml", "Metrics", [qa(1, prefix="u")])
    lower = write_deck(tmp_path / "l.toml", "metrics::old", [qa(1, prefix="l")])
    assert run("import", str(upper), str(lower))[0] == 0
    code, out = run("suspend", "--deck", "Metrics")
    assert (code, out) == (0, "Suspended 1 card.\n")
    code, out = run("deck", "rename", "Metrics", "KPIs")
    assert code == 0 and out == "Renamed 'Metrics' to 'KPIs' (1 deck).\n"
    code, out = run("deck", "rm", "--yes", "KPIs")
    assert code == 0 and out.startswith("Deleted 'KPIs': 1 deck(s), 1 note(s).")
    assert [c["note_id"] for c in cards("--deck", "metrics::old")] == ["l-001"]


def test_a_search_of_no_words_selects_nothing(mine: Path) -> None:
    code, out = run("suspend", "--search", "  ")
    assert code == 2 and "--search needs at least one word" in out
    assert not [c for c in cards() if c["suspended"]]


def test_deck_names_from_the_command_line_are_checked(mine: Path) -> None:
    code, out = run("add", "--deck", "Evil\x1b]0;PWNED\x07", "--front", "f", "--back", "b")
    assert code == 2 and "the deck name holds a control or invisible character" in out
    code, out = run("deck", "rename", "Mine", "K\x1b[31mred")
    assert code == 2 and "the deck name holds a control or invisible character" in out
    # Line breaks in a typed name are spaces (a name is one line), never a row of their own.
    code, out = run("deck", "rename", "Mine", "Mine\nAI PM system design fundamentals  99")
    assert code == 0 and "to 'Mine AI PM system design fundamentals 99'" in out
    code, out = run("deck", "move", "m-001", "--to", "x" * 201)
    assert code == 2 and "deck name is 201 characters; the limit is 200" in out
    assert [d["name"] for d in json.loads(run("decks", "--json")[1]) if "Evil" in d["name"]] == []


def test_a_typo_does_not_make_a_new_deck(mine: Path) -> None:
    code, out = run("add", "--deck", "Framing and judgemnt", "--front", "f", "--back", "b")
    assert code == 2
    assert (
        "no deck named 'Framing and judgemnt'; did you mean 'Framing and judgement'? "
        "(--new-deck makes a new deck named 'Framing and judgemnt')"
    ) in out
    code, out = run(
        "add", "--deck", "Framing and judgemnt", "--new-deck", "--front", "f", "--back", "b"
    )
    assert code == 0 and "Added to 'Framing and judgemnt'." in out
    code, out = run("deck", "move", "m-001", "--to", "Mien")
    assert code == 2 and "did you mean 'Mine'?" in out
    code, out = run("deck", "move", "m-001", "--to", "Fresh")  # nothing close: made
    assert code == 0 and out == "Moved 1 note(s) to 'Fresh'.\n"


def test_the_editor_reopens_on_an_import_limit(mine: Path, tmp_path: Path) -> None:
    ed = editor(
        tmp_path,
        ('section = "Basics"', f'section = "{"s" * 300}"'),
        (f'section = "{"s" * 300}"', 'section = "Basics, again"'),
    )
    result = invoke("edit", "m-001", EDITOR=ed, VISUAL=ed)
    assert result.exit_code == 0, result.output
    assert "its section is 300 characters; the limit is 200" in result.stderr
    assert result.stdout == "Saved m-001.\n"


def test_cards_table_is_written_as_it_is_read(mine: Path) -> None:
    # Column widths come from a first, light pass over the same cards, so the table streams;
    # the text comes last, unpadded.
    run("suspend", "m-004#1")
    code, out = run("cards", "--deck", "Mine")
    assert code == 0
    assert out == (
        "Note               State  Due  Text\n"
        "m-001                new       Question 1?\n"
        "m-002                new       Qué es el régime?\n"
        "m-003                new       Question 3?\n"
        "m-004                new       Question 4?\n"
        "m-004#1  new (suspended)       Question 4?\n"
    )
    assert run("cards", "--deck", "Mine", "--state", "review") == (0, "No cards.\n")


def test_cards_json_array_is_written_as_json_dumps_would(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pmcards.cli.base import echo_json, echo_json_array

    values: list[object] = [
        {"a": [1, {"b": "two\nlines \x9b"}], "c": None},
        [],
        {},
        "x",
    ]
    for items in ([], values[:1], values, values * 3):
        echo_json(items)
        whole = capsys.readouterr().out
        echo_json_array(iter(items), per_write=2)
        assert capsys.readouterr().out == whole
