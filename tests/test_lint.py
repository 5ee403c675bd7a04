"""`pmcards lint`: each rule on a deck that breaks it and on one that does not, the output
and exit status, lint_ignore in every format and in the collection, the import's hint."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write_deck

from pmcards import importer, lint
from pmcards.cli import cli
from pmcards.errors import DeckFormatError

NOW = "2026-03-02T12:00:00+00:00"
WHY = "Because the mechanism matters."


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"PMCARDS_NOW": NOW})
    return result.exit_code, result.stdout, result.stderr


def qa(front: str, back: str, **extra: object) -> dict[str, object]:
    return {"id": "q1", "kind": "qa", "front": front, "back": back, "why": WHY, **extra}


def contrast(bad: str, good: str, **extra: object) -> dict[str, object]:
    note: dict[str, object] = {
        "id": "c1",
        "kind": "contrast",
        "situation": "Design a feed. What do you say first?",
        "bad": bad,
        "good": good,
        "why": WHY,
    }
    note.update(extra)
    return note


LONG = " ".join(["word"] * 31)
# rule -> (a note that breaks it, the same note written well)
CASES: dict[str, tuple[list[dict[str, object]], list[dict[str, object]]]] = {
    "long-answer": (
        [qa("What is a guardrail metric?", LONG)],
        [qa("What is a guardrail metric?", "A metric that must not get worse.")],
    ),
    "enumeration": (
        [
            qa(
                "What does the privacy review cover?",
                "Consent, minimisation, retention and deletion.",
            )
        ],
        [qa("What does the privacy review start from?", "The data the feature truly needs.")],
    ),
    "answer-in-question": (
        [
            qa(
                "Which metric guards the launch of the ranking model?",
                "The guardrail metric launch.",
            )
        ],
        [qa("Which metric guards the launch?", "One that must not get worse.")],
    ),
    "lopsided-contrast": (
        [contrast("A two-tower model.", "First, how will we know the new feed helps users more?")],
        [contrast("I'd start with a two-tower model.", "First, how will we know it helps?")],
    ),
    "verdict-word": (
        [contrast("I'd start with a two-tower model.", "The best move: agree the metric.")],
        [contrast("I'd start with a two-tower model.", "First, agree the success metric.")],
    ),
    "near-duplicate": (
        [
            qa("Why run an A/B test before a launch of a ranker?", "To measure the lift."),
            qa("Why run an A/B test before the launch of a ranker?", "To see the lift.", id="q2"),
        ],
        [
            qa("Why run an A/B test before a launch of a ranker?", "To measure the lift."),
            qa("When is a holdout group worth its cost?", "When effects are slow.", id="q2"),
        ],
    ),
    "missing-why": (
        [{"id": "r1", "kind": "reframe", "not": "uptime", "but": "error tolerance"}],
        [{"id": "r1", "kind": "reframe", "not": "uptime", "but": "error tolerance", "why": WHY}],
    ),
    "long-why": (
        [qa("What is calibration?", "Scores that match frequencies.", why=" ".join(["w"] * 51))],
        [qa("What is calibration?", "Scores that match frequencies.")],
    ),
    "unseen-reference": (
        [qa("What does the article say comes first?", "The success metric.")],
        [qa("What comes first in a design answer?", "The success metric.")],
    ),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(lint.RULES)


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_on_a_deck_that_breaks_it_and_one_that_does_not(
    rule: str, tmp_path: Path
) -> None:
    bad, good = CASES[rule]
    path = write_deck(tmp_path / "bad.toml", "Deck", bad)
    code, out, err = run("lint", str(path))
    assert code == 1, out + err
    lines = out.splitlines()
    assert [line.split(": ")[2] for line in lines] == [rule], lines
    note = bad[-1]["id"]
    headers = [i for i, text in enumerate(path.read_text().splitlines(), 1) if text == "[[note]]"]
    line = headers[-1]  # the note found (a near-duplicate: the later of the two)
    assert lines[0].startswith(f"{path}:{line}: {note}: {rule}: "), lines
    assert err == "1 finding in 1 notes.\n".replace("1 notes", f"{len(bad)} notes")
    path = write_deck(tmp_path / "good.toml", "Deck", good)
    code, out, err = run("lint", str(path))
    assert (code, out, err) == (0, "", f"No findings in {len(good)} notes.\n")


def test_cloze_deletions_are_short_and_may_hold_a_list(tmp_path: Path) -> None:
    long_deletion = "Ship {{c1::" + " ".join(["x"] * 9) + "}} first."
    listed = "Review {{c1::consent, minimisation, retention and deletion}}."
    notes: list[dict[str, object]] = [
        {"id": "z1", "kind": "cloze", "text": long_deletion, "why": WHY},
        {"id": "z2", "kind": "cloze", "text": listed, "why": WHY},
    ]
    found = lint.lint(
        lint.file_notes(importer.parse_files([write_deck(tmp_path / "c.toml", "C", notes)]))
    )
    assert [(f.note_id, f.rule) for f in found] == [("z1", "long-answer")]
    assert "a deletion is 9 words" in found[0].message


def test_the_helpers_measure_what_they_say() -> None:
    assert lint.list_items("Ask about consent, minimisation, retention and deletion.") == 4
    assert lint.list_items("Recall, precision and cost-weighted metrics.") == 0
    assert lint.list_items("latency; cost; recall; trust") == 4
    assert lint.list_items("- a\n- b\n- c\n- d") == 4 and lint.list_items("- a\n- b\n- c") == 0
    assert lint.VERDICT.search("That is the better model")
    assert not lint.VERDICT.search("A bright idea, written up")
    assert lint.UNSEEN.search("if confidence falls below 80%")
    assert lint.jaccard(lint.shingles("a b c d"), lint.shingles("a b c d")) == 1.0


def test_near_duplicates_are_found_across_files_once_each(tmp_path: Path) -> None:
    text = "Why run an A/B test before a launch of a ranker?"
    first = write_deck(tmp_path / "a.toml", "A", [qa(text, "To measure.")])
    copies = [qa(text, f"To see {i}.", id=f"q{i + 2}") for i in range(3)]
    second = write_deck(tmp_path / "b.toml", "B", copies)
    code, out, _ = run("lint", str(first), str(second))
    assert code == 1
    lines = out.splitlines()
    # Each copy is reported once, against the first note: not every pair.
    assert [line.split(": ")[1:3] for line in lines] == [
        [f"q{i}", "near-duplicate"] for i in (2, 3, 4)
    ]
    assert f"says nearly what q1 ({first}:4) says" in lines[0]


def test_a_near_duplicate_of_two_notes_alike_names_the_first() -> None:
    """C shares half its word triples with A and with B (which are not alike: 3 of 7): it is
    reported against A, the earlier, whatever order the search meets them in."""
    notes = [
        lint.LintNote(guid, "qa", {"front": text, "back": "", "why": ""})
        for guid, text in [
            ("a", "p q r s t u v"),
            ("b", "p q r s t w z"),
            ("c", "p q r s t u s t w"),
        ]
    ]
    found = [f for f in lint.lint(notes) if f.rule == "near-duplicate"]
    assert [(f.note_id, f.message.split(" (")[0]) for f in found] == [
        ("c", "says nearly what a says")
    ]
    # With every triple in one of two buckets, the search meets B (indexed last, first in
    # its bucket's chain) before A: the tie still goes to A.
    search = lint._Duplicates(bits=1)
    shingles = [search.shingles(note) for note in notes]
    for found_shingles in shingles:
        assert found_shingles is not None
        search.count(found_shingles)
    checked = [search.check(note, s) for note, s in zip(notes, shingles, strict=True) if s]
    assert [f and f.message.split(" (")[0] for f in checked] == [
        None,
        None,
        "says nearly what a says",
    ]


def _mixed_notes(n: int) -> list[lint.LintNote]:
    """`n` notes with findings of every kind: copies, near copies and notes of their own."""
    import random

    rng = random.Random(18)
    words = [f"w{i}" for i in range(60)]
    notes: list[lint.LintNote] = []
    for i in range(n):
        if i % 3 and notes:  # a copy of an earlier note, a few words changed
            base = rng.choice(notes).fields["front"].split()
            for _ in range(rng.randint(0, 4)):
                base[rng.randrange(len(base))] = rng.choice(words)
            front = " ".join(base)
        else:
            front = " ".join(rng.choices(words, k=rng.randint(2, 40)))
        back = "the article" if i % 2 else " ".join(rng.choices(words, k=33))
        why = "" if i % 5 == 0 else WHY
        ignore = frozenset(["near-duplicate"]) if i % 17 == 0 else frozenset()
        notes.append(
            lint.LintNote(
                f"n{i}",
                "qa",
                {"front": front, "back": back, "why": why},
                "D",
                ignore=ignore,
            )
        )
    return notes


def test_the_collection_s_lint_in_two_reads_finds_what_lint_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`streamed` (the collection's lint: notes read twice, nothing held) gives `lint`'s
    findings in `lint`'s order; and so does a vocabulary past the words packed in 63 bits
    (made small here), its shingles then wide ints."""
    notes = _mixed_notes(600)
    expected = lint.lint(notes)
    assert {f.rule for f in expected} == {
        "near-duplicate",
        "missing-why",
        "unseen-reference",
        "long-answer",
    }
    count, found = lint.streamed(lambda: iter(notes))
    assert (count, list(found)) == (len(notes), expected)
    monkeypatch.setattr(lint, "_WORDS", 8)
    assert lint.lint(notes) == expected
    count, found = lint.streamed(lambda: iter(notes))
    assert list(found) == expected


def test_the_import_hint_counts_what_lint_finds() -> None:
    """The hint only counts (`keep=False`): its near-duplicate search stops at the first
    earlier note alike enough instead of looking for the most alike; the counts per rule
    must be those of the whole lint's findings, and the C-after-A-and-B case still counts
    once."""
    notes = _mixed_notes(600)
    expected: dict[str, int] = {}
    for finding in lint.lint(notes):
        expected[finding.rule] = expected.get(finding.rule, 0) + 1
    assert expected["near-duplicate"] > 50
    counting = lint.Linter(keep=False)
    for note in notes:
        counting.add(note)
    assert counting.finish() == []
    assert counting.counts == expected


def test_the_import_hint_s_search_is_sized_to_its_notes() -> None:
    # The collection's search keeps two arrays of 2**20 ints (8 MB); the hint's, bounded to
    # its 2,000 notes, must not: it took a 100,000-note import past 100 MB (102 MB).
    whole, hint = lint.Linter(), lint.Linter(duplicates_up_to=2_000)
    assert whole._duplicates is not None and hint._duplicates is not None
    assert len(whole._duplicates.counts) == len(whole._duplicates.heads) == 1 << 20
    assert len(hint._duplicates.counts) == len(hint._duplicates.heads) == 1 << 16


def test_the_lint_of_a_big_collection_stays_under_100_mb(tmp_path: Path) -> None:
    """The whole `pmcards lint` of 20,000 notes unlike each other (950,000 word triples), in
    a process of its own: the collection is read twice, each finding written as found, and
    the near-duplicate search holds the triples as packed ints in arrays (it kept every
    finding and a dict of every triple: 304 MB here, 350 MB on the benchmark's 100,000
    notes)."""
    import random

    from helpers import cli_peak_mb

    rng = random.Random(18)
    words = [f"w{i}" for i in range(300)]  # rare word triples: few candidates to compare
    rows = ["front,back,why\n"]
    for n in range(20_000):
        front, back = (" ".join(rng.choices(words, k=k)) for k in (12, 28))
        why = "" if n % 10 == 0 else " ".join(rng.choices(words, k=6))
        rows.append(f"Note {n} {front}?,{back}.,{why}\n")
    deck = tmp_path / "big.csv"
    deck.write_text("".join(rows), encoding="utf-8")
    home = tmp_path / "home"
    assert cli_peak_mb(["import", str(deck)], home) < 100
    peak_mb = cli_peak_mb(["lint"], home, ["2000 findings in 20000 notes."], exit_code=1)
    assert peak_mb < 100, f"peak memory {peak_mb} MB linting 20,000 notes"


def test_lint_ignore_in_every_format_and_in_the_collection(tmp_path: Path) -> None:
    toml = write_deck(
        tmp_path / "t.toml",
        "T",
        [qa("What does the article say?", "The metric.", lint_ignore=["unseen-reference"])],
    )
    md = tmp_path / "m.md"
    md.write_text(
        "# M\n\nQ: What does the FAQ say?\nA: The metric.\nWhy: A reason.\n"
        "Lint-ignore: unseen-reference\n<!-- id: m1 -->\n",
        encoding="utf-8",
    )
    csv = tmp_path / "c.csv"
    csv.write_text(
        "id,front,back,why,lint_ignore\nv1,What does the book say?,The metric.,A reason.,"
        "unseen-reference\n",
        encoding="utf-8",
    )
    code, out, err = run("lint", str(toml), str(md), str(csv))
    assert (code, out, err) == (0, "", "No findings in 3 notes.\n")
    assert run("import", str(toml), str(md), str(csv))[0] == 0
    # Kept in the collection: the collection lints clean too, and exports keep it.
    code, out, _ = run("lint", "--deck", "T")
    assert (code, out) == (0, "")
    assert run("lint", "--deck", "M")[0] == 0 and run("lint", "--deck", "c")[0] == 0
    code, exported, _ = run("export", "toml", "--deck", "T")
    assert 'lint_ignore = [\n    "unseen-reference",\n]' in exported or (
        'lint_ignore = ["unseen-reference"]' in exported
    )
    code, exported, _ = run("export", "md", "--deck", "M")
    assert "Lint-ignore: unseen-reference" in exported
    code, exported, _ = run("export", "csv", "--deck", "c")
    columns = next(line for line in exported.splitlines() if line.startswith("#columns:"))
    assert ",kind,section,lint_ignore," in columns
    # An unknown rule is an error naming the file and line.
    bad = write_deck(tmp_path / "bad.toml", "B", [qa("Q?", "A.", lint_ignore=["nope"])])
    with pytest.raises(DeckFormatError, match=r"bad.toml:4: note 1: unknown lint rule 'nope'"):
        importer.parse_files([bad])


def test_the_collection_and_its_output(tmp_path: Path) -> None:
    # A fresh collection: the built-in decks, which lint clean.
    code, out, err = run("lint")
    assert (code, out) == (0, "") and err.splitlines()[-1].startswith("No findings in ")
    deck = write_deck(
        tmp_path / "d.toml", "Mine", [qa("What does the article say?", "The metric.")]
    )
    assert run("import", str(deck))[0] == 0
    code, out, err = run("lint")
    assert code == 1
    assert out == (
        "q1: unseen-reference: 'front' says 'the article': the learner sees only this card, "
        "so say what is meant\n"
    )
    assert err.startswith("1 finding in ")
    code, out, _ = run("lint", "--deck", "Mine", "--json")
    assert code == 1
    assert json.loads(out) == {
        "notes": 1,
        "findings": [
            {
                "file": None,
                "line": None,
                "note_id": "q1",
                "deck": "Mine",
                "rule": "unseen-reference",
                "message": "'front' says 'the article': the learner sees only this card, so say "
                "what is meant",
            }
        ],
    }
    assert run("lint", "--deck", "BAD vs GOOD answers")[0] == 0
    # The deck as every command takes it: any case, or a unique beginning of its name.
    for name in ("mine", "MINE", "Mi"):
        code, out, err = run("lint", "--deck", name)
        assert (code, out.split(":")[0], err.split(" in ")[0]) == (1, "q1", "1 finding")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("lint", str(tmp_path / "missing.toml"))[0] == 2
    assert run("lint", "--deck", "Nope")[0] == 2
    broken = tmp_path / "broken.toml"
    broken.write_text("[deck]\nname = 'X'\n[[note]]\nid = 'a'\n", encoding="utf-8")
    code, out, err = run("lint", str(broken))
    assert code == 2 and err.startswith(f"Error: {broken}:3: note 1: missing field 'front'")
    deck = write_deck(tmp_path / "d.toml", "D", [qa("Q?", "A.")])
    code, _, err = run("lint", "--deck", "Other", str(deck))
    assert code == 2 and "no deck named 'Other' in these files (decks: D)" in err


def test_the_builtin_decks_lint_clean() -> None:
    decks = importer.parse_files(importer.builtin_deck_paths())
    assert lint.lint(lint.file_notes(decks)) == []


def test_import_hints_at_findings(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path / "d.toml",
        "D",
        [qa("What does the article say?", LONG), qa("Fine?", "Yes.", id="q2")],
    )
    code, out, err = run("import", str(deck))
    assert code == 0
    assert err.splitlines()[-1] == (
        f"Hint: 2 card-writing findings in these files (long-answer, unseen-reference): "
        f"pmcards lint {deck} lists them"
    )
    clean = write_deck(tmp_path / "c.toml", "C", [qa("Fine?", "Yes.", id="q3")])
    code, out, err = run("import", str(clean))
    assert code == 0 and "Hint" not in err


def test_import_hint_of_a_big_import_checks_its_first_notes(tmp_path: Path) -> None:
    """Above HINT_LINT_UP_TO notes the hint checks the first ones (the rules were a third of
    a 10,000-note import) and says so; `pmcards lint` checks every note."""
    from pmcards.cli.exchange import HINT_LINT_UP_TO

    rows = "".join(f"Question {n}?,Answer {n}.\n" for n in range(HINT_LINT_UP_TO + 500))
    deck = tmp_path / "big.csv"
    deck.write_text("front,back\n" + rows, encoding="utf-8")
    code, out, err = run("import", str(deck))
    assert code == 0
    assert err.splitlines()[-1] == (
        f"Hint: {HINT_LINT_UP_TO} card-writing findings in the first {HINT_LINT_UP_TO:,} notes "
        f"of these files (missing-why): pmcards lint {deck} lists them"
    )
