import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import C, NewDb, all_rows, count, qa, write_deck

from pmcards import console, schema
from pmcards.cli import cli
from pmcards.store import Store

NOW = "2026-03-02T12:00:00+00:00"


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def all_commands() -> list[list[str]]:
    out = []
    for name, command in cli.commands.items():
        out.append([name])
        sub = getattr(command, "commands", None)
        if sub:
            out.extend([name, s] for s in sub)
    return out


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: " ".join(c))
def test_every_command_has_help(command: list[str]) -> None:
    code, output = run(*command, "--help")
    assert code == 0
    assert "Usage: " in output and len(output.splitlines()) > 3


def python_prints(*lines: str) -> str:
    """What a fresh Python process running these lines prints."""
    code = "".join(line + "\n" for line in lines)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_help_imports_neither_sqlalchemy_nor_jinja() -> None:
    out = python_prints(
        "import sys, runpy; sys.argv=['pmcards','--help']",
        "from pmcards.cli import cli",
        "try:\n    cli()\nexcept SystemExit:\n    pass",
        "bad=[m for m in ('sqlalchemy','jinja2','fsrs') if m in sys.modules]",
        "print('LOADED', bad)",
    )
    assert "LOADED []" in out


def test_status_without_a_plan_loads_neither_the_plan_nor_fsrs() -> None:
    # `status` is the command run most, and start-up is most of its time (issue 18):
    # without an interview plan it needs neither the plan's code nor FSRS.
    python_prints("from pmcards.cli import cli", "cli(['status'], standalone_mode=False)")
    out = python_prints(
        "import sys",
        "from pmcards.cli import cli",
        "cli(['status'], standalone_mode=False)",
        "print('LOADED', [m for m in ('fsrs', 'pmcards.plan', 'pmcards.interview') "
        "if m in sys.modules])",
    )
    assert "LOADED []" in out


def console_help(columns: str) -> subprocess.CompletedProcess[str]:
    """`pmcards --help` run as the console script runs it, in a fresh process."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv=['pmcards','--help']\n"
            "from pmcards.console import main; main()\n"
            "print('CLICK', 'click' in sys.modules, file=sys.stderr)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": columns},
    )


def clicks_help(columns: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", "from pmcards.cli import cli; cli(['--help'], prog_name='pmcards')"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": columns},
    ).stdout


def test_top_level_help_is_clicks_own_without_importing_click() -> None:
    # The console script prints `pmcards --help` from a snapshot (pmcards/console.py) to
    # start in a third of the time. Click renders the same help at every width from 80 up;
    # a command or option changed without refreshing the snapshot fails here.
    wide = console_help("200")
    assert wide.stdout == clicks_help("200") == console.HELP
    assert console_help("80").stdout == console.HELP
    assert "CLICK False" in wide.stderr


def test_top_level_help_in_a_narrow_terminal_is_wrapped_by_click() -> None:
    narrow = console_help("60")
    assert narrow.stdout == clicks_help("60") != console.HELP
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 58


def test_console_script_collects_garbage_again_once_the_collection_is_open() -> None:
    # The console script turns the collector off for start-up; opening the collection turns
    # it back on, with start-up's objects frozen out of its passes. A review session that
    # ran with it off would keep every cycle it made.
    out = python_prints(
        "import gc",
        "from pmcards.cli.base import cli, defer_gc",
        "defer_gc()",
        "print('BEFORE', gc.isenabled())",
        "cli(['status'], standalone_mode=False)",
        "print('AFTER', gc.isenabled(), gc.get_freeze_count() > 10000)",
    )
    assert "BEFORE False" in out
    assert "AFTER True True" in out


def test_db_path_default_and_overrides(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PMCARDS_DB", raising=False)  # set on PostgreSQL runs
    assert run("db", "path") == (0, f"{isolated_home / 'collection.sqlite3'}\n")
    assert run("--db", str(tmp_path / "x.db"), "db", "path") == (0, f"{tmp_path / 'x.db'}\n")
    assert run("db", "path", env={"PMCARDS_DB": "postgresql+psycopg://me:secret@host/pm"}) == (
        0,
        "postgresql+psycopg://me:***@host/pm\n",
    )


def test_first_use_imports_builtin_decks_and_status_json() -> None:
    code, output = run("status", "--json", env={"PMCARDS_NOW": NOW})
    assert code == 0
    data = json.loads(output[output.index("{") :])
    assert set(data["total"]) == {"new", "learning", "review", "notes", "cards"}
    assert data["total"]["notes"] >= 150
    assert data["total"]["new"] == 20  # the default daily new limit
    assert data["reviewed_today"] == 0
    assert len(data["decks"]) >= 4
    for deck in data["decks"]:
        assert set(deck) >= {"name", "new", "learning", "review", "notes", "cards"}
    assert len(data["next_days"]) == 7
    # The second run does not import again.
    code, output = run("status", "--json", env={"PMCARDS_NOW": NOW})
    assert not output.startswith("Welcome")


def test_review_session_of_20_answers(collection_url: str) -> None:
    keys = " 3" * 20
    code, output = run("review", "--limit", "20", input=keys, env={"PMCARDS_NOW": NOW})
    assert code == 0, output
    assert "Cards answered: 20" in output
    assert "Session over: reached the limit of 20 answers" in output
    code, output = run("status", "--json", env={"PMCARDS_NOW": NOW})
    assert json.loads(output)["reviewed_today"] == 20
    store = Store(collection_url)
    assert count(store, schema.review_log) == 20
    answered = all_rows(store, schema.cards, C.reps > 0)
    # Good on a new card: learning step 2 of 2, due 10 minutes later.
    assert len(answered) == 20
    assert all(c.state == 1 and c.step == 1 for c in answered)
    assert {c.due.isoformat() for c in answered} == {"2026-03-02T12:10:00+00:00"}
    store.close()


def test_review_keys_undo_suspend_bury_and_quit(collection_url: str) -> None:
    # Reveal+Good, undo, reveal+Easy, suspend the next, bury the next, then quit.
    code, output = run("review", input=" 3u 4sbq", env={"PMCARDS_NOW": NOW})
    assert code == 0, output
    assert "Cards answered: 1" in output
    store = Store(collection_url)
    assert [log.rating for log in all_rows(store, schema.review_log)] == [4]
    assert count(store, schema.cards, C.suspended.is_(True)) == 1
    assert count(store, schema.cards, C.buried_until.is_not(None)) == 1
    store.close()


def test_review_shows_intervals_and_plain_text() -> None:
    code, output = run("review", "--limit", "1", input=" 3", env={"PMCARDS_NOW": NOW})
    assert "1 Again 1m   2 Hard 6m   3 Good 10m   4 Easy " in output
    assert "\x1b[" not in output  # not a TTY: no colour


def test_review_with_nothing_due(tmp_path: Path, new_db: NewDb) -> None:
    deck = write_deck(tmp_path / "d.toml", "Tiny", [qa(1)])
    db = new_db("c")
    assert run("--db", db, "import", str(deck))[0] == 0
    code, output = run("--db", db, "review", "--deck", "Tiny", input=" 4", env={"PMCARDS_NOW": NOW})
    assert "Cards answered: 1" in output
    code, output = run("--db", db, "review", "--deck", "Tiny", env={"PMCARDS_NOW": NOW})
    assert code == 0
    assert output.startswith("Nothing to study now. Next card due: in ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "--limit", "-1"], "Invalid value for '--limit': -1 is not in the range x>=1."),
        (["review", "--new", "x"], "Invalid value for '--new': 'x' is not a valid integer range."),
        (
            ["review", "--minutes", "0"],
            "Invalid value for '--minutes': 0.0 is not in the range x>0.",
        ),
        (
            ["config", "desired_retention", "1.5"],
            "Invalid value for 'desired_retention': 1.5 is out of range: must be from 0.7 to 0.99",
        ),
        (["config", "nope"], "unknown setting 'nope'"),
        (["config", "learning_steps", "1x"], "invalid step '1x'"),
        (["cards", "--state", "weird"], "Invalid value for '--state'"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_deck_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["review", "--deck", "Nope"])
    assert result.exit_code == 2  # a usage error: the value names no deck
    assert result.output.splitlines()[-1].startswith("Error: no deck named 'Nope' (decks: ")


def test_config_show_set_reset() -> None:
    assert run("config", "new_per_day") == (0, "20\n")
    assert run("config", "new_per_day", "35")[0] == 0
    assert run("config", "new_per_day") == (0, "35\n")
    assert run("config", "learning_steps", "1m, 5m 30m")[0] == 0
    assert run("config", "learning_steps") == (0, "1m 5m 30m\n")
    assert run("config", "fuzz", "off")[0] == 0
    code, output = run("config", "--json")
    data = json.loads(output)
    assert data["new_per_day"] == 35 and data["fuzz"] is False and len(data["parameters"]) == 21
    assert run("config", "new_per_day", "--reset")[0] == 0
    assert run("config", "new_per_day") == (0, "20\n")
    code, output = run("config", "parameters", "1,2,3")
    assert code == 2 and "Expected 21 parameters, got 3." in output


def test_import_cli_errors_exit_1_and_change_nothing(tmp_path: Path, new_db: NewDb) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[deck]\nname = "X"\n[[note]]\nid = "x1"\nfront = "no back"\n')
    db = new_db("c")
    result = CliRunner().invoke(cli, ["--db", db, "import", str(bad)])
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: {bad}:3: note 1: missing field 'back' (kind 'qa' needs front, back)\n"
    )
    code, output = run("--db", db, "decks", "--json")
    assert "X" not in [d["name"] for d in json.loads(output[output.index("[") :])]


def test_import_dry_run_and_reimport(tmp_path: Path, new_db: NewDb) -> None:
    deck = write_deck(tmp_path / "d.toml", "Mine", [qa(1), qa(2)])
    db = new_db("c")
    code, output = run("--db", db, "import", str(deck), "--dry-run")
    assert (
        f"{deck}: deck 'Mine': 2 added, 0 updated, 0 unchanged, 0 missing (would be so)" in output
    )
    assert "Dry run: nothing was changed." in output
    code, output = run("--db", db, "import", str(deck))
    assert f"{deck}: deck 'Mine': 2 added, 0 updated, 0 unchanged, 0 missing\n" in output
    write_deck(deck, "Mine", [qa(1, back="Changed."), qa(3)])
    code, output = run("--db", db, "import", str(deck))
    assert "1 added, 1 updated, 0 unchanged, 1 missing" in output
    assert "in the collection but not in the file (kept): n-002" in output


def test_cards_json_shape(tmp_path: Path, new_db: NewDb) -> None:
    deck = write_deck(
        tmp_path / "d.toml",
        "Mine",
        [
            {
                "id": "c1",
                "kind": "contrast",
                "tags": ["x"],
                "situation": "S",
                "bad": "B",
                "good": "G",
                "why": "W",
            },
        ],
    )
    db = new_db("c")
    run("--db", db, "import", str(deck))
    code, output = run("--db", db, "cards", "--deck", "Mine", "--json")
    data = json.loads(output)
    assert [c["ord"] for c in data] == [0, 1]
    first = data[0]
    assert first["deck"] == "Mine" and first["note_id"] == "c1" and first["kind"] == "contrast"
    assert first["fields"] == {"situation": "S", "bad": "B", "good": "G", "why": "W"}
    assert first["tags"] == ["x"] and first["state"] == "new"
    assert {"stability", "difficulty", "due", "last_review", "reps", "lapses", "suspended"} <= set(
        first
    )


def test_control_characters_never_reach_the_terminal(tmp_path: Path, new_db: NewDb) -> None:
    deck = write_deck(
        tmp_path / "d.toml", "Evil", [qa(1, front="Hi \x1b[31mred\x1b[0m \x07bell\x1b]0;title\x07")]
    )
    db = new_db("c")
    run("--db", db, "import", str(deck))
    code, output = run("--db", db, "review", "--deck", "Evil", input="q")
    assert "Hi red bell" in output
    assert "\x1b" not in output and "\x07" not in output


def test_console_script_exit_codes_and_output(tmp_path: Path, new_db: NewDb) -> None:
    """The console script leaves with os._exit: output must still be flushed, codes kept."""
    env = {**__import__("os").environ, "PMCARDS_HOME": str(tmp_path)}
    env.pop("PMCARDS_DB", None)  # the default path is what this test prints

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pmcards", *a], capture_output=True, text=True, env=env
        )

    ok = run("db", "path")
    assert (ok.returncode, ok.stdout) == (0, f"{tmp_path / 'collection.sqlite3'}\n")
    assert run("nope").returncode == 2
    bad = run("--db", new_db("x"), "review", "--deck", "Nope")
    assert bad.returncode == 2 and bad.stderr.splitlines()[-1].startswith(
        "Error: no deck named 'Nope'"
    )
    big = run("--db", new_db("big"), "cards", "--json")
    assert big.returncode == 0 and big.stdout.rstrip().endswith("]")  # all of it, flushed


def test_cli_choices_come_from_the_registries() -> None:
    """A format, an export or a card state added to its registry is offered by the CLI, with
    no list of its own to keep in step."""
    import importlib

    import click

    from pmcards import mock
    from pmcards.cardstate import STATE_OF_NAME
    from pmcards.cli import browse, exchange, study
    from pmcards.exporters import EXPORTS, takes
    from pmcards.formats import FORMATS, detect

    def choices(command: click.Command, name: str) -> list[str]:
        param = next(p for p in command.params if p.name == name)
        assert isinstance(param.type, click.Choice)
        return list(param.type.choices)

    assert choices(exchange.import_, "fmt") == ["auto", *FORMATS]
    assert choices(exchange.export, "fmt") == list(EXPORTS)
    assert choices(browse.cards, "state") == [*STATE_OF_NAME, "suspended", "buried"]
    for fmt in FORMATS.values():
        assert callable(importlib.import_module(f"pmcards.formats.{fmt.module}").parse)
        for suffix in fmt.suffixes:
            assert detect(Path(f"deck{suffix.upper()}")) == fmt.name
    for export in EXPORTS.values():
        module = importlib.import_module(export.module)
        assert callable(getattr(module, "write", None) or module.export)
        for option in export.options:
            param = next(p for p in exchange.export.params if p.name == option)
            assert isinstance(param, click.Option) and param.help is not None
            assert param.help.startswith(", ".join(takes(option)) + ": ")
    from pmcards.cli.notes import FIELD_OPTIONS
    from pmcards.kinds import KINDS

    assert set(FIELD_OPTIONS) == {f for kind in KINDS.values() for f in kind.fields}
    minutes = next(p for p in study.mock.params if p.name == "minutes")
    assert isinstance(minutes, click.Option) and minutes.help is not None
    assert ",".join(f"{m:g}" for m in mock.DEFAULT_MINUTES) in minutes.help


def test_undo_after_suspend_or_bury_undoes_that(collection_url: str) -> None:
    """`u` after `s` or `b` takes back the suspend or the bury, not the answer before it."""
    code, output = run("review", input=" 3su bu q", env={"PMCARDS_NOW": NOW})
    assert code == 0, output
    assert "Suspended that card (u undoes it)." in output
    assert "Undid the suspend: the card is back." in output
    assert "Buried that card until tomorrow (u undoes it)." in output
    assert "Undid the bury: the card is back." in output
    store = Store(collection_url)
    assert count(store, schema.cards, C.suspended.is_(True)) == 0
    assert count(store, schema.cards, C.buried_until.is_not(None)) == 0
    assert count(store, schema.review_log) == 1
    store.close()


def test_session_summaries_say_what_is_true(collection_url: str) -> None:
    code, output = run("review", input="q", env={"PMCARDS_NOW": NOW})
    assert "Cards answered: 0" in output and "Again rate:     no answers" in output
    run("config", "new_per_day", "2")
    code, output = run("review", input=" 4 4", env={"PMCARDS_NOW": NOW})  # Easy: days away
    assert "Cards answered: 2" in output
    # The new-card limit is spent: nothing due, and it says how to study more.
    later = "2026-03-02T13:00:00+00:00"
    code, output = run("review", input="", env={"PMCARDS_NOW": later})
    assert output.startswith("Nothing to study now. Next card due:")
    assert "new cards wait beyond today's new-card limit: pmcards review --new 10" in output


def test_narrow_terminal_lines_fit(collection_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["review", "--limit", "2"], input=" 3 3", env={"PMCARDS_NOW": NOW, "COLUMNS": "50"}
    )
    assert result.exit_code == 0
    output = result.stdout  # the screen: the welcome is a message on standard error
    assert max(len(line) for line in output.splitlines()) <= 50
    assert "u undo" in output and "q quit" in output


def test_the_first_day_meets_every_deck_and_no_prompt() -> None:
    """Twenty new cards on a fresh collection: contrasts, reframes, structure, fundamentals
    and LLM risks in turn (`new_order` interleaved), and no mock prompt (`pmcards mock`
    serves them)."""
    import re

    code, output = run("review", "--limit", "20", input=" 3" * 20, env={"PMCARDS_NOW": NOW})
    assert code == 0, output
    decks = re.findall(r"^pmcards · (.+?)   \d+ answered", output, re.MULTILINE)
    assert len(decks) == 20
    assert decks[:5] == [
        "Framing and judgement",
        "BAD vs GOOD answers",
        "Answer structure and preparation",
        "AI PM system design fundamentals",
        "LLM product risks",
    ]
    assert {d: decks.count(d) for d in set(decks)} == {d: 4 for d in decks[:5]}
    assert "DESIGN PROMPT" not in output
    # In deck order, the same day would have been one deck's.
    assert run("config", "new_order", "deck")[0] == 0
    code, output = run(
        "review", "--limit", "5", "--new", "5", input=" 3" * 5, env={"PMCARDS_NOW": NOW}
    )
    assert set(re.findall(r"^pmcards · (.+?)   \d+ answered", output, re.MULTILINE)) == {
        "Framing and judgement"
    }
