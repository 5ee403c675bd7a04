"""The contrast drill and the timed mock interview, end to end from the CLI."""

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fsrs import Rating
from helpers import NewDb, write_deck
from sqlalchemy import select

from pmcards import importer, kinds, mock, paths, schema
from pmcards.cardstate import NEW, REVIEW
from pmcards.cli import cli
from pmcards.errors import DeckFormatError, PmcardsError
from pmcards.kinds.prompt import rubric_problem
from pmcards.store import Store

NOW = "2026-03-02T12:00:00+00:00"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(
    *args: str, input: str | None = None, seed: int | None = None, now: str = NOW
) -> tuple[int, str]:
    env = {"PMCARDS_NOW": now, "PMCARDS_SEED": "" if seed is None else str(seed)}
    result = CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def open_store(home: Path) -> Store:
    """The collection the CLI uses: the home's SQLite file, or the test's PostgreSQL database."""
    return Store(paths.resolve_db_url(None))


def contrast(i: int, **extra: object) -> dict[str, object]:
    note: dict[str, object] = {
        "id": f"c-{i}",
        "kind": "contrast",
        "tags": ["metrics"],
        "situation": f"Situation {i}",
        "bad": f"Bad answer {i}",
        "good": f"Good answer {i}",
        "why": f"Because {i}",
    }
    note.update(extra)
    return note


RUBRIC = """
- [metrics] Names a success metric.
- [drift monitoring] Plans drift monitoring.
- [hitl] Escalates to a human.
- Says when to stop building.
"""


def prompt_note() -> dict[str, object]:
    return {
        "id": "p-1",
        "kind": "prompt",
        "tags": ["mock"],
        "prompt": "Design fraud detection.",
        "rubric": RUBRIC,
        "why": "Label lag.",
    }


def without_builtins(home: Path) -> None:
    """A collection that has had its first use: the built-in decks are not imported."""
    from pmcards import settings

    store = open_store(home)
    with store.write() as conn:
        settings.save(conn, settings.BUILTIN_FLAG, True)
    store.close()


@pytest.fixture
def home(isolated_home: Path, tmp_path: Path) -> Path:
    """A collection holding only a small contrast deck and one prompt."""
    without_builtins(isolated_home)
    deck = write_deck(tmp_path / "mine.toml", "Mine", [contrast(1), contrast(2), prompt_note()])
    code, _ = run("import", str(deck))
    assert code == 0
    return isolated_home


def test_drill_calls_feed_the_judge_card_and_are_kept(home: Path) -> None:
    # Seed 4 draws BAD, then GOOD (test_kinds pins the draw): b is right on the first and
    # wrong on the second.
    code, out = run("drill", "--count", "2", input="bb", seed=4)
    assert code == 0, out
    assert "✓ Right: this answer is BAD" in out and "✗ Wrong: this answer is GOOD" in out
    assert "GOOD instead: Good answer 1" in out and "Why: Because 2" in out
    assert "Answer: Good answer 2" in out
    assert "Right: 1 of 2 (50%)" in out and "Misjudged: Situation 2  [c-2]" in out
    assert "shown BAD: 1 of 1 right (100%)   shown GOOD: 0 of 1 right (0%)" in out
    store = open_store(home)
    with store.read() as conn:
        results = conn.execute(
            select(
                schema.drill_results.c.shown,
                schema.drill_results.c.answer,
                schema.drill_results.c.correct,
                schema.review_log.c.rating,
                schema.review_log.c.source,
                schema.cards.c.ord,
            )
            .join(schema.review_log, schema.review_log.c.id == schema.drill_results.c.review_log_id)
            .join(schema.cards, schema.cards.c.id == schema.drill_results.c.card_id)
            .order_by(schema.drill_results.c.id)
        ).all()
        buried = (
            conn.execute(
                select(schema.cards.c.buried_until)
                .join(schema.notes, schema.notes.c.id == schema.cards.c.note_id)
                .where(schema.cards.c.ord == 0, schema.notes.c.kind == "contrast")
            )
            .scalars()
            .all()
        )
    store.close()
    assert [tuple(r) for r in results] == [
        ("bad", "bad", True, int(Rating.Good), "drill", 1),
        ("good", "bad", False, int(Rating.Again), "drill", 1),
    ]
    assert all(b is not None for b in buried)  # the recall siblings wait for tomorrow
    data = json.loads(run("stats", "--json")[1])
    assert data["drill"]["calls"] == 2 and data["drill"]["accuracy"] == 0.5
    assert data["drill"]["by_side"] == {
        "bad": {"calls": 1, "right": 1, "accuracy": 1.0},
        "good": {"calls": 1, "right": 0, "accuracy": 0.0},
    }
    assert data["drill"]["most_misjudged"][0]["note_id"] == "c-2"
    text = run("stats")[1]
    assert "Contrast drill: 1 of 2 calls right (50%)" in text
    assert "shown BAD: 1 of 1 right (100%)   shown GOOD: 0 of 1 right (0%)" in text


def _table_rows(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a drill or a mock writes to, for before/after comparisons."""
    store = open_store(home)
    tables = [
        "cards",
        "review_log",
        "card_changes",
        "drill_results",
        "mock_attempts",
        "mock_missed",
        "mock_red_flags",
    ]
    with store.read() as conn:
        out = {
            name: sorted(
                (tuple(row) for row in conn.execute(select(schema.metadata.tables[name]))),
                key=repr,
            )
            for name in tables
        }
    store.close()
    return out


def test_u_undoes_drill_calls_several_deep(home: Path) -> None:
    """Issue 14: `u` in the drill takes back the last call (its answer and its drill
    result), several deep, and the item is judged again."""
    before = _table_rows(home)
    # b on item 1, then u (on item 2's screen) takes it back; g judges item 1 again, then
    # u, u takes back that call too and finds nothing more to undo; b, b judge both.
    code, out = run("drill", "--count", "2", input="bugubb", seed=4)
    assert code == 0, out
    assert out.count("Undid the last call: judge this answer again.") == 2
    assert "Right: 1 of 2 (50%)" in out
    store = open_store(home)
    with store.read() as conn:
        calls = conn.execute(
            select(schema.drill_results.c.answer).order_by(schema.drill_results.c.id)
        ).all()
        logs = conn.execute(select(schema.review_log.c.source)).all()
    store.close()
    assert [c.answer for c in calls] == ["bad", "bad"] and len(logs) == 2
    # Undone back to the start, the collection is as it was.
    code, out = run("drill", "--count", "1", input="gu", seed=4)
    assert code == 0 and "Right: 0 of 0" in out
    after = _table_rows(home)
    assert len(after["drill_results"]) == len(before["drill_results"]) + 2


def test_u_after_a_mock_takes_it_all_back(home: Path) -> None:
    """Issue 14: `u` after a mock's rating takes back the rating, the attempt with its
    missed points, and the cards its missed points made due."""
    store = open_store(home)
    with store.write() as conn:
        c = schema.cards.c
        conn.execute(
            schema.cards.update()
            .where(c.ord == 0)
            .values(
                state=REVIEW,
                stability=30.0,
                difficulty=5.0,
                reps=3,
                due=T0 + timedelta(days=20),
                last_review=T0 - timedelta(days=10),
                buried_until=T0 + timedelta(hours=3),
            )
        )
    store.close()
    before = _table_rows(home)
    code, out = run("mock", "--prompt", "p-1", "--minutes", "1,2,1", input="   23\nu")
    assert code == 0, out
    assert "Missed 1. Names a success metric. → 2 matching cards due now" in out
    assert "Undid the mock: its rating, its missed points and the cards it made due" in out
    assert _table_rows(home) == before
    code, out = run("check")
    assert code == 0 and out.endswith("No problems found.\n"), out


def test_drill_needs_contrasts(home: Path) -> None:
    code, out = run("drill", "--tag", "mock")
    assert code == 1 and "no contrast notes to drill" in out


def test_mock_rates_the_prompt_stores_misses_and_raises_matching_cards(
    home: Path, tmp_path: Path
) -> None:
    store = open_store(home)
    # A studied card tagged metrics, due in 20 days: a missed metrics point makes it due now.
    with store.write() as conn:
        c = schema.cards.c
        recall = conn.execute(
            select(c.id)
            .join(schema.notes, schema.notes.c.id == c.note_id)
            .where(schema.notes.c.guid == "c-1", c.ord == 0)
        ).scalar_one()
        conn.execute(
            schema.cards.update()
            .where(c.id == recall)
            .values(
                state=REVIEW,
                stability=30.0,
                difficulty=5.0,
                reps=3,
                due=T0 + timedelta(days=20),
                last_review=T0 - timedelta(days=10),
            )
        )
    # Three phases (Space each), then points 2 and 3 ticked: 2 of 4 covered = Hard.
    code, out = run("mock", "--prompt", "p-1", "--minutes", "1,2,1", input="   23\n")
    assert code == 0, out
    assert "Phase 1 of 3: Framing (01:00)" in out and "Phase 2 of 3: Sketch (02:00)" in out
    assert "ticked: 2, 3" in out
    assert "Covered 2 of 4 points: Hard" in out
    assert "Missed 1. Names a success metric. → 1 matching cards due now" in out
    assert "Missed 4. Says when to stop building." in out
    assert "pmcards review --tag metrics" in out
    with store.read() as conn:
        attempt = conn.execute(select(schema.mock_attempts)).one()
        missed = conn.execute(
            select(
                schema.mock_missed.c.point,
                schema.mock_missed.c.tags,
                schema.mock_missed.c.cards_raised,
            ).order_by(schema.mock_missed.c.point)
        ).all()
        log = conn.execute(
            select(schema.review_log.c.source, schema.review_log.c.rating).where(
                schema.review_log.c.id == attempt.review_log_id
            )
        ).one()
        due = conn.execute(
            select(schema.cards.c.due).where(schema.cards.c.id == recall)
        ).scalar_one()
    store.close()
    assert (attempt.covered, attempt.total, attempt.rating) == (2, 4, int(Rating.Hard))
    assert [p["name"] for p in json.loads(attempt.phases)] == ["Framing", "Sketch", "Trade-offs"]
    assert [tuple(m) for m in missed] == [(1, " metrics ", 1), (4, " ", 0)]
    assert tuple(log) == ("mock", int(Rating.Hard))
    assert due == T0
    data = json.loads(run("stats", "--json")[1])
    assert data["mock"]["attempts"] == 1 and data["mock"]["coverage"] == 0.5
    assert {m["point"] for m in data["mock"]["most_missed"]} == {
        "Names a success metric.",
        "Says when to stop building.",
    }
    assert data["mock"]["missed_tags"] == [{"tag": "metrics", "times": 1}]
    assert "Mock interviews: 1, rubric points covered 50%" in run("stats")[1]
    # The card made due is a recorded change, so `check` finds nothing to repair.
    code, out = run("check")
    assert code == 0 and out.endswith("No problems found.\n"), out


def test_mock_quit_before_grading_records_nothing(home: Path) -> None:
    code, out = run("mock", input=" q")
    assert code == 0 and "nothing recorded" in out
    store = open_store(home)
    with store.read() as conn:
        assert conn.execute(select(schema.mock_attempts)).all() == []
        state = conn.execute(
            select(schema.cards.c.state).join(schema.notes).where(schema.notes.c.guid == "p-1")
        ).scalar_one()
    store.close()
    assert state == NEW


def test_mock_options_are_checked(home: Path) -> None:
    assert "give three numbers" in run("mock", "--minutes", "5,10")[1]
    assert "no prompt note with id 'nope'" in run("mock", "--prompt", "nope")[1]
    with pytest.raises(PmcardsError):
        mock.parse_minutes("5,x,5")


@pytest.mark.parametrize(
    "covered,rating",
    [(0, Rating.Again), (3, Rating.Again), (4, Rating.Hard), (6, Rating.Good), (7, Rating.Easy)],
)
def test_coverage_to_rating(covered: int, rating: Rating) -> None:
    assert mock.rating_for(covered, 7) == rating


def test_rubric_points_and_their_checks(tmp_path: Path) -> None:
    points = kinds.rubric_points(RUBRIC)
    assert [(p.number, p.tags) for p in points] == [
        (1, ("metrics",)),
        (2, ("drift", "monitoring")),
        (3, ("hitl",)),
        (4, ()),
    ]
    assert points[3].text == "Says when to stop building."
    bad = write_deck(tmp_path / "bad.toml", "Bad", [{**prompt_note(), "rubric": "- only one"}])
    with pytest.raises(DeckFormatError, match="at least 2 points"):
        importer.parse_files([bad])
    many = "\n".join(f"- point {i}" for i in range(10))
    assert "over the limit of 9" in (rubric_problem(many) or "")


def test_prompt_notes_round_trip_through_markdown_and_csv(home: Path, tmp_path: Path) -> None:
    for fmt in ("md", "csv"):
        path = tmp_path / f"mine.{fmt}"
        assert run("export", fmt, "--deck", "Mine", "-o", str(path))[0] == 0
        code, out = run("import", str(path), "--dry-run")
        assert code == 0 and "0 added, 0 updated, 3 unchanged" in out, out


def test_builtin_mock_deck_and_import_builtin(isolated_home: Path, tmp_path: Path) -> None:
    decks = importer.parse_files(importer.builtin_deck_paths())
    prompts = [n for d in decks for n in d.notes if n.kind == "prompt"]
    assert len(prompts) >= 20
    for note in prompts:
        assert len(kinds.rubric_points(note.fields["rubric"])) >= 6, note.guid
    # An existing collection (here: one that began with its own deck) gets them on request.
    without_builtins(isolated_home)
    deck = write_deck(tmp_path / "mine.toml", "Mine", [contrast(1)])
    run("import", str(deck))
    assert "no design prompts" in run("mock")[1]
    code, out = run("import", "--builtin")
    assert code == 0 and f"deck 'Mock interview prompts': {len(prompts)} added" in out
    assert run("import", "--builtin", str(deck))[0] == 2
    code, out = run("mock", "--minutes", "1,1,1", input="   a\n")
    # The first new prompt; `a` ticks every point and no red flag: Easy.
    first = prompts[0]
    points = [p for p in kinds.rubric_points(first.fields["rubric"]) if not p.red_flag]
    assert code == 0, out
    assert f"· {first.guid}" in out
    assert f"Covered {len(points)} of {len(points)} points: Easy" in out


# -- the drill cannot be passed without judgement ------------------------------------------

BUILTIN_CONTRASTS = 64
# Calls a one-key learner gets right out of 64: the BAD (or GOOD) answers shown. The draw
# gives 32 on average; the band below holds all but 0.07% of draws (computed exactly by
# `capped_draw_tail`), so a drill that leans on either side by 9 or more fails it.
BAND = range(24, 41)


def capped_draw_tail(draws: int, band: range) -> float:
    """The exact probability that `draws` presentations show a number of BAD answers outside
    `band`, for a fair draw that allows no more than three of one side in a row."""
    from collections import defaultdict

    states: dict[tuple[str, int, int], float] = {("", 0, 0): 1.0}
    for _ in range(draws):
        following: dict[tuple[str, int, int], float] = defaultdict(float)
        for (last, run_, bad), p in states.items():
            forced = run_ >= 3
            for side in ("bad", "good"):
                if forced and side == last:
                    continue
                q = 1.0 if forced else 0.5
                following[(side, run_ + 1 if side == last else 1, bad + (side == "bad"))] += p * q
        states = following
    return sum(p for (_, _, bad), p in states.items() if bad not in band)


def test_the_band_is_justified() -> None:
    assert capped_draw_tail(BUILTIN_CONTRASTS, BAND) < 0.001
    # ...and it is tight: a band two calls narrower on each side would fail 1 drill in 100.
    assert capped_draw_tail(BUILTIN_CONTRASTS, range(26, 39)) > 0.01


def drill_shown(home: Path, key: str, seed: int, now: str) -> tuple[int, list[str]]:
    """A one-key learner's drill over every built-in contrast: right calls, sides shown."""
    code, out = run("drill", "--count", str(BUILTIN_CONTRASTS), input=key * 64, seed=seed, now=now)
    assert code == 0, out
    right = re.search(r"Right: (\d+) of 64 ", out)
    assert right is not None, out
    store = open_store(home)
    with store.read() as conn:
        shown = conn.execute(
            select(schema.drill_results.c.shown).order_by(schema.drill_results.c.id.desc())
        ).scalars()
        sides = list(shown)[:BUILTIN_CONTRASTS][::-1]
    store.close()
    return int(right.group(1)), sides


@pytest.mark.parametrize("key", ["b", "g"])
def test_a_one_key_learner_scores_about_half_on_any_day(isolated_home: Path, key: str) -> None:
    decks = importer.parse_files(importer.builtin_deck_paths())
    assert sum(n.kind == "contrast" for d in decks for n in d.notes) == BUILTIN_CONTRASTS
    # Day 0 on a fresh collection (every judge card new: the old alternation showed BAD to
    # all of them), then days on which the cards have been answered once, twice, three times.
    days = [
        "2026-03-02T12:00:00+00:00",
        "2026-03-03T12:00:00+00:00",
        "2026-03-09T12:00:00+00:00",
        "2026-04-01T12:00:00+00:00",
    ]
    for day, seed in zip(days, (11, 12, 13, 14), strict=True):
        right, sides = drill_shown(isolated_home, key, seed, day)
        assert len(sides) == BUILTIN_CONTRASTS
        expected = sides.count("bad" if key == "b" else "good")
        assert right == expected and right in BAND, (day, right)
        # Never more than three of one side in a row.
        runs = [len(list(group)) for _, group in itertools.groupby(sides)]
        assert max(runs) <= 3
    data = json.loads(run("stats", "--json")[1])["drill"]
    one, other = ("bad", "good") if key == "b" else ("good", "bad")
    assert data["by_side"][one]["accuracy"] == 1.0 and data["by_side"][other]["accuracy"] == 0.0
    habit = f"you may be calling most answers {one.upper()} by habit"
    assert habit in run("stats")[1]


def test_the_same_seed_draws_the_same_drill(
    isolated_home: Path, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    for name in ("first", "second"):
        monkeypatch.setenv("PMCARDS_DB", new_db(name))  # a fresh collection each time
        results.append(drill_shown(isolated_home, "b", 99, NOW))
    assert results[0] == results[1]
    _, sides = results[0]
    assert 0 < sides.count("bad") < BUILTIN_CONTRASTS


MARKED = """
- MUST: [metrics] Names a success metric.
- [drift monitoring] Plans drift monitoring.
- [hitl] Escalates to a human.
- MUST: Says when to stop building.
- RED FLAG: [metrics] Promises 100% accuracy.
- RED FLAG: Ships without a way back.
"""


@pytest.fixture
def marked(isolated_home: Path, tmp_path: Path) -> Path:
    """A collection with one prompt whose rubric has MUST points and red flags."""
    without_builtins(isolated_home)
    note = {**prompt_note(), "rubric": MARKED}
    deck = write_deck(tmp_path / "mine.toml", "Mine", [contrast(1), note])
    assert run("import", str(deck))[0] == 0
    return isolated_home


def mock_rows(home: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    store = open_store(home)
    with store.read() as conn:
        missed = conn.execute(
            select(schema.mock_missed.c.point, schema.mock_missed.c.text).order_by(
                schema.mock_missed.c.id
            )
        ).all()
        flags = conn.execute(
            select(
                schema.mock_red_flags.c.flag,
                schema.mock_red_flags.c.text,
                schema.mock_red_flags.c.tags,
            ).order_by(schema.mock_red_flags.c.id)
        ).all()
    store.close()
    return [tuple(m) for m in missed], [tuple(f) for f in flags]


def test_the_tick_screen_marks_musts_and_red_flags_with_keys_of_their_own(marked: Path) -> None:
    # `a` ticks the four points and no red flag; 4 unticks a MUST: 3 of 4 is Good, capped.
    code, out = run("mock", "--minutes", "1,1,1", input="   a4\n")
    assert code == 0, out
    assert "[ ] 1. MUST Names a success metric.  (metrics)" in out
    assert "[ ] x. RED FLAG Promises 100% accuracy.  (metrics)" in out
    assert "[ ] y. RED FLAG Ships without a way back." in out
    assert "ticked: 1, 2, 3, 4" in out and "ticked: 1, 2, 3\n" in out
    assert "Covered 3 of 4 points: Hard (a MUST point was missed: Hard at best)" in out
    assert "Missed 4. MUST Says when to stop building." in out
    assert mock_rows(marked) == ([(4, "Says when to stop building.")], [])


def test_a_red_flag_said_rates_the_mock_again_and_is_kept(marked: Path) -> None:
    code, out = run("mock", "--minutes", "1,1,1", input="   ayxx9\n")
    assert code == 0, out
    assert "ticked: 1, 2, 3, 4; red flags said: y" in out
    assert "ticked: 1, 2, 3, 4; red flags said: x, y" in out
    assert "Covered 4 of 4 points: Again (a red flag was said)" in out
    assert "Red flag said y. Ships without a way back." in out
    missed, flags = mock_rows(marked)
    assert missed == [] and flags == [(2, "Ships without a way back.", " ")]
    store = open_store(marked)
    with store.read() as conn:
        attempt = conn.execute(select(schema.mock_attempts)).one()
    store.close()
    assert (attempt.covered, attempt.total, attempt.rating) == (4, 4, int(Rating.Again))
    data = json.loads(run("stats", "--json")[1])["mock"]
    assert data["coverage"] == 1.0 and data["red_flags_said"] == 1
    assert data["most_said_red_flags"] == [{"red_flag": "Ships without a way back.", "times": 1}]
    assert "Red flags said: 1" in run("stats")[1]


@pytest.mark.parametrize(
    "covered,must_missed,red_flag,rating",
    [
        (9, False, False, Rating.Easy),
        (8, False, False, Rating.Good),
        (8, True, False, Rating.Hard),
        (9, False, True, Rating.Again),
        (3, True, False, Rating.Again),  # the cap never raises a rating
    ],
)
def test_musts_cap_and_red_flags_fail_the_rating(
    covered: int, must_missed: bool, red_flag: bool, rating: Rating
) -> None:
    assert mock.rating_for(covered, 9, must_missed=must_missed, red_flag=red_flag) == rating


def test_import_builtin_counts_retired_notes_and_prune_removes_only_them(
    isolated_home: Path, tmp_path: Path
) -> None:
    assert run("status")[0] == 0  # first use: the built-in decks
    # A note the decks no longer ship (as content v2 retired 44), and one of the user's own
    # added to the same deck.
    retired = {**contrast(1), "id": "con-999"}
    mine = {**contrast(2), "id": "mine-1"}
    deck = write_deck(tmp_path / "old.toml", "BAD vs GOOD answers", [retired, mine])
    assert run("import", str(deck))[0] == 0
    result = CliRunner().invoke(
        cli, ["import", "--builtin"], env={"PMCARDS_NOW": NOW}, catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        "1 built-in note in your collection is no longer shipped (deleted or merged into "
        "others) and kept with its history. To remove it: pmcards import --builtin --prune "
        "(after a backup)"
    )
    result = CliRunner().invoke(
        cli, ["import", "--builtin", "--prune"], env={"PMCARDS_NOW": NOW}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "in the collection but not in the file (deleted): con-999" in result.stdout
    assert "in the collection but not in the file (kept): mine-1" in result.stdout
    assert "Backup before pruning: " in result.stderr
    store = open_store(isolated_home)
    with store.read() as conn:
        guids = set(conn.execute(select(schema.notes.c.guid)).scalars())
    store.close()
    assert "con-999" not in guids and "mine-1" in guids
    assert (
        "no longer shipped"
        not in CliRunner().invoke(cli, ["import", "--builtin"], env={"PMCARDS_NOW": NOW}).stderr
    )
