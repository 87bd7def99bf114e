"""The pupil lists held for each school (from Data Exchange pulls or census extracts).

Contract used by collection: :func:`characteristics` gives, per UPN, what the school's pupil source
said about each pupil (see ``frs.results.CollectedPupil.characteristics``).

Every value from an MIS or a census file is checked again here (:func:`admit`): the UPN and its
check letter, the date of birth, names free of control characters. A pupil that fails is
reported with the MIS id, the name and why, never dropped silently and never guessed at.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import upn as upn_mod
from ..connectors import Pupil
from ..issues import CONTROL_CODES

_CONTROL = frozenset(chr(c) for c in CONTROL_CODES) | {"\t", "\n", "\r"}
MAX_NAME = 100
OLDEST_PUPIL_YEARS = 30  # a rehearsal of an old round still reads its pupils

# why a pupil was not taken (stable keys; the message says it for people)
NO_UPN = "no-upn"
BAD_UPN = "bad-upn"
DUPLICATE_UPN = "duplicate-upn"
BAD_DATE = "bad-date"
BAD_NAME = "bad-name"


@dataclass
class Admission:
    pupils: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def admit(records: Iterable[Any], *, today: dt.date | None = None) -> Admission:
    """Check each MIS or census pupil (:class:`frs.partners.MisPupil` or alike) and split them
    into the pupils to keep (dicts of CohortPupil fields) and the rejected, each rejection with
    ``mis_id``, ``name``, ``code`` and ``reason``. Pupils sharing a UPN are all rejected: which
    of them really has it is for the school to settle in its MIS."""
    today = today or dt.date.today()
    out = Admission()
    kept: list[dict[str, Any]] = []
    for record in records:
        pupil, problem = _admit_one(record, today)
        if problem:
            out.rejected.append(problem)
        else:
            kept.append(pupil)
    out.pupils, duplicates = split_duplicates(kept)
    out.rejected += duplicates
    return out


def split_duplicates(pupils: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pupils whose UPN no other pupil has, a rejection for each of the others)."""
    kept: list[dict[str, Any]] = pupils
    out = Admission()
    by_upn: dict[str, list[dict[str, Any]]] = {}
    for pupil in kept:
        by_upn.setdefault(pupil["upn"], []).append(pupil)
    for pupil in kept:
        sharing = by_upn[pupil["upn"]]
        if len(sharing) > 1:
            others = ", ".join(p["mis_id"] for p in sharing if p is not pupil)
            out.rejected.append(_rejection(pupil["mis_id"], f"{pupil['forename']} {pupil['surname']}", DUPLICATE_UPN,
                                           f"UPN {pupil['upn']} is also given to MIS id {others}; correct it in "
                                           "the MIS"))
        else:
            out.pupils.append(pupil)
    return out.pupils, out.rejected


def _rejection(mis_id: Any, name: str, code: str, reason: str) -> dict[str, Any]:
    return {"mis_id": _clean(str(mis_id or ""))[:100], "name": _clean(name).strip()[:200], "code": code,
            "reason": reason}


def _clean(text: str) -> str:
    return "".join("?" if ch in _CONTROL else ch for ch in text)


def _admit_one(record: Any, today: dt.date) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    mis_id = str(getattr(record, "mis_id", "") or "").strip()
    forename, surname = _text(getattr(record, "forename", None)), _text(getattr(record, "surname", None))
    name = f"{forename} {surname}".strip()
    for label, value in (("forename", forename), ("surname", surname)):
        if not value.strip():
            return None, _rejection(mis_id, name, BAD_NAME, f"no {label}")
        if any(ch in _CONTROL for ch in value):
            return None, _rejection(mis_id, name, BAD_NAME, f"the {label} holds control characters")
        if len(value) > MAX_NAME:
            return None, _rejection(mis_id, name, BAD_NAME, f"the {label} is longer than {MAX_NAME} characters")
    raw_upn = _text(getattr(record, "upn", None)).strip().upper()
    if not raw_upn:
        return None, _rejection(mis_id, name, NO_UPN, "no UPN (for Xporter: has the school granted the UPN "
                                                      "consent scope?); the school adds it to the template")
    found = [] if upn_mod.valid(raw_upn) else upn_mod.problems(raw_upn)
    if found:
        return None, _rejection(mis_id, name, BAD_UPN, f"UPN {_clean(raw_upn)[:20]!r} fails its check "
                                                       f"({', '.join(found)})")
    dob_value = getattr(record, "date_of_birth", None)
    dob, why = parse_date(dob_value)
    if why:
        return None, _rejection(mis_id, name, BAD_DATE, why)
    if dob is not None and not (today.replace(year=today.year - OLDEST_PUPIL_YEARS) <= dob <= today):
        return None, _rejection(mis_id, name, BAD_DATE, f"date of birth {dob.isoformat()} is impossible for a pupil")
    return {
        "mis_id": mis_id[:100], "upn": raw_upn, "forename": forename.strip(), "surname": surname.strip(),
        "date_of_birth": dob, "gender": gender(getattr(record, "gender", None)),
        "nc_year": nc_year(getattr(record, "nc_year", None)),
        "characteristics": normalise_characteristics(getattr(record, "characteristics", None) or {}),
    }, None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


def parse_date(value: Any) -> tuple[dt.date | None, str | None]:
    """(date, None), (None, None) for no date, or (None, why) for a date that cannot be."""
    if value is None or value == "":
        return None, None
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    match = _ISO_DATE.match(str(value).strip())
    if not match:
        return None, f"date of birth {_clean(str(value))[:40]!r} is not a date (expected YYYY-MM-DD)"
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3])), None
    except ValueError:
        return None, f"date of birth {match[0][:10]} does not exist"


def gender(value: Any) -> str:
    text = _text(value).strip().upper()
    return {"M": "Male", "MALE": "Male", "F": "Female", "FEMALE": "Female"}.get(text, "")


_YEAR = re.compile(r"^(?:YEAR|YR|Y|NC)?\s*(\d{1,2})$")


def nc_year(value: Any) -> int | None:
    """The NC year as a number (1-14) from 11, "11", "Year  11", "Y11"; None for N1, N2, R, X."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 14 else None
    match = _YEAR.match(_text(value).strip().upper())
    if match and 1 <= int(match[1]) <= 14:
        return int(match[1])
    return None


_ENGLISH = {"ENG", "ENB"}
_UNKNOWN_LANGUAGE = {"", "NOT", "REF", "NK"}


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text in ("1", "TRUE", "Y", "YES", "T"):
        return True
    if text in ("0", "FALSE", "N", "NO", "F"):
        return False
    return None


def normalise_characteristics(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The characteristics the reports group pupils by, from whatever the source gave:
    ``disadvantaged`` (FSM, FSM Ever 6 or Pupil Premium), ``sen`` ("E" EHC plan / "K" SEN
    support; old "S" statements count as "E"), ``eal`` (from an EAL flag or the first-language
    code) and ``ks2`` (prior attainment). A key is left out when the source had nothing."""
    out: dict[str, Any] = {}
    flags = [_flag(raw.get(k)) for k in ("disadvantaged", "fsm", "fsm_ever6", "pupil_premium")]
    known = [f for f in flags if f is not None]
    if known:
        out["disadvantaged"] = any(known)
    if "sen" in raw:
        code = _text(raw.get("sen")).strip().upper()
        out["sen"] = {"E": "E", "S": "E", "K": "K", "A": "K", "P": "K"}.get(code)
    eal = _flag(raw.get("eal"))
    language = _text(raw.get("first_language")).strip().upper()
    if eal is None and language not in _UNKNOWN_LANGUAGE:
        eal = language not in _ENGLISH
    if eal is not None or "eal" in raw or "first_language" in raw:
        out["eal"] = eal
    if language:
        out["first_language"] = language[:10]
    ks2 = raw.get("ks2")
    if isinstance(ks2, Mapping) and ks2:
        out["ks2"] = dict(ks2)
    return out


def to_pupil(row: Any) -> Pupil:
    """A stored cohort row as the :class:`Pupil` a template is filled with."""
    return Pupil(upn=row.upn, forename=row.forename, surname=row.surname, date_of_birth=row.date_of_birth,
                 gender=row.gender, nc_year=row.nc_year)


def characteristics(service: Any, school_dfe: str) -> dict[str, dict[str, Any]]:
    """UPN -> characteristics from the school's current stored cohort; {} when none is held.

    The stored cohort is the last completed Data Exchange pull. A school without one falls back
    to its newest census extract, when the ``census`` source is enabled and holds one.
    """
    from sqlmodel import select

    from ..storage.models import School
    from ..storage.models_dx import CohortPupil

    wanted = ("disadvantaged", "sen", "eal", "ks2")
    with service._session() as s:
        school = s.exec(select(School).where(School.dfe == school_dfe)).first()
        rows = s.exec(select(CohortPupil).where(CohortPupil.school_id == school.id)).all() if school else []
    if rows:
        return {r.upn: {k: r.characteristics[k] for k in wanted if k in r.characteristics} for r in rows}
    census = service.kernel.sources.get("census")
    if census is None or not hasattr(census, "extract_for"):
        return {}
    from ..connectors import SourceContext

    extract = census.extract_for(school_dfe, SourceContext(service=service, config=service.kernel.config))
    if extract is None:
        return {}
    return {p["upn"]: {k: p["characteristics"][k] for k in wanted if k in p["characteristics"]}
            for p in extract.pupils}
