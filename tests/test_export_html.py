"""The study sheet, the one-page sheet and the progress report: rendering, escaping, order."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import NewDb, qa, write_deck
from sqlalchemy import select, update

from pmcards import interview, scheduling, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import REVIEW, Memory
from pmcards.cli import cli
from pmcards.clock import day_start
from pmcards.exporters import EXPORTS, SHEET_MODES, SHEET_ORDERS
from pmcards.exporters.entries import lines_for
from pmcards.store import Store

C, N = schema.cards.c, schema.notes.c

UTC = UTC
NOW = "2026-03-02T12:00:00+00:00"
AT_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RUBRIC = """
- [scoping] Scopes the users.
- MUST: [metrics errors] Picks a metric with a guardrail.
- [baselines] Starts from rules.
- RED FLAG: [architecture] Draws boxes before the metric.
"""


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
            qa(1, section="Basics", why="Because 1."),
            qa(2, section="Basics", front="Is <script>alert('x')</script> & co escaped?"),
            {
                "id": "p1",
                "kind": "prompt",
                "tags": ["risk"],
                "section": "Prompts",
                "prompt": "Design fraud detection for card payments.",
                "rubric": RUBRIC,
                "why": "Labels arrive late.",
            },
            {
                "id": "z1",
                "kind": "cloze",
                "tags": ["structure"],
                "section": "Basics",
                "text": "Answer in {{c1::scope}}, then {{c2::guardrails::what limits?}}.",
                "why": "Agreement first.",
            },
        ],
    )
    db = new_db("c")
    code, output = invoke("--db", db, "import", str(deck))
    assert code == 0, output
    return db


def set_memory(db: str, guid: str, stability: float, days_ago: int, lapses: int = 0) -> None:
    store = Store(db)
    last = AT_NOW - timedelta(days=days_ago)
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


def recall(stability: float, days_ago: int, at: datetime) -> str:
    """FSRS's predicted recall at `at` of a card set by `set_memory`, as the sheet prints it."""
    last = AT_NOW - timedelta(days=days_ago)
    memory = Memory(REVIEW, None, stability, 5.0, last + timedelta(days=1), last)
    return f"{scheduling.retrievability(settings_mod.Settings(), memory, at) * 100:.0f}%"


def sheet(db: str, tmp_path: Path, *args: str, deck: str = "Mixed") -> str:
    out = tmp_path / "sheet.html"
    scope = ["--deck", deck] if deck else []
    code, output = invoke("--db", db, "export", "html", *scope, "-o", str(out), *args)
    assert code == 0, output
    return out.read_text(encoding="utf-8")


def note_html(html: str, guid: str) -> str:
    """One note's article."""
    start = html.index(f'id="n-{guid}"')
    return html[start : html.index("</article>", start)]


def order(html: str) -> list[str]:
    return re.findall(r'<article class="note[^"]*" id="n-([^"]+)"', html)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- the full sheet -------------------------------------------------------------------------


def test_sheet_title_headings_and_page(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>pmcards study sheet · Mixed · 2 March 2026</title>" in html
    assert (
        '<h1>pmcards study sheet <span class="deck">Mixed</span> '
        '<span class="date">2 March 2026</span></h1>'
    ) in html
    # The deck is a heading, its sections are subheadings, in the order they first appear.
    headings = re.findall(r"<h([23])>([^<]+)", html)
    assert headings == [("2", "Mixed"), ("3", "Openings"), ("3", "Basics"), ("3", "Prompts")]
    assert "6 notes, in deck order. 0 studied; recall predicted for now, 2 March 2026, 12:00." in (
        html
    )
    assert "size: A4;" in html
    assert "<table" not in html  # hairlines and a grid, no boxes


def test_sheet_title_without_a_deck_is_short(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path, deck="")
    assert "<title>pmcards study sheet · 2 March 2026</title>" in html


def test_contrast_and_reframe_sit_side_by_side(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    contrast = note_html(html, "c1")
    assert '<p class="cue">Design fraud detection. First move?</p>' in contrast
    assert (
        '<div class="pair"><div class="side against"><span class="label">✗ BAD</span> '
        'Pick a deep model.</div><div class="side for"><span class="label">✓ GOOD</span> '
        "Define what failure costs.</div></div>"
    ) in contrast
    assert '<p class="why">Cost of being wrong first.</p>' in contrast
    reframe = note_html(html, "r1")
    assert (
        '<div class="side against"><span class="label">✗ Not</span> uptime</div>'
        '<div class="side for"><span class="label">✓ But</span> model decay</div>'
    ) in reframe
    assert 'class="cue"' not in reframe


def test_question_answer_and_why_run_on_as_in_a_glossary(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    assert (
        '<p class="answer"><b class="cue">Question 1?</b> Answer 1. '
        '<span class="why">Because 1.</span></p>'
    ) in note_html(html, "n-001")


def test_prompt_is_bold_with_numbered_points_in_every_mode(mixed: str, tmp_path: Path) -> None:
    points = (
        '<ol class="points">\n'
        '<li><span class="n">1.</span>Scopes the users.</li>\n'
        '<li class="must"><span class="n">2.</span><span class="star">★</span> '
        "Picks a metric with a guardrail.</li>\n"
        '<li><span class="n">3.</span>Starts from rules.</li>\n'
        "</ol>"
        '<ol class="flags">\n'
        '<li><span class="n">✗1</span>Draws boxes before the metric.</li>\n'
        "</ol>"
    )
    for mode in ("full", "compact"):
        html = sheet(mixed, tmp_path, "--mode", mode)
        prompt = note_html(html, "p1")
        assert '<p class="cue">Design fraud detection for card payments.</p>' in prompt
        assert points in prompt, mode
        assert "[" not in text_of(prompt) and "MUST" not in prompt and "RED FLAG" not in prompt
    quiz = sheet(mixed, tmp_path, "--mode", "quiz")
    question = note_html(quiz, "p1")
    assert '<p class="cue">Design fraud detection for card payments.</p>' in question
    assert "Which points must a strong answer make, and which red flags does it avoid?" in question
    assert question.count("<div></div>") == 3 + 1 + 1  # a line per point and flag, and one
    key = quiz[quiz.index('id="a-p1"') :]
    assert points in key[: key.index("</article>")]


def test_cloze_answers_bold_on_the_sheet_and_blank_in_the_quiz(mixed: str, tmp_path: Path) -> None:
    full = note_html(sheet(mixed, tmp_path), "z1")
    assert (
        '<p class="answer">Answer in <b class="cloze">scope</b>, then '
        '<b class="cloze">guardrails</b>. <span class="why">Agreement first.</span></p>'
    ) in full
    quiz = sheet(mixed, tmp_path, "--mode", "quiz")
    question = note_html(quiz, "z1")
    assert (
        '<p class="cue">Answer in <span class="blank">(1)</span>, then '
        '<span class="blank">(2: what limits?)</span>.</p>'
    ) in question
    assert "scope" not in question and "guardrails" not in question
    key = quiz[quiz.index('id="a-z1"') :]
    assert (
        '<p class="answer"><span class="label">1</span> scope</p>'
        '<p class="answer"><span class="label">2</span> guardrails</p>'
    ) in key


def test_sheet_is_self_contained_and_escaped(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path)
    assert "Is &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co escaped?" in html
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=", html)  # nothing fetched, no links out
    assert "@import" not in html and "url(" not in html


def test_kept_html_is_cleaned_and_fetches_nothing(tmp_path: Path, new_db: NewDb) -> None:
    # HTML kept from an Anki field keeps its formatting, loses anything active, and its
    # images and links become text: the page fetches nothing when opened.
    deck = write_deck(
        tmp_path / "anki.toml",
        "Anki",
        [
            qa(
                1,
                back='<b>Bold</b> <img src="https://t.example/p.gif" onerror="x()">'
                '<a href="https://e.example">link</a><script>bad()</script>',
            )
        ],
    )
    db = new_db("anki")
    assert invoke("--db", db, "import", str(deck))[0] == 0
    answer = note_html(sheet(db, tmp_path, deck="Anki"), "n-001")
    assert (
        '<b class="cue">Question 1?</b> <b>Bold</b> [image: https://t.example/p.gif]<a>link</a>'
    ) in answer


def test_cloze_text_is_escaped_or_cleaned_around_its_marks() -> None:
    from pmcards.exporters.entries import entry
    from pmcards.kinds import CLOZE

    plain = entry(CLOZE, {"text": "a < b, {{c1::x & <y>}} <script>bad()</script>"})
    assert str(plain.answer) == (
        'a &lt; b, <b class="cloze">x &amp; &lt;y&gt;</b> &lt;script&gt;bad()&lt;/script&gt;'
    )
    kept = entry(
        CLOZE, {"text": '<i>Kept</i> {{c1::<b onclick="x()">bold</b>}}<script>no()</script>'}
    )
    assert str(kept.answer) == '<i>Kept</i> <b class="cloze"><b>bold</b></b>'
    assert (
        kept.quiz is not None and str(kept.quiz.cue) == '<i>Kept</i> <span class="blank">(1)</span>'
    )


def test_recall_marker_for_studied_notes_and_new_for_the_others(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=10.0, days_ago=3)
    html = sheet(mixed, tmp_path)
    figure = recall(10.0, 3, AT_NOW)
    assert (
        f'<span class="recall" title="FSRS-predicted recall at now, 2 March 2026, 12:00">'
        f'{figure}<span class="meter"><span style="width: {figure[:-1]}%"></span></span></span>'
    ) in note_html(html, "c1")
    assert '<span class="recall new" title="never studied">new</span>' in note_html(html, "r1")
    assert "2 studied" not in html and "1 studied" in html  # a note, not its two cards


# -- orders -------------------------------------------------------------------------------


def test_weakest_order_by_predicted_recall_then_never_studied(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=40.0, days_ago=1)  # strong
    set_memory(mixed, "r1", stability=2.0, days_ago=1)  # weak
    set_memory(mixed, "n-001", stability=2.0, days_ago=1, lapses=3)  # as weak, more lapses
    html = sheet(mixed, tmp_path, "--order", "weakest", "--on", "2026-03-16")
    # Studied notes, lowest recall first (ties: more lapses first); then the notes never
    # studied, in deck order, under a heading of their own.
    assert order(html) == ["n-001", "r1", "c1", "n-002", "p1", "z1"]
    headings = re.findall(r"<h([23])>([^<]+)", html)
    assert headings == [("2", "Studied, weakest first "), ("2", "Never studied "), ("3", "Mixed")]
    assert '<h2>Studied, weakest first <span class="note-on">3 notes</span></h2>' in html
    assert '<h2>Never studied <span class="note-on">3 notes, in deck order</span></h2>' in html
    # A date alone is its midday, local time (UTC here).
    at = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)
    assert "recall predicted for 16 March 2026, 12:00." in html
    assert f">{recall(40.0, 1, at)}<" in note_html(html, "c1")
    assert f">{recall(2.0, 1, at)}<" in note_html(html, "r1")


def test_on_takes_a_time(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=5.0, days_ago=1)
    html = sheet(mixed, tmp_path, "--order", "weakest", "--on", "2026-03-05 09:30")
    at = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
    assert "recall predicted for 5 March 2026, 09:30." in html
    assert f">{recall(5.0, 1, at)}<" in note_html(html, "c1")


def test_on_defaults_to_the_interview_of_the_plan(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=5.0, days_ago=1)
    # Without a plan: now, so a card studied a day ago is far from the interview's figure.
    assert f">{recall(5.0, 1, AT_NOW)}<" in note_html(sheet(mixed, tmp_path), "c1")
    code, output = invoke("--db", mixed, "plan", "--interview", "2026-03-20")
    assert code == 0, output
    store = Store(mixed)
    with store.read() as conn:
        plan = interview.load(conn)
        assert plan is not None
        rollover = settings_mod.load(conn).rollover_hour
        at = plan.starts_at(settings_mod.load(conn))
    store.close()
    html = sheet(mixed, tmp_path, "--order", "weakest")
    local = at.astimezone()
    label = f"the interview, {local.day} {local:%B %Y}"
    if at != day_start(local.date(), rollover):
        label += f", {local:%H:%M}"  # a plan with a time of day
    assert f"recall predicted for {label}." in html
    assert f">{recall(5.0, 1, at)}<" in note_html(html, "c1")
    assert recall(5.0, 1, at) != recall(5.0, 1, AT_NOW)


def test_a_past_on_predicts_for_now(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path, "--on", "2026-02-01")
    assert "recall predicted for now (2 March 2026, 12:00; 2026-02-01 is past)." in html


def test_due_order(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=10.0, days_ago=1)  # due in 9 days
    set_memory(mixed, "r1", stability=3.0, days_ago=1)  # due in 2 days
    html = sheet(mixed, tmp_path, "--order", "due")
    assert order(html) == ["r1", "c1", "n-001", "n-002", "p1", "z1"]
    assert '<h2>Studied, soonest due first <span class="note-on">2 notes</span></h2>' in html


def test_the_cli_offers_and_documents_every_order_and_mode() -> None:
    from pmcards.cli import exchange

    params = {p.name: p for p in exchange.export.params}
    for name, registry in (("order", SHEET_ORDERS), ("mode", SHEET_MODES)):
        param = params[name]
        assert isinstance(param, click.Option) and isinstance(param.type, click.Choice)
        assert list(param.type.choices) == list(registry)
        for choice, what in registry.items():
            assert f"{choice}: {what}." in (param.help or "")
    assert "onepage" in SHEET_MODES and EXPORTS["html"].options >= {"order", "on", "mode"}


# -- quiz and compact ---------------------------------------------------------------------


def test_quiz_shows_the_bad_answer_to_judge_and_keys_numbered_to_match(
    mixed: str, tmp_path: Path
) -> None:
    html = sheet(mixed, tmp_path, "--mode", "quiz", "--paper", "letter")
    questions, answers = html.split('<section class="answers notes">')
    contrast = note_html(questions, "c1")
    assert '<p class="cue">Design fraud detection. First move?</p>' in contrast
    assert (
        '<div class="shown"><div class="side against"><span class="label">✗ BAD</span> '
        "Pick a deep model.</div></div>"
    ) in contrast
    assert "What is the better move, and why is this BAD answer weak?" in contrast
    assert "Define what failure costs." not in questions
    assert "model decay" not in questions and '<p class="cue">Not uptime, but …?</p>' in questions
    # The answer key holds every note, in the questions' order, under the same numbers.
    numbers = re.findall(r'id="n-([^"]+)">\n<span class="margin"><span class="num">(\d+)', html)
    keys = re.findall(r'id="a-([^"]+)">\n<span class="margin"><span class="num">(\d+)', answers)
    assert keys == numbers and len(keys) == 6
    assert "Define what failure costs." in answers and "model decay" in answers
    assert ".answers { break-before: page; }" in html
    assert "size: letter;" in html


def test_quiz_writing_space_follows_the_answers_length(tmp_path: Path, new_db: NewDb) -> None:
    deck = write_deck(
        tmp_path / "lengths.toml",
        "Lengths",
        [
            qa(1, back="Yes."),
            qa(2, back="Scope, guardrails, architecture sketch, iteration plan. " * 3),
        ],
    )
    db = new_db("lengths")
    assert invoke("--db", db, "import", str(deck))[0] == 0
    html = sheet(db, tmp_path, "--mode", "quiz", deck="Lengths")
    short = note_html(html, "n-001").count("<div></div>")
    long = note_html(html, "n-002").count("<div></div>")
    assert (short, long) == (lines_for(4), lines_for(171)) == (2, 6)


def test_compact_mode_has_no_why_and_no_recall(mixed: str, tmp_path: Path) -> None:
    html = sheet(mixed, tmp_path, "--mode", "compact")
    assert '<body class="compact">' in html
    body = html[html.index("<main") :]
    assert "Cost of being wrong first." not in body and 'class="recall' not in body
    # The answer runs on after its question; a contrast gives the GOOD move only.
    assert (
        '<p class="answer"><b>Design fraud detection. First move?</b> '
        '<span class="label">✓ GOOD</span> Define what failure costs.</p>'
    ) in body
    assert "Pick a deep model." not in body
    assert '<p class="answer"><b>Question 1?</b> Answer 1.</p>' in body


# -- the one-page sheet -----------------------------------------------------------------


def test_onepage_holds_the_method_reframes_and_likeliest_contrasts(tmp_path: Path) -> None:
    # The built-in decks: the opening, the parts and the clock are their notes.
    out = tmp_path / "one.html"
    code, output = invoke("export", "html", "--mode", "onepage", "-o", str(out))
    assert code == 0, output
    html = out.read_text(encoding="utf-8")
    text = text_of(html)
    assert "- [" not in text and "MUST" not in text
    assert (
        "Open in three moves 1 The user and their problem 2 The success metric and its "
        "guardrails 3 The worst failure and the risk accepted"
    ) in text
    assert (
        "The answer in four parts, on a 20-minute clock Framing 0–5 min Sketch 5–15 min "
        "Trade-offs 15–20 min 1 Scope"
    ) in text
    assert re.search(r'<th colspan="2">Framing', html)  # framing spans scope and guardrails
    for part in ("2 Guardrails", "3 Architecture sketch", "4 Iteration plan"):
        assert part in text
    code, cards = invoke("cards", "--json")
    notes = {c["note_id"]: c for c in json.loads(cards)}
    reframes = [g for g, c in notes.items() if c["kind"] == "reframe"]
    contrasts = [g for g, c in notes.items() if c["kind"] == "contrast"]
    assert sorted(re.findall(r'<tr id="n-([^"]+)"', html)) == sorted(reframes)
    assert '<th class="against">✗ Not</th><th class="for">✓ But</th>' in html
    # Every contrast is offered, numbered, likeliest to go wrong first (none studied yet: in
    # deck order); the browser shows as many as fit.
    shown = re.findall(r'<article class="contrast" id="n-([^"]+)"', html)
    assert sorted(shown) == sorted(contrasts)
    assert "height: 280.4mm;" in html  # the page's box: A4 less its margins, and a hair


def test_onepage_puts_the_weakest_contrasts_first(mixed: str, tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path / "more.toml",
        "More",
        [
            {
                "id": f"k{i}",
                "kind": "contrast",
                "situation": f"Situation {i}.",
                "bad": f"Bad {i}.",
                "good": f"Good {i}.",
            }
            for i in range(1, 4)
        ],
    )
    assert invoke("--db", mixed, "import", str(deck))[0] == 0
    set_memory(mixed, "k1", stability=40.0, days_ago=1)
    set_memory(mixed, "k3", stability=2.0, days_ago=5)
    html = sheet(mixed, tmp_path, "--mode", "onepage", deck="More")
    # Never studied (no chance of recall, to FSRS) first, then the lowest recall.
    assert re.findall(r'<article class="contrast" id="n-([^"]+)"', html) == ["k2", "k3", "k1"]
    assert "height: 262.8mm" not in html and "height: 280.4mm" in html
    letter = sheet(mixed, tmp_path, "--mode", "onepage", "--paper", "letter", deck="More")
    assert "size: letter; margin: 8.0mm;" in letter and "height: 262.8mm" in letter


# -- templates and errors -----------------------------------------------------------------


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
            "Invalid value for '--on': 'notadate' is not a date (YYYY-MM-DD) or a date and "
            "time (YYYY-MM-DD HH:MM)",
        ),
        (["export", "html", "--paper", "a3"], "Invalid value for '--paper'"),
        (["export", "html", "--mode", "poster"], "Invalid value for '--mode'"),
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
    assert set(order(output)) == guids
    assert "- [" not in text_of(output)  # every rubric as a list, none as its raw lines


# -- the report ---------------------------------------------------------------------------


def report(db: str, tmp_path: Path) -> str:
    out = tmp_path / "report.html"
    code, output = invoke("--db", db, "export", "report", "-o", str(out))
    assert code == 0, output
    return out.read_text(encoding="utf-8")


def test_report_has_charts_and_no_scripts(mixed: str, tmp_path: Path) -> None:
    html = report(mixed, tmp_path)
    assert html.count("<svg") == 2  # heatmap and forecast; retention needs mature reviews
    assert html.count('<rect class="s') >= 7 * 52
    assert "No mature cards reviewed yet" in html
    assert "<script" not in html.lower() and not re.search(r"(src|href)\s*=", html)


def test_report_heatmap_has_a_legend(mixed: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", mixed, "review", "--limit", "3"], input=" 3" * 3, env={"PMCARDS_NOW": NOW}
    )
    assert result.exit_code == 0, result.output
    html = report(mixed, tmp_path)
    legend = html[
        html.index('<g class="legend"') : html.index("</g>", html.index('class="legend"'))
    ]
    assert "Answers a day:" in legend
    # No day studied but today (3 answers): "none" and one shade for 3.
    assert re.findall(r'<rect class="s(\d)"[^>]*/><text[^>]*>([^<]+)</text>', legend) == [
        ("0", "none"),
        ("4", "3"),
    ]


def test_report_labels_the_plan_apart_from_the_due_forecast(mixed: str, tmp_path: Path) -> None:
    assert invoke("--db", mixed, "plan", "--interview", "2026-03-20")[0] == 0
    html = report(mixed, tmp_path)
    assert "<h2>Interview plan: 20 March 2026</h2>" in html
    assert "<h3>Answers the plan asks for, each day until the interview</h3>" in html
    assert "<h2>Reviews due in the next 30 days</h2>" in html
    assert "new cards included: that is why it runs above the reviews due below" in html
    assert "Not counted: new cards, and the reviews your next answers will bring" in html
    assert "(the plan above counts both)" in html
    # The plan's bars are stacked: every new card it brings in is drawn in its own shade.
    assert html.count('class="bar new"') >= 1


def test_weakest_is_never_a_card_at_100_percent(mixed: str, tmp_path: Path) -> None:
    set_memory(mixed, "c1", stability=10.0, days_ago=8)  # weak, and not due today
    # A new card answered now: 100% predicted recall, however few cards are studied.
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", mixed, "review", "--limit", "1"], input=" 3", env={"PMCARDS_NOW": NOW}
    )
    assert result.exit_code == 0, result.output
    code, output = invoke("--db", mixed, "stats", "--json")
    weakest = json.loads(output)["weakest"]
    assert weakest and all(w["retrievability"] < 0.995 for w in weakest)
    assert sorted((w["note_id"], w["card"]) for w in weakest) == [("c1", "judge"), ("c1", "recall")]
    html = report(mixed, tmp_path)
    table = html[html.index('<section id="weakest">') :]
    table = table[: table.index("</section>")]
    assert "100%" not in table and table.count("<tr>") == 1 + 2
    assert '<table class="keep">' in table  # a short table is never split across pages
    assert '<span class="card">· judge card</span>' in table
