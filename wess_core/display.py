"""Text that is safe to print on a terminal.

Much of what WESS prints comes from outside: subjects and names from Exchange or the CRM,
item ids, fault strings. Printed raw, a control character in them can move the cursor,
recolour or clear the screen, set the terminal's title (ANSI/OSC escapes, ``\\x9b``), a
``\\r`` can overwrite what the line said, and a bidi override (U+202E) can show a line in a
different order from the bytes it holds. ``visible`` turns every such character into a
readable escape, so one value stays on its line and shows what it holds. JSON output does
not need it: ``json.dumps`` escapes control characters, and scripts need the exact text.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories escaped: controls (C0, DEL, C1), format characters (bidi controls,
#: zero-width and invisible characters, the BOM, tag characters), lone surrogates, and
#: the line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Format characters that ordinary text needs: the zero-width (non-)joiner inside emoji
#: sequences (👩‍💻) and in Indic and Persian scripts. They cannot reorder or hide text.
_KEPT = frozenset("\u200c\u200d")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: object) -> str:
    """``text`` with control, format and separator characters as escapes (``\\x1b``,
    ``\\r``, ``\\u202e``); letters, accents, emoji and CJK unchanged. Newlines are escaped
    too: pass one line at a time."""
    text = str(text)
    if text.isprintable():  # the common case: nothing to look at character by character
        return text
    return "".join(
        _escape(c) if c not in _KEPT and unicodedata.category(c) in _ESCAPED_CATEGORIES else c
        for c in text
    )
