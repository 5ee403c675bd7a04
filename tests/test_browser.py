"""The sheet and the report in a real browser: headless Chromium prints PDFs and screenshots."""

import json
import re
import shutil
import subprocess
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


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]


def page_size(pdf: Path) -> str:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return re.search(r"Page size:\s+(.*)", info.stdout).group(1)  # type: ignore[union-attr]


def text_of(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def export(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["export", *args, "-o", str(out)], env={"PMCARDS_NOW": NOW})
    assert result.exit_code == 0, result.output
    return out


def fronts(deck: str) -> list[str]:
    result = CliRunner().invoke(cli, ["cards", "--deck", deck, "--json"], env={"PMCARDS_NOW": NOW})
    notes = {c["note_id"]: c for c in json.loads(result.stdout) if c["ord"] == 0}
    out = []
    for card in notes.values():
        fields = card["fields"]
        out.append(fields.get("situation") or fields.get("front") or fields.get("not"))
    return out


def first_words(text: str, n: int = 7) -> str:
    return " ".join(text.split()[:n])


@pytest.mark.parametrize(("paper", "size"), [("a4", "(A4)"), ("letter", "(letter)")])
def test_full_sheet_paginates_and_shows_every_front(tmp_path: Path, paper: str, size: str) -> None:
    deck = "BAD vs GOOD answers"
    html = export(
        tmp_path, "sheet.html", "html", "--deck", deck, "--paper", paper, "--order", "weakest"
    )
    pdf = to_pdf(tmp_path, html)
    assert size in page_size(pdf)
    notes = fronts(deck)
    # A contrast card takes between a tenth and a quarter of a page.
    assert len(notes) / 10 <= pages(pdf) <= len(notes) / 4 + 1
    text = text_of(pdf)
    missing = [f for f in notes if first_words(f) not in text]
    assert missing == []
    assert f"pmcards · page 1 of {pages(pdf)}" in text  # page numbers from @page margin boxes


def test_compact_sheet_of_60_notes_fits_two_a4_pages(tmp_path: Path) -> None:
    # A typical mix: the first 12 notes of each flashcard deck (not the design prompts,
    # whose rubrics are a page of their own), contrasts included: 60 notes.
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
    # Tag the 60 so one --tag selects them (through the public import path).
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


def test_quiz_answers_start_on_a_new_page(tmp_path: Path) -> None:
    html = export(
        tmp_path, "quiz.html", "html", "--deck", "Framing and judgement", "--mode", "quiz"
    )
    pdf = to_pdf(tmp_path, html)
    n = pages(pdf)
    first_answers = None
    for page in range(1, n + 1):
        out = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Answers" in out.split():
            first_answers = page
            assert out.lstrip().startswith("Answers")  # the section opens its page
            break
    assert first_answers is not None and 1 < first_answers <= n


def test_report_screenshot(tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["review", "--limit", "5"], input=" 3" * 5, env={"PMCARDS_NOW": NOW})
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
    assert "Progress report" in text and "Reviews per day, last 12 months" in text
    assert "Due in the next 30 days" in text
