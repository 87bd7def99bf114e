"""The built-in key stages pass the conformance kit, exactly as a third-party plugin would.

Each invalid fixture plants mistakes in the kit's valid, filled template and lists every issue
it must give as (code, Excel row, column letter). Subject columns come from the DfE catalogues,
so their letters are looked up through the kit context rather than written down.
"""

from frs.testing import SuiteConfig, get_keystage_test_class

pytest_plugins = ["frs.testing.pytest_plugin"]


def first_subject(ctx, n: int = 0) -> str:
    return ctx.result_columns[n].id


def subject_named(ctx, header: str) -> str:
    return next(c.id for c in ctx.result_columns if c.header == header)


# --------------------------------------------------------------------------- KS5 A-level


def ks5_mistakes(sheet, ctx):
    sheet[ctx.cell(first_subject(ctx), 0)] = "A+"   # the DfE code is "*" (A*, as boards print it, is accepted)
    sheet[ctx.cell("gender", 1)] = "X"
    sheet[ctx.cell("upn", 2)] = "A123"


def ks5_expected(ctx):
    return {
        ("ks5_alevel.invalid-result", ctx.row(0), ctx.letter(first_subject(ctx))),
        ("pupil.gender-invalid", ctx.row(1), "K"),
        ("pupil.upn-length", ctx.row(2), "E"),
    }


TestKS5ALevelConformance = get_keystage_test_class(
    "ks5_alevel", config=SuiteConfig(year=2021), invalid_fixture=ks5_mistakes, expected_issues=ks5_expected)


# --------------------------------------------------------------------------- KS4 GCSE


def gcse_mistakes(sheet, ctx):
    combined = subject_named(ctx, "Combined Science")
    sheet[ctx.cell(first_subject(ctx), 0)] = "B"      # a legacy letter grade
    sheet[ctx.cell(combined, 1)] = "6-5"              # accepted: the form schools type for 65
    sheet[ctx.cell(combined, 2)] = "56"               # higher grade first: 65
    sheet[ctx.cell("dob_year", 3)] = 1990


def gcse_expected(ctx):
    return {
        ("ks4_gcse.invalid-result", ctx.row(0), ctx.letter(first_subject(ctx))),
        ("ks4_gcse.invalid-result", ctx.row(2), ctx.letter(subject_named(ctx, "Combined Science"))),
        ("pupil.dob-out-of-cohort", ctx.row(3), "J"),
    }


TestKS4GCSEConformance = get_keystage_test_class(
    "ks4_gcse", config=SuiteConfig(year=2020), invalid_fixture=gcse_mistakes, expected_issues=gcse_expected)


# --------------------------------------------------------------------------- KS4 non-GCSE


def nongcse_mistakes(sheet, ctx):
    sheet[ctx.cell(first_subject(ctx), 0)] = "L2D*"          # the code is *2
    sheet[ctx.cell(first_subject(ctx, 1), 1)] = "Distinction*"
    sheet[ctx.cell("surname", 2)] = None


def nongcse_expected(ctx):
    return {
        ("ks4_nongcse.invalid-result", ctx.row(0), ctx.letter(first_subject(ctx))),
        ("ks4_nongcse.invalid-result", ctx.row(1), ctx.letter(first_subject(ctx, 1))),
        ("pupil.name-missing", ctx.row(2), "G"),
    }


TestKS4NonGCSEConformance = get_keystage_test_class(
    "ks4_nongcse", config=SuiteConfig(year=2020), invalid_fixture=nongcse_mistakes,
    expected_issues=nongcse_expected)
