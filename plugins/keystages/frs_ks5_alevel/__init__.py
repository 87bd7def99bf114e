"""KS5 A-level results: one column per A-level subject, keyed by its 4-digit discount code.

The catalogue (``data/ks5_alevel.csv``) is built from the DfE lists by
``scripts/build_catalogues.py``; valid results are the DfE codes ``*`` (A*), A-E and U. ``A*``, as
the boards print it, is accepted and stored as ``*``; so is a grade with the partial-absence mark (``A#``).
"""

from __future__ import annotations

from frs.catalogue import no_result_advice, parse_points, read_rows, split_list
from frs.keystage import Choices, Column, HeaderRow, KeyStage, KeyStagePlugin

PLUGIN = "ks5_alevel"

KEYSTAGE = KeyStage(
    id=PLUGIN, code="KS5A", key_stage=5, nc_year=13, title="KS5 A-level", layout_version=2,
    header_rows=(HeaderRow("discount_code", "Discount Code"), HeaderRow("valid_results", "Valid Results")),
    description="A-level results for Year 13. One column per subject; blank means no entry.",
)

# what schools type instead of the DfE code
HINTS = {"A+": "*", "A STAR": "*", "ASTAR": "*", "FAIL": "U", "UNGRADED": "U", "UNCLASSIFIED": "U"}
# boards print A* where DfE data writes "*": accepted and stored as "*"
ALIASES = {"A*": "*"}
#: what boards print after a grade without changing it: the partial-absence mark (A#)
GRADE_MARKS = "#"


def subject_columns() -> list[Column]:
    columns = []
    for row in read_rows(__name__, "data/ks5_alevel.csv"):
        results = Choices(split_list(row["results"]), hints=HINTS, aliases=ALIASES, advice=no_result_advice(),
                          marks=GRADE_MARKS)
        columns.append(Column(
            id=f"{PLUGIN}.{row['discount_code']}", header=row["subject"], values=results,
            header_values={"discount_code": row["discount_code"], "valid_results": results.describe()},
            help=f"A-level {row['subject']} (discount code {row['discount_code']}).",
            width=max(8.0, min(22.0, len(row["subject"]) * 0.9)),
            meta={"discount_code": row["discount_code"], "ks4_discount_code": row["ks4_discount_code"],
                  "points": parse_points(row["points"])},
        ))
    return columns


plugin = KeyStagePlugin(KEYSTAGE, columns=subject_columns)
