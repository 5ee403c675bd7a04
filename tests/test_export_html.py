"""The study sheet and the progress report: rendering, escaping, ordering."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import NewDb, qa, write_deck
from sqlalchemy import select, update

from pmcards import schema
from pmcards.cardstate import REVIEW
from pmcards.cli import cli
from pmcards.store import Store

C, N = schema.cards.c, schema.notes.c

UTC = UTC
NOW = "2026-03-02T12:00:00+00:00"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"PMCARDS_NOW": NOW, **(env or {})})
    return result.exit_code, result.output


@pytest.fixture
def mixed(tmp_path: Path, new_db: NewDb) -> str:
    deck = write_deck(
        tmp_path / "mixed.toml",
        "Mixed",
        [
            {
                "id": "c1",
                "kind": "contrast",
                "tags": ["x"],
                "section": "Openings",
                "situation": "Design fraud detection. First move?",
                "bad": "Pick a deep model.",
                "good": "Define what failure costs.",
                "why": "Cost of being wrong first.",
            },
            {
                "id": "r1",
                "kind": "reframe",
                "tags": ["x"],
                "section": "Openings",
                "not": "uptime",
                "but": "model decay",
                "why": "Models age.",
            },
            qa(1, section="Basics"),
            qa(2, section="Basics", front="Is <script>alert('x')</script> & co escaped?"),
        ],
    )
    db = new_db("c")
    code, output = invoke("--db", db, "import", str(deck))
    assert code == 0, output
    return db


def set_memory(db: str, guid: str, stability: float, days_ago: int, lapses: int = 0) -> None:
    store = Store(db)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    last = now - timedelta(days=days_ago)
    with store.write() as conn:
        conn.execute(
            update(schema.cards)
            .where(C.note_id == select(N.id).where(N.guid == guid).scalar_subquery())
            .values(
                state=REVIEW,
                stability=stability,
                difficulty=5.0,
                last_review=last,
                due=last + timedelta(days=max(1, round(stability))),
                reps=3,
                lapses=lapses,
            )
        )
    store.close()


def sheet(db: str, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "sheet.html"
    code, output = invoke("--db", db, "export", "html", "--deck", "Mixed", "-o", str(out), *args)
    assert code == 0, output
    return out.read_text(encoding="utf-8")


def test_sheet_structure_by_kind(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    assert html.startswith("<!DOCTYPE html>")
    assert "<h2>Mixed</h2>" in html and "<h3>Openings</h3>" in html and "<h3>Basics</h3>" in html
    contrast = html[html.index('id="n-c1"') : html.index('id="n-r1"')]
    assert "<th>✗ BAD</th><th>✓ GOOD</th>" in contrast
    assert (
        '<td class="bad">Pick a deep model.</td><td class="good">Define what failure costs.</td>'
        in contrast
    )
    assert "<b>Why:</b> Cost of being wrong first." in contrast
    reframe = html[html.index('id="n-r1"') : html.index('id="n-n-001"')]
    assert "<th>NOT …</th><th>BUT …</th>" in reframe
    assert '<td class="bad">uptime</td><td class="good">model decay</td>' in reframe
    assert "4 notes, in deck order." in html
    assert "size: A4;" in html


def test_sheet_is_self_contained_and_escaped(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=", html)  # nothing fetched, no links out
    assert "@import" not in html and "url(" not in html


def test_weakest_order_by_predicted_recall_on_a_date(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=40.0, days_ago=1)  # strong
    set_memory(mixed, "r1", stability=2.0, days_ago=1)  # weak
    set_memory(mixed, "n-001", stability=2.0, days_ago=1, lapses=3)  # as weak, more lapses
    html = sheet(mixed, tmp_path, "--order", "weakest", "--on", "2026-03-16")
    order = re.findall(r'id="n-([^"]+)"', html)
    # Never studied first (n-002), then lowest recall, ties broken by lapses.
    assert order == ["n-002", "n-001", "r1", "c1"]
    assert "by predicted recall on 2026-03-16" in html
    # Recall markers: the strong card keeps more segments on the interview day.
    c1 = html[html.index('id="n-c1"') :]
    assert re.search(r"recall (\d+)%", c1)
    assert "not studied" in html[html.index('id="n-n-002"') : html.index('id="n-n-001"')]


def test_due_order(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=10.0, days_ago=1)  # due in 9 days
    set_memory(mixed, "r1", stability=3.0, days_ago=1)  # due in 2 days
    html = sheet(mixed, tmp_path, "--order", "due")
    assert re.findall(r'id="n-([^"]+)"', html) == ["r1", "c1", "n-001", "n-002"]


def test_quiz_mode_hides_answers_until_later_pages(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path, "--mode", "quiz", "--paper", "letter")
    questions, answers = html.split('<section class="answers cards">')
    assert "Define what failure costs." not in questions
    assert "model decay" not in questions and "Answer 1." not in questions
    assert "Define what failure costs." in answers and "model decay" in answers
    assert ".answers { break-before: page;" in html
    assert "size: letter;" in html


def test_compact_mode(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path, "--mode", "compact")
    assert '<body class="compact">' in html
    assert "Not <i>uptime</i>" in html


def test_user_templates_override(mixed: str, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sheet.html").write_text(
        "{% for item in items %}[{{ item.guid }}:{{ item.fields.get('front', '') }}]{% endfor %}"
    )
    html = sheet(mixed, tmp_path, "--template", str(mine))
    assert html.startswith("[c1:][r1:][n-001:Question 1?][n-002:Is &lt;script&gt;")


def test_broken_user_template_is_a_clear_error(mixed: str, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sheet.html").write_text("line one\n{% for x in %}\n")
    code, output = invoke(
        "--db", mixed, "export", "html", "--deck", "Mixed", "--template", str(mine)
    )
    assert code == 1
    assert output.startswith(f"Error: template error in {mine}: sheet.html:2: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "toml", "--order", "weakest"], "--order applies only to: html"),
        (
            ["export", "html", "--on", "notadate"],
            "Invalid value for '--on': 'notadate' does not match the format '%Y-%m-%d'.",
        ),
        (["export", "html", "--paper", "a3"], "Invalid value for '--paper'"),
        (["export", "pdf"], "Invalid value for 'FORMAT'"),
    ],
)
def test_export_option_errors(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2 and message in output


def test_sheet_of_builtin_decks_covers_every_note() -> None:
    code, output = invoke("export", "html", "--order", "weakest")
    assert code == 0
    code, cards = invoke("cards", "--json")
    guids = {c["note_id"] for c in json.loads(cards)}
    assert set(re.findall(r'id="n-([^"]+)"', output)) == guids


def test_report_has_charts_and_no_scripts(mixed: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, output = invoke("--db", mixed, "export", "report", "-o", str(out))
    assert code == 0, output
    html = out.read_text()
    assert html.count("<svg") == 2  # heatmap and forecast; retention needs mature reviews
    assert html.count('<rect class="s') >= 7 * 52
    assert "No mature cards reviewed yet" in html
    assert "<script" not in html.lower() and not re.search(r"(src|href)\s*=", html)
