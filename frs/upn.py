"""Unique Pupil Number checks (DfE UPN guide, Annex A; domain.md section 1).

Every failing check is reported together, as the DfE's own MTC service does, so a school
fixes a UPN once.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"  # no I, O, S
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}

# problem keys, in the order they are reported
LENGTH, CHECK_LETTER, LA_CODE, DIGITS, CHAR13 = "length", "check-letter", "la-code", "digits", "char13"


@lru_cache(maxsize=1)
def la_codes() -> frozenset[str]:
    """The union of the DfE MTC and CIN rule 1530 LA lists, abolished LAs included."""
    text = resources.files("frs").joinpath("data/la_codes.csv").read_text(encoding="utf-8")
    return frozenset(row["la_code"] for row in csv.DictReader(text.splitlines()))


def check_letter(upn: str) -> str | None:
    """The check letter for characters 2-13 of ``upn``, or None if they are malformed."""
    body = upn[1:13]
    if len(body) != 12 or not body[:11].isdigit():
        return None
    total = sum(int(body[i]) * (i + 2) for i in range(11))
    last = body[11]
    if last.isdigit():
        total += int(last) * 13
    elif last in _VALUE:
        total += _VALUE[last] * 13
    else:
        return None
    return ALPHABET[total % 23]


def problems(upn: str) -> list[str]:
    """The checks ``upn`` fails (empty list: a valid UPN). ``upn`` is trimmed and upper-cased."""
    upn = upn.strip().upper()
    if len(upn) != 13:
        return [LENGTH]
    if not upn.isascii():  # "１".isdigit() is true: only 0-9 and A-Z are UPN characters
        return [DIGITS]
    found: list[str] = []
    c13 = upn[12]
    if c13 in "IOS" or not (c13.isdigit() or c13 in _VALUE):
        if c13 in "IOS":
            return [CHAR13]  # MTC: only the char-13 error in this case
        found.append(CHAR13)
    la = upn[1:4]
    if not (la.isdigit() and la in la_codes()):
        found.append(LA_CODE)
    if not upn[4:12].isdigit():
        found.append(DIGITS)
    if upn[0] not in _VALUE or check_letter(upn) != upn[0]:
        found.insert(0, CHECK_LETTER)
    return found


_WEIGHTED_ZEROS = 48 * sum(range(2, 13))  # what the ASCII codes of '0' add to the weighted sum


def valid(upn: str) -> bool:
    """True for a well-formed, correctly check-lettered UPN (already trimmed and upper-case).

    The fast path for whole columns: one pass of C string tests and an unrolled sum; anything
    it rejects goes to :func:`problems` for the full list of reasons.
    """
    if len(upn) != 13 or not upn.isascii() or not upn[1:12].isdigit() or upn[1:4] not in la_codes():
        return False
    c = upn.encode("ascii", "replace")
    total = (c[1] * 2 + c[2] * 3 + c[3] * 4 + c[4] * 5 + c[5] * 6 + c[6] * 7 + c[7] * 8 + c[8] * 9
             + c[9] * 10 + c[10] * 11 + c[11] * 12 - _WEIGHTED_ZEROS)
    last = upn[12]
    if "0" <= last <= "9":
        total += (c[12] - 48) * 13
    elif last in _VALUE:
        total += _VALUE[last] * 13
    else:
        return False
    return ALPHABET[total % 23] == upn[0]


def is_temporary(upn: str) -> bool:
    upn = upn.strip().upper()
    return len(upn) == 13 and upn[12].isalpha()


def make(la: str, estab: str, year: int, serial: int) -> str:
    """Build a permanent UPN with its check letter (for demo data and tests)."""
    body = f"{la:0>3}{estab:0>4}{year % 100:02d}{serial:03d}"
    return check_letter("?" + body) + body
