from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import FakeClock

from pmcards.store import Store

UTC = UTC


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the real user directory: the data dir is a temp dir."""
    home = tmp_path / "pmcards-home"
    monkeypatch.setenv("PMCARDS_HOME", str(home))
    monkeypatch.delenv("PMCARDS_DB", raising=False)
    monkeypatch.delenv("PMCARDS_NOW", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("NO_COLOR", "1")
    import time

    time.tzset()
    return home


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    with s.write() as session:
        from pmcards import settings

        settings.save(session, "fuzz", False)
    yield s
    s.close()
