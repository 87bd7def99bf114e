"""The census source: DfE census CSV extracts and CTF XML, date formats decided per file, bad rows
reported with file and line, the newest extract per school."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from frs.config import Config
from frs.connectors import School, SourceContext
from frs.kernel import Kernel
from frs.testing.fake_partners import kit_pupils

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "samples"
HEADER = "LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,Language,SENProvision"
SCHOOL = School("8014000", "Census School")


def census(folder: Path, **settings):
    kernel = Kernel(Config(path=None, enabled=["blank", "census"], strict=True,
                           plugin_settings={"census": {"folder": str(folder), **settings}}))
    return kernel.sources["census"], SourceContext(config=kernel.config)


def csv_rows(pupils, nc_year=11, dob=lambda p: "/".join(reversed(p.date_of_birth.split("-")))):
    return [f"801,4000,{p.upn},{p.surname},{p.forename},,{p.gender},{dob(p)},{nc_year},C,1,OTH,K" for p in pupils]


def test_day_first_extract_loads_and_is_filtered_to_the_year(tmp_path):
    y11, y10 = kit_pupils("8014000", 3, exam_year=2020), kit_pupils("8014000", 2, nc_year=10, exam_year=2020,
                                                                    first_serial=50)
    (tmp_path / "census.csv").write_text("\n".join([HEADER, *csv_rows(y11), *csv_rows(y10, 10)]) + "\n")
    source, context = census(tmp_path)
    cohort = source.cohort(SCHOOL, 11, context)
    assert sorted(p.upn for p in cohort.pupils) == sorted(p.upn for p in y11)
    assert {p.gender for p in cohort.pupils} <= {"Male", "Female"} and len({p.gender for p in cohort.pupils}) == 2
    assert [p.date_of_birth.isoformat() for p in sorted(cohort.pupils, key=lambda p: p.upn)] == \
        [p.date_of_birth for p in sorted(y11, key=lambda p: p.upn)]
    assert "census file census.csv" in cohort.describe() and not cohort.problems
    extract = source.extract_for("8014000", context)
    assert extract.pupils[0]["characteristics"] == {"disadvantaged": True, "sen": "K", "eal": True,
                                                     "first_language": "OTH"}


def test_the_mtc_extract_is_read_month_first_because_one_date_only_fits_that(tmp_path):
    shutil.copy(SAMPLES / "mtc-census-csv" / "Pupil-Census-Data.csv", tmp_path)
    source, context = census(tmp_path)
    extract = source.extract_for("9991002", context)
    # 3/20/05 can only be month/day/year, so the whole file is; LA 999 is the DfE's test LA, not a
    # real one: every UPN fails its check, and each row is reported by file and line
    assert extract.pupils == []
    assert extract.problems[0].startswith("Pupil-Census-Data.csv line 6: Pupil21 Surname9991002: UPN")
    assert [p.split(":")[0] for p in source.extract_for("9991001", context).problems] == \
        [f"Pupil-Census-Data.csv line {n}" for n in range(2, 6)]


def test_an_ambiguous_extract_is_refused_until_its_format_is_given(tmp_path):
    lines = (SAMPLES / "mtc-census-csv" / "Pupil-Census-Data.csv").read_text().splitlines()[:5]
    pupils = kit_pupils("9991001", 4, nc_year=6, exam_year=2016)
    lines[1:] = [line.replace(line.split(",")[2], p.upn).replace("999,1001", "801,4000")
                 for line, p in zip(lines[1:], pupils)]
    (tmp_path / "mtc.csv").write_text("\n".join(lines) + "\n")
    source, context = census(tmp_path)
    assert not source.is_available(SCHOOL, context)
    why = source.unavailable_reason(SCHOOL, context)
    assert "mtc.csv" in why and 'date_formats = { "mtc.csv" = "dmy" }' in why
    source, context = census(tmp_path, date_formats={"mtc.csv": "mdy"})
    cohort = source.cohort(SCHOOL, 6, context)
    assert sorted(p.date_of_birth for p in cohort.pupils) == [dt.date(2005, 1, d) for d in (1, 2, 3, 4)]
    source, context = census(tmp_path, date_format="dmy")
    cohort = source.cohort(SCHOOL, 6, context)
    assert sorted(p.date_of_birth for p in cohort.pupils) == [dt.date(2005, m, 1) for m in (1, 2, 3, 4)]


def test_month_first_dates_are_read_when_only_that_order_fits(tmp_path):
    pupils = kit_pupils("8014000", 2, exam_year=2020)
    rows = csv_rows(pupils, dob=lambda p: "{1}/{2}/{0}".format(*p.date_of_birth.split("-")))
    rows.append(csv_rows(kit_pupils("8014000", 1, exam_year=2020, first_serial=9),
                         dob=lambda p: "12/25/2004")[0])  # only month/day fits this one
    (tmp_path / "us.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    source, context = census(tmp_path)
    cohort = source.cohort(SCHOOL, 11, context)
    assert dt.date(2004, 12, 25) in {p.date_of_birth for p in cohort.pupils} and len(cohort.pupils) == 3


def test_unreadable_rows_are_reported_with_file_and_line_and_the_rest_load(tmp_path):
    good = kit_pupils("8014000", 2, exam_year=2020)
    rows = [HEADER, *csv_rows(good),
            "801,4000,A801400000999,Bad,Date,,F,31/02/2004,11,C,0,ENG,N",
            "80X,4000,A801400000998,Bad,School,,F,01/02/2004,11,C,0,ENG,N",
            "801,4000,,No,Upn,,M,01/03/2004,11,C,0,ENG,N",
            "801,4000,A801400000997,Left,Already,,M,01/03/2004,11,L,0,ENG,N"]
    (tmp_path / "autumn.csv").write_text("\n".join(rows) + "\n")
    source, context = census(tmp_path)
    cohort = source.cohort(SCHOOL, 11, context)
    assert sorted(p.upn for p in cohort.pupils) == sorted(p.upn for p in good)
    lines = [p.split(":")[0] for p in cohort.problems]
    assert lines == ["autumn.csv line 4", "autumn.csv line 6"]
    assert "not a date" in cohort.problems[0] and "no UPN" in cohort.problems[1]
    _, _, file_problems = source.scan(context)
    assert file_problems and file_problems[0].startswith("autumn.csv line 5")


CTF = """<?xml version="1.0" encoding="utf-8"?>
<CTfile>
  <Header>
    <DocumentName>Common Transfer File</DocumentName><CTFversion>25.0</CTFversion>
    <DateTime>2025-11-22T13:00:00</DateTime><DocumentQualifier>partial</DocumentQualifier>
    <SourceSchool><LEA>801</LEA><Estab>4000</Estab><URN>100000</URN><SchoolName>Example</SchoolName>
      <AcademicYear>2025</AcademicYear></SourceSchool>
    <DestSchool><LEA>801</LEA><Estab>4001</Estab></DestSchool>
  </Header>
  <CTFpupilData>
    <Pupil>
      <UPN>H801200001001</UPN><Surname>SMITH</Surname><Forename>JANE</Forename><DOB>2009-11-20</DOB><Sex>F</Sex>
      <StageAssessments><KeyStage><Stage>KS2</Stage>
        <StageAssessment><Locale>ENG</Locale><Year>2021</Year><Subject>MAT</Subject><Method>TT</Method>
          <Component>MTC</Component><ResultStatus>R</ResultStatus><ResultQualifier>MT</ResultQualifier>
          <Result>23</Result></StageAssessment>
      </KeyStage></StageAssessments>
    </Pupil>
    <Pupil>
      <UPN>G80120000101A</UPN><Surname>JONES</Surname><Forename>SAM</Forename><DOB>2010-02-30</DOB><Sex>M</Sex>
    </Pupil>
  </CTFpupilData>
</CTfile>
"""


def test_ctf_is_read_with_ks2_and_a_derived_year(tmp_path):
    (tmp_path / "801LLLL_CTF_8014001_001.xml").write_text(CTF, encoding="utf-8")
    source, context = census(tmp_path)
    cohort = source.cohort(SCHOOL, 11, context)
    assert [(p.upn, p.forename, p.gender) for p in cohort.pupils] == [("H801200001001", "JANE", "Female")]
    assert cohort.taken_at.year == 2025
    extract = source.extract_for("8014000", context)
    assert extract.pupils[0]["characteristics"]["ks2"] == {"MAT.TT.MTC": {"result": "23", "year": "2021"}}
    assert len(cohort.problems) == 1 and "line 19: SAM JONES" in cohort.problems[0] and "does not exist" in cohort.problems[0]


def test_newest_extract_wins_and_hostile_xml_is_refused(tmp_path):
    (tmp_path / "old.xml").write_text(CTF, encoding="utf-8")
    pupils = kit_pupils("8014000", 2, exam_year=2020)
    (tmp_path / "new.csv").write_text("\n".join([HEADER, *csv_rows(pupils)]) + "\n")
    (tmp_path / "evil.xml").write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CTfile>&a;</CTfile>')
    source, context = census(tmp_path)
    assert source.extract_for("8014000", context).file == "new.csv"
    past = dt.datetime(2020, 1, 1).timestamp()
    os.utime(tmp_path / "new.csv", (past, past))
    source, context = census(tmp_path)
    assert source.extract_for("8014000", context).file == "old.xml"
    assert any(p.startswith("evil.xml: not readable XML") for p in source.scan(context)[2])


def test_bad_settings_are_refused():
    from frs.plugins import PluginError

    with pytest.raises(PluginError, match="date_format"):
        Kernel(Config(path=None, enabled=["census"], strict=True,
                      plugin_settings={"census": {"date_format": "yyyy"}}))
    with pytest.raises(PluginError, match="unknown key 'folders'"):
        Kernel(Config(path=None, enabled=["census"], strict=True, plugin_settings={"census": {"folders": "x"}}))
