#!/usr/bin/env python3
"""Build the key-stage plugins' catalogue files from the DfE-derived reference lists.

    .venv/bin/python scripts/build_catalogues.py \\
        --gcse ../shared/reference/data/ks4_gcse.csv \\
        --nongcse ../shared/reference/data/ks4_nongcse.csv \\
        --alevel ../shared/reference/data/ks5_alevel.csv \\
        --discount-codes ../shared/reference/data/ks4_discount_codes.csv \\
        --out-dir plugins/keystages

writes ``frs_ks4_gcse/data/ks4_gcse.csv``, ``frs_ks4_nongcse/data/ks4_nongcse.csv`` and
``frs_ks5_alevel/data/ks5_alevel.csv`` under ``--out-dir``. The output depends only on the
inputs (no dates, no set ordering), so re-running on the same lists gives the same bytes and
a new year's list shows up as a reviewable diff. docs/catalogues.md explains every choice.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "plugins" / "keystages"

GCSE_FIELDS = ["subject", "ks4_discount_code", "subject_code", "tiered", "double_award",
               "results", "points", "qualifications"]
NONGCSE_FIELDS = ["header", "qn", "qn_formatted", "ks4_discount_code", "subject", "qualification",
                  "syllabus_ref", "awarding_body", "kind", "size", "results", "labels", "points",
                  "points_confidence"]
ALEVEL_FIELDS = ["subject", "discount_code", "ks4_discount_code", "results", "points"]

# every non-GCSE qualification also takes U: a fail is a result worth recording (0 points)
FAIL_CODE, FAIL_LABEL, FAIL_POINTS = "U", "Unclassified (fail)", "0"

# Technical awards are what most pupils take, so they come first in the template; a kind
# not named here (a new one next year) follows in alphabetical order.
KIND_ORDER = [
    "BTEC Level 1/Level 2 Tech Award", "BTEC Level 1/Level 2 First Award",
    "OCR Cambridge National Certificate (L1/2)", "NCFE Technical Award / V Cert",
    "WJEC Level 1/2 Vocational Award", "Technical Award", "FSMQ (Level 3)",
    "AS level (taken early at KS4)", "Graded music/drama exam (grade 6-8)",
]

# shortening a DfE qualification title into a column header (applied in order)
TITLE_SHORTENINGS = [
    (r"^Pearson Edexcel\b", "Edexcel"), (r"^Pearson BTEC\b", "BTEC"), (r"^WJEC Eduqas\b", "Eduqas"),
    (r"\bLevel 1/Level 2\b", "L1/2"), (r"\bLevel (\d(?:/\d)?)\b", r"L\1"),
    (r"\b(?:L3 )?Advanced Subsidiary(?: GCE)?(?: in)?\b", "AS"),
    (r"\b(?:Advanced )?Free[- ]Standing Mathematics Qualification:?", "FSMQ"),
    (r"\bCertificate in Graded Examination in\b", "Graded Exam"),
    (r"\bCambridge National Certificate in\b", "Cambridge National"),
    (r"\b(Tech|Technical|Vocational|First) Award [iI]n\b", r"\1 Award"),
    (r"\b(Certificate|Award|Diploma) [iI]n\b", r"\1"),
    (r"\s+", " "),
]


class CatalogueError(Exception):
    """The input lists cannot be turned into a catalogue; the message says which rows and why."""


# --------------------------------------------------------------------------- small helpers


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, fields: list[str], rows: Iterable[dict[str, str]]) -> None:
    """csv's default dialect (CRLF line ends, minimal quoting): stable on every platform."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def split_list(text: str) -> list[str]:
    return [part for part in text.split("|") if part]


def parse_pairs(text: str) -> dict[str, str]:
    """``"E=3.5;D=5.13"`` -> ``{"E": "3.5", "D": "5.13"}``; values stay text so output is exact."""
    return dict(pair.partition("=")[::2] for pair in text.split(";") if pair)


def join_pairs(codes: list[str], points: dict[str, str]) -> str:
    return ";".join(f"{code}={points[code]}" for code in codes if code in points)


def most_common(values: Iterable[str]) -> str:
    """The most frequent value; ties go to the alphabetically first, so the result is stable."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def check_codes(kind: str, codes: Iterable[str], known: set[str] | None) -> None:
    unknown = sorted({c for c in codes if c} - known) if known is not None else []
    if unknown:
        raise CatalogueError(f"{kind}: KS4 discount codes not in the DfE discount-code list: {', '.join(unknown)}")


def unique_headers(rows: list[dict[str, str]], field: str, disambiguator) -> None:
    """Headers must be unique in a template: a header shared by several rows gets a suffix."""
    counts = Counter(r[field] for r in rows)
    for row in rows:
        if counts[row[field]] > 1:
            row[field] = f"{row[field]} ({disambiguator(row)})"
    repeated = [h for h, n in Counter(r[field] for r in rows).items() if n > 1]
    if repeated:
        raise CatalogueError(f"column headers still repeated after adding the suffix: {', '.join(repeated)}")


# --------------------------------------------------------------------------- GCSE


def gcse_subject_name(subject: str) -> str:
    """DfE subject texts for one endorsement differ by board: "Art and Design (Art and Design
    (Fine Art))", "Art and Design (Art and Design: Fine Art)" and "Art and Design (Fine Art)"
    all become "Art and Design: Fine Art"."""
    match = re.fullmatch(r"(.+?) \((.+)\)", subject)
    if not match:
        return subject
    outer, inner = match.groups()
    for prefix in (f"{outer} (", f"{outer}: "):
        if inner.startswith(prefix):
            inner = inner[len(prefix):].removesuffix(")") if prefix.endswith("(") else inner[len(prefix):]
    return f"{outer}: {inner}"


def tiered_flag(text: str) -> str:
    return "yes" if text.startswith("yes") else "no" if text == "no" else "unverified"


def gcse_rows(rows: list[dict[str, str]], known_codes: set[str] | None = None) -> list[dict[str, str]]:
    """One column per (KS4 discount code, 4-digit code): the boards' versions of a subject share
    it. Art and Design endorsements have their own 4-digit codes and so their own columns;
    Photography has its own KS4 code (KJ1)."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["ks4_discount_code_2020"], row["original_4digit_discount_code"]), []).append(row)
    check_codes("GCSE", (k for k, _ in groups), known_codes)
    out = []
    for (ks4_code, subject_code), members in groups.items():
        for field in ("dfe_grade_codes", "points", "double_award"):
            if len({m[field] for m in members}) > 1:
                raise CatalogueError(f"GCSE {ks4_code}/{subject_code}: the boards' {field} differ; "
                                     "they cannot share one column")
        first = members[0]
        results = split_list(first["dfe_grade_codes"])
        points = parse_pairs(first["points"])
        missing = [c for c in results if c not in points]
        if missing:
            raise CatalogueError(f"GCSE {ks4_code}/{subject_code}: no points for {', '.join(missing)}")
        quals = sorted({(m["awarding_body"], m["qn_formatted"], m["syllabus_ref"]) for m in members})
        out.append({
            "subject": most_common(gcse_subject_name(m["subject"]) for m in members),
            "ks4_discount_code": ks4_code, "subject_code": subject_code,
            "tiered": most_common(tiered_flag(m["tiered"]) for m in members),
            "double_award": "yes" if first["double_award"] == "True" else "no",
            "results": "|".join(results), "points": join_pairs(results, points),
            "qualifications": "|".join(f"{qn} {board}" + (f" ({ref})" if ref else "") for board, qn, ref in quals),
        })
    unique_headers(out, "subject", lambda r: r["subject_code"])
    return sorted(out, key=lambda r: (r["subject"].casefold(), r["subject_code"]))


# --------------------------------------------------------------------------- non-GCSE


def board_of(row: dict[str, str]) -> str:
    board = row["awarding_body"]
    if board == row["qualification_title"]:  # one DfE row has the title in the board column
        board = re.split(r" (?:Level|Advanced|Free)", board)[0]
    return board


def endorsement(syllabus_title: str) -> str:
    """"Art & Design: Fine Art" / "AS Art and Design (Fine Art)" -> "Fine Art"."""
    text = syllabus_title.removeprefix("AS ")
    match = re.fullmatch(r".+? \((.+)\)", text) or re.fullmatch(r".+?: (.+)", text)
    return match.group(1) if match else text


def short_title(row: dict[str, str]) -> str:
    title = row["qualification_title"]
    if row["syllabus_ref"]:  # the endorsement replaces OCR's "(Art, Craft and Design / Fine Art / ...)"
        title = re.sub(r" \([^)]*/[^)]*\)$", "", title) + " - " + endorsement(row["syllabus_title"])
    if not title.startswith(board_of(row)):
        title = f"{board_of(row)} {title}"
    for pattern, replacement in TITLE_SHORTENINGS:
        title = re.sub(pattern, replacement, title)
    return title.strip()


def level_label(text: str) -> str:
    """"L2 Distinction*" -> "Level 2 Distinction*"."""
    return re.sub(r"^L(\d) ", r"Level \1 ", text)


WORD_RANK = ["Distinction*", "Distinction", "Merit", "Pass", "Advanced Credit", "Credit"]


def grade_rank(label: str) -> int:
    return next((i for i, word in enumerate(WORD_RANK) if word in label), len(WORD_RANK))


def title_prefix(row: dict[str, str]) -> str:
    """"RSL Level 1 Certificate in Performance ..." -> "RSL Level 1 Certificate": same awarding
    body, level and qualification type."""
    return re.split(r" [iI]n ", row["qualification_title"], maxsplit=1)[0]


# Qualifications first counted in 2020 are in no DfE points file. When their awarding body
# grades them on a scale of an earlier qualification of the same body, that scale is named here:
# QN -> (DfE qualification type, QN of the earlier qualification) in the DfE points file.
# NCFE CACHE Level 2 Technical Awards are graded A*, A, B, C, D like the NCFE CACHE Level 2 Award
# in Child Development and Care (600/6644/1), whose DfE 2019 points are A* 7 ... D 4.
SCALE_FROM = {
    "60332931": ("VRQ Level 2", "60066441"),  # NCFE CACHE L2 Technical Award in Child Development and Care
    "60332943": ("VRQ Level 2", "60066441"),  # NCFE CACHE L2 Technical Award in Health and Social Care
}
OFFICIAL = "official (2019 points file)"


def is_official(row: dict[str, str]) -> bool:
    """The row's grades and points were read from the DfE points file, not inferred."""
    return row["points_confidence"].startswith("official") and bool(row["dfe_grade_codes"])


def dfe_scales(points_rows: list[dict[str, str]] | None) -> dict[tuple[str, str], dict[str, str]]:
    """(DfE qualification type, example QN) -> a scale like a reference row's: grade codes, texts,
    points. The fail grade U (listed once for every type) is left out; the builder adds it."""
    scales: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in points_rows or []:
        if not row["example_qn"]:
            continue
        scale = scales.setdefault((row["dfe_qualification_type"], row["example_qn"]),
                                  {"codes": [], "texts": [], "points": []})
        scale["codes"].append(row["dfe_grade_code"])
        scale["texts"].append(row["grade_text"])
        scale["points"].append(f"{row['dfe_grade_code']}={row['points']}")
    return {key: {"dfe_grade_codes": "|".join(s["codes"]), "grade_texts": "|".join(s["texts"]),
                  "points": ";".join(s["points"])} for key, s in scales.items()}


def scale_key(row: dict[str, str]) -> frozenset[tuple[str, float]]:
    """A scale's grade codes and points, in any order."""
    return frozenset((code, float(value)) for code, value in parse_pairs(row["points"]).items())


def infer_scales(rows: list[dict[str, str]], points_rows: list[dict[str, str]] | None = None
                 ) -> dict[str, tuple[dict[str, str], str]]:
    """The grades and points of every qualification whose scale was not read from the DfE
    points file, and where they come from. Returns {qn: (scale row, confidence)}.

    In order: a scale named in SCALE_FROM (the awarding body's earlier qualification); the one
    scale of the qualifications with the same awarding body, level and type (same title prefix)
    that are in the points file; the reference list's own inferred scale, kept only when the DfE
    points file has a qualification type with exactly that scale."""
    dfe = dfe_scales(points_rows)
    official = [r for r in rows if is_official(r)]
    inferred = {}
    for row in rows:
        if is_official(row):
            continue
        if row["qn"] in SCALE_FROM:
            key = SCALE_FROM[row["qn"]]
            if key not in dfe:
                raise CatalogueError(f"non-GCSE {row['qn']}: its scale comes from {key[1]} ({key[0]}), which is not "
                                     "in the DfE points list; pass --points with the DfE points list.")
            inferred[row["qn"]] = (dfe[key], f"inferred (grades and points of {key[1]}, {key[0]}, same awarding "
                                             "body; DfE 2019 points file)")
            continue
        siblings = [r for r in official if title_prefix(r) == title_prefix(row)]
        scales = {(r["dfe_grade_codes"], r["grade_texts"], r["points"]) for r in siblings}
        if len(scales) == 1:
            source = min(siblings, key=lambda r: r["qn"])
            inferred[row["qn"]] = (source, f"inferred (same scale as {source['qn']}, same awarding body and level)")
            continue
        if row["dfe_grade_codes"] and points_rows is not None:
            types = sorted({t for (t, _), s in dfe.items() if scale_key(s) == scale_key(row)})
            if types:
                inferred[row["qn"]] = (row, f"inferred (scale of DfE type {types[0]!r}; not in the DfE points file)")
                continue
        if row["dfe_grade_codes"] and points_rows is None:
            inferred[row["qn"]] = (row, "inferred (as given in the reference list)")
            continue
        raise CatalogueError(f"non-GCSE {row['qn']} ({row['qualification_title']}) has no DfE grade codes and "
                             f"no single scale among qualifications titled {title_prefix(row)!r} to infer them "
                             "from. Add its grades to the input list.")
    return inferred


def nongcse_rows(rows: list[dict[str, str]], known_codes: set[str] | None = None,
                 points_rows: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    check_codes("non-GCSE", (r["ks4_discount_code_2020"] for r in rows), known_codes)
    inferred = infer_scales(rows, points_rows)
    out = []
    for row in rows:
        scale, confidence = inferred.get(row["qn"], (row, row["points_confidence"]))
        codes, texts = split_list(scale["dfe_grade_codes"]), split_list(scale["grade_texts"])
        points = parse_pairs(scale["points"])
        if len(codes) != len(texts):
            raise CatalogueError(f"non-GCSE {row['qn']}: {len(codes)} grade codes but {len(texts)} grade texts")
        labels = dict(zip(codes, map(level_label, texts)))
        # best grade first, as in the GCSE and A-level columns; equal points (graded music)
        # fall back to Distinction > Merit > Pass
        codes.sort(key=lambda c: (-float(points.get(c, 0)), grade_rank(labels[c])))
        codes.append(FAIL_CODE)
        labels[FAIL_CODE] = FAIL_LABEL
        points.setdefault(FAIL_CODE, FAIL_POINTS)
        out.append({
            "header": short_title(row), "qn": row["qn"], "qn_formatted": row["qn_formatted"],
            "ks4_discount_code": row["ks4_discount_code_2020"], "subject": row["discount_code_description"],
            "qualification": row["qualification_title"], "syllabus_ref": row["syllabus_ref"],
            "awarding_body": board_of(row), "kind": row["qualification_kind"],
            "size": row["gcse_size_equivalence"], "results": "|".join(codes),
            "labels": "|".join(labels[c] for c in codes), "points": join_pairs(codes, points),
            "points_confidence": confidence,
        })
    unique_headers(out, "header", lambda r: r["syllabus_ref"] or r["qn"])
    kinds = sorted({r["kind"] for r in out}, key=lambda k: (k not in KIND_ORDER, KIND_ORDER.index(k)
                                                             if k in KIND_ORDER else 0, k))
    return sorted(out, key=lambda r: (kinds.index(r["kind"]), r["header"].casefold(), r["qn"], r["syllabus_ref"]))


# --------------------------------------------------------------------------- A level


# A-level subjects the reference list lacks, added when it does not have them. History of Art:
# the DfE KS4 lists of 2014-2019 give its AS levels (AQA 500/2227/1, CCEA 500/2645/8) KS4 code
# JA33 ("Art History & Criticism") and original discount code 3830; graded like every A level.
ALEVEL_SUPPLEMENT = [
    {"subject": "History of Art", "discount_code_4digit": "3830", "ks4_alpha_discount_code": "JA33",
     "grades": "A*|A|B|C|D|E|U", "points_16_18_a_level": "A*=60;A=50;B=40;C=30;D=20;E=10;U=0"},
]


def alevel_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """DfE data writes A* as "*"; the KS5 plugin stores the DfE code. Subjects in
    ALEVEL_SUPPLEMENT that the list lacks are added after the subject that sorts just before them."""
    def dfe(code: str) -> str:
        return "*" if code == "A*" else code

    rows = list(rows)
    for extra in ALEVEL_SUPPLEMENT:
        names = [r["subject"].casefold() for r in rows]
        if extra["subject"].casefold() in names:
            continue
        # after the subject that sorts just before it, so the other columns keep their places
        before = [i for i, name in enumerate(names) if name < extra["subject"].casefold()]
        at = max(before, key=lambda i: names[i]) + 1 if before else 0
        rows.insert(at, extra)
    out = []
    for row in rows:
        results = [dfe(g) for g in split_list(row["grades"])]
        points = {dfe(g): p for g, p in parse_pairs(row["points_16_18_a_level"]).items()}
        out.append({"subject": row["subject"], "discount_code": row["discount_code_4digit"],
                    "ks4_discount_code": row["ks4_alpha_discount_code"], "results": "|".join(results),
                    "points": join_pairs(results, points)})
    codes = [r["discount_code"] for r in out]
    if len(set(codes)) != len(codes):
        raise CatalogueError("A level: a 4-digit discount code appears twice: " +
                             ", ".join(sorted(c for c, n in Counter(codes).items() if n > 1)))
    return out


# --------------------------------------------------------------------------- command line


def build(gcse: Path, nongcse: Path, alevel: Path, out_dir: Path, discount_codes: Path | None = None,
          points: Path | None = None) -> list[Path]:
    """Write the three catalogue files under ``out_dir``; returns their paths. ``points`` (the DfE
    points list) defaults to ``ks4_grade_points.csv`` beside ``nongcse`` when that file exists."""
    known = {r["ks4_discount_code"] for r in read_csv(discount_codes)} if discount_codes else None
    if points is None and (nongcse.parent / "ks4_grade_points.csv").is_file():
        points = nongcse.parent / "ks4_grade_points.csv"
    points_rows = read_csv(points) if points else None
    outputs = [
        (out_dir / "frs_ks4_gcse" / "data" / "ks4_gcse.csv", GCSE_FIELDS, gcse_rows(read_csv(gcse), known)),
        (out_dir / "frs_ks4_nongcse" / "data" / "ks4_nongcse.csv", NONGCSE_FIELDS,
         nongcse_rows(read_csv(nongcse), known, points_rows)),
        (out_dir / "frs_ks5_alevel" / "data" / "ks5_alevel.csv", ALEVEL_FIELDS, alevel_rows(read_csv(alevel))),
    ]
    for path, fields, rows in outputs:
        write_csv(path, fields, rows)
    return [path for path, _, _ in outputs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the KS4 GCSE, KS4 non-GCSE and KS5 A-level catalogue files of the built-in "
                    "key-stage plugins from the DfE-derived reference lists (see docs/catalogues.md).")
    parser.add_argument("--gcse", type=Path, required=True, help="GCSE (9-1) list, e.g. reference/data/ks4_gcse.csv")
    parser.add_argument("--nongcse", type=Path, required=True,
                        help="non-GCSE KS4 list, e.g. reference/data/ks4_nongcse.csv")
    parser.add_argument("--alevel", type=Path, required=True, help="A-level list, e.g. reference/data/ks5_alevel.csv")
    parser.add_argument("--discount-codes", type=Path,
                        help="DfE KS4 discount-code list (reference/data/ks4_discount_codes.csv); when given, "
                             "every KS4 code in the lists must be in it")
    parser.add_argument("--points", type=Path,
                        help="DfE KS4 points list (reference/data/ks4_grade_points.csv; default: that file beside "
                             "--nongcse): scales of qualifications not in the points file are inferred from it")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT,
                        help=f"folder holding the plugin packages (default: {DEFAULT_OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    try:
        paths = build(args.gcse, args.nongcse, args.alevel, args.out_dir, args.discount_codes, args.points)
    except (CatalogueError, OSError, KeyError) as exc:
        detail = f"missing column {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"build_catalogues: {detail}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
