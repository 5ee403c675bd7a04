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
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    """Anki's training items. Taken in `order`, item i is the first `item_lengths[i]`
    reviews of history `item_histories[i]`, its last review the answer to predict: the
    order of that answer's time, as Anki sorts them (the evaluator weighs recent items
    more). Unordered, the items come card by card.

    Compact, because a lifetime's log is large (1.5 million answers make 1.36 million
    items): a history is its (rating, delta_t) pairs, each pair one shared tuple, and the
    items are integer arrays, not a million small objects.
    """

    history_cards: list[int]  # the card of each history
    history_reviews: list[tuple[tuple[int, int], ...]]  # (rating, delta_t) per answer
    item_histories: array[int]  # card by card
    item_lengths: array[int]
    order: array[int]  # the items by their answer's time
    reviews: int  # answers in the histories (Anki's "reviews" count)

    def __len__(self) -> int:
        return len(self.item_lengths)

    @property
    def cards(self) -> int:
        return len(self.history_cards)

    def card_ids(self) -> list[int]:
        cards, histories = self.history_cards, self.item_histories
        return [cards[histories[i]] for i in self.order]

    def item_reviews(self) -> list[list[tuple[int, int]]]:
        reviews, histories, lengths = self.history_reviews, self.item_histories, self.item_lengths
        return [list(reviews[histories[i]][: lengths[i]]) for i in self.order]


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class TrainingBuilder:
    """Anki's `fsrs_items_for_training`, a card at a time: `add` each card's answers (in
    time order), then `finish`. Nothing of an answer is kept but its rating and delta_t,
    so the log can be read as a stream."""

    def __init__(self, next_day_at: datetime) -> None:
        self.next_day_at = next_day_at
        self._cards: list[int] = []
        self._reviews: list[tuple[tuple[int, int], ...]] = []
        self._pairs: dict[tuple[int, int], tuple[int, int]] = {}
        self._times = array("q")  # the target answer's time, in microseconds
        self._histories = array("i")
        self._lengths = array("i")
        self._answers = 0

    def add(self, answers: Sequence[Answer]) -> None:
        history = card_history(answers, self.next_day_at)
        if history is None:
            return
        index = len(self._cards)
        targets = 0
        for length, (answer, delta_t) in enumerate(
            zip(history.answers, history.delta_ts, strict=True), start=1
        ):
            if length >= 2 and delta_t > 0 and answer.recall:
                self._times.append((answer.reviewed_at - _EPOCH) // _MICROSECOND)
                self._histories.append(index)
                self._lengths.append(length)
                targets += 1
        if not targets:
            # Anki drops a card that gives no item (and does not count its answers).
            return
        pairs = self._pairs
        self._cards.append(history.card_id)
        self._reviews.append(tuple(pairs.setdefault(p, p) for p in history.reviews))
        self._answers += len(history.answers)

    def finish(self) -> TrainingSet:
        times = self._times
        # Stable: ties keep card order, as Anki's sort does.
        order = array("i", sorted(range(len(times)), key=times.__getitem__))
        return TrainingSet(
            history_cards=self._cards,
            history_reviews=self._reviews,
            item_histories=self._histories,
            item_lengths=self._lengths,
            order=order,
            reviews=self._answers,
        )


def training_set(answers: Iterable[Answer], next_day_at: datetime) -> TrainingSet:
    """Anki's `fsrs_items_for_training` over the whole log. `answers` must come grouped by
    card and, within a card, in time order."""
    builder = TrainingBuilder(next_day_at)
    for group in by_card(answers):
        builder.add(group)
    return builder.finish()


def by_card(answers: Iterable[Answer]) -> Iterator[list[Answer]]:
    """The answers of each card in turn, from a log grouped by card."""
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
    by_card_id: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        by_card_id[a.card_id].append(a)
    counter = CostCounter(next_day_at)
    for group in by_card_id.values():
        counter.add(group)
    return counter.finish()


class CostCounter:
    """`user_costs` a card at a time: `add` each card's answers (all of them, in time
    order), then `finish`. Keeps counts only, so the log can be read as a stream."""

    def __init__(self, next_day_at: datetime) -> None:
        self.cutoff = int(next_day_at.timestamp())
        self.durations: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        self.counts = [[0] * 4 for _ in range(3)]
        # The answers of one card on one day: the first one's kind and rating, and which
        # rating followed which (fsrs-rs's learning and relearning step transitions).
        self.first_buttons: dict[tuple[int, int], int] = defaultdict(int)
        self.learning = [[0.0] * 4 for _ in range(4)]
        self.relearning = [[0.0] * 4 for _ in range(4)]

    def add(self, answers: Sequence[Answer]) -> None:
        days: dict[int, list[Answer]] = defaultdict(list)
        for a in answers:
            if not (a.recall and a.duration_ms is not None and 0 < a.duration_ms < MAX_DURATION_MS):
                continue
            total = self.durations[(a.kind, a.rating - 1)]
            total[0] += int(a.duration_ms)
            total[1] += 1
            self.counts[a.kind][a.rating - 1] += 1
            # Rust's integer division truncates towards zero (the log lies before the cutoff).
            offset = math.floor(a.reviewed_at.timestamp()) - self.cutoff
            days[int(offset / DAY_SECONDS)].append(a)
        for group in days.values():
            first = group[0]
            self.first_buttons[(first.kind, first.rating)] += 1
            if first.kind == LEARN:
                counts = self.learning
            elif first.kind == REVIEW and first.rating == 1:
                counts = self.relearning
            else:
                continue
            for current, following in itertools.pairwise(group):
                counts[current.rating - 1][following.rating - 1] += 1.0

    def finish(self) -> UserCosts:
        costs = [[0.0] * 4 for _ in range(3)]
        for (kind, rating), (total, count) in self.durations.items():
            costs[kind][rating] = (total // count) / 1000.0
        first_buttons = self.first_buttons
        learn_buttons = [first_buttons[(LEARN, r)] for r in range(1, 5)]
        if not any(learn_buttons):
            learn_buttons = [1, 1, 1, 1]
        review_buttons = [first_buttons[(REVIEW, r)] for r in range(1, 5)]
        if not any(review_buttons[1:]):
            review_buttons = [review_buttons[0], 1, 1, 1]
        first_rating_prob = [b / sum(learn_buttons) for b in learn_buttons]
        review_rating_prob = [b / sum(review_buttons[1:]) for b in review_buttons[1:]]
        learning, learning_counts = _transitions(self.learning)
        relearning, relearning_counts = _transitions(self.relearning)

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
                costs, DEFAULT_STATE_RATING_COSTS, self.counts, strict=True
            )
        ]
        return UserCosts(
            first_rating_prob=tuple(first_rating_prob),
            review_rating_prob=tuple(review_rating_prob),
            learning_step_transitions=tuple(tuple(row) for row in learning),
            relearning_step_transitions=tuple(tuple(row) for row in relearning),
            state_rating_costs=tuple(tuple(row) for row in state_costs),
        )


def _transitions(pairs: list[list[float]]) -> tuple[list[list[float]], list[list[float]]]:
    """fsrs-rs's `calculate_transitions` (4 ratings, Laplace smoothing 1) from the counts of
    each rating following each within a day: the probability of each next rating after
    each rating; the first three rows are used."""
    counts = [[c + 1.0 for c in row] for row in pairs]
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
    "CostCounter",
    "TrainingBuilder",
    "TrainingSet",
    "UserCosts",
    "by_card",
    "card_history",
    "elapsed_days",
    "kind_of",
    "relearning_steps_in_a_day",
    "training_set",
    "user_costs",
]
