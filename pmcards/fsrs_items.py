"""The review log as Anki hands it to FSRS: training items, and the simulator's inputs.

Anki's optimizer (fsrs-rs) is fed by rules in Anki's `rslib/src/scheduler/fsrs/params.rs`
(`fsrs_items_for_training`, `reviews_for_fsrs`) and fsrs-rs's `extract_simulator_config`.
They are ported here, line for line where it matters, so that `pmcards optimize` fits and
scores on exactly the set Anki would build from the same log. Pure: plain data in, plain
data out; no database and no FSRS import.

- A card's history starts at the first answer of its *last* run of learning answers (a card
  reset to new and learned again starts afresh); a card with no learning answer is left out.
- Elapsed days are counted on Anki's grid: whole 86,400-second days back from the start of
  the next study day, not 24-hour windows after the previous answer.
- Every answer stays in its card's history, but only an answer on a later day than the one
  before it is a training item (same-day learning and relearning steps are context, with
  `delta_t` 0, as in Anki).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

# Anki's review kinds (the revlog's `type`), which is what fsrs-rs reads: the card's state
# before the answer.
LEARN, REVIEW, RELEARN = 0, 1, 2
DAY_SECONDS = 86_400
# fsrs-rs's cost model ignores answers timed at 0 or at 20 minutes and over.
MAX_DURATION_MS = 1_200_000


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the review log, as the training set needs it."""

    card_id: int
    reviewed_at: datetime  # UTC-aware
    rating: int  # 1 Again .. 4 Easy
    kind: int  # LEARN, REVIEW or RELEARN: the card's state before the answer
    duration_ms: int | None = None
    # False: the answer shaped the card's memory, but its rating is not a recall (a mock
    # interview rates coverage). It stays in the history and is never a training target.
    recall: bool = True


def kind_of(state_before: int) -> int:
    """pmcards' card state before an answer (schema.NEW .. RELEARNING) as Anki's kind."""
    # schema: NEW 0, LEARNING 1, REVIEW 2, RELEARNING 3; a new card's first answer is a
    # learning answer in Anki's log too.
    return {0: LEARN, 1: LEARN, 3: RELEARN}.get(state_before, REVIEW)


def elapsed_days(when: datetime, next_day_at: datetime) -> int:
    """Anki's `RevlogEntry::days_elapsed`: whole days from `when` to the next day's start.

    Counted in seconds (Anki's revlog id is in milliseconds; it divides by 1000 first) and
    truncated, so a difference of two of these is the number of study-day boundaries
    between two answers. Anki counts 86,400-second days back from the next rollover, so
    across a daylight-saving change its grid is an hour off the local clock: we follow it.
    """
    seconds = int(next_day_at.timestamp()) - math.floor(when.timestamp())
    return max(0, seconds // DAY_SECONDS)


@dataclass(frozen=True)
class CardHistory:
    """A card's answers from the first of its last learning run, with Anki's delta_t."""

    card_id: int
    answers: tuple[Answer, ...]
    delta_ts: tuple[int, ...]  # days since the previous answer, on Anki's grid (0 first)

    @property
    def reviews(self) -> list[tuple[int, int]]:
        """(rating, delta_t) per answer: what fsrs-rs's FSRSReview holds."""
        return [(a.rating, d) for a, d in zip(self.answers, self.delta_ts, strict=True)]


@dataclass(frozen=True)
class TrainingSet:
    """Anki's training items: item i is the first `length` reviews of history
    `histories[index]`, its last review the answer to predict. Items are in the order of
    that answer's time, as Anki sorts them (the evaluator weighs recent items more)."""

    histories: list[CardHistory]
    items: list[tuple[int, int]]  # (index into histories, length)
    reviews: int  # answers in the histories (Anki's "reviews" count)

    def card_ids(self) -> list[int]:
        return [self.histories[index].card_id for index, _ in self.items]

    def item_reviews(self) -> list[list[tuple[int, int]]]:
        reviews = [h.reviews for h in self.histories]
        return [reviews[index][:length] for index, length in self.items]


def card_history(answers: Sequence[Answer], next_day_at: datetime) -> CardHistory | None:
    """Anki's `reviews_for_fsrs` for training: one card's answers in time order, cut to start
    at the first answer of the last run of learning answers; None without one."""
    start = None
    for index in range(len(answers) - 1, -1, -1):
        if answers[index].kind == LEARN:
            start = index
        elif start is not None:
            break
    if start is None:
        return None
    kept = tuple(answers[start:])
    days = [elapsed_days(a.reviewed_at, next_day_at) for a in kept]
    delta_ts = (0, *(before - after for before, after in itertools.pairwise(days)))
    return CardHistory(kept[0].card_id, kept, delta_ts)


def training_set(answers: Iterable[Answer], next_day_at: datetime) -> TrainingSet:
    """Anki's `fsrs_items_for_training` over the whole log. `answers` must come grouped by
    card and, within a card, in time order."""
    histories: list[CardHistory] = []
    keyed: list[tuple[datetime, int, int]] = []  # (target answer's time, history, length)
    reviews = 0
    for group in _by_card(answers):
        history = card_history(group, next_day_at)
        if history is None:
            continue
        targets = [
            (answer.reviewed_at, len(histories), length)
            for length, (answer, delta_t) in enumerate(
                zip(history.answers, history.delta_ts, strict=True), start=1
            )
            if length >= 2 and delta_t > 0 and answer.recall
        ]
        if not targets:
            # Anki drops a card that gives no item (and does not count its answers).
            continue
        histories.append(history)
        keyed.extend(targets)
        reviews += len(history.answers)
    keyed.sort(key=lambda k: k[0])  # stable: ties keep card order, as Anki's sort does
    return TrainingSet(histories, [(index, length) for _, index, length in keyed], reviews)


def _by_card(answers: Iterable[Answer]) -> Iterable[list[Answer]]:
    group: list[Answer] = []
    for answer in answers:
        if group and answer.card_id != group[0].card_id:
            yield group
            group = []
        group.append(answer)
    if group:
        yield group


def relearning_steps_in_a_day(steps_minutes: Sequence[float]) -> int:
    """The relearning steps that fit in a day, as Anki's deck options count them for the
    optimizer (steps whose running total reaches a day are left out)."""
    total = 0.0
    count = 0
    for minutes in steps_minutes:
        total += minutes
        if total >= 1440:
            break
        count += 1
    return count


# -- the simulator's inputs from the log: fsrs-rs's `extract_simulator_config` ------------

# fsrs-rs's SimulatorConfig::default(), what the user's own figures are smoothed towards.
DEFAULT_FIRST_RATING_PROB = (0.24, 0.094, 0.495, 0.171)
DEFAULT_REVIEW_RATING_PROB = (0.224, 0.631, 0.145)
DEFAULT_LEARNING_STEP_TRANSITIONS = (
    (0.3686, 0.0628, 0.5108, 0.0577),
    (0.0442, 0.4553, 0.4457, 0.0549),
    (0.0519, 0.047, 0.8462, 0.055),
)
DEFAULT_RELEARNING_STEP_TRANSITIONS = (
    (0.2157, 0.0643, 0.6595, 0.0604),
    (0.05, 0.4638, 0.4475, 0.0387),
    (0.1057, 0.1434, 0.7266, 0.0244),
)
DEFAULT_STATE_RATING_COSTS = (
    (19.58, 18.79, 13.78, 10.71),
    (19.38, 17.59, 12.38, 8.94),
    (16.44, 15.25, 12.32, 8.03),
)

Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class UserCosts:
    """What the simulator learns from the log: how the user rates a new card and a review,
    how learning and relearning steps go, and the seconds each answer takes, by state
    (learning, review, relearning) and rating. Each is the user's own figure, smoothed
    towards fsrs-rs's defaults by weight n / (n + 50)."""

    first_rating_prob: tuple[float, ...]  # Again, Hard, Good, Easy on a new card
    review_rating_prob: tuple[float, ...]  # Hard, Good, Easy on a recalled review
    learning_step_transitions: Matrix  # rows: after Again, Hard, Good; columns: next rating
    relearning_step_transitions: Matrix
    state_rating_costs: Matrix  # seconds; rows: learning, review, relearning


def user_costs(answers: Iterable[Answer], next_day_at: datetime) -> UserCosts:
    """fsrs-rs's `extract_simulator_config(revlog, next_day_at, smooth=true)`, which Anki
    runs on the review log for its simulator and its recommended retention. Answers that
    are not recalls (mock interviews, timed as a whole interview) are left out."""
    timed = [
        a
        for a in answers
        if a.recall and a.duration_ms is not None and 0 < a.duration_ms < MAX_DURATION_MS
    ]
    durations: dict[tuple[int, int], list[int]] = defaultdict(list)
    counts = [[0] * 4 for _ in range(3)]
    for a in timed:
        durations[(a.kind, a.rating - 1)].append(int(a.duration_ms or 0))
        counts[a.kind][a.rating - 1] += 1
    costs = [[0.0] * 4 for _ in range(3)]
    for (kind, rating), values in durations.items():
        costs[kind][rating] = (sum(values) // len(values)) / 1000.0

    # The answers of one card on one day: the first one's kind and rating, and the ratings.
    cutoff = int(next_day_at.timestamp())
    days: dict[tuple[int, int], list[Answer]] = defaultdict(list)
    for a in timed:
        # Rust's integer division truncates towards zero (the log lies before the cutoff).
        offset = math.floor(a.reviewed_at.timestamp()) - cutoff
        days[(a.card_id, int(offset / DAY_SECONDS))].append(a)
    first_buttons: dict[tuple[int, int], int] = defaultdict(int)
    learning_sequences: list[list[int]] = []
    relearning_sequences: list[list[int]] = []
    for group in days.values():
        first = group[0]
        first_buttons[(first.kind, first.rating)] += 1
        ratings = [a.rating for a in group]
        if first.kind == LEARN:
            learning_sequences.append(ratings)
        elif first.kind == REVIEW and first.rating == 1:
            relearning_sequences.append(ratings)

    learn_buttons = [first_buttons[(LEARN, r)] for r in range(1, 5)]
    if not any(learn_buttons):
        learn_buttons = [1, 1, 1, 1]
    review_buttons = [first_buttons[(REVIEW, r)] for r in range(1, 5)]
    if not any(review_buttons[1:]):
        review_buttons = [review_buttons[0], 1, 1, 1]
    first_rating_prob = [b / sum(learn_buttons) for b in learn_buttons]
    review_rating_prob = [b / sum(review_buttons[1:]) for b in review_buttons[1:]]
    learning, learning_counts = _transitions(learning_sequences)
    relearning, relearning_counts = _transitions(relearning_sequences)

    weight = _weight(sum(learn_buttons))
    first_rating_prob = _lerp_all(first_rating_prob, DEFAULT_FIRST_RATING_PROB, weight)
    weight = _weight(sum(review_buttons[1:]))
    review_rating_prob = _lerp_all(review_rating_prob, DEFAULT_REVIEW_RATING_PROB, weight)
    learning = [
        _lerp_all(row, default, _weight(sum(row_counts)))
        for row, default, row_counts in zip(
            learning, DEFAULT_LEARNING_STEP_TRANSITIONS, learning_counts, strict=False
        )
    ]
    relearning = [
        _lerp_all(row, default, _weight(sum(row_counts)))
        for row, default, row_counts in zip(
            relearning, DEFAULT_RELEARNING_STEP_TRANSITIONS, relearning_counts, strict=False
        )
    ]
    state_costs = [
        [
            _two_decimals(_lerp(cost, default, _weight(count)))
            for cost, default, count in zip(row, default_row, row_counts, strict=True)
        ]
        for row, default_row, row_counts in zip(
            costs, DEFAULT_STATE_RATING_COSTS, counts, strict=True
        )
    ]
    return UserCosts(
        first_rating_prob=tuple(first_rating_prob),
        review_rating_prob=tuple(review_rating_prob),
        learning_step_transitions=tuple(tuple(row) for row in learning),
        relearning_step_transitions=tuple(tuple(row) for row in relearning),
        state_rating_costs=tuple(tuple(row) for row in state_costs),
    )


def _transitions(sequences: list[list[int]]) -> tuple[list[list[float]], list[list[float]]]:
    """fsrs-rs's `calculate_transitions` (4 ratings, Laplace smoothing 1): the probability
    of each next rating after each rating within a day; the first three rows are used."""
    counts = [[0.0] * 4 for _ in range(4)]
    for sequence in sequences:
        for current, following in itertools.pairwise(sequence):
            counts[current - 1][following - 1] += 1.0
    counts = [[c + 1.0 for c in row] for row in counts]
    matrix = [[c / sum(row) for c in row] for row in counts]
    return matrix[:3], counts[:3]


def _weight(count: float) -> float:
    return count / (50.0 + count)


def _lerp(own: float, default: float, weight: float) -> float:
    return weight * own + (1.0 - weight) * default


def _lerp_all(own: Sequence[float], default: Sequence[float], weight: float) -> list[float]:
    return [_lerp(o, d, weight) for o, d in zip(own, default, strict=True)]


def _two_decimals(value: float) -> float:
    # Rust's f32::round: halves away from zero (Python's round() goes to even).
    return math.floor(value * 100.0 + 0.5) / 100.0


__all__ = [
    "LEARN",
    "RELEARN",
    "REVIEW",
    "Answer",
    "CardHistory",
    "TrainingSet",
    "UserCosts",
    "card_history",
    "elapsed_days",
    "kind_of",
    "relearning_steps_in_a_day",
    "training_set",
    "user_costs",
]
