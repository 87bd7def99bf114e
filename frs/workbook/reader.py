"""Reading cell values with python-calamine, only ever after the gate has passed the bytes."""

from __future__ import annotations

import io
from typing import Any

from python_calamine import CalamineWorkbook

from .gate import UploadRejected


class Workbook:
    """Sheet names and lazily read sheet values of one uploaded workbook."""

    def __init__(self, data: bytes):
        try:
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(data))
            self.sheet_names: list[str] = list(self._book.sheet_names)
            self._rows: dict[str, list[list[Any]]] = {}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # calamine raises several types, and a Rust panic is a BaseException
            raise UploadRejected("upload.unreadable",
                                 "The workbook could not be read (it may be damaged). Open it in Excel, "
                                 f"save it again as .xlsx and upload that copy. ({type(exc).__name__})") from None

    def rows(self, sheet: str) -> list[list[Any]]:
        """All rows of ``sheet``, indexed from A1 (blank cells are ''). Read once, then cached."""
        if sheet in self._rows:
            return self._rows[sheet]
        try:
            rows = self._rows[sheet] = self._book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            return rows
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # as above: a panic inside calamine must not take the worker down
            raise UploadRejected("upload.unreadable",
                                 f"Sheet {sheet!r} could not be read (it may be damaged). Open the file in "
                                 f"Excel, save it again as .xlsx and upload that copy. ({type(exc).__name__})") from None
