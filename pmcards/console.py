"""The console script `pmcards`: top-level help from a snapshot, everything else through Click.

Importing Click and the command modules is two thirds of `pmcards --help` (about 40 of 60 ms),
and the top-level help is text that changes only with the code. So it is kept here as Click
renders it for a terminal of 80 columns or more (Click's help is at most 78 wide) or for
output that is not a terminal, and printed without importing Click. A narrower terminal, any
other argument, and every command go to Click. `tests/test_cli.py` renders the help with
Click in a fresh process and fails when this snapshot differs; `COLUMNS=80 python -m
pmcards.console` prints the text to paste here.
"""

from __future__ import annotations

import os
import sys

HELP = """\
Usage: pmcards [OPTIONS] COMMAND [ARGS]...

  Spaced-repetition flashcards for AI/ML product-manager system-design
  interviews.

  Start with `pmcards review`: the built-in decks are imported on first use.

Options:
  --version      Show the version and exit.
  --db URL|PATH  Collection database: a SQLAlchemy URL or a SQLite file path
                 [env: PMCARDS_DB].
  --help         Show this message and exit.

Commands:
  add         Add a note, and print its id.
  backup      Back up the collection now, consistently even while it is...
  backups     List the automatic and manual backups of the collection,...
  bury        Hide cards until the next study day starts.
  cards       List cards with their note's text and FSRS state.
  check       Check the collection: the database file, foreign keys,...
  config      Show or change the collection's settings.
  db          The collection database.
  deck        Rename, delete, or move notes between decks.
  decks       List the decks with their note and card counts.
  drill       A fast BAD-or-GOOD drill over the contrast notes.
  edit        Edit a note in your editor ($VISUAL or $EDITOR), as TOML.
  export      Export cards: a deck file, a printable study sheet, or a...
  forget      Make studied cards new again.
  import      Import decks: TOML, Markdown, CSV/TSV (Anki's text export...
  lint        Check how cards are written: one idea each, short answers,...
  mock        A timed mock interview on a design prompt.
  optimize    Fit the FSRS parameters to your own review log, as Anki does.
  plan        Schedule toward an interview, and show the plan.
  reschedule  Make studied cards due on a chosen day.
  restore     Replace the collection with a backup FILE.
  review      Study the cards due today.
  rm          Delete notes with their cards and history, after a backup.
  stats       Progress: cards by state, reviews per day, true retention...
  status      Today's new / learning / review counts per deck, and the...
  suspend     Suspend cards: they leave every queue until unsuspended;...
  unbury      Show buried cards again today.
  unsuspend   Bring suspended cards back into review, where they left off.
"""


def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` (Click's source) works it out,
    without importing shutil: $COLUMNS if set and positive, else the terminal's, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def main() -> None:
    if sys.argv[1:] == ["--help"] and _columns() >= 80:
        sys.stdout.write(HELP)
        sys.stdout.flush()
        return
    from pmcards.cli import main as click_main

    click_main()


if __name__ == "__main__":
    # Prints the help as Click renders it now, for pasting into HELP above.
    from pmcards.cli import cli

    cli(["--help"], prog_name="pmcards")
