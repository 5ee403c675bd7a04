"""Interview-date mode against plain FSRS, with a simulated learner, over many random seeds.

    python bench/interview_sim.py                 # 3 scenarios x 40 seeds, appends to RESULTS.md
    python bench/interview_sim.py --seeds 5 --no-write

The learner's memory *is* FSRS's model: at each review it recalls a card with the
probability FSRS predicts for it (py-fsrs's retrievability of the card's memory), with the
same parameters the scheduler uses. A new card's first answer is Again 25%, Hard 10%, Good
55%, Easy 10%; later, a recalled card is Hard 10%, Good 80%, Easy 10%, a forgotten one Again.
The learner studies once a day at 19:00 UTC, every card due (learning steps within the
session), new cards up to the day's limit. On the interview day each card is recalled with
its predicted probability (a card never introduced is not recalled).

Three strategies, each through pmcards' own code (`scheduling.outcomes`, fuzz on):
- plan: interview-date mode (`plan.capped_outcomes`, the plan's new-card limit);
- FSRS at the target: plain FSRS with desired retention raised to the target;
- FSRS at 0.9: plain FSRS at the default desired retention.
The plain ones keep the default 20 new cards a day (the plan raises it when the days need).
"""

from __future__ import annotations

import argparse
import heapq
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fsrs import Rating  # noqa: E402

from pmcards import cardstate, scheduling  # noqa: E402
from pmcards import plan as plan_mod  # noqa: E402
from pmcards.cardstate import NEW  # noqa: E402
from pmcards.settings import Settings  # noqa: E402

START = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
AFTER_DAYS = 14  # days simulated after the interview, to see the load once the plan ends


@dataclass(frozen=True)
class Scenario:
    cards: int
    days: int
    target: float = 0.95


@dataclass
class Run:
    recalled: float  # share of cards recalled on the day (sampled)
    expected: float  # mean predicted recall on the day
    at_target: float  # share of cards whose predicted recall on the day reaches the target
    answers: int  # answers before the interview, learning steps included
    peak_before: int
    peak_after: int
    mean_after: float


def first_rating(rng: random.Random) -> Rating:
    x = rng.random()
    if x < 0.25:
        return Rating.Again
    if x < 0.35:
        return Rating.Hard
    if x < 0.90:
        return Rating.Good
    return Rating.Easy


def recalled_rating(rng: random.Random) -> Rating:
    x = rng.random()
    if x < 0.10:
        return Rating.Hard
    if x < 0.90:
        return Rating.Good
    return Rating.Easy


def simulate(scenario: Scenario, strategy: str, seed: int) -> Run:
    rng = random.Random(seed)
    base = Settings(fuzz=True)
    settings = (
        replace(base, desired_retention=scenario.target) if strategy == "fsrs-target" else base
    )
    interview = (START + timedelta(days=scenario.days)).date()
    plan = plan_mod.Plan(interview=interview, target=scenario.target)
    horizon = plan_mod.Horizon.of(plan, settings, UTC)
    memories: dict[int, cardstate.Memory] = {}
    new_queue = list(range(1, scenario.cards + 1))
    heap: list[tuple[datetime, int]] = []
    answers_before = 0
    per_day: list[int] = []
    expected = recalled = at_target = 0.0
    for day in range(scenario.days + AFTER_DAYS):
        at = START + timedelta(days=day)
        if day == scenario.days:
            # The interview: each card recalled with its predicted probability.
            recall = [
                scheduling.retrievability(base, memories[cid], horizon.at)
                if cid in memories
                else 0.0
                for cid in range(1, scenario.cards + 1)
            ]
            expected = statistics.fmean(recall)
            at_target = statistics.fmean(1.0 if r >= scenario.target else 0.0 for r in recall)
            recalled = statistics.fmean(1.0 if rng.random() < r else 0.0 for r in recall)
        end = datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), UTC)
        end += timedelta(hours=settings.rollover_hour)
        planning = strategy == "plan" and at < horizon.at
        if planning:
            days_left = (interview - at.date()).days
            limit = plan_mod.new_per_day(settings, plan, len(new_queue), days_left)
        else:
            limit = settings.new_per_day
        for cid in new_queue[:limit]:
            memories[cid] = cardstate.Memory(NEW, None, None, None, at, None)
            heapq.heappush(heap, (at, cid))
        del new_queue[:limit]
        count = 0
        while heap and heap[0][0] < end:
            due, cid = heapq.heappop(heap)
            memory = memories[cid]
            if memory.due != due:
                continue
            when = max(due, at)
            if memory.state == NEW:
                rating = first_rating(rng)
            elif rng.random() < scheduling.retrievability(settings, memory, when):
                rating = recalled_rating(rng)
            else:
                rating = Rating.Again
            raw = scheduling.outcomes(settings, memory, when, cid)
            if planning:
                raw = plan_mod.capped_outcomes(settings, horizon, memory, when, cid, raw)
            memories[cid] = raw[rating].memory
            heapq.heappush(heap, (memories[cid].due, cid))
            count += 1
        per_day.append(count)
        if day + 1 == scenario.days:
            answers_before = sum(per_day)
    after = per_day[scenario.days : scenario.days + AFTER_DAYS]
    return Run(
        recalled=recalled,
        expected=expected,
        at_target=at_target,
        answers=answers_before,
        peak_before=max(per_day[: scenario.days]),
        peak_after=max(after),
        mean_after=statistics.fmean(after),
    )


STRATEGIES = ("plan", "fsrs-target", "fsrs-0.9")
LABELS = {
    "plan": "plan (interview mode)",
    "fsrs-target": "FSRS, retention = target",
    "fsrs-0.9": "FSRS, retention 0.9",
}


def run_scenario(scenario: Scenario, seeds: int) -> dict[str, list[Run]]:
    return {s: [simulate(scenario, s, seed) for seed in range(seeds)] for s in STRATEGIES}


def table(scenario: Scenario, runs: dict[str, list[Run]]) -> list[str]:
    lines = [
        f"**{scenario.cards} cards, {scenario.days} days to the interview, target "
        f"{scenario.target:.0%}** ({len(runs['plan'])} seeds; mean, worst seed)",
        "",
        "| strategy | recalled on the day | worst seed | predicted recall | cards at the target "
        "| answers before the day | busiest day before | busiest / mean day, 14 days after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for strategy in STRATEGIES:
        rs = runs[strategy]
        lines.append(
            f"| {LABELS[strategy]} | {statistics.fmean(r.recalled for r in rs):.1%} "
            f"| {min(r.recalled for r in rs):.1%} "
            f"| {statistics.fmean(r.expected for r in rs):.1%} "
            f"| {statistics.fmean(r.at_target for r in rs):.0%} "
            f"| {statistics.fmean(r.answers for r in rs):,.0f} "
            f"| {statistics.fmean(r.peak_before for r in rs):.0f} "
            f"| {statistics.fmean(r.peak_after for r in rs):.0f} / "
            f"{statistics.fmean(r.mean_after for r in rs):.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    scenarios = [
        Scenario(300, 21),
        Scenario(300, 14),
        Scenario(300, 45),
        Scenario(300, 21, 0.97),
        Scenario(150, 30),
    ]
    started = time.perf_counter()
    out: list[str] = []
    for scenario in scenarios:
        out += table(scenario, run_scenario(scenario, args.seeds))
        out.append("")
        print("\n".join(out[-9:]), flush=True)
    took = time.perf_counter() - started
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    header = [
        f"### Interview-date mode, simulated: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Made by `python bench/interview_sim.py` (commit {commit}, Python "
        f"{platform.python_version()}, {took:.0f} s). A simulated learner whose recall follows "
        "FSRS's own model (see the script's docstring), default FSRS-6 parameters, fuzz on, "
        "studying every due card once a day; 'answers' count learning steps too.",
        "",
    ]
    if not args.no_write:
        path = HERE / "RESULTS.md"
        text = path.read_text(encoding="utf-8").rstrip("\n")
        path.write_text(
            text + "\n\n" + "\n".join(header + out).rstrip("\n") + "\n", encoding="utf-8"
        )
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
