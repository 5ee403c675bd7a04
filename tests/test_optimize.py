"""pmcards optimize: Anki's training set, fsrs-rs's fit, judged by Anki's own engine."""

from __future__ import annotations

import heapq
import json
import random
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler
from helpers import qa, write_deck
from sqlalchemy import insert, select, update

from pmcards import cardstate, fsrs_items, optimize, paths, queries, scheduling, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING
from pmcards.cli import cli
from pmcards.fsrs_items import LEARN, RELEARN, REVIEW, Answer
from pmcards.store import Store

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# Anki's day grid: the next study day starts at 04:00 (the default rollover; tests run in UTC).
NEXT_DAY = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, list(args), input=input, env={"PMCARDS_NOW": NOW.isoformat()}, catch_exceptions=False
    )


def run(*args: str) -> tuple[int, str]:
    result = invoke(*args)
    return result.exit_code, result.output


# -- Anki's training set, from its own unit tests (rslib/src/scheduler/fsrs/params.rs) ----


def days_ago(days: float, next_day: datetime = NEXT_DAY) -> datetime:
    return next_day - timedelta(days=days)


def answer(card: int, days: float, kind: int = REVIEW, rating: int = 3, **kw: Any) -> Answer:
    return Answer(card_id=card, reviewed_at=days_ago(days), rating=rating, kind=kind, **kw)


def items_of(answers: list[Answer]) -> list[list[tuple[int, int]]]:
    return fsrs_items.training_set(answers, NEXT_DAY).item_reviews()


def test_delta_t_and_items_as_anki_builds_them() -> None:
    assert items_of([answer(1, 1, LEARN), answer(1, 0)]) == [[(3, 0), (3, 1)]]
    assert items_of([answer(1, 15, LEARN), answer(1, 13, LEARN), answer(1, 10), answer(1, 5)]) == [
        [(3, 0), (3, 2)],
        [(3, 0), (3, 2), (3, 3)],
        [(3, 0), (3, 2), (3, 3), (3, 5)],
    ]
    assert items_of([answer(1, 15, LEARN), answer(1, 13, LEARN)]) == [[(3, 0), (3, 2)]]


def test_items_sorted_by_time_with_their_card_ids() -> None:
    training = fsrs_items.training_set(
        [answer(1, 10, LEARN), answer(1, 7), answer(1, 1), answer(2, 9, LEARN), answer(2, 8)],
        NEXT_DAY,
    )
    assert training.card_ids() == [2, 1, 1]
    assert [len(item) for item in training.item_reviews()] == [2, 2, 3]
    assert training.reviews == 5


def test_a_card_starts_at_its_last_learning_run_and_needs_one() -> None:
    # A single learning answer gives no item: the card is left out, its answer not counted.
    single = fsrs_items.training_set([answer(1, 1, LEARN)], NEXT_DAY)
    assert len(single) == 0 and single.reviews == 0
    # Learned, reviewed, learned again from scratch: only the second run counts.
    again = [answer(1, 20, LEARN), answer(1, 18), answer(1, 10, LEARN, 1), answer(1, 4)]
    assert items_of(again) == [[(1, 0), (3, 6)]]
    # A log without a learning answer (memory brought in from elsewhere) is not trained on.
    assert items_of([answer(1, 9), answer(1, 5)]) == []
    assert fsrs_items.card_history([answer(1, 9), answer(1, 5)], NEXT_DAY) is None


def test_same_day_steps_stay_in_the_history_but_are_no_items() -> None:
    learn = [
        answer(1, 3.5, LEARN, 1),
        answer(1, 3.5 - 1 / 1440, LEARN, 3),  # a minute later
        answer(1, 3.5 - 11 / 1440, LEARN, 3),  # the 10-minute step
        answer(1, 1.5, REVIEW, 1),  # a lapse...
        answer(1, 1.5 - 10 / 1440, RELEARN, 3),  # ...and its relearning step
        answer(1, 0.5, REVIEW, 3),
    ]
    assert items_of(learn) == [
        [(1, 0), (3, 0), (3, 0), (1, 2)],
        [(1, 0), (3, 0), (3, 0), (1, 2), (3, 0), (3, 1)],
    ]


def test_days_are_counted_on_the_study_day_grid() -> None:
    def at(hour: float, day: int = 1) -> Answer:
        return Answer(1, datetime(2026, 3, day, 0, tzinfo=UTC) + timedelta(hours=hour), 3, REVIEW)

    first = replace(at(12), kind=LEARN)
    # 03:59 the next morning still belongs to the first study day (rollover 04:00)...
    assert items_of([first, at(3.99, 2)]) == []
    # ...04:01 is the next one, 16 hours later: a day on Anki's grid, not in 24-hour windows.
    assert items_of([first, at(4.01, 2)]) == [[(3, 0), (3, 1)]]
    assert fsrs_items.elapsed_days(at(3.99, 2).reviewed_at, NEXT_DAY) == 1
    assert fsrs_items.elapsed_days(at(4.01, 2).reviewed_at, NEXT_DAY) == 0


def test_mock_answers_shape_the_history_but_are_not_recalls() -> None:
    history = [answer(1, 10, LEARN), answer(1, 6, recall=False), answer(1, 2)]
    assert items_of(history) == [[(3, 0), (3, 4), (3, 4)]]
    assert fsrs_items.training_set(history, NEXT_DAY).reviews == 3


def test_relearning_steps_counted_as_anki_counts_them() -> None:
    assert fsrs_items.relearning_steps_in_a_day([]) == 0
    assert fsrs_items.relearning_steps_in_a_day([10]) == 1
    assert fsrs_items.relearning_steps_in_a_day([10, 60, 1440]) == 2
    assert fsrs_items.relearning_steps_in_a_day([720, 720]) == 1


# -- the command: errors, JSON, apply ----------------------------------------------------


def test_too_few_reviews_is_said_clearly() -> None:
    for args in (["optimize"], ["optimize", "--json"]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert result.stdout == "" and "Traceback" not in result.stderr
        # (Above it, on a first run, the welcome after importing the built-in decks.)
        assert result.stderr.splitlines()[-1].startswith(
            "Error: too few reviews to fit: 0 answers, none of them on a later day"
        )


def test_a_missing_engine_is_said_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsrs_rs_python", None)  # import fails
    result = invoke("optimize", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines(keepends=True)[-1] == (
        "Error: FSRS's Rust engine (the fsrs-rs-python package) is missing: reinstall "
        "pmcards with pip install --force-reinstall pmcards\n"
    )


def build_history(tmp_path: Path, cards: int = 110, seed: int = 3) -> Store:
    """A collection of `cards` Q/A cards, each answered 7 times over ~4 months, the answers
    drawn from FSRS's own recall model with a fixed seed; the log and the cards' memory are
    written as the review session would have."""
    deck = write_deck(tmp_path / "d.toml", "D", [qa(i) for i in range(1, cards + 1)])
    store = Store(paths.resolve_db_url(None))  # the collection the CLI uses, on either engine
    with store.write() as conn:
        settings.save(conn, settings.BUILTIN_FLAG, True)
    assert run("import", str(deck))[0] == 0
    rng = random.Random(seed)
    plain = settings.Settings(fuzz=False)
    c = schema.cards.c
    with store.write() as conn:
        ids = list(conn.execute(select(c.id).order_by(c.id)).scalars())
        for card_id in ids:
            when = NOW - timedelta(days=130, hours=rng.random() * 24)
            history: list[tuple[datetime, int]] = []
            for gap in (0, 1, 3, 8, 15, 30, 50):
                when += timedelta(days=gap, hours=rng.random() * 6)
                if history:
                    memory = scheduling.replay(plain, history)[-1][1]
                    recalled = rng.random() < scheduling.retrievability(plain, memory, when)
                else:
                    recalled = rng.random() < 0.8
                history.append((when, rng.choice((2, 3, 3, 3, 4)) if recalled else 1))
            for (when, rating), (before, after) in zip(
                history, scheduling.replay(plain, history), strict=True
            ):
                conn.execute(
                    insert(schema.review_log).values(
                        card_id=card_id,
                        rating=rating,
                        reviewed_at=when,
                        duration_ms=rng.randint(2000, 20000),
                        source="review",
                        **{f"{k}_before": v for k, v in cardstate.memory_values(before).items()},
                        state_after=after.state,
                        step_after=after.step,
                        stability_after=after.stability,
                        difficulty_after=after.difficulty,
                        due_after=after.due,
                        leeched=False,
                    )
                )
            conn.execute(
                update(schema.cards).where(c.id == card_id).values(**cardstate.memory_values(after))
            )
    return store


def test_json_is_one_stable_document(tmp_path: Path) -> None:
    build_history(tmp_path).close()
    result = invoke("optimize", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == [
        "reviews",
        "items",
        "cards",
        "parameters",
        "evaluation",
        "desired_retention",
        "workload",
        "applied",
    ]
    assert (data["reviews"], data["items"], data["cards"]) == (770, 660, 110)
    assert list(data["parameters"]) == ["current", "fitted", "changed"]
    assert len(data["parameters"]["fitted"]) == 21 and data["parameters"]["changed"] is True
    assert data["parameters"]["current"] == list(settings.Settings().fsrs_parameters())
    for which in ("current", "fitted"):
        assert list(data["evaluation"][which]) == ["log_loss", "rmse_bins"]
    assert data["evaluation"]["fitted"]["log_loss"] < data["evaluation"]["current"]["log_loss"]
    retention = data["desired_retention"]
    assert retention["current"] == 0.9 and 0.7 <= retention["recommended"] <= 0.95
    workload = data["workload"]
    assert (workload["days"], workload["deck_size"], workload["new_per_day"]) == (365, 110, 20)
    current, recommended = workload["current"], workload["recommended"]
    assert list(current) == [
        "desired_retention",
        "minutes_per_day",
        "answers_per_day",
        "remembered",
    ]
    assert current["desired_retention"] == 0.9
    assert recommended["desired_retention"] == retention["recommended"]
    # The recommendation is the least study time per card remembered, on the same runs.
    assert (
        recommended["minutes_per_day"] / recommended["remembered"]
        <= current["minutes_per_day"] / current["remembered"]
    )
    assert data["applied"] == {"rescheduled": None, "desired_retention": None}


def test_text_report(tmp_path: Path) -> None:
    build_history(tmp_path).close()
    code, out = run("optimize")
    assert code == 0
    assert out.startswith("Fitted on 660 of your answers (770 answers to 110 cards;")
    assert "w20" in out and "log loss" in out and "RMSE (bins)" in out
    assert "Desired retention: 0.90 now, " in out and "  at 0.90: " in out
    assert out.rstrip().endswith("offers the recommended retention.")


def test_apply_saves_reschedules_and_keeps_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = build_history(tmp_path)
    # --apply changes the cards a chunk at a time: 110 cards in chunks of 7.
    monkeypatch.setattr(queries, "CHUNK", 7)
    result = invoke("optimize", "--apply", "--keep-retention")
    assert result.exit_code == 0, result.output
    assert "Saved the fitted parameters and rescheduled 110 cards." in result.stdout
    data = json.loads(invoke("optimize", "--json").stdout)
    with store.read() as conn:
        saved = settings.load(conn)
        histories = optimize.replay_histories(
            optimize.load_answers(conn), optimize.next_day_start(saved, NOW)
        )
        stored = conn.execute(
            select(schema.cards.c.id, schema.cards.c.stability, schema.cards.c.due)
        ).all()
    store.close()
    assert saved.desired_retention == 0.9
    # Fitting again starts from the saved parameters, which already fit best: kept.
    assert data["parameters"]["current"] == list(saved.parameters or ())
    assert data["parameters"]["changed"] is False
    # Every card, in every chunk, has the memory its answers replay to.
    replayed = {
        card_id: scheduling.replay(replace(saved, fuzz=False), history)[-1][1]
        for card_id, history in histories.items()
    }
    assert len(replayed) == 110
    assert {
        card_id: (stability, due) for card_id, stability, due in stored if card_id in replayed
    } == {card_id: (m.stability, m.due) for card_id, m in replayed.items()}
    assert invoke("optimize", "--apply", "--keep-retention").stdout.endswith(
        "Nothing to change: your parameters are already the best fit.\n"
    )


def test_apply_offers_the_recommended_retention(tmp_path: Path) -> None:
    store = build_history(tmp_path)
    recommended = json.loads(invoke("optimize", "--json").stdout)["desired_retention"]
    assert recommended["recommended"] != recommended["current"]
    result = invoke("optimize", "--apply", input="n\n")
    prompt = f"Set desired retention to {recommended['recommended']:.2f} too? [y/N]: n\n"
    assert prompt in result.stdout
    with store.read() as conn:
        assert settings.load(conn).desired_retention == 0.9
    result = invoke("optimize", "--apply", input="y\n")
    # The parameters were saved by the first run: this one sets the retention alone.
    assert (
        f"Set desired retention to {recommended['recommended']:.2f} and rescheduled 110 cards."
        in result.stdout
    )
    with store.read() as conn:
        assert settings.load(conn).desired_retention == recommended["recommended"]
    store.close()


def test_json_apply_never_asks(tmp_path: Path) -> None:
    store = build_history(tmp_path)
    result = invoke("optimize", "--apply", "--json")
    data = json.loads(result.stdout)
    assert data["applied"] == {"rescheduled": 110, "desired_retention": None}
    result = invoke("optimize", "--apply", "--json", "--set-retention")
    data = json.loads(result.stdout)
    assert data["applied"]["desired_retention"] == data["desired_retention"]["recommended"]
    with store.read() as conn:
        assert settings.load(conn).desired_retention == data["desired_retention"]["recommended"]
    store.close()


# -- judged by Anki's engine -------------------------------------------------------------

# The simulated learner's real memory: stronger than FSRS's defaults assume.
TRUE_PARAMETERS = (
    0.6, 2.4, 5.5, 15.0, 6.0, 0.7, 2.5, 0.01, 2.2, 0.12, 0.9,
    1.3, 0.08, 0.3, 1.7, 0.5, 2.0, 0.5, 0.1, 0.06, 0.2,
)  # fmt: skip


def learner(cards: int, days: int, seed: int) -> list[tuple[int, datetime, int, int, int]]:
    """A learner studying with pmcards' scheduler (defaults: 1m 10m learning steps, a 10m
    relearning step, fuzz on) whose recall follows FSRS with TRUE_PARAMETERS: one session a
    day at a random hour (0:30 to 23:00, so some fall before the 04:00 rollover), 12 new
    cards a session, a sixth of the days skipped, learning steps answered when due within
    the session. Returns (card, time, rating, state before, duration ms) in time order."""
    rng = random.Random(seed)
    plain = settings.Settings()
    truth = Scheduler(parameters=TRUE_PARAMETERS, enable_fuzzing=False)
    memory: dict[int, cardstate.Memory] = {}
    real: dict[int, FsrsCard] = {}
    log = []
    introduced = 0
    start = NOW - timedelta(days=days + 1)
    for day in range(days):
        if rng.random() < 1 / 6:
            continue
        now = start + timedelta(days=day, hours=rng.uniform(0.5, 23.0))
        end = now + timedelta(minutes=50)
        queue = [(m.due, c) for c, m in memory.items() if m.due <= now + timedelta(minutes=20)]
        for _ in range(12):
            if introduced < cards:
                queue.append((now, introduced))
                introduced += 1
        heapq.heapify(queue)
        while queue and queue[0][0] <= end:
            due, card = heapq.heappop(queue)
            now = max(now, due) + timedelta(seconds=rng.uniform(3, 25))
            before = memory.get(card) or cardstate.Memory(NEW, None, None, None, now, None)
            true_card = real.get(card) or FsrsCard(card_id=card)
            if before.state == NEW:
                rating = rng.choices((1, 2, 3, 4), (25, 10, 50, 15))[0]
            elif before.state in (LEARNING, RELEARNING):
                rating = rng.choices((1, 2, 3, 4), (15, 10, 70, 5))[0]
            else:
                recalled = rng.random() < truth.get_card_retrievability(true_card, now)
                rating = rng.choices((2, 3, 4), (15, 75, 10))[0] if recalled else 1
            after = scheduling.outcomes(plain, before, now, card)[Rating(rating)].memory
            real[card], _ = truth.review_card(true_card, Rating(rating), now)
            seconds = rng.uniform(4, 12) if rating >= 3 else rng.uniform(10, 40)
            log.append((card, now, rating, before.state, round(seconds * 1000)))
            memory[card] = after
            if after.due <= end:
                heapq.heappush(queue, (after.due, card))
    return log


def anki_collection(
    folder: Path, cards: int, log: list[tuple[int, datetime, int, int, int]]
) -> Any:
    """An Anki collection holding the learner's notes and review log (revlog rows written by
    SQL: Anki's kind is the card's state before the answer, learning 0, review 1,
    relearning 2), its cards left in review."""
    from anki.collection import AddNoteRequest
    from anki_tools import new_collection

    col = new_collection(folder)
    model, deck = col.models.by_name("Basic"), col.decks.id("Learner")
    requests = []
    for i in range(cards):
        note = col.new_note(model)
        note["Front"], note["Back"] = f"Question {i}?", f"Answer {i}."
        requests.append(AddNoteRequest(note=note, deck_id=deck))
    col.add_notes(requests)
    card_ids = col.db.list("select id from cards order by id")
    kinds: dict[int, int] = {NEW: 0, LEARNING: 0, cardstate.REVIEW: 1, RELEARNING: 2}
    rows = []
    used: set[int] = set()
    for card, when, rating, state, duration in log:
        revlog_id = int(when.timestamp() * 1000)
        while revlog_id in used:
            revlog_id += 1
        used.add(revlog_id)
        kind = kinds[state]
        rows.append(
            (revlog_id, card_ids[card], -1, rating, 1, 0, 2500 if kind else 0, duration, kind)
        )
    col.db.executemany(
        "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    col.db.execute("update cards set type = 2, queue = 2, due = ?, ivl = 3", col.sched.today)
    return col


def test_fit_and_scores_match_ankis_engine(tmp_path: Path) -> None:
    """The issue's measurement in small: a collection studied in Anki, exported, imported
    into pmcards; `pmcards optimize` against Anki's optimizer and evaluator on the same log."""
    from anki_tools import export_package

    assert datetime.now(UTC) > NOW, "Anki counts days from the real clock: it must be after NOW"
    cards = 400
    log = learner(cards, days=120, seed=11)
    col = anki_collection(tmp_path / "anki", cards, log)
    package = export_package(col, tmp_path / "learner.apkg", legacy=False)
    store = Store(paths.resolve_db_url(None))
    with store.write() as conn:
        settings.save(conn, settings.BUILTIN_FLAG, True)
    store.close()
    code, out = run("import", str(package))
    assert code == 0 and f"Carried over {len(log)} reviews of history." in out, out
    result = invoke("optimize", "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)

    backend = col._backend
    anki = backend.compute_fsrs_params(
        search="",
        current_params=[],
        ignore_revlogs_before_ms=0,
        num_of_relearning_steps=1,
        health_check=False,
    )

    def anki_score(params: list[float]) -> tuple[float, float]:
        score = backend.evaluate_params_legacy(params=params, search="", ignore_revlogs_before_ms=0)
        return score.log_loss, score.rmse_bins

    # The same training set: every answer accounted for, the same items.
    assert ours["reviews"] == len(log) == 3222 and ours["items"] == anki.fsrs_items == 1929
    # pmcards reports Anki's figures for the current (default) and the fitted parameters.
    for which, params in (
        ("current", ours["parameters"]["current"]),
        ("fitted", ours["parameters"]["fitted"]),
    ):
        log_loss, rmse = anki_score(params)
        assert ours["evaluation"][which]["log_loss"] == pytest.approx(log_loss, abs=0.001)
        assert ours["evaluation"][which]["rmse_bins"] == pytest.approx(rmse, abs=0.001)
    # pmcards' fit, scored by Anki's evaluator, is as good as Anki's own fit.
    anki_log_loss, anki_rmse = anki_score(list(anki.params))
    log_loss, rmse = anki_score(ours["parameters"]["fitted"])
    assert log_loss == pytest.approx(anki_log_loss, abs=0.001)
    assert rmse == pytest.approx(anki_rmse, abs=0.001)
    assert log_loss < anki_score(ours["parameters"]["current"])[0]

    # The simulator's inputs are the ones Anki reads from the same log...
    answers = [
        Answer(card, when, rating, fsrs_items.kind_of(state), duration)
        for card, when, rating, state, duration in sorted(log, key=lambda r: (r[0], r[1]))
    ]
    costs = fsrs_items.user_costs(answers, NEXT_DAY)
    theirs = backend.get_optimal_retention_parameters(search="")
    assert costs.first_rating_prob == pytest.approx(list(theirs.first_rating_prob), abs=1e-6)
    assert costs.review_rating_prob == pytest.approx(list(theirs.review_rating_prob), abs=1e-6)
    for ours_matrix, anki_flat in (
        (costs.learning_step_transitions, theirs.learning_step_transitions),
        (costs.relearning_step_transitions, theirs.relearning_step_transitions),
        (costs.state_rating_costs, theirs.state_rating_costs),
    ):
        assert [x for row in ours_matrix for x in row] == pytest.approx(list(anki_flat), abs=1e-5)
    # ...so the recommended retention is fsrs-rs's search run on Anki's own inputs.
    config = optimize.SimulatorSettings.of(settings.Settings(), cards, costs, 365)
    anki_costs = fsrs_items.UserCosts(
        first_rating_prob=tuple(theirs.first_rating_prob),
        review_rating_prob=tuple(theirs.review_rating_prob),
        learning_step_transitions=_rows(theirs.learning_step_transitions),
        relearning_step_transitions=_rows(theirs.relearning_step_transitions),
        state_rating_costs=_rows(theirs.state_rating_costs),
    )
    expected = optimize.optimal_retention(
        ours["parameters"]["fitted"], replace(config, costs=anki_costs)
    )
    assert ours["desired_retention"]["recommended"] == expected
    col.close()


def _rows(flat: Any) -> tuple[tuple[float, ...], ...]:
    values = list(flat)
    return tuple(tuple(values[i : i + 4]) for i in range(0, len(values), 4))


def test_the_simulator_for_other_modules(tmp_path: Path) -> None:
    """`simulator_settings` + `simulate`: the typed wrapper the plan's forecast may share."""
    store = build_history(tmp_path)
    with store.read() as conn:
        config = optimize.simulator_settings(conn, NOW, days=30)
    store.close()
    assert (config.deck_size, config.days, config.new_per_day) == (110, 30, 20)
    parameters = settings.Settings().fsrs_parameters()
    run1 = optimize.simulate(parameters, 0.9, config, seed=7)
    assert run1 == optimize.simulate(parameters, 0.9, config, seed=7)  # deterministic
    assert len(run1.reviews) == len(run1.seconds) == 30
    assert sum(run1.learned) == 110 and run1.learned[:6] == (20, 20, 20, 20, 20, 10)
    assert run1.memorized[-1] < 110
