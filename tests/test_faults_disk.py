"""A full disk and a read-only collection: a clear one-line message, nothing half-written.

Two ways in: SQLite's own limits injected into pmcards' connections (`max_page_count` makes
the file "full", `query_only` makes it read-only), which run anywhere; and, where the tests
may mount file systems (root on Linux), a real small tmpfs filled up and remounted read-only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faults
import pytest
from click.testing import CliRunner
from fsrs import Rating
from helpers import FakeClock, content
from sqlalchemy import event

from pmcards import store as store_mod
from pmcards.cli import cli
from pmcards.errors import PmcardsError
from pmcards.review import ReviewSession
from pmcards.store import Store

# These tests work on the collection's SQLite file itself (damage it, fill its disk, back
# it up or check it page by page), so they run in the SQLite pass of the suite only.
pytestmark = pytest.mark.sqlite_only(reason="fills the disk under the collection's SQLite file")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return faults.prepare(tmp_path_factory.mktemp("disk"))


def inject(monkeypatch: pytest.MonkeyPatch, pragma: str, room: int = 0) -> None:
    """Run `pragma` on every connection pmcards opens from now on ({pages}: the file's
    size in pages plus `room`)."""
    original = store_mod._sqlite_setup

    def setup(engine: Any, *, autocheckpoint: bool) -> None:
        original(engine, autocheckpoint=autocheckpoint)

        @event.listens_for(engine, "connect")
        def _limit(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(pragma.format(pages=pages + room))
            cursor.close()

    monkeypatch.setattr(store_mod, "_sqlite_setup", setup)


FULL = "PRAGMA max_page_count = {pages}"  # the file may not grow: the disk is full
READ_ONLY = "PRAGMA query_only = 1"


def test_disk_full_mid_review_loses_nothing(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    inject(monkeypatch, FULL, room=2)
    store = Store(f"sqlite:///{home / faults.DB}")
    session = ReviewSession(store, clock=clock, extra_new=500)
    answered = 0
    with pytest.raises(PmcardsError) as info:
        for _ in range(500):
            shown = session.next_card()
            assert shown is not None
            before = content(home / faults.DB)
            session.answer(shown.card_id, Rating.Good)
            answered += 1
            clock.advance(seconds=10)
    store.close()
    assert str(info.value) == (
        f"the disk holding {home / faults.DB} is full: nothing was written; free some space"
    )
    assert answered > 0
    assert content(home / faults.DB) == before  # the failed answer left no trace
    assert faults.verify(home / faults.DB).logs == answered


def test_disk_full_import_changes_nothing(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    deck = tmp_path / "big.toml"
    deck.write_text(faults.deck_text("Big", 2000, "big"), encoding="utf-8")
    before = content(home / faults.DB)
    inject(monkeypatch, FULL)
    result = CliRunner().invoke(cli, ["import", str(deck)], env={"PMCARDS_HOME": str(home)})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: the disk holding {home / faults.DB} is full: nothing was written; free some space"
    )
    assert content(home / faults.DB) == before
    faults.verify(home / faults.DB)


def test_read_only_collection_refuses_writes_and_still_reads(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    before = content(home / faults.DB)
    inject(monkeypatch, READ_ONLY)
    env = {"PMCARDS_HOME": str(home)}
    result = CliRunner().invoke(cli, ["review", "--deck", "Mine"], input=" 3q", env=env)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: {home / faults.DB} is read-only: pmcards needs to write to it"
    )
    result = CliRunner().invoke(cli, ["config", "new_per_day", "5"], env=env)
    assert result.exit_code == 1 and "is read-only" in result.output
    result = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert content(home / faults.DB) == before


# -- a real small file system -------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path, prepared: Path) -> Iterator[Path]:
    """A tmpfs with room for the collection and not much else (160 KB more), however large
    the built-in decks make the collection."""
    size_k = (prepared / faults.DB).stat().st_size // 1024 + 160
    mount = tmp_path / "small"
    mount.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_k}k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk_and_read_only_file_system(
    prepared: Path, small_fs: Path, tmp_path: Path
) -> None:
    home = faults.fresh_home(prepared, small_fs / "home")
    (home / "backups").mkdir()
    # Leave room for a few pages only.
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    (small_fs / "filler").write_bytes(b"x" * max(0, free - 120 * 1024))
    keys = " 3" * 400 + "q"
    done = faults.pmcards(home, "review", "--new", "500", input=keys)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"Error: the disk holding {home / faults.DB} is full: nothing was written; free some space"
    )
    assert "Traceback" not in done.stderr
    answered = done.stdout.count("→ ")
    assert answered > 0 and faults.verify(home / faults.DB).logs == answered
    made = faults.pmcards(home, "backup")
    assert made.returncode == 1 and "failed: the disk is full" in made.stderr
    assert not list((home / "backups").iterdir())  # no partial backup left behind

    before = content(home / faults.DB)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    deck = next((faults.ROOT / "decks").glob("*.toml"))
    for args in (["review"], ["config", "new_per_day", "3"], ["import", str(deck)]):
        done = faults.pmcards(home, *args, input=" 3q")
        assert done.returncode == 1, done
        # Whether SQLite could open the file read-only depends on its -shm file being there;
        # either way the message says what is wrong.
        assert done.stderr.splitlines()[-1].startswith(
            f"Error: {home / faults.DB} is read-only: pmcards needs to write to it"
        ), done.stderr
    # Read a copy: with no -shm file left (the last close checkpointed the WAL away), SQLite
    # cannot open the file on a read-only file system at all.
    (tmp_path / "copy").mkdir()
    for path in home.glob(f"{faults.DB}*"):
        shutil.copyfile(path, tmp_path / "copy" / path.name)
    assert content(tmp_path / "copy" / faults.DB) == before
