import pytest

from pmcards import markup
from pmcards.kinds import card_ords, render, render_cloze


@pytest.mark.parametrize(
    ("anki", "ours"),
    [
        ("a &amp; b<br>c", "a & b\nc"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("x&nbsp;y", "x y"),
        ("<b>bold</b> &lt;tag&gt;", "<b>bold</b> &lt;tag&gt;"),
        ('<img src="a.png" onerror="alert(1)">', '<img src="a.png">'),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ("<b>x</b><script>alert(1)</script>", "<b>x</b>"),
        ('<span style="background:url(x)">s</span>', "<span>s</span>"),
    ],
)
def test_from_anki_html(anki: str, ours: str) -> None:
    assert markup.from_anki_html(anki) == ours
    # Idempotent: a second import of our own export changes nothing.
    assert markup.from_anki_html(markup.to_anki_html(ours)) == ours


def test_to_terminal() -> None:
    assert markup.to_terminal("plain <3 & more") == "plain <3 & more"
    text = '<b>Hi</b><ul><li>one</li><li>two</li></ul><img src="p.png">&amp;'
    assert markup.to_terminal(text) == "Hi\n• one\n• two\n[image: p.png]&"


def test_cloze_cards_and_rendering() -> None:
    text = "{{c1::Paris}} is in {{c2::France::country}}; {{c1::it}} is big"
    assert card_ords("cloze", {"text": text}) == [0, 1]
    assert render_cloze(text, 0, reveal=False) == "[...] is in France; [...] is big"
    assert render_cloze(text, 1, reveal=False) == "Paris is in [country]; it is big"
    assert render_cloze(text, 1, reveal=True) == "Paris is in [France]; it is big"
    front, back = render("cloze", {"text": text, "why": "w"}, 1)
    assert front.blocks == (("", "Paris is in [country]; it is big"),)
    assert back.blocks[-1] == ("Why", "w")
    front, _ = render("qa_reversed", {"front": "F", "back": "B"}, 1)
    assert front.blocks == (("", "B"),)
