"""The card-writing rules for the built-in decks, checked on every note.

One idea per card, short answers, a why that explains, contrasts whose two answers cannot
be told apart by length or by a verdict word, and mock rubrics on one template whose tags
name real cards. Each rule's helper is also tested on a case it must reject, so a rule
cannot pass by accident.
"""

import re
from collections import Counter
from itertools import combinations

import pytest

from pmcards import importer, kinds
from pmcards.formats.parsed import ParsedDeck, ParsedNote
from pmcards.kinds import cloze

# Deck file stem → the id prefix of its numbered notes.
PREFIX = {
    "01-framing": "frm-",
    "02-contrasts": "con-",
    "03-structure-and-prep": "prep-",
    "04-ai-pm-fundamentals": "fund-",
    "05-llm-products": "llm-",
    "06-mock-prompts": "mock-",
}
# Every note id of the first release (commit b594556), by deck and kind. A kept id must keep
# its deck and kind (the importer refuses anything else, and review history hangs on it); a
# deleted note's id is never given to a new note.
V1 = {
    "Framing and judgement": {
        "reframe": "frm-001 frm-002 frm-003 frm-004 frm-005 frm-006 frm-011 frm-012 frm-013 "
        "frm-014 frm-015 frm-016 frm-017 frm-018 frm-020 frm-021 frm-022 frm-023 frm-024 "
        "frm-025 frm-026 frm-027 frm-028 frm-029 frm-030 frm-031 frm-033 frm-034 frm-035 "
        "frm-036 frm-037",
        "qa": "frm-007 frm-008 frm-009 frm-010 frm-019 frm-032",
    },
    "BAD vs GOOD answers": {
        "contrast": " ".join(f"con-{i:03d}" for i in range(1, 39)),
    },
    "Answer structure and preparation": {
        "qa": " ".join(f"prep-{i:03d}" for i in range(1, 41) if i not in (12, 14)),
        "reframe": "prep-012 prep-014 prep-041",
    },
    "AI PM system design fundamentals": {
        "qa": "fund-001 fund-003 fund-004 fund-005 fund-006 fund-007 fund-009 fund-010 "
        "fund-011 fund-012 fund-014 fund-015 fund-016 fund-017 fund-018 fund-019 fund-020 "
        "fund-021 fund-022 fund-024 fund-026 fund-027 fund-028 fund-029 fund-030 fund-032 "
        "fund-033 fund-034 fund-035 fund-036 fund-038 fund-039 fund-040 fund-041 fund-042 "
        "fund-043 fund-045 fund-046 fund-047 fund-048 fund-050 fund-052 fund-053 fund-054 "
        "fund-056 fund-057 fund-059 fund-060 fund-062 fund-063",
        "contrast": "fund-002 fund-013 fund-025 fund-037 fund-044 fund-049 fund-051 fund-055 "
        "fund-058 fund-064",
        "reframe": "fund-008 fund-023 fund-031 fund-061",
        "cloze": "fund-065 fund-066",
        "qa_reversed": "fund-067",
    },
    "LLM product risks": {
        "qa": "llm-001 llm-002 llm-003 llm-006 llm-008 llm-009 llm-010 llm-011 llm-013 "
        "llm-014 llm-015 llm-016 llm-017 llm-018 llm-020 llm-021 llm-023 llm-024 llm-025 "
        "llm-027 llm-029 llm-030 llm-031 llm-033 llm-034 llm-037 llm-038 llm-039 llm-040 "
        "llm-042 llm-043 llm-045 llm-048",
        "contrast": "llm-004 llm-007 llm-012 llm-019 llm-022 llm-028 llm-032 llm-036 llm-041 "
        "llm-046",
        "reframe": "llm-005 llm-026 llm-035 llm-044 llm-047",
    },
    "Mock interview prompts": {
        "prompt": "mock-fraud mock-feed mock-moderation mock-meeting-summary "
        "mock-symptom-checker mock-ticket-routing mock-search-ranking mock-credit-limit "
        "mock-churn mock-pricing mock-hiring-screen mock-code-assistant mock-rag-support-bot "
        "mock-photo-tagging mock-demand-forecast mock-spam-email mock-doc-extraction "
        "mock-translation mock-ad-targeting mock-autocomplete mock-sales-leads "
        "mock-anomaly-ops mock-content-summaries mock-voice-assistant",
    },
}
V1_IDS = {
    guid: (deck, kind)
    for deck, by in V1.items()
    for kind, ids in by.items()
    for guid in ids.split()
}

# All contrasts are within the ratio today; the floor keeps it that way.
BALANCED_CONTRASTS = 64
MAX_RATIO = 1.5
VERDICT = re.compile(
    r"\b(bad|good|wrong|right|correct|incorrect|mistakes?|better|best|worse|worst|weak|strong)\b",
    re.IGNORECASE,
)
UNSEEN = re.compile(
    r"\b(the (article|source|author|checklist|faq|book)|as mentioned|above|below|this deck)\b",
    re.IGNORECASE,
)
TAG = re.compile(r"^[a-z0-9][a-z0-9_:./-]*$")
# The nine rubric points, in order: the tag each point must carry.
TEMPLATE = (
    "scoping",
    "metrics",
    "errors",
    "labels",
    "architecture",
    "baselines",
    "evaluation",
    "rollout",
    "feedback-loops",
)


@pytest.fixture(scope="module")
def decks() -> list[ParsedDeck]:
    return importer.parse_files(importer.builtin_deck_paths())


@pytest.fixture(scope="module")
def notes(decks: list[ParsedDeck]) -> list[ParsedNote]:
    return [note for deck in decks for note in deck.notes]


def by_kind(notes: list[ParsedNote], *names: str) -> list[ParsedNote]:
    return [n for n in notes if n.kind in names]


def words(text: str) -> int:
    return len(text.split())


def ratio(note: ParsedNote) -> float:
    good, bad = words(note.fields["good"]), words(note.fields["bad"])
    return max(good, bad) / min(good, bad)


def list_items(text: str) -> int:
    """The length of the longest comma list of short items in `text` ("a, b, c and d" is 4),
    or 0 if there is none of at least 4."""
    longest = 0
    for clause in re.split(r"[;:.?]\s+|\s+—\s+", text):
        segs = [s.strip() for s in clause.split(",") if s.strip()]
        if len(segs) < 2:
            continue
        if re.match(r"(and|or|then)\s", segs[-1]):
            n = len(segs)
        elif re.search(r"\s(and|or)\s", segs[-1]):
            n = len(segs) + 1
        else:
            continue
        if n >= 4 and sum(words(s) <= 4 for s in segs) >= 3:
            longest = max(longest, n)
    return longest


def shingles(text: str) -> set[tuple[str, ...]]:
    w = re.findall(r"\w+", text.lower())
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


# Words of four letters or more that carry no content (shorter words are ignored anyway).
STOP = frozenset(
    re.findall(
        r"\w+",
        "could does from have into more most than that their them then there these they "
        "this those were what when where which while will with would your",
    )
)


def content_words(text: str) -> set[str]:
    out = set()
    for w in re.findall(r"[a-z][a-z-]+", text.lower()):
        if w not in STOP and len(w) >= 4:
            out.add(w.rstrip("s"))
    return out


def answer_fields(note: ParsedNote) -> list[str]:
    if note.kind in ("qa", "qa_reversed"):
        return [note.fields["back"]]
    if note.kind == "reframe":
        return [note.fields["but"]]
    if note.kind == "contrast":
        return [note.fields["good"], note.fields["bad"]]
    return []


# --- the helpers reject what they must ---------------------------------------------------


def test_the_rule_helpers_catch_what_they_are_for() -> None:
    lopsided = ParsedNote(
        "x", "contrast", {"situation": "s", "bad": "No.", "good": "a b c"}, (), "", None
    )
    assert ratio(lopsided) == 3.0
    assert list_items("Ask about consent, minimisation, retention and deletion.") == 4
    assert list_items("Recall, precision and cost-weighted metrics.") == 0
    assert VERDICT.search("That is the better model")
    assert not VERDICT.search("A bright idea, written up")
    assert UNSEEN.search("As the article says, scope first")
    assert UNSEEN.search("if confidence falls below 80%")
    assert jaccard("the cat sat on the mat today", "the cat sat on the mat today") == 1.0


# --- ids --------------------------------------------------------------------------------


def test_ids_are_unique_and_carry_their_decks_prefix(decks: list[ParsedDeck]) -> None:
    seen: Counter[str] = Counter()
    for deck in decks:
        prefix = PREFIX[deck.path.rsplit("/", 1)[-1].removesuffix(".toml")]
        for note in deck.notes:
            seen[note.guid] += 1
            assert note.guid.startswith(prefix), note.guid
    assert [guid for guid, n in seen.items() if n > 1] == []


def test_kept_ids_keep_their_deck_and_kind(decks: list[ParsedDeck]) -> None:
    same = {frozenset(("qa", "qa_reversed"))}
    for deck in decks:
        for note in deck.notes:
            if note.guid in V1_IDS:
                was_deck, was_kind = V1_IDS[note.guid]
                assert deck.name == was_deck, note.guid
                assert note.kind == was_kind or frozenset((note.kind, was_kind)) in same, note.guid


def test_new_ids_never_reuse_a_deleted_notes_id(notes: list[ParsedNote]) -> None:
    last: dict[str, int] = {}
    for guid in V1_IDS:
        if m := re.fullmatch(r"([a-z]+-)(\d+)", guid):
            last[m.group(1)] = max(last.get(m.group(1), 0), int(m.group(2)))
    for note in notes:
        m = re.fullmatch(r"([a-z]+-)(\d+)", note.guid)
        if m and note.guid not in V1_IDS:
            assert int(m.group(2)) > last[m.group(1)], note.guid


# --- every note ----------------------------------------------------------------------------


def test_every_note_has_lowercase_tags_and_a_short_why(notes: list[ParsedNote]) -> None:
    for note in notes:
        assert note.tags and all(TAG.match(t) for t in note.tags), note.guid
        why = note.fields.get("why", "")
        assert why and words(why) <= 50, (note.guid, words(why))
        assert note.section, note.guid


def test_no_note_refers_to_material_the_learner_cannot_see(notes: list[ParsedNote]) -> None:
    found = [
        (n.guid, m.group(0)) for n in notes for v in n.fields.values() if (m := UNSEEN.search(v))
    ]
    assert found == []


def test_card_text_avoids_the_screens_own_markers(notes: list[ParsedNote]) -> None:
    # Review output marks each answer with "→" and the study sheet marks BAD and GOOD with
    # "✗" and "✓"; in a card they would read as those markers.
    found = [(n.guid, c) for n in notes for v in n.fields.values() for c in "→✗✓" if c in v]
    assert found == []


def test_answers_are_short(notes: list[ParsedNote]) -> None:
    for note in notes:
        for answer in answer_fields(note):
            assert words(answer) <= 30, note.guid
        if note.kind == "reframe":
            assert words(note.fields["but"]) <= 12, note.guid


def test_answers_are_not_long_lists(notes: list[ParsedNote]) -> None:
    lists = [(n.guid, a) for n in notes for a in answer_fields(n) if list_items(a)]
    assert lists == []


def test_cloze_deletions_are_short(notes: list[ParsedNote]) -> None:
    for note in by_kind(notes, "cloze"):
        found = cloze.deletions(note.fields["text"])
        assert found, note.guid
        for text in found:
            assert words(text) <= 8, (note.guid, text)


def test_questions_do_not_give_the_answer_away(notes: list[ParsedNote]) -> None:
    for note in by_kind(notes, "qa", "qa_reversed"):
        answer = content_words(note.fields["back"])
        shared = answer & content_words(note.fields["front"])
        assert len(shared) < max(2, len(answer) / 2), (note.guid, sorted(shared))


def test_no_two_notes_say_the_same_thing(notes: list[ParsedNote]) -> None:
    texts = {n.guid: " ".join(n.fields.values()) for n in notes if n.kind != "prompt"}
    close = [(a, b) for a, b in combinations(texts, 2) if jaccard(texts[a], texts[b]) >= 0.5]
    assert close == []


# --- contrasts ------------------------------------------------------------------------------


def test_contrast_answers_are_balanced(notes: list[ParsedNote]) -> None:
    contrasts = by_kind(notes, "contrast")
    balanced = [n for n in contrasts if ratio(n) <= MAX_RATIO]
    assert len(balanced) >= BALANCED_CONTRASTS
    assert len(balanced) >= 0.9 * len(contrasts)


def test_contrast_answers_carry_no_verdict_word(notes: list[ParsedNote]) -> None:
    found = [
        (n.guid, side, m.group(0))
        for n in by_kind(notes, "contrast")
        for side in ("good", "bad")
        if (m := VERDICT.search(n.fields[side]))
    ]
    assert found == []


def test_contrasts_are_spread_across_decks(decks: list[ParsedDeck]) -> None:
    with_contrasts = [d.name for d in decks if any(n.kind == "contrast" for n in d.notes)]
    assert len(with_contrasts) >= 5


def test_contrast_situations_differ(notes: list[ParsedNote]) -> None:
    # Each situation says what was just asked, so no two compete for one answer.
    situations = Counter(n.fields["situation"] for n in by_kind(notes, "contrast"))
    assert [s for s, c in situations.items() if c > 1] == []


# --- the structure taught ------------------------------------------------------------------


def deletions(note: ParsedNote) -> list[str]:
    return cloze.deletions(note.fields["text"])


def test_the_four_parts_are_a_cloze_in_order(notes: list[ParsedNote]) -> None:
    four = [
        n
        for n in by_kind(notes, "cloze")
        if deletions(n) == ["scope", "guardrails", "architecture sketch", "iteration plan"]
    ]
    assert len(four) == 1
    assert cloze.cloze_numbers(four[0].fields["text"]) == [1, 2, 3, 4]


def test_one_opening_sequence_is_taught(notes: list[ParsedNote]) -> None:
    (opening,) = [n for n in notes if n.guid == "prep-042"]
    parts = deletions(opening)
    assert opening.kind == "cloze" and len(parts) == 3
    assert "user" in parts[0] and "success" in parts[1] and "failure" in parts[2]
    # No other cloze teaches a competing opening.
    others = [
        n.guid
        for n in by_kind(notes, "cloze")
        if n is not opening and "open" in n.fields["text"].lower()
    ]
    assert others == []


def test_the_clock_maps_onto_the_four_parts(notes: list[ParsedNote]) -> None:
    clock = [n for n in by_kind(notes, "cloze") if "5/10/5" in n.fields["text"]]
    assert len(clock) == 1
    first, middle, last = deletions(clock[0])
    assert "scope" in first and "guardrails" in first
    assert "architecture" in middle
    assert "iteration plan" in last


def test_guardrail_always_means_a_metric_that_must_not_worsen(notes: list[ParsedNote]) -> None:
    (definition,) = [n for n in notes if n.fields.get("front") == "Guardrail metric"]
    assert "must not get worse" in definition.fields["back"]
    # LLM input and output checks are called filters, never guardrails.
    for note in notes:
        if "llm" in note.tags and note.kind != "prompt":
            assert "guardrail" not in note.fields.get("front", "").lower(), note.guid


# --- mock rubrics ---------------------------------------------------------------------------


def test_rubrics_follow_the_nine_point_template(notes: list[ParsedNote]) -> None:
    for note in by_kind(notes, "prompt"):
        found = kinds.rubric_points(note.fields["rubric"])
        points = [p for p in found if not p.red_flag]
        flags = [p for p in found if p.red_flag]
        assert 7 <= len(points) <= 9, note.guid
        assert 2 <= sum(p.must for p in points) <= 3, note.guid
        assert 1 <= len(flags) <= 2, note.guid
        assert [TEMPLATE[i] in p.tags for i, p in enumerate(points)] == [True] * len(points), (
            note.guid
        )
        for p in found:
            assert words(p.text) <= 25, (note.guid, p.text)
            assert ";" not in p.text, (note.guid, p.text)  # one claim a point


def test_rubric_tags_name_cards_that_train_them(notes: list[ParsedNote]) -> None:
    card_tags = {t for n in notes if n.kind != "prompt" for t in n.tags}
    unknown = {
        (n.guid, t)
        for n in by_kind(notes, "prompt")
        for p in kinds.rubric_points(n.fields["rubric"])
        for t in p.tags
        if t not in card_tags
    }
    assert unknown == set()
