"""The census fallback: pupils from the DfE school-census extracts and CTF files the service holds.

Every ``.csv`` and ``.xml`` file in the configured ``folder`` is read:

- CSV: the census extract of the DfE's own tools (columns LEA, Estab, UPN, Surname, Forename,
  Middlenames, Sex, DOB, NCyearActual, EnrolStatus, FSMeligible, Language, SENProvision), rows
  matched to a school by LEA + Estab. Date formats differ between DfE files (``1/2/05`` is
  month/day/year in one, ``01/02/2005`` day/month/year in another), so a file's format is decided
  from all its dates: when they fit both orders the file is refused with a message, and the
  operator says which it is with ``date_formats = { "file.csv" = "mdy" }`` (or ``date_format``
  for every file).
- XML: the Common Transfer File subset of domain.md section 5.1, matched by the source school's
  LEA + Estab; KS2 ``StageAssessments`` are kept as prior attainment. A pupil without
  ``NCyearActual`` gets the NC year his date of birth gives for the file's academic year.

For each school the newest extract wins (a CTF's header date, else the file's modified time).
Rows that cannot be read are reported with file and line; the rest load.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder

from frs import hookimpl
from frs.config import LONDON
from frs.connectors import Cohort, Pupil, PupilSource, School, Setting, SourceContext
from frs.partners import MisPupil

PLUGIN = "census"
DATE_FORMATS = ("auto", "dmy", "mdy", "ymd")
REQUIRED = ("lea", "estab", "upn", "surname", "forename", "sex", "dob")
ON_ROLL = {"", "C", "M"}  # current single registration, main dual registration


@dataclass
class Extract:
    """One school's pupils from one file."""

    dfe: str
    file: str
    taken_at: dt.datetime
    pupils: list[dict[str, Any]] = field(default_factory=list)  # admitted (frs.services.cohorts.admit)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    extracts: dict[str, Extract] = field(default_factory=dict)
    refused: dict[str, list[str]] = field(default_factory=dict)  # dfe -> why its rows in this file were refused
    problems: list[str] = field(default_factory=list)  # about the file as a whole


class CensusSource(PupilSource):
    name = PLUGIN
    description = "the latest census data held for the school"
    priority = 50
    settings_schema = (
        Setting("folder", "folder holding the census CSV extracts and CTF XML files", default="instance/census"),
        Setting("date_format", "how slash dates are written in every file: auto, dmy, mdy or ymd", default="auto"),
        Setting("date_formats", "per file name, how its slash dates are written (overrides date_format)", dict,
                default={}),
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        for name, fmt in [("date_format", self.settings["date_format"]),
                          *((f"date_formats.{k}", v) for k, v in self.settings["date_formats"].items())]:
            if fmt not in DATE_FORMATS:
                raise ValueError(f"[plugins.{PLUGIN}] {name} must be one of {', '.join(DATE_FORMATS)}, got {fmt!r}")
        self._cache: dict[Path, tuple[tuple[float, int], _Parsed]] = {}

    # ------------------------------------------------------------------ the source

    def folder(self, context: SourceContext | None) -> Path:
        return (context or SourceContext()).resolve(self.settings["folder"])

    def available_for(self, school: School) -> bool:
        return self.is_available(school, SourceContext())

    def is_available(self, school: School, context: SourceContext) -> bool:
        return self.extract_for(school.dfe, context) is not None

    def unavailable_reason(self, school: School, context: SourceContext) -> str | None:
        if self.extract_for(school.dfe, context) is not None:
            return None
        refused = self.scan(context)[1].get(school.dfe)
        if refused:
            return "census: " + "; ".join(refused)
        return None

    def fetch_cohort(self, school: School, nc_year: int) -> list[Pupil]:
        return self.cohort(school, nc_year, SourceContext()).pupils

    def cohort(self, school: School, nc_year: int, context: SourceContext) -> Cohort:
        extract = self.extract_for(school.dfe, context)
        if extract is None:
            return Cohort(self.name, [], origin="census (no extract held)")
        pupils = [Pupil(upn=p["upn"], forename=p["forename"], surname=p["surname"], date_of_birth=p["date_of_birth"],
                        gender=p["gender"], nc_year=p["nc_year"]) for p in extract.pupils if p["nc_year"] == nc_year]
        pupils.sort(key=lambda p: (p.surname.upper(), p.forename.upper(), p.upn))
        return Cohort(self.name, pupils, origin=f"census file {extract.file}", taken_at=extract.taken_at,
                      problems=list(extract.problems))

    # ------------------------------------------------------------------ reading the folder

    def extract_for(self, dfe: str, context: SourceContext | None = None) -> Extract | None:
        return self.scan(context)[0].get(dfe)

    def scan(self, context: SourceContext | None = None) -> tuple[dict[str, Extract], dict[str, list[str]], list[str]]:
        """(newest extract per school, refusals per school, problems with whole files)."""
        folder = self.folder(context)
        newest: dict[str, Extract] = {}
        refused: dict[str, list[str]] = {}
        problems: list[str] = []
        if not folder.is_dir():
            return newest, refused, problems
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".xml"))
        for path in files:
            parsed = self._parse_cached(path)
            problems += parsed.problems
            for dfe, why in parsed.refused.items():
                refused.setdefault(dfe, []).extend(why)
            for dfe, extract in parsed.extracts.items():
                if dfe not in newest or extract.taken_at > newest[dfe].taken_at:
                    newest[dfe] = extract
        return newest, refused, problems

    def _parse_cached(self, path: Path) -> _Parsed:
        stat = path.stat()
        stamp = (stat.st_mtime, stat.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        taken = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc)
        try:
            data = path.read_bytes()
            parsed = parse_ctf(data, path.name, taken) if path.suffix.lower() == ".xml" else \
                parse_csv(data, path.name, taken, self._format_for(path.name))
        except OSError as exc:
            parsed = _Parsed(problems=[f"{path.name}: could not be read ({exc.strerror})"])
        self._cache[path] = (stamp, parsed)
        return parsed

    def _format_for(self, filename: str) -> str:
        return self.settings["date_formats"].get(filename, self.settings["date_format"])


# --------------------------------------------------------------------------- CSV


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _dfe(lea: str, estab: str) -> str | None:
    lea, estab = lea.strip(), estab.strip()
    if lea.isdigit() and estab.isdigit() and len(lea) <= 3 and len(estab) <= 4:
        return lea.zfill(3) + estab.zfill(4)
    return None


def _year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    year = 2000 + int(text)
    return year if year <= dt.date.today().year else year - 100


def slash_date(text: str, fmt: str) -> dt.date | None:
    """``text`` (d/m/y, m/d/y or y/m/d with / - or .) as a date under ``fmt``; None if it is not one."""
    parts = text.strip().replace("-", "/").replace(".", "/").split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        if fmt == "ymd" and len(parts[0]) == 4:
            return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
        if fmt in ("dmy", "mdy") and len(parts[2]) in (2, 4) and len(parts[0]) <= 2 and len(parts[1]) <= 2:
            day, month = (parts[0], parts[1]) if fmt == "dmy" else (parts[1], parts[0])
            return dt.date(_year(parts[2]), int(month), int(day))
    except ValueError:
        return None
    return None


def decide_format(values: list[str], configured: str) -> tuple[str | None, str | None]:
    """(format, None) or (None, why the file's dates are ambiguous or mixed)."""
    if configured != "auto":
        return configured, None
    dated = [v for v in values if v.strip()]
    if all(slash_date(v, "ymd") for v in dated):
        return "ymd", None
    fits = {fmt: sum(1 for v in dated if slash_date(v, fmt)) for fmt in ("dmy", "mdy")}
    readable = [v for v in dated if slash_date(v, "dmy") or slash_date(v, "mdy") or slash_date(v, "ymd")]
    whole = [fmt for fmt in ("dmy", "mdy") if fits[fmt] == len(readable) and readable]
    if len(whole) == 1:
        return whole[0], None
    if len(whole) == 2:
        example = next((v for v in readable if slash_date(v, "dmy") != slash_date(v, "mdy")), readable[0])
        return None, (f"its dates (such as {example.strip()!r}) read both as day/month/year and month/day/year, so "
                      "the file was not loaded; say which it is in [plugins.census], e.g. "
                      'date_formats = { "FILE" = "dmy" } (or "mdy")')
    if not readable:
        return "dmy", None  # no readable date at all: each row reports its own
    return None, ("its dates mix day/month/year and month/day/year, so the file was not loaded; set its format "
                  'with date_formats = { "FILE" = "dmy" } in [plugins.census]')


def parse_csv(data: bytes, filename: str, taken_at: dt.datetime, date_format: str = "auto") -> _Parsed:
    from frs.services.cohorts import admit

    out = _Parsed()
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        out.problems.append(f"{filename}: empty or not a CSV file")
        return out
    col = {name: i for i, name in reversed(list(enumerate(header)))}
    missing = [c for c in REQUIRED if c not in col]
    if missing:
        out.problems.append(f"{filename}: not a census extract: line 1 lacks column(s) "
                            f"{', '.join(missing)} (needs LEA, Estab, UPN, Surname, Forename, Sex, DOB, NCyearActual)")
        return out
    rows: list[tuple[int, list[str]]] = []
    try:
        for values in reader:
            if any(v.strip() for v in values):
                rows.append((reader.line_num, values))
    except csv.Error as exc:
        out.problems.append(f"{filename} line {reader.line_num}: {exc}; the rest of the file was not read")

    def cell(values: list[str], name: str) -> str:
        i = col.get(name)
        return values[i].strip() if i is not None and i < len(values) else ""

    by_school: dict[str, list[tuple[int, list[str]]]] = {}
    problems: dict[str, list[str]] = {}
    for line, values in rows:
        dfe = _dfe(cell(values, "lea"), cell(values, "estab"))
        if dfe is None:
            out.problems.append(f"{filename} line {line}: LEA {cell(values, 'lea')!r} and Estab "
                                f"{cell(values, 'estab')!r} are not a DfE number; row skipped")
            continue
        by_school.setdefault(dfe, []).append((line, values))
    fmt, why = decide_format([cell(v, "dob") for _, rows_ in by_school.items() for _, v in rows_], date_format)
    if fmt is None:
        text = f"{filename}: {why.replace('FILE', filename)}"
        out.problems.append(text)
        for dfe in by_school:
            out.refused[dfe] = [text]
        return out
    for dfe, school_rows in by_school.items():
        records: list[MisPupil] = []
        lines: list[str] = []
        for line, values in school_rows:
            status = cell(values, "enrolstatus").upper()
            if status not in ON_ROLL:
                continue
            dob_text = cell(values, "dob")
            dob = slash_date(dob_text, fmt) if dob_text else None
            if dob_text and dob is None:
                lines.append(f"{filename} line {line}: date of birth {dob_text[:20]!r} is not a date written "
                             f"{fmt}; row skipped")
                continue
            nc = cell(values, "ncyearactual")
            records.append(MisPupil(
                mis_id=f"line {line}", upn=cell(values, "upn"), forename=cell(values, "forename"),
                surname=cell(values, "surname"), date_of_birth=dob, gender=cell(values, "sex"), nc_year=nc,
                characteristics={"fsm": cell(values, "fsmeligible"), "sen": cell(values, "senprovision"),
                                 "first_language": cell(values, "language")}))
        admission = admit(records)
        lines += [f"{filename} {r['mis_id']}: {r['name']}: {r['reason']}; row skipped" for r in admission.rejected]
        problems[dfe] = lines
        out.extracts[dfe] = Extract(dfe, filename, taken_at, admission.pupils, lines)
    return out


# --------------------------------------------------------------------------- CTF XML


class _LineBuilder(TreeBuilder):
    """Remembers the line each element starts on, for messages."""

    def __init__(self):
        super().__init__()
        self.lines: dict[int, int] = {}
        self.parser = None

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[id(element)] = self.parser.parser.CurrentLineNumber if self.parser is not None else 0
        return element


def _text(element: Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def parse_ctf(data: bytes, filename: str, taken_at: dt.datetime) -> _Parsed:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    from frs.services.cohorts import admit, parse_date

    out = _Parsed()
    builder = _LineBuilder()
    try:
        parser = DefusedXMLParser(target=builder, forbid_dtd=True)
        builder.parser = parser
        parser.feed(data)
        root = parser.close()
    except (ParseError, DefusedXmlException, ValueError) as exc:
        out.problems.append(f"{filename}: not readable XML ({type(exc).__name__}: {str(exc)[:200]})")
        return out
    if root.tag != "CTfile":
        out.problems.append(f"{filename}: not a Common Transfer File (root element is {root.tag[:40]!r}, not CTfile)")
        return out
    source = root.find("Header/SourceSchool")
    dfe = _dfe(_text(source, "LEA"), _text(source, "Estab"))
    if dfe is None:
        out.problems.append(f"{filename}: Header/SourceSchool LEA {_text(source, 'LEA')!r} and Estab "
                            f"{_text(source, 'Estab')!r} are not a DfE number; file skipped")
        return out
    stamp = _text(root, "Header/DateTime")
    try:
        taken_at = dt.datetime.fromisoformat(stamp).replace(tzinfo=LONDON) if stamp else taken_at
    except ValueError:
        out.problems.append(f"{filename}: Header/DateTime {stamp[:30]!r} is not a date-time; the file's date is used")
    academic = _text(source, "AcademicYear")
    if academic.isdigit():
        academic_year = int(academic)
    else:
        local = taken_at.astimezone(LONDON)
        academic_year = local.year if local.month >= 9 else local.year - 1
    records: list[MisPupil] = []
    lines: list[str] = []
    for pupil in root.findall("CTFpupilData/Pupil"):
        line = builder.lines.get(id(pupil), 0)
        dob, why = parse_date(_text(pupil, "DOB"))
        nc_text = _text(pupil, "BasicDetails/NCyearActual") or _text(pupil, "NCyearActual")
        if not nc_text and dob is not None:
            born = dob.year if dob.month >= 9 else dob.year - 1
            nc_text = str(academic_year - born - 5)
        records.append(MisPupil(
            mis_id=f"line {line}", upn=_text(pupil, "UPN"), forename=_text(pupil, "Forename"),
            surname=_text(pupil, "Surname"), date_of_birth=_text(pupil, "DOB"),
            gender=_text(pupil, "Sex") or _text(pupil, "Gender"), nc_year=nc_text,
            characteristics=_ctf_characteristics(pupil)))
    admission = admit(records)
    lines += [f"{filename} {r['mis_id']}: {r['name']}: {r['reason']}; pupil skipped" for r in admission.rejected]
    out.extracts[dfe] = Extract(dfe, filename, taken_at, admission.pupils, lines)
    return out


def _ctf_characteristics(pupil: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ks2: dict[str, Any] = {}
    for stage in pupil.findall("StageAssessments/KeyStage"):
        if _text(stage, "Stage").upper() != "KS2":
            continue
        for assessment in stage.findall("StageAssessment"):
            key = ".".join(p for p in (_text(assessment, "Subject"), _text(assessment, "Method"),
                                       _text(assessment, "Component")) if p)
            if key:
                ks2[key[:60]] = {"result": _text(assessment, "Result")[:20], "year": _text(assessment, "Year")[:4]}
    if ks2:
        out["ks2"] = ks2
    for key, path in (("sen", "BasicDetails/SENprovision"), ("fsm", "BasicDetails/FSMeligible"),
                      ("first_language", "BasicDetails/Language")):
        value = _text(pupil, path)
        if value:
            out[key] = value
    return out


@hookimpl
def register_connectors(registry, settings):
    registry.add(CensusSource(settings))
