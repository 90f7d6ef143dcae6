"""HTML mail bodies as plain text for the CRM's e-mail records.

Built on lxml's HTML parser (libxml2: forgiving with the broken markup mail clients
write, and already a dependency through exchangelib), not on a converter package:
html2text is GPL and writes Markdown, inscriptis would add a dependency (and requests)
for layout features a mail body does not need. What a reader needs is kept: paragraphs,
line breaks, list items, table cells; scripts, styles and the head are dropped;
whitespace is collapsed as a browser would, except inside ``<pre>``.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html

#: Elements after which a browser starts a new line (paragraph-like ones: a blank line).
_PARAGRAPHS = frozenset(
    "p h1 h2 h3 h4 h5 h6 blockquote pre table ul ol dl hr address figure".split()
)
_LINES = frozenset(
    "div li tr dt dd section article header footer nav aside main form fieldset "
    "caption center details summary".split()
)
_CELLS = frozenset({"td", "th"})
_SKIP = frozenset({"script", "style", "head", "title", "meta", "noscript", "template"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANKS = re.compile(r"\n{3,}")


def _parse(markup: str) -> etree._Element | None:
    try:
        return lxml_html.document_fromstring(markup)
    except ValueError:  # a str with an XML encoding declaration: parse the bytes
        return lxml_html.document_fromstring(markup.encode("utf-8"))
    except etree.ParserError:
        return None


def html_to_text(markup: str | None) -> str | None:
    """Readable plain text of an HTML document or fragment (``None`` stays ``None``)."""
    if markup is None:
        return None
    if not markup.strip():
        return ""
    root = _parse(markup)
    if root is None:
        return markup
    out: list[str] = []
    pre = 0
    skip = 0

    def at_line_start() -> bool:
        return not out or out[-1].endswith("\n")

    def text(value: str | None) -> None:
        if value and not skip:
            value = value.replace("\xa0", " ")
            if not pre:
                value = _SPACES.sub(" ", value)
                if at_line_start():
                    value = value.lstrip(" ")
            if value:
                out.append(value)

    def breaks(count: int) -> None:
        """End the line (``count`` 2: and leave a blank one), never more than that."""
        tail = "".join(out[-3:]).rstrip(" \t")
        have = len(tail) - len(tail.rstrip("\n")) if out else count
        out.append("\n" * max(0, count - have))

    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _SKIP or not tag:  # comments, processing instructions
                skip += 1
                continue
            if tag == "pre":
                pre += 1
            if tag == "br":
                out.append("\n")
            elif tag in _PARAGRAPHS:
                breaks(2)
            elif tag in _LINES:
                breaks(1)
            if tag == "li":
                out.append("- ")
            text(el.text)
            continue
        if tag in _SKIP or not tag:
            skip -= 1
        else:
            if tag == "pre":
                pre -= 1
            if tag in _PARAGRAPHS:
                breaks(2)
            elif tag in _LINES:
                breaks(1)
            elif tag in _CELLS:
                out.append("\t")
        text(el.tail)
    lines = (line.rstrip(" \t") for line in "".join(out).split("\n"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")
