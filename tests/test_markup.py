import pytest

from pmcards import markup


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


def test_safe_strips_escape_sequences_and_controls() -> None:
    text = "a\x1b[31mred\x1b]0;title\x07 b\x9bc\td\x00"
    assert markup.safe(text) == "ared bc    d"
