"""The kinds' Anki note types in Anki's own engine: the contrast's judge card holds both
answers and the script that shows one, drawn at random, on both sides."""

import itertools
import shutil
from pathlib import Path

import pytest
from anki_tools import import_package, new_collection
from click.testing import CliRunner
from helpers import write_deck

from pmcards.cli import cli
from pmcards.kinds import CONTRAST
from pmcards.kinds.contrast import JUDGE_SCRIPT

NOW = "2026-03-02T12:00:00+00:00"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"PMCARDS_NOW": NOW})
    return result.exit_code, result.output


@pytest.fixture
def anki_cards(tmp_path: Path, isolated_home: Path) -> dict[int, tuple[str, str]]:
    """The contrast note's two cards as Anki renders them: {ord: (question, answer)}."""
    note: dict[str, object] = {
        "id": "c1",
        "kind": "contrast",
        "situation": "Design a feed. What first?",
        "bad": "A two-tower model.",
        "good": "Agree the metric.",
        "why": "Measure first.",
    }
    deck = write_deck(tmp_path / "d.toml", "Mine", [note])
    assert run("import", str(deck))[0] == 0
    out = tmp_path / "out.apkg"
    code, output = run("export", "apkg", "--deck", "Mine", "-o", str(out))
    assert code == 0, output
    col = new_collection(tmp_path / "anki")
    import_package(col, out)
    (nid,) = col.find_notes("")
    cards = {c.ord: (c.question(), c.answer()) for c in col.get_note(nid).cards()}
    assert col.get_note(nid).note_type()["id"] == CONTRAST.anki.id  # the same note type
    assert list(col.get_note(nid).keys()) == ["Situation", "BAD", "GOOD", "Why", "Section"]
    col.close()
    return cards


def test_the_judge_card_holds_both_answers_and_shows_one_by_script(
    anki_cards: dict[int, tuple[str, str]],
) -> None:
    question, answer = anki_cards[1]
    script = JUDGE_SCRIPT.removeprefix("<script>").removesuffix("</script>").strip()
    # The front: both answers, hidden, and the script that shows one at random.
    assert (
        '<div data-pm-side=bad style="display:none"><p>Answer: A two-tower model.</p>' in question
    )
    assert (
        '<div data-pm-side=good style="display:none"><p>Answer: Agree the metric.</p>' in question
    )
    assert question.count(script) == 1 and "Math.random()" in question
    assert "pm-back" not in question.split("<script>")[0]
    # The back: the marker before the front (so its copy of the script keeps the side), both
    # verdicts, the why, and the script again at the end, after the verdicts.
    assert answer.index("<div id=pm-back></div>") < answer.index("pm-situation")
    bad_verdict = '<div data-pm-side=bad style="display:none"><b>BAD</b>. GOOD instead: Agree'
    assert bad_verdict in answer
    assert '<div data-pm-side=good style="display:none"><b>GOOD</b>.</div>' in answer
    assert "Measure first." in answer
    assert answer.count(script) == 2 and answer.rindex(script) > answer.index(bad_verdict)


def test_the_recall_card_shows_the_bad_answer(anki_cards: dict[int, tuple[str, str]]) -> None:
    question, answer = anki_cards[0]
    assert "Design a feed. What first?" in question and "A two-tower model." in question
    assert "What is the better move, and why is this answer weak?" in question
    assert "Agree the metric." not in question
    assert "<b>GOOD</b>: Agree the metric." in answer and "<script" not in answer


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
]
# Shows Anki's rendered front, then its back, as Anki's clients do, many times over; records
# the side visible on each. Desktop Anki and AnkiMobile put each side into one page and run
# its scripts (`desktop`); AnkiDroid loads each side as a page of its own, running scripts
# as they are parsed (`parsed`, in an iframe).
HARNESS = """<!doctype html><html><body><div id=card></div><iframe id=frame></iframe>
<pre id=result></pre><script>
var Q = %(question)s, A = %(answer)s, N = %(runs)d;
function visible(doc) {
  var out = [];
  var parts = doc.querySelectorAll("[data-pm-side]");
  for (var i = 0; i < parts.length; i++) {
    if (parts[i].style.display !== "none") out.push(parts[i].getAttribute("data-pm-side"));
  }
  return out.join(",");
}
function show(html) {
  var card = document.getElementById("card");
  card.innerHTML = html;
  var scripts = card.querySelectorAll("script");
  for (var i = 0; i < scripts.length; i++) {
    var s = document.createElement("script");
    s.text = scripts[i].text;
    scripts[i].parentNode.replaceChild(s, scripts[i]);
  }
  return visible(card);
}
var results = {desktop: [], parsed: []};
for (var i = 0; i < N; i++) results.desktop.push([show(Q), show(A)]);
var frame = document.getElementById("frame"), run = 0, front = null;
frame.onload = function () {
  var seen = visible(frame.contentDocument);
  if (front === null) { front = seen; frame.srcdoc = A; return; }
  results.parsed.push([front, seen]);
  front = null;
  if (++run < N) frame.srcdoc = Q;
  else document.getElementById("result").textContent = JSON.stringify(results);
};
frame.srcdoc = Q;
</script></body></html>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_judge_card_keeps_its_side_from_front_to_back_in_a_browser(
    anki_cards: dict[int, tuple[str, str]], tmp_path: Path
) -> None:
    import html
    import json
    import re
    import subprocess

    question, answer = anki_cards[1]
    runs = 60
    page = tmp_path / "harness.html"

    def literal(text: str) -> str:  # a JS string inside a <script>: no "</" may end it
        return json.dumps(text).replace("</", "<\\/")

    page.write_text(
        HARNESS % {"question": literal(question), "answer": literal(answer), "runs": runs},
        encoding="utf-8",
    )
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found is not None and found.group(1), done.stdout[-2000:]
    results = json.loads(html.unescape(found.group(1)))
    for client in ("desktop", "parsed"):
        shown = results[client]
        assert len(shown) == runs, client
        # One answer on the front, and the same side on the back (its answer and verdict).
        for front, back in shown:
            assert front in ("bad", "good"), (client, front)
            assert back == f"{front},{front}", (client, front, back)
        fronts = [front for front, _ in shown]
        # Drawn at random: both sides, never four of one in a row.
        assert 0.2 < fronts.count("bad") / runs < 0.8, (client, fronts)
        longest = max(len(list(g)) for _, g in itertools.groupby(fronts))
        assert longest <= 3, (client, fronts)
