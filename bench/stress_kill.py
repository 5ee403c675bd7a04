"""Kill pmcards at random moments, many times, and check that nothing is ever lost.

The test suite tries 60 kill points (tests/test_faults_crash.py, tests/test_ui_pty.py);
this tries as many as you ask for, with the same checks (tests/faults.py): every answer
acknowledged on screen is in the database, every card's state is what its last review-log
row says, and SQLite's integrity check is ok.

    python bench/stress_kill.py --reviews 500 --imports 50 --restores 50 --seed 1
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import faults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reviews", type=int, default=200, help="review processes to kill")
    parser.add_argument("--imports", type=int, default=20, help="imports to kill")
    parser.add_argument("--restores", type=int, default=20, help="restores to kill")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    actions: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="pmcards-stress-") as tmp:
        root = Path(tmp)
        prepared = faults.prepare(root)
        deck = root / "big.toml"
        deck.write_text(faults.deck_text("Big", 3000, "big"), encoding="utf-8")
        for n in range(args.reviews):
            home = faults.fresh_home(prepared, root / f"r{n}")
            try:
                result = faults.kill_review(home, rng)
            except BaseException:
                kept = Path(tempfile.mkdtemp(prefix="pmcards-stress-failed-"))
                shutil.copytree(home, kept, dirs_exist_ok=True)
                print(f"run {n} failed: its collection and pty.log are in {kept}")
                raise
            actions[result.last_action] += 1
            shutil.rmtree(home)
        for n in range(args.imports):
            home = faults.fresh_home(prepared, root / f"i{n}")
            faults.kill_import(home, deck, 3000, rng)
            shutil.rmtree(home)
        for n in range(args.restores):
            home = faults.fresh_home(prepared, root / f"s{n}")
            backup = root / f"s{n}.sqlite3"
            shutil.copyfile(home / faults.DB, backup)
            done = faults.pmcards(home, "review", "--deck", "Mine", input=" 3 3 1 4q")
            assert done.returncode == 0, done.stderr
            faults.kill_restore(home, backup, rng)
            shutil.rmtree(home)
    total = args.reviews + args.imports + args.restores
    print(
        f"{total} kill points, nothing lost: {args.reviews} reviews "
        f"({', '.join(f'{k} {v}' for k, v in sorted(actions.items()))}), "
        f"{args.imports} imports, {args.restores} restores "
        f"in {time.monotonic() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
