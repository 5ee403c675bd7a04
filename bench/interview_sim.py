"""The interview plan against simple deadline policies, with a learner unlike the model.

    python bench/interview_sim.py                 # every scenario, 30 seeds; appends to RESULTS.md
    python bench/interview_sim.py --seeds 2 --no-write     # CI: tiny, never timed
    python bench/interview_sim.py --scenarios 0,5 --dump a.jsonl --no-write   # in parts
    python bench/interview_sim.py --report a.jsonl b.jsonl                    # then the tables

**The learner is not the scheduler's model.** Each simulated learner has its own FSRS
parameters: the default FSRS-6 parameters times a per-learner multiplier and, for each card,
a per-card multiplier, both LogNormal(0, σ) per parameter (clamped to py-fsrs's bounds).
The learner's true memory of a card is py-fsrs run with those parameters on the same
answers, at the same moments, on the study-day grid. Whether a card is recalled is drawn
from that true memory at the moment of each answer; a new card's first answer is Again 25%,
Hard 10%, Good 55%, Easy 10%; later a recalled card is Hard 10%, Good 80%, Easy 10%, a
forgotten one Again. The scheduler only ever sees the answers, with the default parameters.

**The sessions are pmcards' own.** Every policy runs on a real collection (SQLite in a temp
dir) through `ReviewSession`: its queue, its limits (raised by the plan), its answers (and
so the plan's placing of due dates, through the same code as `pmcards review`). The
learner studies every evening at 19:00 UTC (rollover 04:00, TZ UTC) until the queue is
empty, learning steps included (the clock moves 20 s per answer, and on to the next
learning step when only those are left). The interview is at 10:00 UTC on its day.

Policies (all introduce new cards at the plan's pace, so only reviews differ):
- `fsrs-0.90`, `fsrs-0.95`: plain FSRS at that desired retention;
- `fsrs-0.90+cram`, `fsrs-0.70+cram`: plain FSRS, then in each of the last 3 evenings every
  card whose FSRS-predicted recall at the interview is under 0.95 is answered once more;
- `plan`: `pmcards plan --interview DAY 10:00` (default budget).

Not in the tables, for a bound (`--policies fsrs-0.90+oracle`): `fsrs-0.90+oracle`, the
cram that knows the learner's true memory (no scheduler can).

Report, per scenario over the seeds: mean true recall at the interview (the mean over cards
of the true probability; a card never introduced counts 0), its 10th percentile over the
seeds, the share of cards at true recall >= 0.95, answers before the interview (learning
steps included), the busiest day, and the busiest day of the first 10 evenings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["TZ"] = "UTC"
time.tzset()

from fsrs import Card as FsrsCard  # noqa: E402
from fsrs import Rating, Scheduler, State  # noqa: E402
from fsrs.scheduler import (  # noqa: E402
    DEFAULT_PARAMETERS,
    LOWER_BOUNDS_PARAMETERS,
    UPPER_BOUNDS_PARAMETERS,
)

from pmcards import importer, interview, plan, scheduling, schema  # noqa: E402
from pmcards import settings as settings_mod  # noqa: E402
from pmcards.cardstate import NEW  # noqa: E402
from pmcards.review import ReviewSession  # noqa: E402
from pmcards.settings import Settings  # noqa: E402
from pmcards.store import Store  # noqa: E402

START = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # the first evening
INTERVIEW_HOUR = 10
CRAM_DAYS = 3
CRAM_BELOW = 0.95
POLICIES = ("fsrs-0.90", "fsrs-0.95", "fsrs-0.90+cram", "fsrs-0.70+cram", "plan")
BUILTIN_DECKS = (
    "Framing and judgement",
    "BAD vs GOOD answers",
    "Answer structure and preparation",
    "AI PM system design fundamentals",
    "LLM product risks",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    cards: int  # 0: the built-in decks
    days: int
    missed: float = 0.0  # chance of missing any evening
    miss_last: bool = False  # the last evening is missed
    sigma: float = 0.3


SCENARIOS = (
    Scenario("150 cards, 14 days", 150, 14),
    Scenario("150 cards, 30 days", 150, 30),
    Scenario("150 cards, 60 days", 150, 60),
    Scenario("built-in decks, 14 days", 0, 14),
    Scenario("built-in decks, 30 days", 0, 30),
    Scenario("150 cards, 14 days, 10% of days missed", 150, 14, missed=0.1),
    Scenario("150 cards, 14 days, last evening missed", 150, 14, miss_last=True),
    Scenario("150 cards, 30 days, last evening missed", 150, 30, miss_last=True),
)
TINY = (
    Scenario("30 cards, 7 days", 30, 7),
    Scenario("30 cards, 7 days, last evening missed", 30, 7, miss_last=True),
)
SIGMA_SCENARIOS = tuple(
    replace(s, name=f"{s.name}, σ = {sigma}", sigma=sigma)
    for s in (SCENARIOS[0], SCENARIOS[1])
    for sigma in (0.0, 0.5)
)


@dataclass
class Run:
    recall: float  # mean true recall at the interview
    at_95: float  # share of cards at true recall >= 0.95
    answers: int  # answers before the interview
    peak: int  # the busiest day
    early_peak: int  # the busiest of the first 10 evenings (the learning phase)


# -- the learner -------------------------------------------------------------------------


class Learner:
    """True memories: py-fsrs with the learner's own parameters, per card."""

    def __init__(self, sigma: float, rng: random.Random, grid: Settings) -> None:
        self.sigma = sigma
        self.rng = rng
        self.grid = grid
        self.person = [self._mult() for _ in DEFAULT_PARAMETERS]
        self.schedulers: dict[int, Scheduler] = {}
        self.memory: dict[int, FsrsCard] = {}

    def _mult(self) -> float:
        return math.exp(self.rng.gauss(0.0, self.sigma)) if self.sigma else 1.0

    def _scheduler(self, card_id: int) -> Scheduler:
        if card_id not in self.schedulers:
            params = tuple(
                min(hi, max(lo, w * p * self._mult()))
                for w, p, lo, hi in zip(
                    DEFAULT_PARAMETERS,
                    self.person,
                    LOWER_BOUNDS_PARAMETERS,
                    UPPER_BOUNDS_PARAMETERS,
                    strict=True,
                )
            )
            self.schedulers[card_id] = Scheduler(parameters=params, enable_fuzzing=False)
        return self.schedulers[card_id]

    def recall(self, card_id: int, at: datetime) -> float:
        card = self.memory.get(card_id)
        if card is None or card.stability is None:
            return 0.0
        card = scheduling.on_grid(self.grid, card, at)
        return float(self._scheduler(card_id).get_card_retrievability(card, at))

    def rate(self, card_id: int, at: datetime) -> Rating:
        if card_id not in self.memory:
            x = self.rng.random()
            return (
                Rating.Again
                if x < 0.25
                else Rating.Hard
                if x < 0.35
                else Rating.Good
                if x < 0.90
                else Rating.Easy
            )
        if self.rng.random() >= self.recall(card_id, at):
            return Rating.Again
        x = self.rng.random()
        return Rating.Hard if x < 0.10 else Rating.Good if x < 0.90 else Rating.Easy

    def learn(self, card_id: int, rating: Rating, at: datetime) -> None:
        card = self.memory.get(card_id) or FsrsCard(card_id=card_id, state=State.Learning, due=at)
        card = scheduling.on_grid(self.grid, card, at)
        self.memory[card_id], _ = self._scheduler(card_id).review_card(card, rating, at)


# -- the collection ----------------------------------------------------------------------


def base_collection(folder: Path, cards: int) -> Path:
    """A collection with the scenario's cards, built once and copied per run."""
    path = folder / f"base-{cards}.sqlite3"
    if path.exists():
        return path
    store = Store(f"sqlite:///{path}")
    now = START - timedelta(days=30)
    with store.write() as conn:
        if cards:
            deck = folder / "deck.toml"
            lines = ['[deck]\nname = "Sim"\n']
            for i in range(cards):
                lines.append(
                    f'[[note]]\nid = "sim-{i:04d}"\nkind = "qa"\nfront = "Question {i}?"\n'
                    f'back = "Answer {i}."\nwhy = "Because {i}."\n'
                )
            deck.write_text("\n".join(lines), encoding="utf-8")
            importer.apply(conn, importer.parse_files([deck]), now)
        else:
            importer.ensure_builtin_decks(conn, now)
    store.close()
    return path


@contextmanager
def opened(base: Path, folder: Path, policy: str, days: int, cards: int) -> Iterator[Store]:
    path = folder / "run.sqlite3"
    shutil.copyfile(base, path)
    store = Store(f"sqlite:///{path}")
    retention = {"fsrs-0.95": 0.95, "fsrs-0.70+cram": 0.70}.get(policy, 0.90)
    pace = math.ceil(cards / plan.intro_days(days))
    with store.write() as conn:
        settings_mod.save(conn, "desired_retention", retention)
        settings_mod.save(conn, "new_per_day", pace)
        settings_mod.save(conn, "reviews_per_day", 9999)
    try:
        yield store
    finally:
        store.close()
        path.unlink()


def plan_card_ids(store: Store, decks: tuple[str, ...]) -> list[int]:
    with store.read() as conn:
        p = plan.Plan(interview=START.date(), decks=decks)
        return [cid for cid, _, _ in interview.scoped_cards(conn, p)]


# -- one run -----------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def evening(store: Store, clock: Clock, learner: Learner) -> int:
    """One evening's session through pmcards' review queue: every card it offers."""
    session = ReviewSession(store, clock=clock, tz=UTC, seed=1)
    answers = 0
    waited = 0
    while True:
        card = session.next_card()
        if card is None:
            # Only learning steps left, later this evening: wait for the next one.
            if waited >= 6:
                return answers
            clock.now += timedelta(minutes=10)
            waited += 1
            continue
        waited = 0
        rating = learner.rate(card.card_id, clock.now)
        session.answer(card.card_id, rating)
        learner.learn(card.card_id, rating, clock.now)
        answers += 1
        clock.now += timedelta(seconds=20)


def cram(
    store: Store,
    clock: Clock,
    learner: Learner,
    ids: list[int],
    at: datetime,
    below: float = CRAM_BELOW,
    oracle: bool = False,
) -> int:
    """Answer once more every card whose predicted recall at the interview is under
    `below` (0.95); `oracle`: whose true recall (the learner's, which no scheduler knows)."""
    from sqlalchemy import select

    from pmcards import cardstate, queries

    with store.read() as conn:
        cfg = settings_mod.load(conn)
        rows = conn.execute(
            select(schema.cards.c.id, *queries.MEMORY).where(schema.cards.c.id.in_(ids))
        ).all()
    weak = [
        row.id
        for row in rows
        if row.state != NEW
        and (
            learner.recall(row.id, at)
            if oracle
            else scheduling.retrievability(cfg, cardstate.memory_of(row), at)
        )
        < below
    ]
    session = ReviewSession(store, clock=clock, tz=UTC, seed=1)
    for card_id in weak:
        rating = learner.rate(card_id, clock.now)
        session.answer(card_id, rating, source="review")
        learner.learn(card_id, rating, clock.now)
        clock.now += timedelta(seconds=20)
    return len(weak)


def simulate(
    scenario: Scenario,
    policy: str,
    seed: int,
    folder: Path,
    target: float | None = None,
    cram_below: float = CRAM_BELOW,
    cram_days: int = CRAM_DAYS,
) -> Run:
    rng = random.Random(f"{scenario.name}/{seed}")
    # The same learner and the same missed days for every policy of a seed.
    learner = Learner(scenario.sigma, random.Random(rng.random()), Settings())
    missed = {d for d in range(scenario.days) if rng.random() < scenario.missed}
    if scenario.miss_last:
        missed.add(scenario.days - 1)
    decks = () if scenario.cards else BUILTIN_DECKS
    base = base_collection(folder, scenario.cards)
    at = START.replace(hour=INTERVIEW_HOUR) + timedelta(days=scenario.days)
    per_day: list[int] = []
    with opened(base, folder, policy, scenario.days, scenario.cards or 0) as store:
        ids = plan_card_ids(store, decks)
        if not scenario.cards:
            with store.write() as conn:
                settings_mod.save(
                    conn, "new_per_day", math.ceil(len(ids) / plan.intro_days(scenario.days))
                )
        if policy == "plan":
            with store.write() as conn:
                interview.set_plan(
                    conn, at.date(), START, at=at, decks=decks, max_new=9999, tz=UTC,
                    target=target,
                )  # fmt: skip
        for day in range(scenario.days):
            clock = Clock(START + timedelta(days=day))
            if day in missed:
                per_day.append(0)
                continue
            count = evening(store, clock, learner)
            if policy.endswith(("+cram", "+oracle")) and day >= scenario.days - cram_days:
                oracle = policy.endswith("+oracle")
                count += cram(store, clock, learner, ids, at, cram_below, oracle)
            per_day.append(count)
    if os.environ.get("SIM_DEBUG"):
        print(policy, per_day, file=sys.stderr)
    recall = [learner.recall(cid, at) for cid in ids]
    return Run(
        recall=statistics.fmean(recall),
        at_95=statistics.fmean(1.0 if r >= 0.95 else 0.0 for r in recall),
        answers=sum(per_day),
        peak=max(per_day),
        early_peak=max(per_day[:10]),
    )


# -- the report --------------------------------------------------------------------------


def p10(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * 0.1) - 1)]


def table(scenario: Scenario, runs: dict[str, list[Run]]) -> list[str]:
    seeds = len(runs["plan"])
    lines = [
        f"**{scenario.name}** (σ = {scenario.sigma}, {seeds} seeds)",
        "",
        "| policy | mean recall | 10th pct | cards ≥ 0.95 | answers before | busiest day "
        "| busiest of first 10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for policy in POLICIES:
        rs = runs[policy]
        lines.append(
            f"| {policy} | {statistics.fmean(r.recall for r in rs):.1%} "
            f"| {p10([r.recall for r in rs]):.1%} "
            f"| {statistics.fmean(r.at_95 for r in rs):.0%} "
            f"| {statistics.fmean(r.answers for r in rs):,.0f} "
            f"| {statistics.fmean(r.peak for r in rs):.0f} "
            f"| {statistics.fmean(r.early_peak for r in rs):.0f} |"
        )
    return lines


def report(scenarios: list[Scenario], runs: dict[tuple[str, str], list[Run]]) -> list[str]:
    out: list[str] = []
    for scenario in scenarios:
        if all((scenario.name, p) in runs for p in POLICIES):
            out += table(scenario, {p: runs[(scenario.name, p)] for p in POLICIES})
            out.append("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--scenarios", help="scenario numbers (0-11), comma-separated")
    parser.add_argument("--dump", type=Path, help="append each run as a JSON line here")
    parser.add_argument("--policies", help="policies to run, comma-separated (default all)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--plan-target", type=float, help="the plan's --target (default: pmcards' default)"
    )
    parser.add_argument(
        "--cram-days",
        type=int,
        default=CRAM_DAYS,
        help=f"the crams' last evenings (default {CRAM_DAYS})",
    )
    parser.add_argument(
        "--cram-below",
        type=float,
        default=CRAM_BELOW,
        help=f"the crams answer cards under this predicted recall (default {CRAM_BELOW})",
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", help="only make the tables from these dumps"
    )
    args = parser.parse_args()
    scenarios = list(SCENARIOS + SIGMA_SCENARIOS)
    runs: dict[tuple[str, str], list[Run]] = {}
    started = time.perf_counter()
    if args.report:
        # Dumps made in parts: per scenario, the seeds every policy has run.
        by_seed: dict[tuple[str, str], dict[int, Run]] = {}
        for path in args.report:
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                key = (row["scenario"], row["policy"])
                by_seed.setdefault(key, {})[row["seed"]] = Run(**row["run"])
        counts = []
        for scenario in scenarios:
            keys = [(scenario.name, p) for p in POLICIES]
            if all(k in by_seed for k in keys):
                common = set.intersection(*(set(by_seed[k]) for k in keys))
                counts.append(len(common))
                for k in keys:
                    runs[k] = [by_seed[k][seed] for seed in sorted(common)]
        args.seeds = min(counts, default=0)
    else:
        if args.scenarios:
            scenarios = [scenarios[int(i)] for i in args.scenarios.split(",")]
        elif args.seeds < 5:
            # CI: a tiny deck and its missed last evening, to keep the script working.
            scenarios = list(TINY)
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # no fsync cost
        with tempfile.TemporaryDirectory(prefix="pmcards-sim-", dir=shm) as tmp:
            folder = Path(tmp)
            # Seeds outermost: a run cut short still has whole seeds for every scenario.
            policies = args.policies.split(",") if args.policies else POLICIES
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for scenario in scenarios:
                    for policy in policies:
                        run = simulate(
                            scenario,
                            policy,
                            seed,
                            folder,
                            args.plan_target,
                            args.cram_below,
                            args.cram_days,
                        )
                        runs.setdefault((scenario.name, policy), []).append(run)
                        if args.dump:
                            with args.dump.open("a", encoding="utf-8") as f:
                                row = {
                                    "scenario": scenario.name,
                                    "policy": policy,
                                    "seed": seed,
                                    "run": asdict(run),
                                }
                                f.write(json.dumps(row) + "\n")
                print(f"seed {seed} done, {time.perf_counter() - started:.0f} s", flush=True)
    out = report(scenarios, runs)
    print("\n".join(out), flush=True)
    took = time.perf_counter() - started
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    header = [
        f"### Interview plan against deadline policies, learner unlike the model: "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Made by `python bench/interview_sim.py` ({args.seeds} seeds; commit {commit}, "
        f"Python {platform.python_version()}). The learner's FSRS parameters are the "
        "model's times per-learner and per-card LogNormal(0, σ) multipliers; sessions at "
        "19:00 through `ReviewSession`, the interview at 10:00; answers include learning "
        "steps; see the script's docstring.",
        "",
    ]
    if not args.no_write:
        path = HERE / "RESULTS.md"
        text = path.read_text(encoding="utf-8").rstrip("\n")
        path.write_text(
            text + "\n\n" + "\n".join(header + out).rstrip("\n") + "\n", encoding="utf-8"
        )
        print(f"appended to {path} ({took:.0f} s)")


if __name__ == "__main__":
    main()
