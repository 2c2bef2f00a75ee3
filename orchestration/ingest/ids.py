"""The one rule every id from a landing file must pass, and how a bad id is shown.

An id (patient/sample id, compound id, plate id, assay id, batch folder name …) is
refused when it is:

* empty or blank, or longer than ``MAX_ID_LENGTH`` (128) characters;
* surrounded by whitespace (leading or trailing);
* holding a character that is invisible, reorders text or is not a character at all:
  Unicode controls (Cc: tab, newline, NUL …), format characters (Cf: bidi controls
  U+202A–202E and U+2066–2069, zero-width U+200B–200D, BOM U+FEFF …), line/paragraph
  separators (Zl, Zp), surrogates (Cs), private-use (Co) and unassigned code points (Cn,
  per Python's Unicode database);
* using a space other than U+0020 (e.g. a no-break space, which looks like a space but
  makes a different id);
* not in Unicode NFC form (a decomposed "ü" looks like the composed one but is another
  string).

Inner spaces ("Patient 1") and letters of any script ("Müller-7") pass. So does
"../../etc/x": it is a fine string; ids never become paths without
``orchestration.lake.safe_paths``, which is what keeps writes inside the lake.
"""

from __future__ import annotations

import unicodedata

MAX_ID_LENGTH = 128
SHOWN_CHARS = 40                       # how much of a bad id a reason shows
_BAD_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                   "Zl": "a line separator", "Zp": "a paragraph separator",
                   "Cs": "a surrogate", "Co": "a private-use character",
                   "Cn": "an unassigned code point"}


def _char(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def id_problem(value: object, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``value`` cannot be an id (see the module doc), or None when it can."""
    if not isinstance(value, str):
        return f"is {type(value).__name__}, not text"
    if not value.strip():
        return "is empty"
    if len(value) > max_length:
        return f"is {len(value):,} characters long, over the {max_length}-character limit"
    if value != value.strip():
        return "has leading or trailing whitespace"
    if value.isascii() and value.isprintable():   # the common case: nothing else to check
        return None
    for i, ch in enumerate(value, start=1):
        category = unicodedata.category(ch)
        if category in _BAD_CATEGORIES:
            return f"contains {_BAD_CATEGORIES[category]} ({_char(ch)}) at character {i}"
        if category == "Zs" and ch != " ":
            return f"contains a space other than U+0020 ({_char(ch)}) at character {i}"
    if not unicodedata.is_normalized("NFC", value):
        return "is not in Unicode NFC form (a letter is written as base + combining mark)"
    return None


def name_problem(name: str) -> str | None:
    """Why a landing file name cannot be read as one (an invisible or control character,
    see the module doc), or None. Length, spaces and Unicode form are not judged: the
    file system already bounds names, and a name is never an id."""
    if name.isascii() and name.isprintable():
        return None
    for i, ch in enumerate(name, start=1):
        category = unicodedata.category(ch)
        if category in _BAD_CATEGORIES:
            return f"contains {_BAD_CATEGORIES[category]} ({_char(ch)}) at character {i}"
    return None


def escaped(text: object) -> str:
    """``text`` with control, invisible and unpaired-surrogate characters written as
    escapes (``\\n``, ``\\u202e``): safe to show in a reason and to store as UTF-8."""
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() and unicodedata.category(ch) not in _BAD_CATEGORIES:
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(repr(ch)[1:-1])
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "".join(out)


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for a reason: escaped as by ``escaped``, at most ``limit``
    characters, the rest counted (a 10,000-character id never fills a reason)."""
    text = str(value)
    more = len(text) - limit
    return "'" + escaped(text[:limit]) + "'" + (f" (+{more:,} more characters)" if more > 0 else "")
