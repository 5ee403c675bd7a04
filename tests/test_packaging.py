import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_decks_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pmcards-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    decks = sorted(n for n in names if n.startswith("pmcards/_data/decks/") and n.endswith(".toml"))
    assert [Path(n).name for n in decks] == sorted(p.name for p in (ROOT / "decks").glob("*.toml"))
    templates = [n for n in names if n.startswith("pmcards/_data/templates/")]
    assert sorted(Path(n).name for n in templates) == sorted(
        p.name for p in (ROOT / "templates").iterdir() if p.is_file()
    )
    assert templates
    assert "pmcards/cli/__init__.py" in names and "pmcards/ui/review_screen.py" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert (
        entry and "pmcards = pmcards.console:main" in zipfile.ZipFile(wheel).read(entry[0]).decode()
    )
