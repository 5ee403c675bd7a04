"""Make the README's pictures with pmcards itself: the study sheet, the one-page sheet for
the interview morning, and the progress report, as headless Chromium shows them.

    python docs/pictures.py                # writes docs/sheet.png, onepage.png, report.png
    python docs/pictures.py --out /tmp/x   # somewhere else

Everything happens in a temporary pmcards home with the clock pinned, so each run draws the
same pictures: the built-in decks, three weeks of study by a simulated learner whose recall
follows FSRS's own prediction (seeded), an interview plan, then `pmcards export` and a
Chromium screenshot of each page. Needs `chromium` (Debian's package) on the PATH.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

START = datetime(2026, 2, 9, 19, 0, tzinfo=UTC)  # the first study session
DAYS = 22  # a session every evening until 2 March, but one day a week off
NOW = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)  # when the pictures are taken
INTERVIEW = "2026-03-20"
ANSWERS = (20, 70)  # the answers in a session, at random between these
# (name, export arguments, window width and height in CSS pixels)
PICTURES = [
    ("sheet", ["html", "--order", "weakest"], 1280, 900),
    ("onepage", ["html", "--mode", "onepage"], 860, 1180),
    ("report", ["report"], 900, 1500),
]


@dataclass
class Clock:
    """The session's clock: moved on by each answer's time."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def study(home: Path) -> None:
    """Three weeks of evening sessions of 20 to 70 answers (one day a week off) by a learner
    whose recall is FSRS's prediction for each card, answering in 4 to 25 seconds."""
    os.environ["PMCARDS_HOME"] = str(home)
    from fsrs import Rating

    from pmcards import paths, queries, scheduling
    from pmcards.cardstate import NEW
    from pmcards.collection import opened
    from pmcards.review import ReviewSession

    rng = random.Random(7)
    with opened(paths.resolve_db_url(None), START) as collection:
        store = collection.store
        for day in range(DAYS):
            if day % 7 == 5:
                continue
            clock = Clock(START + timedelta(days=day))
            session = ReviewSession(store, clock=clock, limit=rng.randint(*ANSWERS))
            while (shown := session.next_card()) is not None:
                if shown.state == NEW:
                    rating = rng.choices(list(Rating), [25, 10, 55, 10])[0]
                else:
                    with store.read() as conn:
                        card = queries.card(conn, shown.card_id)
                    assert card is not None
                    recall = scheduling.retrievability(session.settings, card.memory, clock.now)
                    rating = (
                        rng.choices([Rating.Hard, Rating.Good, Rating.Easy], [10, 80, 10])[0]
                        if rng.random() < recall
                        else Rating.Again
                    )
                took = rng.randint(4000, 25000)
                clock.now += timedelta(milliseconds=took)
                session.answer(shown.card_id, rating, took)


def pmcards(home: Path, *args: str) -> None:
    env = {**os.environ, "PMCARDS_HOME": str(home), "PMCARDS_NOW": NOW.isoformat(), "TZ": "UTC"}
    done = subprocess.run(
        [sys.executable, "-m", "pmcards", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"pmcards {' '.join(args)} failed:\n{done.stderr}")


def screenshot(chromium: str, page: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNGs go")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs chromium on the PATH (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        study(home)
        pmcards(home, "plan", "--interview", INTERVIEW)
        for name, export, width, height in PICTURES:
            page = Path(tmp) / f"{name}.html"
            pmcards(home, "export", *export, "-o", str(page))
            png = args.out / f"{name}.png"
            screenshot(chromium, page, png, width, height)
            print(f"Wrote {png}")


if __name__ == "__main__":
    main()
