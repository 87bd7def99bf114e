"""Text as the DfE means it: one Unicode form, ordinary spaces, ASCII digits and letters.

A name typed on a Mac ("Zoë" as e + combining diaeresis) and one typed on Windows are the same
name once NFC-normalised; a no-break space pasted from a web page is a space. The reader applies
:func:`clean` to every text cell before any rule sees it. Codes the DfE defines as digits and
letters (UPNs, DfE numbers, discount codes, years, grades) accept ASCII only: ``"１".isdigit()``
and ``int("٣")`` are true in Python, which would let a full-width or Arabic-Indic digit through.
"""

from __future__ import annotations

import unicodedata

#: characters that look like a space and are one for every rule
SPACE_LIKE = "\u00a0\u2007\u202f"
_SPACES = str.maketrans(dict.fromkeys(SPACE_LIKE, " "))


def clean(text: str) -> str:
    """``text`` NFC-normalised, with no-break spaces as plain spaces (ASCII text is returned as is)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text).translate(_SPACES)


def ascii_digits(text: str) -> bool:
    """True when ``text`` is one or more of the digits 0-9 (and nothing that merely counts as a digit)."""
    return text.isascii() and text.isdigit()


def unusual_characters(text: str, limit: int = 3) -> str:
    """The first characters of ``text`` that are not ASCII, named for a person:
    ``'１' (fullwidth digit one), '²' (superscript two)``. Empty when ``text`` is ASCII."""
    found: list[str] = []
    for ch in dict.fromkeys(ch for ch in text if not ch.isascii()):
        if len(found) == limit:
            found.append("...")
            break
        name = unicodedata.name(ch, f"U+{ord(ch):04X}").lower()
        found.append(f"{ch!r} ({name})")
    return ", ".join(found)


def not_ascii_message(what: str, text: str) -> str:
    """One sentence for a code that must be ASCII but is not."""
    return (f"The {what} contains {unusual_characters(text)}, which only look like ordinary digits or letters "
            "(often from copying out of a web page or typing on another keyboard). Retype it using the "
            "ordinary digits 0-9 and letters A-Z.")
