"""The sheets and the report in a real browser: headless Chromium prints PDFs and takes
screenshots, and poppler's pdfinfo and pdftotext measure them, page by page."""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmcards.cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or shutil.which("pdftotext") is None,
        reason="needs Debian's chromium and poppler-utils (.ci/run installs them)",
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOW = "2026-03-02T12:00:00+00:00"
# The footer (page numbers) sits in the bottom margin, below this many points from the foot.
FOOTER_PT = 28
MAX_PAGES = 20  # the built-in decks, full sheet, on A4 and on Letter


def chromium(tmp_path: Path, *args: str) -> None:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def to_pdf(tmp_path: Path, html: Path) -> Path:
    pdf = html.with_suffix(".pdf")
    chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri())
    return pdf


def pdfinfo(pdf: Path, field: str) -> str:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return re.search(rf"{field}:\s+(.*)", info.stdout).group(1)  # type: ignore[union-attr]


def pages(pdf: Path) -> int:
    return int(pdfinfo(pdf, "Pages"))


def text_of(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


@dataclass(frozen=True)
class Page:
    height: float
    words: list[tuple[float, float, str]]  # (top, bottom, text), footer left out

    @property
    def lowest(self) -> float:
        """How far down the page its text reaches, as a share of the page's height."""
        return max(bottom for _, bottom, _ in self.words) / self.height


def measured(pdf: Path) -> list[Page]:
    """Every page's words with their heights, from `pdftotext -bbox`."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for page in out.split("<page ")[1:]:
        height = float(re.search(r'height="([\d.]+)"', page).group(1))  # type: ignore[union-attr]
        words = [
            (float(top), float(bottom), unescape(word))
            for top, bottom, word in re.findall(
                r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)<', page
            )
            if float(top) < height - FOOTER_PT
        ]
        found.append(Page(height, words))
    return found


def smallest_text_is_body_text(found: list[Page]) -> bool:
    """No word smaller than the commonest one (the 9 pt body text): nothing under 9 pt."""
    heights = [round(bottom - top, 1) for p in found for top, bottom, _ in p.words]
    body = max(set(heights), key=heights.count)
    return min(heights) >= body


def export(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["export", *args, "-o", str(out)], env={"PMCARDS_NOW": NOW})
    assert result.exit_code == 0, result.output
    return out


def notes() -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(cli, ["cards", "--json"], env={"PMCARDS_NOW": NOW})
    return {c["note_id"]: c for c in json.loads(result.stdout) if c["ord"] == 0}


def first_words(text: str, n: int = 4) -> str:
    """The first words of a cue: its first line, which the margin's "new" cannot split."""
    return " ".join(text.split()[:n])


@pytest.mark.parametrize(("paper", "size"), [("a4", "(A4)"), ("letter", "(letter)")])
def test_builtin_decks_print_on_20_pages_none_half_empty(
    tmp_path: Path, paper: str, size: str
) -> None:
    html = export(tmp_path, "sheet.html", "html", "--paper", paper)
    pdf = to_pdf(tmp_path, html)
    assert size in pdfinfo(pdf, "Page size")
    n = pages(pdf)
    assert n <= MAX_PAGES
    found = measured(pdf)
    # Every page but the last is at least half full: its text reaches below the middle.
    half_empty = [i for i, page in enumerate(found[:-1], start=1) if page.lowest < 0.5]
    assert half_empty == []
    assert smallest_text_is_body_text(found)
    text = text_of(pdf)
    assert f"pmcards · page 1 of {n}" in text  # page numbers from @page margin boxes
    cues = []
    for note in notes().values():
        fields: dict[str, str] = note["fields"]  # type: ignore[assignment]
        cues.append(fields.get("situation") or fields.get("front") or fields.get("prompt") or "")
    missing = [c for c in cues if c and first_words(c) not in text]
    assert missing == []
    assert "- [" not in text and "MUST:" not in text


@pytest.mark.parametrize(("paper", "size"), [("a4", "(A4)"), ("letter", "(letter)")])
def test_onepage_is_one_page(tmp_path: Path, paper: str, size: str) -> None:
    html = export(tmp_path, "one.html", "html", "--mode", "onepage", "--paper", paper)
    pdf = to_pdf(tmp_path, html)
    assert size in pdfinfo(pdf, "Page size")
    assert pages(pdf) == 1
    text = text_of(pdf)
    assert "- [" not in text
    for block in (
        "Open in three moves",
        "The answer in four parts, on a 20-minute clock",
        "Reframes: not … but …",
        "The contrasts you are most likely to get wrong",
    ):
        assert block.upper() in text.upper()
    # Every reframe's row is printed, and as many contrasts as fit (at least three).
    reframes = [n for n in notes().values() if n["kind"] == "reframe"]
    rows = [n["fields"]["but"] for n in reframes]  # type: ignore[index]
    assert [r for r in rows if first_words(str(r), 3) not in text] == []
    assert text.count("✗ BAD") >= 3
    assert smallest_text_is_body_text(measured(pdf))
    # The page's text reaches its lower part: the contrasts fill what the rest leaves.
    assert measured(pdf)[0].lowest > 0.8


def test_quiz_answer_key_starts_on_a_new_page(tmp_path: Path) -> None:
    html = export(
        tmp_path, "quiz.html", "html", "--deck", "Framing and judgement", "--mode", "quiz"
    )
    pdf = to_pdf(tmp_path, html)
    n = pages(pdf)
    first_key = None
    for page in range(1, n + 1):
        out = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Answer key" in out:
            first_key = page
            assert out.lstrip().startswith("Answer key")  # the key opens its page
            break
    assert first_key is not None and 1 < first_key <= n


def test_compact_sheet_of_60_notes_fits_two_a4_pages(tmp_path: Path) -> None:
    # A typical mix: the first 12 notes of each flashcard deck (not the design prompts,
    # whose rubrics are long), contrasts included: 60 notes.
    runner = CliRunner()
    result = runner.invoke(cli, ["cards", "--json"], env={"PMCARDS_NOW": NOW})
    cards = json.loads(result.stdout)
    by_deck: dict[str, set[str]] = {}
    for c in cards:
        if c["kind"] != "prompt":
            by_deck.setdefault(c["deck"], set()).add(c["note_id"])
    assert len(by_deck) == 5
    sixty = {guid for ids in by_deck.values() for guid in sorted(ids)[:12]}
    assert len(sixty) == 60
    # Tag the 60 so one --tag selects them.
    from pmcards import paths, queries, schema
    from pmcards.store import Store

    store = Store(paths.resolve_db_url(None))
    with store.write() as conn:
        for guid in sixty:
            note = queries.note_by_guid(conn, guid)
            assert note is not None
            conn.execute(
                schema.notes.update()
                .where(schema.notes.c.id == note.id)
                .values(tags=schema.tags_to_text([*note.tags, "sixty"]))
            )
    store.close()
    html = export(tmp_path, "compact.html", "html", "--tag", "sixty", "--mode", "compact")
    pdf = to_pdf(tmp_path, html)
    assert pages(pdf) <= 2
    text = text_of(pdf)
    assert "60 notes" in text
    assert smallest_text_is_body_text(measured(pdf))


def test_report_screenshot_and_pages(tmp_path: Path) -> None:
    env = {"PMCARDS_NOW": NOW}
    CliRunner().invoke(cli, ["review", "--limit", "5"], input=" 3" * 5, env=env)
    assert CliRunner().invoke(cli, ["plan", "--interview", "2026-03-20"], env=env).exit_code == 0
    html = export(tmp_path, "report.html", "report")
    png = tmp_path / "report.png"
    chromium(
        tmp_path,
        "--hide-scrollbars",
        "--window-size=900,1300",
        f"--screenshot={png}",
        html.as_uri(),
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (900, 1300)
    assert len(data) > 20_000  # a real page with charts, not a blank one
    pdf = to_pdf(tmp_path, html)
    text = text_of(pdf)
    for heading in (
        "pmcards progress report",
        "Interview plan: 20 March 2026",
        "Answers the plan asks for, each day until the interview",
        "Reviews due in the next 30 days",
        "Reviews per day, last 12 months",
        "Answers a day: none",
        "Weakest cards now",
        "Time spent",
    ):
        assert heading in text
    found = measured(pdf)
    assert [i for i, page in enumerate(found[:-1], start=1) if page.lowest < 0.5] == []
    assert smallest_text_is_body_text(found)


def test_docs_pictures_are_made_by_pmcards(tmp_path: Path) -> None:
    # The README's pictures come from docs/pictures.py: keep it working.
    import sys

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, str(root / "docs" / "pictures.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    for name, size in (("sheet", (1280, 900)), ("onepage", (860, 1180)), ("report", (900, 1500))):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == size
        assert len(data) > 50_000  # a page of text and charts, not a blank one
    # The review screen: the real program in a pseudo-terminal, drawn as SVG text.
    svg = (tmp_path / "review.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg ") and "\x1b" not in svg
    for label in ("answered", "Again", "Hard", "Good", "Easy", "s suspend"):
        assert label in svg
