"""Every parser is linear in its input: large hostile files finish in a generous time.

These are the one kind of test here that times something (issue 16 asked for it): not to
measure speed (bench/ does that) but to catch a parser whose work grows with the square
of a line's length, which turns a 120 KB line into minutes. Each case runs in a child
process with a bound about fifty times what a linear parser needs on a slow machine, so a
regression fails in seconds instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BOUND_SECONDS = 30
SIZE = 2_000_000  # characters in the hostile line: four times the worst case


def _markdown_heading() -> str:
    return "# Deck\n\n## a" + " " * SIZE + "b\n\nQ: q\nA: a\n"


def _markdown_id() -> str:
    return "# Deck\n\nQ: q\nA: a\n<!--" + " " * SIZE + "id:" + " " * SIZE + "x y\n"


def _markdown_labels() -> str:
    return "# Deck\n\nQ: q\nA: a\nTags:" + " ," * SIZE + "\n" + "Why:" + " \t" * SIZE + "x\n"


def _markdown_many_lines() -> str:
    return "# Deck\n\n" + "".join(f"Q: q{i}\nA: a\n\n" for i in range(100_000))


def _csv_cell() -> str:
    return 'front,back\n"' + 'a""' * (SIZE // 3) + '",b\n'


def _csv_html_data_url() -> str:
    # An inlined image whose parameters never end: the data-URL pattern once tried every
    # way of splitting them (exponential: 30 semicolons took minutes).
    return (
        "#separator:Comma\n#html:true\nFront,Back\n<img src=data:image/png" + ";" * 20_000 + ">,b\n"
    )


def _cloze_nested() -> str:
    # Unclosed and nested deletions: the cloze scanner (Anki's rules) is one pass.
    text = "{{c1::" * 4_000 + "x" + "}}" * 3_000 + "{{c2::a::" * 2_000
    return f'[deck]\nname = "D"\n[[note]]\nid = "n"\nkind = "cloze"\ntext = "{text}"\n'


def _toml_string() -> str:
    return '[deck]\nname = "D"\n[[note]]\nid = "n"\nfront = """' + "\\\\ " * (SIZE // 3) + '"""\n'


CASES = {
    "md-heading-of-spaces": ("deck.md", _markdown_heading),
    "md-id-comment-of-spaces": ("deck.md", _markdown_id),
    "md-labels-of-separators": ("deck.md", _markdown_labels),
    "md-100k-notes": ("deck.md", _markdown_many_lines),
    "csv-cell-of-quotes": ("deck.csv", _csv_cell),
    "csv-html-data-url-parameters": ("deck.csv", _csv_html_data_url),
    "toml-cloze-nested-and-unclosed": ("deck.toml", _cloze_nested),
    "toml-string-of-escapes": ("deck.toml", _toml_string),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_parsed_in_linear_time(case: str, tmp_path: Path) -> None:
    name, make = CASES[case]
    path = tmp_path / name
    path.write_text(make(), encoding="utf-8")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from pmcards.errors import DeckFormatError
        from pmcards.formats import parse
        try:
            parse(Path({str(path)!r}))
        except DeckFormatError as exc:
            print(exc)
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=BOUND_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: parsing took over {BOUND_SECONDS} s: not linear in its input")
    # Whatever the verdict, it is a clear one: no traceback.
    assert done.returncode == 0, done.stderr
