"""The frs conformance kit on the KS2 plugin, installed and found through its entry point.

Template layout: two header rows (Assessment, Valid Results), column headers in row 3, pupils
from row 4; Reading is column L, Grammar punctuation and spelling M, Mathematics N, Writing O.
"""

from frs.testing import SuiteConfig, get_keystage_test_class

pytest_plugins = ["frs.testing.pytest_plugin"]


def plant_mistakes(sheet, ctx):
    """Edit the kit's valid, filled template the way a hurried school might."""
    sheet["L4"] = 79              # below the lowest scaled score
    sheet["N5"] = 105.5           # not a whole number
    sheet["O6"] = "EX"            # short for EXS
    sheet["L7"] = sheet["M7"] = sheet["N7"] = None
    sheet["O7"] = "EXS"           # writing assessed, no test result at all (a warning)
    sheet["M8"] = "Absent"        # the code is A
    sheet["O9"] = 104             # a score in the teacher-assessment column
    sheet["N10"] = "  108 "       # accepted: text with spaces around a score
    sheet["L11"] = "q"            # accepted: test codes in any case


EXPECTED = {
    ("ks2.invalid-result", 4, "L"),
    ("ks2.invalid-result", 5, "N"),
    ("ks2.invalid-result", 6, "O"),
    ("ks2.tests-missing", 7, "L"),
    ("ks2.invalid-result", 8, "M"),
    ("ks2.invalid-result", 9, "O"),
}

TestKS2Conformance = get_keystage_test_class(
    "ks2", config=SuiteConfig(year=2022), invalid_fixture=plant_mistakes, expected_issues=EXPECTED)
