"""The built-in pupil sources and Data Exchange partners pass the connector conformance kit."""

from __future__ import annotations

from frs.connectors import School
from frs.testing import get_partner_test_class, get_source_test_class
from frs.testing.fake_partners import FakeWonde, FakeXporter, kit_pupils

TestXporterPartner = get_partner_test_class("xporter", server=FakeXporter)
TestWondePartner = get_partner_test_class("wonde", server=FakeWonde, mis_id="A1930499544")


def census_folder(tmp_path):
    pupils = kit_pupils("8014000", 4, nc_year=11, exam_year=2020)
    lines = ["LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,Language,SENProvision"]
    for p in pupils:
        y, m, d = p.date_of_birth.split("-")
        lines.append(f"801,4000,{p.upn},{p.surname},{p.forename},,{p.gender},{d}/{m}/{y},11,C,0,ENG,N")
    lines.append("801,4000,A801400010999,Older,Pupil,,F,25/12/2008,12,C,0,ENG,N")  # another year group
    (tmp_path / "census").mkdir()
    (tmp_path / "census" / "autumn.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"folder": str(tmp_path / "census")}, School("8014000", "Census School"), 11, [p.upn for p in pupils]


TestCensusSource = get_source_test_class("census", prepare=census_folder)


TestBlankSource = get_source_test_class(
    "blank", prepare=lambda tmp_path: ({}, School("8014000", "Any School"), 11, []),
    bypass={"settings_schema": "the blank template has no settings",
            "other_year_and_school": "the blank template serves every school, known or not"})
