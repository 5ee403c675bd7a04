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


@pytest.mark.parametrize(
    ("anki", "ours", "shown"),
    [
        # Typed as text in Anki: it stays text here (shown as typed) and on the way back.
        ("&lt;br&gt;", "&lt;br&gt;", "<br>"),
        (
            "use &lt;b&gt;bold&lt;/b&gt; here",
            "use &lt;b&gt;bold&lt;/b&gt; here",
            "use <b>bold</b> here",
        ),
        # Not a tag pmcards would render: plain text, as before.
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d", "a < b && c > d"),
        ("&lt;script&gt;", "<script>", "<script>"),
    ],
)
def test_escaped_tags_stay_text(anki: str, ours: str, shown: str) -> None:
    assert markup.from_anki_html(anki) == ours
    assert markup.to_terminal(ours) == shown
    assert markup.to_anki_html(ours) == anki


def test_inline_images_become_media_files() -> None:
    png = b"\x89PNG\r\n\x1a\n"
    field = '<img src="data:image/png;base64,iVBORw0KGgo="> and <img src=data:image/svg+xml;base64,PHN2Zz4=>'
    out, files, dropped = markup.inline_images(field)
    name = "inline-4c4b6a3be1314ab8.png"
    assert out.startswith(f'<img src="{name}"> and ')
    assert files == [(name, png)]
    assert dropped == ["image/svg+xml"]
    assert markup.from_anki_html(out) == f'<img src="{name}"> and <img>'
