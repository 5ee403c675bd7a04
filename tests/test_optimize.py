"""pmcards optimize: fitting FSRS to the review log (the fit itself needs the optional extra)."""

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import qa, write_deck
from sqlalchemy import insert, select, update

from pmcards import cardstate, optimize, paths, scheduling, schema, settings
from pmcards.cli import cli
from pmcards.store import Store

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, list(args), env={"PMCARDS_NOW": NOW.isoformat()}, catch_exceptions=False
    )
    return result.exit_code, result.output


def build_history(home: Path, tmp_path: Path, cards: int = 110, seed: int = 3) -> Store:
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
                        duration_ms=3000,
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


def test_too_few_reviews_is_said_clearly() -> None:
    code, out = run("optimize")
    assert code == 1
    assert "too few reviews to fit: 0 answers" in out and "at least 512" in out


def test_missing_extra_is_said_clearly(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(isolated_home, tmp_path).close()
    monkeypatch.setattr(optimize, "optimizer_installed", lambda: False)
    code, out = run("optimize")
    assert code == 1 and "pip install 'pmcards[optimizer]'" in out


def test_histories_workload_and_apply_without_torch(isolated_home: Path, tmp_path: Path) -> None:
    store = build_history(isolated_home, tmp_path)
    with store.read() as conn:
        histories = optimize.load_histories(conn)
        current = settings.load(conn)
    assert len(histories) == 110 and optimize.usable_reviews(histories) == 110 * 6
    old = current.fsrs_parameters()
    # Slower forgetting (a larger stability gain on each recall, w8) means fewer reviews ahead.
    new = (*old[:8], old[8] + 0.5, *old[9:])
    assert optimize.workload(replace(current, parameters=new), histories, NOW) < (
        optimize.workload(current, histories, NOW)
    )
    fit = optimize.Fit(reviews=770, usable=660, old=old, new=new, histories=histories)
    with store.write() as conn:
        assert optimize.apply(conn, fit, NOW) == 110
    with store.read() as conn:
        saved = settings.load(conn)
        card_id, stability, due = conn.execute(
            select(schema.cards.c.id, schema.cards.c.stability, schema.cards.c.due).limit(1)
        ).one()
    store.close()
    assert saved.parameters == new
    expected = scheduling.replay(replace(saved, fuzz=False), histories[card_id])[-1][1]
    assert (stability, due) == (expected.stability, expected.due)


def test_fit_and_apply_with_the_optimizer(isolated_home: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    build_history(isolated_home, tmp_path).close()
    code, out = run("optimize", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["usable_reviews"] == 660 and len(data["new_parameters"]) == 21
    assert data["new_parameters"] != data["old_parameters"]
    assert data["log_loss_new"] <= data["log_loss_old"]
    assert data["rescheduled"] is None
    code, out = run("optimize", "--apply")
    assert code == 0 and "rescheduled 110 cards" in out and "w20" in out
    assert "Expected reviews in the next 30 days" in out
    code, out = run("config", "parameters")
    assert out.strip() != ", ".join(f"{v:g}" for v in data["old_parameters"])
