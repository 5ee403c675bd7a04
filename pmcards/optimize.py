"""Fitting FSRS's parameters to the user's own review log, with py-fsrs's optimizer.

The optimizer needs PyTorch, so it is an optional extra (`pmcards[optimizer]`) and loads
only here. The fit, the comparison and the rescheduling all replay each card's answers
through py-fsrs: a card's memory is a function of its history and the parameters.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fsrs import Rating
from sqlalchemy import select

from pmcards import scheduling, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import NEW
from pmcards.errors import PmcardsError
from pmcards.queries import C, L
from pmcards.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# py-fsrs's optimizer returns its defaults below one mini-batch of reviews (512) that fall on
# a later day than the card's previous answer; we say so rather than "fit" the defaults.
MIN_REVIEWS = 512
WORKLOAD_DAYS = 30
# Mock interviews rate a whole answer's coverage, not recall of one card: not fitted on.
FIT_SOURCES = ("review", "drill", "import")


@dataclass
class Fit:
    reviews: int  # answers in the log used for fitting
    usable: int  # of them, on a later day than the card's previous answer
    old: tuple[float, ...]
    new: tuple[float, ...] | None = None
    loss_old: float | None = None
    loss_new: float | None = None
    workload_old: int = 0  # reviews in the next WORKLOAD_DAYS days, every answer Good
    workload_new: int = 0
    cards: int = 0  # cards with a history
    rescheduled: int | None = None
    histories: dict[int, list[tuple[datetime, int]]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "reviews": self.reviews,
            "usable_reviews": self.usable,
            "minimum": MIN_REVIEWS,
            "old_parameters": list(self.old),
            "new_parameters": list(self.new) if self.new is not None else None,
            "log_loss_old": self.loss_old,
            "log_loss_new": self.loss_new,
            "workload_days": WORKLOAD_DAYS,
            "workload_old": self.workload_old,
            "workload_new": self.workload_new,
            "cards": self.cards,
            "rescheduled": self.rescheduled,
        }


def load_histories(conn: Connection) -> dict[int, list[tuple[datetime, int]]]:
    """Each card's answers (time, rating), in order, for the cards whose log starts at
    their first answer (a card brought in with memory but a partial log is left alone)."""
    rows = conn.execute(
        select(L.card_id, L.reviewed_at, L.rating, L.state_before)
        .where(L.source.in_(FIT_SOURCES))
        .order_by(L.card_id, L.reviewed_at, L.id)
    )
    histories: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    complete: dict[int, bool] = {}
    for card_id, when, rating, state_before in rows:
        if card_id not in complete:
            complete[card_id] = state_before == NEW
        histories[card_id].append((when, int(rating)))
    return {cid: h for cid, h in histories.items() if complete[cid]}


def usable_reviews(histories: dict[int, list[tuple[datetime, int]]]) -> int:
    return sum(
        1
        for history in histories.values()
        for (before, _), (when, _) in itertools.pairwise(history)
        if (when - before).days > 0
    )


def optimizer_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "pandas", "tqdm"))


def fit(conn: Connection, now: datetime) -> Fit:
    """Fit the parameters; raises a clear error when the log is too small or the optimizer
    extra is missing."""
    settings = settings_mod.load(conn)
    histories = load_histories(conn)
    result = Fit(
        reviews=sum(len(h) for h in histories.values()),
        usable=usable_reviews(histories),
        old=settings.fsrs_parameters(),
        cards=len(histories),
        histories=histories,
    )
    if result.usable < MIN_REVIEWS:
        raise PmcardsError(
            f"too few reviews to fit: {result.usable} answers on a later day than the card's "
            f"previous one, and FSRS's optimizer needs at least {MIN_REVIEWS}. Keep reviewing "
            "and try again; until then the default parameters serve you well."
        )
    if not optimizer_installed():
        raise PmcardsError(
            "the FSRS optimizer is an optional extra: install it with "
            "pip install 'pmcards[optimizer]' (it brings PyTorch)"
        )
    from fsrs import ReviewLog
    from fsrs.optimizer import Optimizer

    logs = [
        ReviewLog(card_id=cid, rating=Rating(rating), review_datetime=when, review_duration=None)
        for cid, history in histories.items()
        for when, rating in history
    ]
    optimizer = Optimizer(logs)
    new = tuple(float(p) for p in optimizer.compute_optimal_parameters())
    result.new = new
    try:  # the optimizer's own loss: how well each set predicts your answers
        result.loss_old = round(optimizer._compute_batch_loss(parameters=list(result.old)), 4)
        result.loss_new = round(optimizer._compute_batch_loss(parameters=list(new)), 4)
    except AttributeError:  # pragma: no cover - a later py-fsrs may rename it
        pass
    result.workload_old = workload(replace(settings, parameters=result.old), histories, now)
    result.workload_new = workload(replace(settings, parameters=new), histories, now)
    return result


def workload(
    settings: Settings, histories: dict[int, list[tuple[datetime, int]]], now: datetime
) -> int:
    """Reviews over the next WORKLOAD_DAYS days under `settings`, from each card's replayed
    memory, if every answer is Good."""
    plain = replace(settings, fuzz=False)
    end = now + timedelta(days=WORKLOAD_DAYS)
    count = 0
    for card_id, history in histories.items():
        memory = scheduling.replay(plain, history)[-1][1]
        while memory.due < end:
            when = max(memory.due, now)
            memory = scheduling.outcomes(plain, memory, when, card_id)[Rating.Good].memory
            count += 1
    return count


def apply(conn: Connection, result: Fit, now: datetime) -> int:
    """Save the fitted parameters and give each card with a history the memory and due date
    the new parameters give it (its answers replayed). Returns the cards rescheduled."""
    if result.new is None:
        raise PmcardsError("nothing to apply: the fit did not run")
    settings_mod.save(conn, "parameters", result.new)
    settings = replace(settings_mod.load(conn), fuzz=False)
    existing = {row.id for row in conn.execute(select(C.id))}
    rows = []
    for card_id, history in result.histories.items():
        if card_id not in existing:
            continue
        memory = scheduling.replay(settings, history)[-1][1]
        rows.append(
            {
                "id": card_id,
                "state": memory.state,
                "step": memory.step,
                "stability": memory.stability,
                "difficulty": memory.difficulty,
                "due": memory.due,
                "last_review": memory.last_review,
            }
        )
    schema.update_rows(conn, schema.cards, rows)
    return len(rows)


def format_result(result: Fit) -> str:
    assert result.new is not None
    lines = [
        f"Fitted on {result.reviews} answers of {result.cards} cards "
        f"({result.usable} on a later day than the card's previous answer).",
        "",
        "      current    fitted",
    ]
    for i, (old, new) in enumerate(zip(result.old, result.new, strict=True)):
        lines.append(f"w{i:<3} {old:>8.4f}  {new:>8.4f}")
    if result.loss_old is not None and result.loss_new is not None:
        lines += ["", f"Log loss on your answers: {result.loss_old} now, {result.loss_new} fitted"]
    change = result.workload_new - result.workload_old
    pct = f" ({change / result.workload_old:+.0%})" if result.workload_old else ""
    lines.append(
        f"Expected reviews in the next {WORKLOAD_DAYS} days: {result.workload_old} now, "
        f"{result.workload_new} fitted{pct}"
    )
    if result.rescheduled is None:
        lines.append("Nothing saved: run pmcards optimize --apply to use the fitted parameters.")
    else:
        lines.append(
            f"Saved the fitted parameters and rescheduled {result.rescheduled} cards. "
            "(pmcards config parameters --reset goes back to the defaults.)"
        )
    return "\n".join(lines)
