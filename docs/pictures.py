"""Make the README's pictures with pmcards itself: the review screen as a terminal shows
it, and the study sheet, the one-page sheet for the interview morning and the progress
report as headless Chromium shows them.

    pip install -e '.[docs]'
    python docs/pictures.py                # writes docs/review.svg, sheet.png, onepage.png,
                                           # report.png
    python docs/pictures.py --out /tmp/x   # somewhere else

The review screen is the real `pmcards review` in a pseudo-terminal (pexpect), its output
played into a terminal emulator (pyte) and drawn as SVG text, colours and all.

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
from typing import Any

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


# The terminal the review screen is captured in, and its colours (a dark theme).
COLUMNS, LINES = 96, 30
PALETTE = {
    "default": "#d8dee9",
    "black": "#3b4252",
    "red": "#e06c75",
    "green": "#98c379",
    "yellow": "#e5c07b",
    "blue": "#61afef",
    "magenta": "#c678dd",
    "cyan": "#56b6c2",
    "white": "#e5e9f0",
}
BACKGROUND = "#1e222a"


def review_screen(home: Path, svg: Path) -> None:
    """The first card of the next evening's review, its answer shown, as an SVG."""
    import pexpect
    import pyte

    now = (NOW + timedelta(hours=22)).isoformat()
    env = {**os.environ, "PMCARDS_HOME": str(home), "PMCARDS_NOW": now, "PMCARDS_SEED": "3"}
    env.update(TZ="UTC", TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pmcards", "review"],
        env=env,
        dimensions=(LINES, COLUMNS),
        timeout=60,
    )
    raw = bytearray()

    def seen() -> None:
        for part in (child.before, child.after):
            if isinstance(part, bytes):
                raw.extend(part)

    child.expect("show answer")
    seen()
    child.send(" ")
    child.expect("Easy")
    seen()
    child.expect([pexpect.TIMEOUT], timeout=1)  # the rest of the screen
    seen()
    child.send("q")
    child.expect(pexpect.EOF)
    screen = pyte.Screen(COLUMNS, LINES)
    pyte.ByteStream(screen).feed(bytes(raw))
    svg.write_text(_svg(screen), encoding="utf-8")


def _svg(screen: Any) -> str:
    """A pyte screen as SVG: a text element a line, a tspan a run of one style."""
    from html import escape

    cell_w, cell_h, pad = 8.4, 18, 14
    used = max(y for y in range(LINES) if any(c.data.strip() for c in screen.buffer[y].values()))
    width, height = COLUMNS * cell_w + 2 * pad, (used + 1) * cell_h + 2 * pad
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, '
        'Consolas, monospace" font-size="14">',
        f'<rect width="100%" height="100%" rx="8" fill="{BACKGROUND}"/>',
    ]
    for y in range(used + 1):
        row = screen.buffer[y]
        runs: list[tuple[str, bool, str]] = []
        for x in range(COLUMNS):
            char = row[x]
            colour = PALETTE.get(char.fg, f"#{char.fg}" if len(char.fg) == 6 else "#d8dee9")
            if runs and runs[-1][0] == colour and runs[-1][1] == char.bold:
                runs[-1] = (colour, char.bold, runs[-1][2] + char.data)
            else:
                runs.append((colour, char.bold, char.data))
        while runs and not runs[-1][2].strip():
            runs.pop()  # trailing blanks draw nothing
        parts = []
        for colour, bold, chunk in runs:
            weight = ' font-weight="bold"' if bold else ""
            parts.append(f'<tspan fill="{colour}"{weight}>{escape(chunk)}</tspan>')
        text = "".join(parts)
        if text.strip():
            base = pad + (y + 1) * cell_h - 5
            out.append(f'<text x="{pad}" y="{base}" xml:space="preserve">{text}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


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
        review_screen(home, args.out / "review.svg")
        print(f"Wrote {args.out / 'review.svg'}")
        for name, export, width, height in PICTURES:
            page = Path(tmp) / f"{name}.html"
            pmcards(home, "export", *export, "-o", str(page))
            png = args.out / f"{name}.png"
            screenshot(chromium, page, png, width, height)
            print(f"Wrote {png}")


if __name__ == "__main__":
    main()
