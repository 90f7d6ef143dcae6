"""HTML mail bodies reach the CRM as plain text, with their body type (issue 14, section 4)."""

from __future__ import annotations

from wess_core.sync.htmltext import html_to_text
from wess_core.sync.itemtypes import EmailType

OUTLOOK = """<html><head><meta charset="utf-8"><style>p {margin:0}</style>
<title>Quote</title></head><body lang="EN-GB">
<div class="WordSection1"><p class="MsoNormal">Dear&nbsp;Ann,</p>
<p class="MsoNormal">Prices   below:<br>one<br/>two</p>
<ul><li>Widgets</li><li>Gadgets <b>(new)</b></li></ul>
<table><tr><td>Item</td><td>Price</td></tr><tr><td>A</td><td>10</td></tr></table>
<!-- a comment --><script>alert(1)</script>
<pre>keep
  this</pre><p>Thanks</p></div></body></html>"""


def test_html_becomes_readable_text():
    assert html_to_text(OUTLOOK) == (
        "Dear Ann,\n\nPrices below:\none\ntwo\n\n- Widgets\n- Gadgets (new)\n\n"
        "Item\tPrice\nA\t10\n\nkeep\n  this\n\nThanks"
    )


def test_odd_inputs():
    assert html_to_text(None) is None
    assert html_to_text("   ") == ""
    assert html_to_text("a fragment &amp; <i>more</i>") == "a fragment & more"
    xml_declared = '<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>'
    assert html_to_text(xml_declared) == "x"


def test_the_mail_record_holds_text_and_the_body_type():
    t = EmailType("email-inbox", "inbox", "in")
    html = t.to_record({"subject": "Quote", "body": OUTLOOK, "body_type": "HTML"})
    assert html["body"].startswith("Dear Ann,\n\nPrices below:") and "<" not in html["body"]
    assert html["body_type"] == "HTML"
    text = t.to_record({"subject": "Hi", "body": "<b> is literal here", "body_type": "Text"})
    assert (text["body"], text["body_type"]) == ("<b> is literal here", "Text")
    assert t.to_record({"subject": "empty"})["body_type"] is None
