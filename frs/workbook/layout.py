"""Layout shared by every workbook frs writes (template, error list, annotated copy): row heights
for wrapped text and the print setup. Kept free of heavy imports: the validator's writers use it.
"""

from __future__ import annotations

import math

LINE_HEIGHT = 15           # points per line of wrapped text at the default font
MAX_LINES = 20             # a row never grows beyond this; the cell still holds all the text


def lines_for(text: str, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide (the same estimate
    Excel's autofit makes for the default font, a little generous so nothing is cut off).
    LibreOffice does not grow a row for wrapped text written by xlsxwriter, so the writers set
    each row's height from this."""
    if not text:
        return 1
    return sum(max(1, math.ceil(len(part) * 1.1 / max(width - 1, 1.0))) for part in text.split("\n"))


def print_setup(sheet, repeat_rows: tuple[int, int] | None) -> None:
    """Landscape, every column on the page's width, the header rows on every page."""
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    if repeat_rows is not None:
        sheet.repeat_rows(*repeat_rows)
