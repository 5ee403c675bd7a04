import pytest
from hypothesis import given
from hypothesis import strategies as st

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
        # Entity- and CSS-escaped tricks a pattern-based cleaner let through (issue 16).
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="&#106;avascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
        ('<img src="data:text/html,<script>alert(1)</script>">', "<img>"),
        (
            '<span style="color: red; background: u\\72l(x)">s</span>',
            '<span style="color:red">s</span>',
        ),
        ('<span style="behavior: url(x.htc)">s</span>', "<span>s</span>"),
        ('<b>x</b><svg onload="alert(1)"><g>y</g></svg>', "<b>x</b>"),
        ('<b>x<iframe src="https://e.com">inside</iframe></b>', "<b>x</b>"),
        ("<b>x</b><!-- <script>alert(1)</script> -->", "<b>x</b>"),
        (
            '<a href="https://example.com/a?b=1&amp;c=2">x</a>',
            '<a href="https://example.com/a?b=1&amp;c=2">x</a>',
        ),
        ('<img src="picture one.png">', '<img src="picture one.png">'),
    ],
)
def test_from_anki_html(anki: str, ours: str) -> None:
    assert markup.from_anki_html(anki) == ours
    # Idempotent: a second import of our own export changes nothing.
    assert markup.from_anki_html(markup.to_anki_html(ours)) == ours


@given(st.text(alphabet=st.characters(blacklist_characters="<&")))
def test_a_field_without_tags_or_references_skips_the_parser_unchanged(text: str) -> None:
    # The shortcut for plain fields gives exactly what the parser gives.
    assert markup.from_anki_html(text) == markup._from_parsed_html(text)


def test_a_plain_field_keeps_its_text_but_for_no_break_spaces_and_the_ends() -> None:
    assert markup.from_anki_html(" one\xa0two > three\n") == "one two > three"


@pytest.mark.parametrize(
    ("ours", "anki"),
    [
        ("plain <script>alert(1)</script>", "plain &lt;script&gt;alert(1)&lt;/script&gt;"),
        ('<b>x</b><img src="p.png" onerror="alert(1)">', '<b>x</b><img src="p.png">'),
        ("<i>x</i><script>alert(1)</script>", "<i>x</i>"),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
    ],
)
def test_to_anki_html_never_carries_active_content(ours: str, anki: str) -> None:
    # A hand-written deck is as untrusted as a package: what goes to Anki is sanitised too.
    assert markup.to_anki_html(ours) == anki


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
