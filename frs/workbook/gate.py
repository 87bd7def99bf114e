"""The upload gate: checks raw bytes before any spreadsheet parser sees them (BEING WRITTEN).

Contract: ``check_upload(data, limits, max_columns=...)`` returns None when the file may be
parsed, or raises :class:`UploadRejected` with an ``upload.*`` code and a message for a school
data manager. It never parses the workbook with openpyxl or calamine.
"""

from __future__ import annotations

from ..config import Limits
from ..issues import Issue


class UploadRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_issue(self) -> Issue:
        return Issue(code=self.code, message=self.message, plugin="frs")


def check_upload(data: bytes, limits: Limits, *, max_columns: int) -> None:
    if not data.startswith(b"PK\x03\x04"):
        raise UploadRejected("upload.not-xlsx", "This is not an Excel .xlsx workbook.")
