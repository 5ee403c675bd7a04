"""Fitting FSRS's parameters to the user's review log, on FSRS's Rust engine.

The fit, its scores and the recommended retention come from fsrs-rs (the engine Anki
embeds, on PyPI as `fsrs-rs-python`), fed the training set Anki would build from the same
log (`fsrs_items`). py-fsrs still schedules every answer; here it only replays each card's
answers under the new parameters when they are applied, as the review session would have
scheduled them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import func, select

from pmcards import cardstate, changes, fsrs_items, queries, scheduling, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import Memory
from pmcards.clock import study_day
from pmcards.errors import PmcardsError
from pmcards.fsrs_items import Answer, TrainingSet, UserCosts
from pmcards.queries import MEMORY, C, L
from pmcards.settings import Settings

if TYPE_CHECKING:
    import fsrs_rs_python
    from sqlalchemy.engine import Connection

# As Anki's "Optimize" button: 8 passes over the training set (fsrs-rs's default is 5).
EPOCHS = 8
# The recommended retention: fsrs-rs searches 0.70-0.95 for the least study time per card
# remembered, over a simulated year, each retention scored on 16 seeded runs (42..57).
HORIZON_DAYS = 365
SEEDS = tuple(range(42, 58))
RETENTION_RANGE = (0.70, 0.95)  # fsrs-rs's search range, and Anki's clamp of its answer
ROWS_PER_READ = 10_000  # the log is read this many answers at a time
MOCK = "mock"  # mock interviews rate a whole answer's coverage, not the recall of one card


@dataclass(frozen=True)
class Evaluation:
    """How well a set of parameters predicts the answers, as Anki's evaluator scores it:
    log loss and RMSE over bins of similar histories, recent items weighted more."""

    log_loss: float
    rmse_bins: float

    def to_json(self) -> dict[str, float]:
        return {"log_loss": self.log_loss, "rmse_bins": self.rmse_bins}


@dataclass(frozen=True)
class SimulatorSettings:
    """What fsrs-rs's simulator needs beyond the parameters: the deck, the limits, and the
    user's rating habits and answer times (`fsrs_items.user_costs`)."""

    deck_size: int
    days: int
    new_per_day: int
    reviews_per_day: int
    maximum_interval: int
    learning_steps: int
    relearning_steps: int
    suspend_after_lapses: int | None
    costs: UserCosts

    @classmethod
    def of(cls, settings: Settings, deck_size: int, costs: UserCosts, days: int) -> Self:
        return cls(
            deck_size=max(1, deck_size),
            days=days,
            # With no new cards a day the simulated deck is never learned; the default
            # pace stands in.
            new_per_day=settings.new_per_day or Settings().new_per_day,
            reviews_per_day=settings.reviews_per_day,
            maximum_interval=settings.maximum_interval,
            learning_steps=len(settings.learning_steps),
            relearning_steps=len(settings.relearning_steps),
            suspend_after_lapses=settings.leech_threshold,
            costs=costs,
        )

    def to_fsrs_rs(self) -> fsrs_rs_python.SimulatorConfig:
        import fsrs_rs_python as rs

        costs = self.costs
        return rs.SimulatorConfig(
            deck_size=self.deck_size,
            learn_span=self.days,
            max_cost_perday=math.inf,
            max_ivl=float(self.maximum_interval),
            first_rating_prob=list(costs.first_rating_prob),
            review_rating_prob=list(costs.review_rating_prob),
            learn_limit=self.new_per_day,
            review_limit=self.reviews_per_day,
            # pmcards' new-card and review limits are counted apart.
            new_cards_ignore_review_limit=True,
            learning_step_transitions=[list(r) for r in costs.learning_step_transitions],
            relearning_step_transitions=[list(r) for r in costs.relearning_step_transitions],
            state_rating_costs=[list(r) for r in costs.state_rating_costs],
            learning_step_count=self.learning_steps,
            relearning_step_count=self.relearning_steps,
            suspend_after_lapses=self.suspend_after_lapses,
        )


@dataclass(frozen=True)
class Simulation:
    """One simulated run, day by day (index 0 is the first simulated day)."""

    reviews: tuple[int, ...]  # review answers (learned cards)
    learned: tuple[int, ...]  # new cards introduced
    seconds: tuple[float, ...]  # study time, from the user's answer times
    memorized: tuple[float, ...]  # sum of every learned card's recall probability


def simulate(
    parameters: Sequence[float],
    desired_retention: float,
    config: SimulatorSettings,
    seed: int = SEEDS[0],
) -> Simulation:
    """fsrs-rs's simulator: `config.deck_size` new cards learned at `config.new_per_day` a day
    and reviewed at `desired_retention` for `config.days` days. Deterministic for a seed.

    fsrs-rs-python 0.9.3 simulates a deck from scratch only: its `simulate` takes no cards
    already studied (fsrs-rs itself can; the binding does not pass them on)."""
    import fsrs_rs_python as rs

    result = rs.simulate(list(parameters), desired_retention, config.to_fsrs_rs(), seed)
    return Simulation(
        reviews=tuple(result.review_cnt_per_day),
        learned=tuple(result.learn_cnt_per_day),
        seconds=tuple(result.cost_per_day),
        memorized=tuple(result.memorized_cnt_per_day),
    )


@dataclass(frozen=True)
class Workload:
    """The simulated year at one desired retention, averaged over the seeds."""

    desired_retention: float
    minutes_per_day: float
    answers_per_day: float  # reviews and new cards
    remembered: float  # cards you would recall at the end (sum of recall probabilities)

    def to_json(self) -> dict[str, float]:
        return {
            "desired_retention": self.desired_retention,
            "minutes_per_day": self.minutes_per_day,
            "answers_per_day": self.answers_per_day,
            "remembered": self.remembered,
        }


def workload(
    parameters: Sequence[float], desired_retention: float, config: SimulatorSettings
) -> Workload:
    """The expected workload at a retention: the runs fsrs-rs's search scores it on."""
    runs = [simulate(parameters, desired_retention, config, seed) for seed in SEEDS]
    days = config.days
    return Workload(
        desired_retention=desired_retention,
        minutes_per_day=sum(sum(r.seconds) for r in runs) / len(runs) / days / 60,
        answers_per_day=sum(sum(r.reviews) + sum(r.learned) for r in runs) / len(runs) / days,
        remembered=sum(r.memorized[-1] for r in runs) / len(runs),
    )


def optimal_retention(parameters: Sequence[float], config: SimulatorSettings) -> float | None:
    """fsrs-rs's `optimal_retention` (what Anki's "compute minimum recommended retention"
    calls): the desired retention with the least simulated study time per card remembered,
    to two decimals. None when its search does not converge."""
    import fsrs_rs_python as rs

    try:
        value: float = rs.optimal_retention(config.to_fsrs_rs(), list(parameters))
    except ValueError:
        return None
    low, high = RETENTION_RANGE
    return round(min(max(value, low), high), 2)


@dataclass
class Fit:
    reviews: int  # answers in the training histories (Anki's "reviews")
    items: int  # training items: answers on a later day than the card's previous one
    cards: int
    current: tuple[float, ...]
    fitted: tuple[float, ...]
    current_score: Evaluation
    fitted_score: Evaluation
    desired_retention: float
    recommended_retention: float | None
    deck_size: int
    new_per_day: int
    workload_current: Workload | None
    workload_recommended: Workload | None
    next_day_at: datetime  # the study-day grid the fit counted days on, which --apply replays on
    rescheduled: int | None = None
    retention_set: float | None = None

    @property
    def changed(self) -> bool:
        return self.fitted != self.current

    def to_json(self) -> dict[str, Any]:
        """The `pmcards optimize --json` shape (stable: tests and scripts parse it)."""
        return {
            "reviews": self.reviews,
            "items": self.items,
            "cards": self.cards,
            "parameters": {
                "current": list(self.current),
                "fitted": list(self.fitted),
                "changed": self.changed,
            },
            "evaluation": {
                "current": self.current_score.to_json(),
                "fitted": self.fitted_score.to_json(),
            },
            "desired_retention": {
                "current": self.desired_retention,
                "recommended": self.recommended_retention,
            },
            "workload": {
                "days": HORIZON_DAYS,
                "deck_size": self.deck_size,
                "new_per_day": self.new_per_day,
                "current": self.workload_current.to_json() if self.workload_current else None,
                "recommended": (
                    self.workload_recommended.to_json() if self.workload_recommended else None
                ),
            },
            "applied": {
                "rescheduled": self.rescheduled,
                "desired_retention": self.retention_set,
            },
        }


def iter_answers(conn: Connection) -> Iterator[Answer]:
    """The whole review log, by card and in time order, read as a stream (a lifetime's log
    is millions of answers: held at once they took a gigabyte)."""
    query = select(
        L.card_id, L.reviewed_at, L.rating, L.state_before, L.duration_ms, L.source
    ).order_by(L.card_id, L.reviewed_at, L.id)
    kinds = {state: fsrs_items.kind_of(state) for state in range(4)}
    for card_id, when, rating, state_before, duration, source in conn.execute(
        query.execution_options(yield_per=ROWS_PER_READ)
    ):
        yield Answer(
            card_id=card_id,
            reviewed_at=when,
            rating=int(rating),
            kind=kinds[state_before],
            duration_ms=duration,
            recall=source != MOCK,
        )


def load_answers(conn: Connection) -> list[Answer]:
    """The whole review log, by card and in time order."""
    return list(iter_answers(conn))


def simulator_settings(
    conn: Connection, now: datetime, days: int = HORIZON_DAYS
) -> SimulatorSettings:
    """The simulator's settings for this collection: its limits, its cards (all but the
    suspended), and the user's rating habits and answer times from the log. With
    `simulate`, what another part of pmcards needs to simulate the user's study."""
    settings = settings_mod.load(conn)
    costs = fsrs_items.CostCounter(next_day_start(settings, now))
    for group in fsrs_items.by_card(iter_answers(conn)):
        costs.add(group)
    return _simulator_settings(conn, settings, costs.finish(), days)


def _simulator_settings(
    conn: Connection, settings: Settings, costs: UserCosts, days: int
) -> SimulatorSettings:
    unsuspended = select(func.count()).select_from(schema.cards).where(C.suspended.is_(False))
    deck_size = int(conn.scalar(unsuspended) or 0)
    return SimulatorSettings.of(settings, deck_size, costs, days)


def next_day_start(settings: Settings, now: datetime) -> datetime:
    """Anki's `next_day_at`: the start of the next study day, the origin of its day grid."""
    return study_day(now, settings.rollover_hour).end


def fit(conn: Connection, now: datetime) -> Fit:
    """Fit the parameters, score both sets, and recommend a desired retention. Raises a
    clear error when the log holds nothing to fit on."""
    require_engine()
    settings = settings_mod.load(conn)
    next_day_at = next_day_start(settings, now)
    # One pass over the log, a card at a time: the training items and the user's costs.
    builder = fsrs_items.TrainingBuilder(next_day_at)
    costs = fsrs_items.CostCounter(next_day_at)
    answers = 0
    for group in fsrs_items.by_card(iter_answers(conn)):
        builder.add(group)
        costs.add(group)
        answers += len(group)
    training = builder.finish()
    if not len(training):
        raise PmcardsError(
            f"too few reviews to fit: {answers} answers, none of them on a later day "
            "than the card's previous answer. Keep reviewing and try again; until then the "
            "default parameters serve you well."
        )
    current = settings.fsrs_parameters()
    items, card_ids = _fsrs_rs_items(training)
    reviews, cards, item_count = training.reviews, training.cards, len(items)
    del builder, training  # the fit needs only fsrs-rs's items: free the rest first
    fitted, current_score, fitted_score = fit_parameters(
        items, card_ids, current, _relearning_steps(settings)
    )
    del items, card_ids
    config = _simulator_settings(conn, settings, costs.finish(), HORIZON_DAYS)
    recommended = optimal_retention(fitted, config)
    workload_current = workload(fitted, settings.desired_retention, config)
    workload_recommended: Workload | None = workload_current
    if recommended is None:
        workload_recommended = None
    elif recommended != settings.desired_retention:
        workload_recommended = workload(fitted, recommended, config)
    return Fit(
        reviews=reviews,
        items=item_count,
        cards=cards,
        current=current,
        fitted=fitted,
        current_score=current_score,
        fitted_score=fitted_score,
        desired_retention=settings.desired_retention,
        recommended_retention=recommended,
        deck_size=config.deck_size,
        new_per_day=config.new_per_day,
        workload_current=workload_current,
        workload_recommended=workload_recommended,
        next_day_at=next_day_at,
    )


def fit_parameters(
    items: list[fsrs_rs_python.FSRSItem],
    card_ids: list[int],
    current: tuple[float, ...],
    relearning_steps: int,
) -> tuple[tuple[float, ...], Evaluation, Evaluation]:
    """fsrs-rs's fit, as Anki's `compute_params` runs it: Anki's outlier filter and recency
    weights (both inside fsrs-rs), 8 epochs, and the current parameters kept when the fit
    does not predict the log better. Returns the parameters, and the scores of the current
    and of the returned set."""
    import fsrs_rs_python as rs

    try:
        fitted = rs.FSRS(list(current)).compute_parameters(
            items,
            card_ids=card_ids,
            enable_short_term=True,
            num_relearning_steps=relearning_steps,
            training_config=rs.TrainingConfig(num_epochs=EPOCHS),
        )
    except ValueError as exc:
        raise PmcardsError(f"FSRS could not fit your review log: {exc}") from None
    result = tuple(_shortest(w) for w in fitted)
    current_score, fitted_score = evaluate(current, items), evaluate(result, items)
    if current_score.log_loss <= fitted_score.log_loss and (
        relearning_steps <= 1 or _short_term_shrinks(current, relearning_steps)
    ):
        return current, current_score, current_score
    return result, current_score, fitted_score


def _shortest(value: float) -> float:
    """fsrs-rs works in 32-bit floats: the shortest decimal that is the same 32-bit value
    (what Anki shows and stores). A bound such as 0.8 is 0.800000011920929 as a 32-bit
    float, which py-fsrs's range check would refuse; 0.8 is the value meant."""

    def single(x: float) -> float:
        return float(struct.unpack("f", struct.pack("f", x))[0])

    target = single(value)
    for digits in range(1, 10):  # 9 significant digits always round-trip a 32-bit float
        shortest = float(f"{target:.{digits}g}")
        if single(shortest) == target:
            return shortest
    return target


def _short_term_shrinks(parameters: tuple[float, ...], relearning_steps: int) -> bool:
    """Anki's second test, with several relearning steps in a day: keep the current set
    only if its relearning steps leave a lapsed card's stability below where it began."""
    import fsrs_rs_python as rs

    fsrs = rs.FSRS(list(parameters))
    start = rs.MemoryState(1.0, 1.0)
    memory = fsrs.next_states(start, 0.9, 2).again.memory
    for _ in range(relearning_steps):
        memory = fsrs.next_states(memory, 0.9, 0).good.memory
    return memory.stability < start.stability


def evaluate(parameters: Sequence[float], items: list[fsrs_rs_python.FSRSItem]) -> Evaluation:
    """Anki's evaluator (`evaluate_params_legacy`): fsrs-rs's evaluation on every item."""
    import fsrs_rs_python as rs

    try:
        result = rs.FSRS(list(parameters)).evaluate(items)
    except ValueError as exc:
        raise PmcardsError(f"FSRS could not score the parameters: {exc}") from None
    return Evaluation(log_loss=float(result.log_loss), rmse_bins=float(result.rmse_bins))


def _fsrs_rs_items(
    training: TrainingSet,
) -> tuple[list[fsrs_rs_python.FSRSItem], list[int]]:
    """fsrs-rs's items in Anki's order, made a card at a time: each item copies its
    reviews into Rust, so a card's FSRSReview objects live only while its items are made."""
    import fsrs_rs_python as rs

    made: list[fsrs_rs_python.FSRSItem] = []
    lengths = training.item_lengths
    start = 0
    for index, pairs in enumerate(training.history_reviews):
        reviews = [rs.FSRSReview(r, d) for r, d in pairs]
        end = start
        while end < len(lengths) and training.item_histories[end] == index:
            made.append(rs.FSRSItem(reviews[: lengths[end]]))
            end += 1
        start = end
    return [made[i] for i in training.order], training.card_ids()


def _relearning_steps(settings: Settings) -> int:
    minutes = [step.total_seconds() / 60 for step in settings.relearning_step_deltas()]
    return fsrs_items.relearning_steps_in_a_day(minutes)


def replay_histories(
    answers: Iterable[Answer], next_day_at: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """Each card's answers from the first of its last learning run: what `apply` replays.
    A card with no learning answer in its log (brought in with memory) is left alone."""
    histories: dict[int, list[tuple[datetime, int]]] = {}
    for group in fsrs_items.by_card(answers):
        history = fsrs_items.card_history(group, next_day_at)
        if history is not None:
            histories[history.card_id] = _replayed(history)
    return histories


def _replayed(history: fsrs_items.CardHistory) -> list[tuple[datetime, int]]:
    return [(a.reviewed_at, a.rating) for a in history.answers]


def apply(
    conn: Connection, result: Fit, now: datetime, desired_retention: float | None = None
) -> int:
    """Save the fitted parameters (and the desired retention, if given), and give each card
    with a history the memory and due date they give it, its answers replayed through
    py-fsrs as the review session would have scheduled them. Returns the cards
    rescheduled."""
    if desired_retention is not None:
        settings_mod.save(conn, "desired_retention", desired_retention)
        result.retention_set = desired_retention
    if result.changed:
        settings_mod.save(conn, "parameters", result.fitted)
    if not result.changed and desired_retention is None:
        return 0
    settings = replace(settings_mod.load(conn), fuzz=False)
    # The log is read again, a card at a time, rather than kept from the fit, and the cards
    # are changed a chunk at a time: at a lifetime's log neither is held whole.
    replayed: list[tuple[int, Memory]] = []
    moved = 0
    for group in fsrs_items.by_card(iter_answers(conn)):
        history = fsrs_items.card_history(group, result.next_day_at)
        if history is None:
            continue
        replayed.append((history.card_id, scheduling.replay(settings, _replayed(history))[-1][1]))
        if len(replayed) == queries.CHUNK:
            moved += _reschedule(conn, replayed, now)
            replayed = []
    return moved + _reschedule(conn, replayed, now)


def _reschedule(conn: Connection, replayed: list[tuple[int, Memory]], now: datetime) -> int:
    """Give each card its replayed memory; a card the log names but the collection no
    longer has is skipped."""
    ids = [card_id for card_id, _ in replayed]
    current = {
        row.id: cardstate.memory_of(row)
        for row in conn.execute(select(C.id, *MEMORY).where(C.id.in_(ids)))
    }
    moves = []
    for card_id, memory in replayed:
        before = current.get(card_id)
        if before is None:
            continue
        # The replay recounts answers and lapses from the fitted history; what the card
        # counted stays (an imported card may have answers from before its log).
        moves.append((card_id, before, replace(memory, reps=before.reps, lapses=before.lapses)))
    changes.apply(conn, "optimize", now, moves)
    return len(moves)


def require_engine() -> None:
    """fsrs-rs-python is a default dependency, but a broken install should say what is
    missing rather than show a traceback. It loads here, on first use."""
    try:
        import fsrs_rs_python  # noqa: F401
    except ImportError:
        raise PmcardsError(
            "FSRS's Rust engine (the fsrs-rs-python package) is missing: reinstall pmcards "
            "with pip install --force-reinstall pmcards"
        ) from None


# -- the report ------------------------------------------------------------------------------


def format_result(result: Fit) -> str:
    lines = [
        f"Fitted on {result.items:,} of your answers ({result.reviews:,} answers to "
        f"{result.cards:,} cards; an answer counts when it falls on a later day than the "
        "card's previous one, as in Anki).",
        "",
        "      current    fitted",
    ]
    for i, (old, new) in enumerate(zip(result.current, result.fitted, strict=True)):
        lines.append(f"w{i:<3} {old:>8.4f}  {new:>8.4f}")
    if not result.changed:
        lines.append("Your current parameters already predict your answers best: kept.")
    before, after = result.current_score, result.fitted_score
    lines += [
        "",
        "How well each set predicts your answers (Anki's evaluator; lower is better):",
        f"  log loss     {before.log_loss:.4f} current, {after.log_loss:.4f} fitted",
        f"  RMSE (bins)  {before.rmse_bins:.4f} current, {after.rmse_bins:.4f} fitted",
        "",
    ]
    lines += _format_retention(result)
    return "\n".join(lines)


def _format_retention(result: Fit) -> list[str]:
    current = result.desired_retention
    recommended = result.recommended_retention
    lines = []
    if recommended is None:
        lines.append(
            f"Desired retention: {current:.2f}. FSRS's search for the retention with the "
            "least work did not settle: no recommendation."
        )
    else:
        lines.append(
            f"Desired retention: {current:.2f} now, {recommended:.2f} recommended: the least "
            f"study time per card remembered, in a simulated year of {result.deck_size:,} cards "
            f"learned at {result.new_per_day} a day, with your answer times and the fitted "
            "parameters."
        )
    for load in (result.workload_current, result.workload_recommended):
        if load is not None and (load is result.workload_current or recommended != current):
            lines.append(
                f"  at {load.desired_retention:.2f}: {load.minutes_per_day:.1f} min a day, "
                f"{load.answers_per_day:,.0f} answers a day, {load.remembered:,.0f} cards "
                "remembered after a year"
            )
    return lines


def format_applied(result: Fit) -> str:
    if result.rescheduled is None:
        return (
            "Nothing saved: pmcards optimize --apply saves the fitted parameters and "
            "offers the recommended retention."
        )
    done = []
    if result.changed:
        done.append("Saved the fitted parameters")
    if result.retention_set is not None:
        done.append(f"set desired retention to {result.retention_set:.2f}")
    if not done:
        return "Nothing to change: your parameters are already the best fit."
    done.append(f"rescheduled {result.rescheduled:,} cards")
    said = ", ".join(done[:-1]) + " and " + done[-1]
    return (
        f"{said[0].upper()}{said[1:]}. "
        "(pmcards config parameters --reset goes back to the default parameters.)"
    )
