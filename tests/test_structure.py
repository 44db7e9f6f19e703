"""Text as the format means it: unwrapped paragraphs, heading paths, code and lists kept whole (no model)."""

from __future__ import annotations

from pathlib import Path

from assistant.answering.units import split_units
from vectorstore.chunking import Chunker
from vectorstore.document import render
from vectorstore.formats.html import parse_html
from vectorstore.formats.markdown import parse_markdown
from vectorstore.formats.plain import parse_plain
from vectorstore.formats.rest import parse_rest
from vectorstore.loaders import load_document, sniff

WRAPPED = """Quarterly report

The median is interpolated by taking the mean of the two middle
values when the number of data points is even. Otherwise the middle
value is returned as it is.

Steps to follow:
- open the file and read
  every line of it
- close the file
"""


def sentences(text: str) -> list[str]:
    return [u.text for u in split_units(text) if u.kind in ("sentence", "question")]


def test_hard_wrapped_sentences_come_out_whole() -> None:
    doc = render(parse_plain(WRAPPED))
    said = sentences(doc.text)
    assert (
        "The median is interpolated by taking the mean of the two middle values when the number of data "
        "points is even." in said
    )
    assert "Otherwise the middle value is returned as it is." in said
    items = [u.text for u in split_units(doc.text) if u.kind == "item"]
    assert items == ["- open the file and read every line of it", "- close the file"]


BROKEN = """Engraving

Finale does not move interlocking note heads, which makes the music ex-
tremely hard to read. A well-
known trick helps with pre-
and post-processing, as Anna Heussen-
stamm notes in her 3-
way merge guide.

- contributing is a great way to practice program-
  ming and documen-
  tation
"""


def test_a_word_broken_at_a_line_end_is_read_whole() -> None:
    """The line break's hyphen goes where the whole is an everyday word, so "extremely" is searchable;
    a compound or a name keeps its hyphen, and "pre- and post-" its space."""
    doc = render(parse_plain(BROKEN))
    assert "which makes the music extremely hard to read." in doc.text
    assert (
        "A well-known trick helps with pre- and post-processing, as Anna Heussen-stamm notes in her 3-way "
        "merge guide." in doc.text
    )
    assert "- contributing is a great way to practice programming and documentation" in doc.text


INDENTED = """Procedure

   1. The Developers follow the Standard Resolution Procedure. A
      resolution is introduced if proposed by any Developer and
      sponsored by at least K other Developers.
   2. Voting is by the Concorde method.

     With about 1012 volunteers constantly contributing new code, the
     archives are updated twice every day.

     dpkg-divert --divert /bin/login.debian /bin/login
     mv /usr/local/bin/login /bin/login
"""


def test_indented_prose_reads_as_prose_and_indented_commands_stay_code() -> None:
    """Text dumps of web pages indent every paragraph: a sentence there must come out whole, as a sentence
    an answer can quote, while an indented command keeps its lines."""
    doc = render(parse_plain(INDENTED))
    assert "the archives are updated twice every day." in doc.text
    said = sentences(doc.text)
    assert any(s.startswith("With about 1012 volunteers") and s.endswith("twice every day.") for s in said)
    items = [u.text for u in split_units(doc.text) if u.kind == "item"]
    assert items[0].endswith("sponsored by at least K other Developers.")
    codes = [u.text for u in split_units(doc.text) if u.kind == "code"]
    assert len(codes) == 1 and "dpkg-divert --divert /bin/login.debian /bin/login\nmv" in codes[0]


OVERRIDE = """11.9. Overriding a file

    Suppose a user wishes to use a program "login-local" instead.

    Do not overwrite /bin/login with it: every upgrade of the login
    package puts the packaged one back.

    Rather, do

        dpkg-divert --divert /bin/login.debian /bin/login

                             Additional information

    Bugs in dpkg-divert are tracked like any other package's.

    To report a bug, send mail to

      submit@bugs.example.org

11.10. Keeping a local copy

    Copy it.
"""


def test_an_indented_line_that_goes_on_with_its_prose_is_no_heading() -> None:
    """A text dump indents its body and not its headings: a short line set as deep as the paragraph
    before it ("Rather, do" above a command) is that paragraph's next sentence, in the same section; a
    title centred far deeper, or one at the margin, still opens a section."""
    doc = render(parse_plain(OVERRIDE))
    headings = [s.path[-1] for s in doc.spans if s.kind == "heading"]
    assert headings == ["11.9. Overriding a file", "Additional information", "11.10. Keeping a local copy"]
    kinds = {u.text: u.kind for u in split_units(doc.text)}
    assert kinds["Rather, do"] == kinds["To report a bug, send mail to"] == "sentence"
    divert = next(s for s in doc.spans if "dpkg-divert" in doc.text[s.start : s.end])
    assert divert.path[-1] == "11.9. Overriding a file"


def _headings(text: str) -> list[str]:
    return [s.path[-1] for s in render(parse_plain(text)).spans if s.kind == "heading"]


def test_a_heading_stays_a_heading_where_nothing_tells_it_from_the_body() -> None:
    """What is not body by its indentation stays a heading: a text whose body is at its margin (all of it
    at column 0, or all of it indented two), a line after a paragraph without a full stop, a line set
    deeper than the body; a numbered line as deep as the list before it is that list's item."""
    margin = "Intro\n\nThe tool reads its config.\n\nConfiguration Options\n\nThe file lives in /etc.\n"
    assert _headings(margin) == ["Intro", "Configuration Options"]
    indented = "\n".join(f"  {line}" if line else "" for line in margin.split("\n"))
    assert _headings(indented) == ["Intro", "Configuration Options"]
    unfinished = (
        "Guide\n\n    The tool reads its config\n    at start and on reload\n\n    Configuration Options\n\n"
        "    The file lives in /etc.\n"
    )
    assert "Configuration Options" in _headings(unfinished)
    deeper = "Guide\n\n    It reads its config.\n\n          Configuration Options\n\n    It is in /etc.\n"
    assert "Configuration Options" in _headings(deeper)
    steps = (
        "Setup\n\n    1. Download the installer.\n\n    2. Run the installer\n\n    3. Reboot the machine.\n"
    )
    kinds = {b.text: b.kind for b in parse_plain(steps)}
    assert kinds["2. Run the installer"] == kinds["1. Download the installer."] == "list"


APPENDIX = """                How to file a report with the reporting tool

   We recommend that you file reports with the reporting tool, which
   asks for everything a report needs.

  How to file a report by e-mail to the tracker (and the other advanced uses of the tool)

   Send the report to the submit address, with the package named on
   the first line of the body.

   A. Standard Voting Procedure

   The vote runs for two weeks, and every member
   may vote.
"""

README = """Installing the tool

The tool installs from the package index. Run the installer first
and answer its questions.

    pip install harbour-tool

When the installer has finished you can check that it works by running the command

    harbour-tool --version

The version is printed.

1. Download the release archive and check its signature with the key that signed it

    The key is on the project page.

2. Unpack it.
"""


def test_a_line_set_left_of_the_body_around_it_is_a_heading_however_long() -> None:
    """A text dump sets its headings left of its indented body: such a line titles what follows, also when
    it runs past the words a heading-like line may have, or opens as an appendix's "A." (a list mark); a
    line as deep as the body that merely starts with "A." stays an item. Where the prose is at the margin
    and only code is indented (a README), a long line above code stays a sentence and a long numbered line
    above an indented note stays an item."""
    doc = render(parse_plain(APPENDIX.replace("   A. Standard", "A. Standard")))
    send = next(s for s in doc.spans if "Send the report" in doc.text[s.start : s.end])
    assert send.path[-1].startswith("How to file a report by e-mail to the tracker")
    vote = next(s for s in doc.spans if "two weeks" in doc.text[s.start : s.end])
    assert vote.path[-1] == "A. Standard Voting Procedure"
    kinds = {b.text: b.kind for b in parse_plain(APPENDIX)}
    assert kinds["A. Standard Voting Procedure"] == "list"
    assert not any(u.kind == "sentence" and "advanced uses" in u.text for u in split_units(doc.text))
    readme = {b.text.lstrip("# "): b.kind for b in parse_plain(README)}
    assert readme["When the installer has finished you can check that it works by running the command"] == (
        "paragraph"
    )
    download = next(text for text in readme if text.startswith("1. Download the release archive"))
    assert readme[download] == "list", readme


BULLETS = """Where do these codenames come from?

      * rex (Debian 1.2) was the tyrannosaurus,

      * etch (Debian 4.0) was the toy whiteboard (Etch-a-Sketch),

      * Make sure that you are using the proper list. Never post your
        (un)subscription requests to the mailing list itself.^[7]

      * 1 (single-user mode),

      * int main(void) { return 0; }
"""


def test_an_indented_bullet_of_prose_is_a_list_item_not_code() -> None:
    """A text dump indents its bullets one by one, each a paragraph of its own: a release number, a
    hyphenated name or a footnote mark does not make one code; C in a bullet still is."""
    items = [u.text for u in split_units(render(parse_plain(BULLETS)).text) if u.kind == "item"]
    assert "* etch (Debian 4.0) was the toy whiteboard (Etch-a-Sketch)," in items
    assert "* rex (Debian 1.2) was the tyrannosaurus," in items and "* 1 (single-user mode)," in items
    assert any(i.endswith("(un)subscription requests to the mailing list itself.^[7]") for i in items)
    assert not any("int main" in i for i in items)
    codes = [u.text for u in split_units(render(parse_plain(BULLETS)).text) if u.kind == "code"]
    assert any("int main(void)" in c for c in codes)


def test_indented_yaml_and_comment_blocks_stay_code() -> None:
    yaml = "Config\n\n    services:\n      web:\n        image: nginx\n        ports:\n          - 80:80\n"
    comment = "Licence\n\n    /*\n     * Copyright (c) 2010 the authors.\n     * MIT licence.\n     */\n"
    deps = "Needs\n\n    dependencies:\n      - numpy\n      - pandas\n"
    for text in (yaml, comment, deps):
        kinds = [u.kind for u in split_units(render(parse_plain(text)).text)]
        assert kinds == ["heading", "code"], (text, kinds)


def test_a_document_is_called_by_its_title_heading_or_first_line_not_its_file_name() -> None:
    from vectorstore.document import display_title

    assert display_title(render(parse_plain(WRAPPED)), "3f9a.txt") == "Quarterly report"
    long_first = "This first line is a sentence of a paragraph, not a title. " * 4
    assert display_title(render(parse_plain(long_first)), "3f9a.txt") == "3f9a.txt"
    blocks, title = parse_html("<html><head><title>Lock fees</title></head><body><p>Tolls.</p></body></html>")
    assert display_title(render(blocks, title), "fees.html") == "Lock fees"


def test_a_documents_title_is_shown_as_text_in_its_source_card() -> None:
    from assistant.answering.citations import Citation
    from assistant.ui.sources import source_card

    hostile = Citation(n=1, source="a.md", start=0, end=5, text="Tolls", title="<img src=x onerror=alert(1)>")
    card = source_card(0, hostile, "Tolls [1]", 0.5, open_=True)
    assert "<img" not in card and "&lt;img src=x onerror=alert(1)&gt;" in card and "a.md" in card


def test_chunk_offsets_are_exact_spans_of_the_extracted_text_after_unwrapping(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(WRAPPED * 40)
    doc = load_document(path)
    chunks = Chunker(300, 60).split("notes.txt", doc)
    assert len(chunks) > 5
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert "middle\nvalues" not in chunk.text, "line breaks inside a paragraph are gone"


def test_markdown_has_heading_paths_and_keeps_code_lists_and_link_text() -> None:
    text = (
        "# Guide\n\nIntro text.\n\n## Install\n\nRun the [installer](https://example.com/x) *now*.\n\n"
        "```\npip install thing\npip check\n```\n\n### Options\n\n- `--fast`: skip checks\n- `--slow`: all\n"
    )
    doc = render(parse_markdown(text))
    paths = {s.section for s in doc.spans}
    assert "Guide > Install > Options" in paths
    assert "Run the installer now." in doc.text and "example.com" not in doc.text
    code = [u for u in split_units(doc.text) if u.kind == "code"]
    assert len(code) == 1 and "pip install thing\npip check" in code[0].text
    assert "- --fast: skip checks\n- --slow: all" in doc.text


def test_rest_sections_and_function_entries_make_the_path_and_markup_is_dropped() -> None:
    text = (
        ":mod:`frob` --- Frobnication\n=============================\n\n.. module:: frob\n\n"
        "Helpers\n-------\n\n.. function:: twiddle(x, *, fast=False)\n\n   Return *x* twiddled, see\n"
        "   :func:`~frob.untwiddle` and ``fast``.\n\n   .. versionadded:: 3.9\n\n   Example::\n\n"
        "      twiddle(1)\n\n.. index:: hidden entry\n\n.. note::\n   Twiddling is idempotent.\n"
    )
    doc = render(parse_rest(text))
    function_spans = [s for s in doc.spans if s.section.endswith("frob.twiddle(x, *, fast=False)")]
    assert function_spans and function_spans[0].section.startswith("frob --- Frobnication > Helpers > ")
    assert "Return x twiddled, see untwiddle and fast." in doc.text
    assert "New in version 3.9." in doc.text and "Note: Twiddling is idempotent." in doc.text
    assert "```\ntwiddle(1)\n```" in doc.text and "Example:" in doc.text
    assert "hidden entry" not in doc.text and ":func:" not in doc.text


def test_html_reads_as_a_reader_sees_it() -> None:
    html = """<html><head><title>Manual</title><script>var x = 1;</script></head><body>
    <nav class="navheader"><a href="/">Home</a> | <a href="next.html">Next</a></nav>
    <div class="body"><h1>String Functions</h1>
    <table><tr><th>Function</th><th>Example</th></tr>
    <tr><td><code>initcap</code>
     ( <code>text</code>
     )
     → <code>text</code>
    <p>Converts the first letter of each word to upper case and the rest to lower case.</p></td>
    <td><code>initcap('hi THOMAS')</code> → <code>Hi Thomas</code></td></tr></table>
    <dl class="function"><dt>frob<span>(</span>x<span>)</span><a class="headerlink">¶</a></dt>
    <dd><p>Frobs <em>x</em>
    quickly.</p></dd></dl>
    </div><div class="footer">Copyright</div></body></html>"""
    blocks, title = parse_html(html)
    doc = render(blocks, title)
    assert title == "Manual"
    assert (
        "| initcap ( text ) → text Converts the first letter of each word to upper case and the rest to "
        "lower case. | initcap('hi THOMAS') → Hi Thomas |" in doc.text
    )
    assert "Frobs x quickly." in doc.text
    assert any(s.section == "String Functions > frob(x)" for s in doc.spans)
    assert "var x" not in doc.text and "Home" not in doc.text and "Copyright" not in doc.text
    assert "\n\n\n" not in doc.text


def test_a_pages_table_of_contents_is_not_taken_for_its_sections() -> None:
    """DocBook's XHTML (e.g. the PostgreSQL manual) opens each page with an XML declaration and a
    `<div class="toc">` of links: those links are navigation, not headings the intro text sits under."""
    html = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
    <html xmlns="http://www.w3.org/1999/xhtml"><head><title>8.1. Numeric Types</title></head><body>
    <div class="navheader"><a href="datatype.html">Prev</a></div>
    <div class="sect1"><h2 class="title">8.1. Numeric Types</h2>
    <div class="toc"><dl class="toc"><dt><span class="sect2"><a href="#A">8.1.1. Integer Types</a></span></dt>
    <dt><span class="sect2"><a href="#B">8.1.2. Serial Types</a></span></dt></dl></div>
    <p>Numeric types consist of two-, four-, and eight-byte integers.</p>
    <div class="sect2"><h3 class="title">8.1.1. Integer Types</h3>
    <p>The type integer is the common choice.</p>
    </div></div></body></html>"""
    doc = render(*parse_html(html))
    intro = next(s for s in doc.spans if "Numeric types consist" in doc.text[s.start : s.end])
    assert intro.section == "8.1. Numeric Types"
    assert "8.1.2. Serial Types" not in doc.text and "Prev" not in doc.text
    assert any(s.section == "8.1. Numeric Types > 8.1.1. Integer Types" for s in doc.spans)


def test_text_files_are_sniffed_for_their_markup() -> None:
    assert sniff("Title\n=====\n\n.. note:: x\n\nSub\n---\n", "a.txt") == "rest"
    assert sniff("# A\n\ntext\n\n## B\n", "b.txt") == "markdown"
    assert sniff("Just words.\nMore words.\n", "c.txt") == "plain"
    assert sniff("anything", "library/math.rst.txt") == "rest"
    assert sniff("Title\n=====\n\nSee :func:`len`.\n\nSub\n---\n", "d.txt") == "rest"
    assert sniff("=====\nTitle\n=====\n\nText.\n\nSub\n---\n", "e.txt") == "rest"  # an overline
    readme = "Tool\n====\n\nSee `home <https://example.org>`_.\n\nInstall\n-------\n\nRun::\n\n    pip x\n"
    assert sniff(readme, "README.txt") == "rest"  # a link and a literal block, no directive
    tex_quotes = "Lists\n=====\n\nSay ``yes'' or ``no'' to join.\n\nPolicy\n------\n\nNone.\n"
    assert sniff(tex_quotes, "f.txt") == "plain"


def test_a_plain_directory_with_underlined_titles_keeps_its_entries_as_text(tmp_path: Path) -> None:
    """Underlined titles are plain text's headings too: a list directory's indented "Description : ..."
    entries are its text, not reST definition terms turned into headings."""
    text = (
        "Mailing lists\n=============\n\n  The bug system's mail goes to these lists.\n\n"
        "  bugs-dist@lists.example.org\n\n"
        "      Description : All submitted bug reports as well as further information\n"
        "                    on them are distributed here.\n"
        "      Moderated   : yes\n\n"
        "Policy\n------\n\nNo advertising.\n"
    )
    path = tmp_path / "lists.txt"
    path.write_text(text)
    doc = load_document(path)
    assert "Description : All submitted bug reports as well as further information on them" in doc.text
    assert {s.section for s in doc.spans} == {"Mailing lists", "Mailing lists > Policy"}


def test_a_heading_or_a_question_line_is_never_an_answer_unit() -> None:
    doc = render(parse_markdown("# FAQ\n\n## Why is it slow?\n\nHow do I speed it up? Use the cache.\n"))
    kinds = {u.text: u.kind for u in split_units(doc.text)}
    assert kinds["# FAQ"] == "heading" and kinds["## Why is it slow?"] == "heading"
    assert kinds["How do I speed it up?"] == "question" and kinds["Use the cache."] == "sentence"


def test_a_chunk_that_starts_inside_a_table_carries_the_tables_header() -> None:
    from vectorstore.chunking import Chunker

    rows = "".join(f"<tr><td>item {i}</td><td>{i} kg</td></tr>" for i in range(80))
    doc = render(*parse_html(f"<h1>Weights</h1><table><tr><th>Thing</th><th>Weight</th></tr>{rows}</table>"))
    chunks = Chunker(300, 40).split("w.html", doc)
    inside = [c for c in chunks if "| Thing | Weight |" not in c.text]
    assert len(inside) >= 2 and all(c.table_header == "| Thing | Weight |" for c in inside)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)  # still exact slices of the source
    assert "| Thing | Weight |" in inside[-1].contextual_text and "Weights" in inside[-1].contextual_text


def test_a_note_box_labels_its_paragraph_and_opens_no_section() -> None:
    """Sphinx writes `<p class="admonition-title">Note</p>`, DocBook `<h3 class="title">Note</h3>`: either
    way the text after the box is still under the section it was in."""
    html = """<html><body><h1>Numeric Types</h1><p>Integers are exact.</p>
    <div class="note"><h3 class="title">Note</h3><p>The scale may be negative.</p></div>
    <p>Floating-point types are inexact.</p>
    <div class="admonition seealso"><p class="admonition-title">See also</p><p>The decimal module.</p></div>
    </body></html>"""
    doc = render(*parse_html(html))
    assert "Note: The scale may be negative." in doc.text and "See also: The decimal module." in doc.text
    assert {s.section for s in doc.spans} == {"Numeric Types"}
    assert "# Note" not in doc.text
