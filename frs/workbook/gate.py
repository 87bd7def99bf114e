"""The upload gate: checks raw bytes before any spreadsheet parser sees them.

``check_upload(data, limits, max_columns=...)`` returns None when the file may be parsed, or
raises :class:`UploadRejected` with an ``upload.*`` code and a message for a school data manager.

It never parses the workbook with openpyxl or calamine: those libraries are what it protects.
calamine aborts the whole process (no exception) on one cell at XFD1048576, and neither library
caps decompressed size (security-notes.md §1 and §3.3). So the gate reads the zip's central
directory with :mod:`zipfile`, inflates every member with an output cap, and scans the XML as
bytes with one-byte finds and regular expressions that start with a literal (C-speed, never a
Python step per cell; never fooled by a ``<dimension>`` element). Inflating is about a third of
the time; each pass over a 1.6 MB sheet costs 0.5-4 ms, so the checks are few passes, not cheap ones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
import re
import struct
import unicodedata
import zipfile
import zlib
from typing import NoReturn

from ..config import Limits
from ..issues import CONTROL_CODES, Issue, column_index, column_letter
from ..text import SPACE_LIKE

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
MIB = 1024 * 1024
RATIO_GRACE_BYTES = 1 * MIB  # small parts legitimately compress very well; ratio-check only big ones
MAX_SHARED_STRINGS_BYTES = 16 * MIB  # a real results file has a few hundred KiB of strings
MAX_SHARED_STRINGS = 200_000

SAVE_AS = ("Open it in Excel and use File > Save As > Excel Workbook (.xlsx) (in LibreOffice: File > Save As, "
           "file type Excel 2007-365 (.xlsx), then Use Excel 2007-365!), then upload that copy.")
MAIN_CONTENT_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
TEXT_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin-1", b"latin1",
                  b"windows-1252", b"cp1252"}


class UploadRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_issue(self) -> Issue:
        return Issue(code=self.code, message=self.message, plugin="frs")


def reject(code: str, message: str) -> NoReturn:
    raise UploadRejected(code, message)


@dataclass
class Passed:
    """What the gate learnt on the way through a file it let pass.

    ``odd_text``: some text in the workbook may hold control characters or be longer than
    ``limits.max_cell_chars``, so the validator must look at each cell; False means it need not.
    """

    odd_text: bool = False
    #: each worksheet part's XML as inflated here, by part name: the reader scans the one it
    #: reads (:func:`sheet_facts`) without inflating it again
    sheets: dict[str, bytes] = field(default_factory=dict)
    #: the workbook's own small parts the reader needs (its sheet list and their relationships)
    book_parts: dict[str, bytes] = field(default_factory=dict)
    #: no text in the shared strings changes when NFC-normalised with ordinary spaces (see
    #: :func:`frs.text.clean`; the reader checks its sheet's own text with :func:`plain_text`)
    plain_strings: bool = True


@dataclass
class SheetFacts:
    """What a few scans of a worksheet's XML tell the reader.

    ``values``: cells written with content (a value, a formula or an inline string); the reader
    compares it with the non-blank cells python-calamine returned, so a cell written twice
    (calamine keeps the last), an error value or a formula with no result cannot go unnoticed.
    ``look``: something else only a cell-by-cell read can settle (a shared-string index that is
    not a plain number, single-quoted attributes). ``numbers``: a boolean, or a number calamine
    may read as NaN, infinity or beyond 2^63.
    """

    values: int = 0
    look: bool = False
    numbers: bool = False


def check_upload(data: bytes, limits: Limits, *, max_columns: int) -> Passed:
    """Reject ``data`` unless it is a plain .xlsx whose cells all lie in the template's window.

    ``max_columns`` is the widest sheet the caller accepts (a 1-based count of columns); rows
    are limited by ``limits.max_rows``.
    """
    passed = Passed()
    check_size(data, limits)
    check_signature(data)
    # Count central-directory records before zipfile builds an object for each of them.
    if data.count(b"PK\x01\x02") > limits.max_members:
        too_many_parts(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            check_directory(infos, limits)
            check_package_kind(zf, infos)
            check_declared_sizes(infos, limits)
            check_overlaps(data, infos, zf.start_dir)
            check_risky_parts(infos)
            check_content_types(zf, limits)
            check_contents(zf, infos, limits, max_columns, passed)
    except UploadRejected:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, RuntimeError, IndexError, KeyError):
        corrupt()
    return passed


# ---------------------------------------------------------------------- raw bytes

def check_size(data: bytes, limits: Limits) -> None:
    if not data:
        reject("upload.empty", "The file is empty (0 bytes). Save your workbook in Excel, check that it "
                               "opens, and upload it again.")
    if len(data) > limits.max_upload_bytes:
        reject("upload.too-large", f"The file is {megabytes(len(data))}; the most we accept is "
                                   f"{megabytes(limits.max_upload_bytes)}. A results workbook is normally "
                                   "well under 1 MB: remove pictures and extra sheets, or copy the results into "
                                   "a fresh template, and upload again.")


def megabytes(n: int) -> str:
    return f"{n / MIB:.1f} MB".replace(".0 MB", " MB")


def check_signature(data: bytes) -> None:
    if data.startswith(ZIP_MAGIC):
        return
    if data.startswith(OLE2_MAGIC):
        check_ole2(data)
    code, what = describe_non_zip(data)
    reject(code, what)


def check_ole2(data: bytes) -> NoReturn:
    """An OLE2 compound file: a password-protected workbook, an old .xls or another Office file."""
    if "EncryptedPackage".encode("utf-16-le") in data:
        reject("upload.encrypted", "The workbook is protected with a password, so it cannot be checked. In "
                                   "Excel use File > Info > Protect Workbook > Encrypt with Password, delete the "
                                   "password, save, and upload it again.")
    if "WordDocument".encode("utf-16-le") in data:
        reject("upload.not-xlsx", "This is an old Word document (.doc), not an Excel workbook. Upload the "
                                  "results template saved as an Excel Workbook (.xlsx).")
    reject("upload.old-xls", "This is an old-style Excel file (.xls). " + SAVE_AS)


def describe_non_zip(data: bytes) -> tuple[str, str]:
    """What a non-zip upload looks like, as (code, message)."""
    head = data[:4096]
    kinds = [(b"%PDF", "a PDF document"), (b"\x89PNG", "a picture (PNG)"), (b"\xff\xd8\xff", "a picture (JPEG)"),
             (b"GIF8", "a picture (GIF)"), (b"\x1f\x8b", "a compressed (gzip) file"), (b"Rar!", "a RAR archive"),
             (b"7z\xbc\xaf", "a 7-Zip archive"), (b"{\\rtf", "a Rich Text document"),
             (b"PK", "a damaged or unusual zip archive")]
    for magic, what in kinds:
        if head.startswith(magic):
            return "upload.not-xlsx", f"This file is {what}, not an Excel workbook. Upload the results template " \
                                      "saved as an Excel Workbook (.xlsx)."
    text = decode_text(head)
    if text is None:
        return "upload.not-xlsx", "This file is not an Excel workbook. " + SAVE_AS
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html", "<table", "<head", "<body", "<meta")):
        return "upload.not-xlsx", ("This file is a web page (HTML), which some systems save with an Excel "
                                   "name; it is not an Excel workbook. " + SAVE_AS)
    if start.startswith("<"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in start:
            what = "an Excel 2003 XML Spreadsheet"
        else:
            what = "an XML file"
        return "upload.not-xlsx", f"This file is {what}, not an Excel workbook (.xlsx). " + SAVE_AS
    separator = csv_separator(text)
    if separator:
        return "upload.csv", (f"This file is {separator} text (CSV), not an Excel workbook. Copy the results into "
                              "the Excel template we provide, save it as an Excel Workbook (.xlsx) and upload that.")
    return "upload.not-xlsx", "This file is plain text, not an Excel workbook. Upload the results template " \
                              "saved as an Excel Workbook (.xlsx)."


def decode_text(head: bytes) -> str | None:
    """``head`` as text if it looks like text, else None."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, errors="ignore")
    if b"\x00" in head:
        return None
    text = head.decode("utf-8", errors="ignore") if is_utf8(head) else head.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    return text if controls <= len(text) // 100 else None


def is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut off at the end of the sample is fine
        return exc.start >= len(head) - 3
    return True


def csv_separator(text: str) -> str | None:
    """'comma-separated' etc. when the first lines share a separator, else None."""
    lines = [line for line in text.splitlines()[:10] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line short
    for sep, name in (("\t", "tab-separated"), (",", "comma-separated"), (";", "semicolon-separated")):
        if lines and all(sep in line for line in lines):
            return name
    return None


# ---------------------------------------------------------------------- the zip directory

def corrupt() -> NoReturn:
    reject("upload.corrupt", "The file is damaged or incomplete (perhaps a copy or the upload was cut short), "
                             "so it cannot be read. Open it in Excel: if it opens, use File > Save As > Excel "
                             "Workbook (.xlsx) and upload that copy; if not, use your last good copy.")


def too_many_parts(limits: Limits) -> NoReturn:
    reject("upload.too-many-parts", f"The workbook is made of more than {limits.max_members} internal parts, far "
                                    "more than a results template needs. Copy the results into a fresh template "
                                    "and upload that.")


def check_directory(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        too_many_parts(limits)
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or "\x00" in name or re.match(r"[A-Za-z]:", name):
            reject("upload.unsafe-part-name", f"The workbook contains a part with an unsafe name ({name[:80]!r}); "
                                              "Excel never writes one. " + SAVE_AS)
        # Office part names are case-insensitive, and readers disagree about which duplicate wins.
        if name.lower() in seen:
            reject("upload.duplicate-part", f"The workbook contains the part {name[:80]!r} twice; Excel never "
                                            "writes that. " + SAVE_AS)
        seen.add(name.lower())
        if info.flag_bits & 0x1:
            reject("upload.encrypted", "Parts of this file are protected with a password, so it cannot be "
                                       "checked. Remove the password, save as .xlsx and upload it again.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            reject("upload.corrupt", "The workbook is compressed in a way Excel does not use. " + SAVE_AS)


def check_package_kind(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """A zip that is not an xlsx: say what it is (.ods, .docx, .xlsb...)."""
    by_name = {info.filename.lower(): info for info in infos}
    names = set(by_name)
    what = None
    if "mimetype" in names:
        mimetype = read_capped(zf, by_name["mimetype"], 256)
        what = ("an OpenDocument spreadsheet (.ods, as saved by LibreOffice)"
                if b"spreadsheet" in mimetype else "an OpenDocument file")
    elif any(n.startswith("word/") for n in names):
        what = "a Word document (.docx)"
    elif any(n.startswith("ppt/") for n in names):
        what = "a PowerPoint presentation (.pptx)"
    elif "xl/workbook.bin" in names:
        what = "an Excel Binary Workbook (.xlsb)"
    elif "[content_types].xml" not in names or "xl/workbook.xml" not in names:
        what = "a zip archive (compressed folder)"
    if what:
        reject("upload.not-xlsx", f"This file is {what}, not an Excel workbook (.xlsx). " + SAVE_AS)


def check_declared_sizes(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    # The directory's claims are checked first (cheap); the bytes actually inflated are
    # counted again while reading, so a lying directory gains nothing.
    if sum(info.file_size for info in infos) > limits.max_unzipped_bytes:
        too_big_unzipped(limits)
    for info in infos:
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            zip_bomb(info.filename)


def too_big_unzipped(limits: Limits) -> NoReturn:
    reject("upload.too-big-unzipped", f"The workbook unpacks to more than {megabytes(limits.max_unzipped_bytes)}, "
                                      "far more than a results template needs. Copy the results into a fresh "
                                      "template and upload that.")


def zip_bomb(name: str) -> NoReturn:
    reject("upload.zip-bomb", f"The workbook's part {name[:80]!r} is built to expand enormously when opened "
                              "(a 'zip bomb'), so it was not opened. If you did not expect this, tell your IT "
                              "support; otherwise copy the results into a fresh template and upload that.")


def check_overlaps(data: bytes, infos: list[zipfile.ZipInfo], directory_start: int) -> None:
    """Each member's data must end before the next member starts ("quoted overlap" bombs).

    CPython before 3.11.8 does not check this itself (CVE-2024-0450).
    """
    end, name = 0, "?"
    for info in sorted(infos, key=lambda i: i.header_offset):
        start, name = info.header_offset, info.filename
        header = data[start:start + 30]
        if len(header) < 30 or not header.startswith(ZIP_MAGIC):
            corrupt()
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        if start < end:
            zip_bomb(name)
        end = start + 30 + name_len + extra_len + info.compress_size
    if end > directory_start:
        zip_bomb(name)


def check_risky_parts(infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        name = "/" + info.filename.lower()
        if name.endswith("/vbaproject.bin") or "/macrosheets/" in name:
            macros()
        if "/externallinks/" in name or name.endswith("/connections.xml") or "/querytables/" in name:
            external_links()
        if "/embeddings/" in name or "activex" in name or "oleobject" in name:
            embedded_object()


def macros() -> NoReturn:
    reject("upload.macros", "The workbook contains macros, which we do not accept. In Excel use File > Save As "
                            "> Excel Workbook (.xlsx) (not 'Macro-Enabled'), then upload that copy.")


def external_links() -> NoReturn:
    reject("upload.external-links", "The workbook links to other files or data sources. In Excel use Data > Edit "
                                    "Links > Break Link (and remove any data connections), save as .xlsx and "
                                    "upload again.")


def embedded_object() -> NoReturn:
    reject("upload.embedded-object", "The workbook contains an embedded object or control (for example a "
                                     "document or button inside the sheet). Delete it, save as .xlsx and upload "
                                     "again.")


CONTENT_TYPE_RE = re.compile(rb'ContentType\s*=\s*["\']([^"\']*)["\']')
OVERRIDE_RE = re.compile(rb'<(?:[\w.-]+:)?Override\b([^>]*)>')
PART_NAME_RE = re.compile(rb'PartName\s*=\s*["\']([^"\']*)["\']')


def check_content_types(zf: zipfile.ZipFile, limits: Limits) -> None:
    info = next(i for i in zf.infolist() if i.filename.lower() == "[content_types].xml")
    xml = read_capped(zf, info, min(limits.max_unzipped_bytes, MIB))
    check_xml_text(info.filename, xml)
    for content_type in CONTENT_TYPE_RE.findall(xml):
        kind = content_type.lower()
        if b"macroenabled" in kind or b"vbaproject" in kind or b"macrosheet" in kind:
            macros()
        if b"externallink" in kind or b"connections" in kind or b"querytable" in kind:
            external_links()
        if b"activex" in kind or b"oleobject" in kind:
            embedded_object()
    main = None
    for attributes in OVERRIDE_RE.findall(xml):
        part = PART_NAME_RE.search(attributes)
        if part and part.group(1).lower() == b"/xl/workbook.xml":
            found = CONTENT_TYPE_RE.search(attributes)
            main = found.group(1) if found else b""
    if main is None or main.strip() != MAIN_CONTENT_TYPE:
        what = "an Excel template (.xltx)" if main and b"template" in main else "not a standard Excel workbook"
        reject("upload.not-xlsx", f"This file is {what}. " + SAVE_AS)


# ---------------------------------------------------------------------- the parts' contents

def read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, *, limits: Limits | None = None) -> bytes:
    """Inflate one member, counting the bytes actually produced, never more than ``cap``.

    With ``limits``, ``cap`` is what is left of the workbook's unzipped budget, and the member's
    real inflate ratio is checked. The member must inflate to exactly its declared size and
    checksum (what zipfile enforces), so a lying directory gains nothing. It is one call into
    zlib with an output cap instead of a ZipExtFile read loop: the same checks, a fraction of
    the per-part overhead.
    """
    raw = member_data(zf, info)
    want = min(info.file_size, cap) + 1  # one byte more shows a stream that goes on too long
    if info.compress_type == zipfile.ZIP_STORED:
        out = raw[:want]
    else:
        out = zlib.decompressobj(-15).decompress(raw, want)  # max_length: a bomb stops here
    if cap < len(out) <= info.file_size:
        if limits is None:
            corrupt()
        too_big_unzipped(limits)
    if limits and len(out) > RATIO_GRACE_BYTES and len(out) > limits.max_ratio * max(info.compress_size, 1):
        zip_bomb(info.filename)
    if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        corrupt()  # inflates to more or less than declared, or damaged
    return out


def member_data(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's compressed bytes, after the checks zipfile.open() makes on its local header."""
    fp = zf.fp
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or not header.startswith(ZIP_MAGIC):
        corrupt()
    flags, = struct.unpack("<H", header[6:8])
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    if info.flag_bits & 0x60:  # patched data, strong encryption
        corrupt()
    name = fp.read(name_len).decode("utf-8" if flags & 0x800 else "cp437")
    if name != info.orig_filename:
        corrupt()
    fp.seek(extra_len, 1)
    raw = fp.read(info.compress_size)
    if len(raw) < info.compress_size:
        corrupt()
    return raw


DTD_RE = re.compile(rb"<!(?i:doctype|entity)")
XML_DECL_ENCODING_RE = re.compile(rb'^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["\']([^"\']*)["\']')
SST_ROOT_RE = re.compile(rb"<(?:[\w.-]+:)?sst[\s>]")
SHARED_STRING_RE = re.compile(rb"<(?:[\w.-]+:)?si[\s/>]")


def check_contents(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits, max_columns: int,
                   passed: Passed) -> None:
    """Inflate every part (one at a time, within the budget) and scan it.

    Every part is scanned, whatever its name: readers follow relationships, so a sheet need not
    live in xl/worksheets/.
    """
    window = Window(limits.max_rows, max_columns)
    spent = 0
    for info in infos:
        part = read_capped(zf, info, limits.max_unzipped_bytes - spent, limits=limits)
        spent += len(part)
        check_xml_text(info.filename, part)
        sheet = b"sheetData" in part
        strings = info.filename.lower().endswith("sharedstrings.xml") or SST_ROOT_RE.search(part, 0, 4096)
        if sheet:
            window.check_sheet(info.filename, part)
            passed.sheets[info.filename] = bytes(part)
        if strings:
            check_shared_strings(part)
        if info.filename in BOOK_PARTS:
            passed.book_parts[info.filename] = part
        if strings and passed.plain_strings:
            passed.plain_strings = plain_text(part)
        if (sheet or strings) and not passed.odd_text:
            passed.odd_text = odd_text(part, limits.max_cell_chars, strings=bool(strings))


# a value that is not a plain whole number of at most 15 digits: a decimal, text, a date, an
# error, NaN, infinity, a number calamine may read as beyond 2^63, or an odd shared-string index
ODD_VALUE_RE = re.compile(rb"<v>(?!\d{1,15}+</v>)")
# of those: a shared-string cell not written <c ... t="s"><v>N</v></c> with N a plain number
ODD_STRING_INDEX_RE = re.compile(rb't="s"(?!><v>(?:0|[1-9]\d*+)</v>)')
# and a number that is not a plain decimal of at most 15 digits before the point
ODD_NUMBER_RE = re.compile(rb"<v>(?!-?\d{1,15}+(?:\.\d++)?+</v>)")


ASCII_BYTES = bytes(range(128))
BOOK_PARTS = ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")


def plain_text(part: bytes | bytearray) -> bool:
    """True when no text in ``part`` changes under :func:`frs.text.clean`: ASCII (one C pass),
    or UTF-8 already in NFC with no no-break spaces. (Markup is ASCII, so checking the whole part
    checks every text in it.)"""
    if part.isascii():
        return True
    # only the non-ASCII characters (one C pass deletes the rest): they must be in NFC, with no
    # combining mark (which could compose with an ASCII letter before it) and no no-break space
    try:
        text = part.translate(None, ASCII_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        return False  # another declared encoding: let the reader look at each text
    return (unicodedata.is_normalized("NFC", text) and not any(space in text for space in SPACE_LIKE)
            and not any(map(unicodedata.combining, text)))


def sheet_facts(xml: bytes | bytearray) -> SheetFacts:
    """The :class:`SheetFacts` of one worksheet part, from a few C-speed scans.

    Every cell with content ends "</c>" (an empty, styled cell is "<c .../>"), and calamine
    returns a non-blank value for each unless the cell holds an error, a formula with no stored
    result, an inline string with a value, an empty text, or shares its position with another:
    so one count, compared with calamine's, finds all of those without a look at each cell.
    """
    start, end = xml.find(b"<sheetData"), xml.rfind(b"sheetData")
    if start < 0:
        return SheetFacts()
    look = numbers = False
    odd = ODD_VALUE_RE.search(xml, start, end)
    if odd is not None:
        look = ODD_STRING_INDEX_RE.search(xml, start, end) is not None or xml.find(b"='", start, end) >= 0
        numbers = ODD_NUMBER_RE.search(xml, odd.start(), end) is not None
    # "b" is rare in sheet XML (no tag or attribute Excel writes has one): look for t="b" only after it
    if not numbers and xml.find(b"b", start, end) >= 0:
        numbers = xml.find(b't="b"', start, end) >= 0
    return SheetFacts(values=xml.count(b"</c>", start, end), look=look, numbers=numbers)


CONTROL_BYTES = bytes(CONTROL_CODES)
# control characters written as numeric character references or as OOXML's _xHHHH_ escapes;
# two patterns, each with a literal start, so a search runs in C (an alternation tries every byte)
CONTROL_REFERENCE_RE = re.compile(
    rb"&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|127));")
CONTROL_ESCAPE_RE = re.compile(rb"_x00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])_")


@lru_cache(maxsize=8)
def long_run_re(limit: int) -> re.Pattern:
    # a text longer than the limit is a run of more than ``limit`` bytes with no tag in it;
    # escapes (&amp;) make the raw run longer than the text, so this errs towards looking.
    return re.compile(rb"<[^<]{%d}" % (limit + 1))


def odd_text(part: bytes | bytearray, limit: int, *, strings: bool) -> bool:
    """True when a part may hold a control character or a text longer than ``limit``, so the
    validator must look cell by cell. ``strings``: the part is a shared-strings table (a sheet
    holds text itself only in inline or formula-result strings). C-speed scans only: one-byte
    finds (memchr) for rare bytes, and regexes only from where such a byte shows up."""
    if any(control in part for control in CONTROL_SINGLES):  # 29 memchr calls beat one translate
        return True
    # (calamine decodes only the lower-case _x escape; _X0007_ stays literal text)
    amp, underscore = part.find(b"&"), part.find(b"_")
    if amp >= 0 and CONTROL_REFERENCE_RE.search(part, amp) or \
            underscore >= 0 and CONTROL_ESCAPE_RE.search(part, underscore):
        return True
    if len(part) <= limit or not (strings or b"inlineStr" in part or b't="str"' in part):
        return False
    return has_long_run(part, limit)


CONTROL_SINGLES = [bytes([byte]) for byte in CONTROL_BYTES]


def has_long_run(part: bytes | bytearray, limit: int) -> bool:
    """long_run_re(limit).search(part) is not None, without a regex stop at every "<".

    A run of more than ``limit`` bytes without "<" covers a whole block of ``step`` bytes at a
    multiple of ``step``; so only blocks with no "<" (one memchr each) are looked at closely.
    """
    step = (limit + 1) // 2
    if step < 64:
        return long_run_re(limit).search(part) is not None
    size, find = len(part), part.find
    for at in range(0, size - step + 1, step):
        if find(b"<", at, at + step) < 0:
            before = part.rfind(b"<", 0, at)
            after = find(b"<", at + step)
            if before >= 0 and (size if after < 0 else after) - before - 1 > limit:
                return True
    return False


def check_xml_text(name: str, part: bytes | bytearray) -> None:
    """No DTD (Office never writes one), and an encoding the byte scans can read."""
    head = bytes(part[:4])
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) == 4 and b"\x00" in head and b"<" in head):
        unusual_encoding(name)
    declared = XML_DECL_ENCODING_RE.match(part)
    if declared and declared.group(1).lower() not in TEXT_ENCODINGS:
        unusual_encoding(name)
    # every DTD starts "<!"; a one-byte find (memchr) for the rare "!" skips nearly every part
    bang = part.find(b"!")
    if bang >= 0 and DTD_RE.search(part, max(bang - 1, 0)):
        reject("upload.dtd", f"The workbook's part {name[:80]!r} contains a document type declaration "
                             "(<!DOCTYPE> or <!ENTITY>), which Excel never writes and which can be used to attack "
                             "the service. " + SAVE_AS)


def unusual_encoding(name: str) -> NoReturn:
    reject("upload.unusual-encoding", f"The workbook's part {name[:80]!r} is stored in a text encoding Excel "
                                      "does not use. " + SAVE_AS)


def check_shared_strings(part: bytearray) -> None:
    # 5 bytes is the shortest entry (<si/>), so a small table cannot hold too many of them
    too_many = len(part) > 5 * MAX_SHARED_STRINGS and part.count(b"si") > MAX_SHARED_STRINGS and any(
        n > MAX_SHARED_STRINGS for n, _ in enumerate(SHARED_STRING_RE.finditer(part), 1))
    if len(part) > MAX_SHARED_STRINGS_BYTES or too_many:
        reject("upload.too-many-strings", "The workbook holds far more text than a results template needs "
                                          f"(more than {MAX_SHARED_STRINGS:,} different texts or "
                                          f"{megabytes(MAX_SHARED_STRINGS_BYTES)}). Copy the results into a fresh "
                                          "template and upload that.")


CELL_REF_RE = re.compile(rb"([A-Z]*)([1-9]\d*)")
# a quoted attribute value may hold ">" (quick-xml reads past it), so the tag runs to the first ">" outside quotes
# (an unpaired quote counts as a plain character, as in the old [^>]* form)
TAG_RE = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?(c|row)(?=[\s/>])((?:[^>"']++|"[^"]*+"|'[^']*+'|["'])*+)>""")
ODD_CELL_TAG_RE = re.compile(rb'<c(?! r=")')
ODD_ROW_TAG_RE = re.compile(rb'<row(?! r=")')
PREFIXED_TAG_RE = re.compile(rb":(?:c|row)[\s/>]")
# an r attribute: after the tag name, a space or the previous value's quote (quick-xml needs no space)
R_ATTR_RE = re.compile(rb"""(?:^|(?<=[\s"']))r\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# an r attribute written other than ' r="': after a non-space, with spaces around "=", single-quoted
UNUSUAL_R_RE = re.compile(rb"""r(?:(?<=[^ ]r)\s*=|\s+=|=(?!"))""")
SPACED_R_RE = re.compile(rb"r\s+=")
LATE_R_RE = re.compile(rb"r=(?<!<c r=)(?<!<row r=)")  # an r= anywhere but at the start of its tag
SPACE_R_RE = re.compile(rb"r +=")  # the same when the only white space is " " (a literal start: faster)


class Window:
    """Where cells may be: columns 1..max_columns, rows 1..max_rows, each cell with its own ``r``.

    calamine allocates the rectangle from A1 to the farthest cell, and places cells or rows with
    no ``r`` itself, so both are checked on every ``<c>`` and ``<row>`` in ``<sheetData>``. A cell
    with several r attributes is placed by the last one, so every r attribute is checked.
    """

    def __init__(self, max_rows: int, max_columns: int):
        self.max_rows, self.max_columns = max_rows, max_columns
        self.last_column = column_letter(max_columns - 1)
        self.max_cells = max_rows * max_columns
        # For the usual layout (every tag written <c r="..." or <row r="...") a regex search finds
        # any reference that lies beyond the window or is malformed (a leading 0, nothing, anything
        # but letters then digits); the rare hit is looked at again in Python. The quick search
        # also stops at legitimate references with as many characters as the limits (rows
        # 1000-5000, say); from the first of those on, the exact one takes over.
        letters, digits = len(self.last_column), len(str(max_rows))
        same_length = beyond(self.last_column, "A", "Z", longer=False)
        self.quick_re = re.compile(rb' r="(?:' + (same_length + b"|" if same_length else b"") +
                                   b"[A-Z]{0,%d}+(?:\\d{0,%d}+[^\"]|[0\"]))" % (letters, digits - 1))
        self.exact_re = re.compile(rb' r="(?:' + beyond(self.last_column, "A", "Z") + rb"|[A-Z]*+(?:" +
                                   beyond(str(max_rows), "0", "9") + rb'|0|"|\d*+[^"\d]))')

    def check_sheet(self, name: str, xml: bytes | bytearray) -> None:
        start, end = xml.find(b"sheetData"), xml.rfind(b"sheetData")
        if self.plainly_inside(xml, start, end):
            return
        # The usual layout: every <c and <row starts with its r attribute, and no prefixed tags
        # (a regex with a literal start scans faster here than bytes.count).
        if ODD_CELL_TAG_RE.search(xml, start, end) or ODD_ROW_TAG_RE.search(xml, start, end) \
                or PREFIXED_TAG_RE.search(xml, start, end):
            return self.check_each_tag(name, xml, start, end)
        # <c r="A1"/> is the shortest cell: only a sheet this big can hold too many
        if end - start > 11 * self.max_cells and xml.count(b"<c r=", start, end) > self.max_cells:
            self.too_many_cells()
        found = self.quick_re.search(xml, start, end)
        if found is not None:
            self.check_hit(name, xml, found.start())
            for found in self.exact_re.finditer(xml, found.start(), end):  # each hit raises; a safety net
                self.check_hit(name, xml, found.start())
        # calamine places a cell by its LAST r attribute: one written other than ' r="' (after a
        # quote, a tab, with spaces or single quotes) would slip past the scans above
        # and so does an r attribute that is not the first thing in its tag (a second position)
        if UNUSUAL_R_RE.search(xml, start, end) or LATE_R_RE.search(xml, start, end):
            self.check_each_tag(name, xml, start, end)

    def plainly_inside(self, xml: bytes | bytearray, start: int, end: int) -> bool:
        """True when the exact scans below would find nothing in [start, end), answered by a few
        searches that each start with a literal (so they run in C and never stop in Python).
        False means "look closely", never "rejected": the exact scans then decide, with their
        codes and messages. Each search here matches at least what its exact counterpart does:

        * ODD_CELL_TAG_RE, ODD_ROW_TAG_RE, PREFIXED_TAG_RE: the same patterns, rows anchored on the
          rare "w" and colons visited by one-byte finds;
        * quick_re/exact_re and UNUSUAL_R_RE: every "r=" must be ' r="' with a value inside the
          window, and no "r" is followed by spaces and "=".
        """
        if end - start > 10 * self.max_cells:  # only the exact scan counts cells
            return False
        scans = window_scans(self.max_rows, self.max_columns)
        if ODD_CELL_TAG_RE.search(xml, start, end) or scans.odd_row.search(xml, start, end) \
                or has_prefixed_tag(xml, start, end):
            return False
        found = scans.r_value.search(xml, start, end)
        # rows of as many digits as the limit (1000-5000, say) are legitimate but rarer: from the
        # first such reference on, the exact (slower) value pattern takes over
        if found is not None and scans.exact_r_value.search(xml, found.start(), end):
            return False
        spaced = SPACED_R_RE if has_any(xml, b"\t\n\r", start, end) else SPACE_R_RE
        return spaced.search(xml, start, end) is None

    def check_hit(self, name: str, xml: bytearray, at: int) -> None:
        """Raise if the reference at ``at`` (pointing at ' r="') is malformed or outside the window."""
        value_start = at + len(b' r="')
        if xml.startswith(b"<row", at - 4):  # name the row's first cell if it has one
            cell = xml.find(b'<c r="', value_start, xml.find(b"</row>", value_start))
            if cell >= 0:
                self.check_ref(name, bytes(xml[cell + 6: xml.find(b'"', cell + 6, cell + 46)]))
        self.check_ref(name, bytes(xml[value_start: xml.find(b'"', value_start, value_start + 40)]))

    def check_each_tag(self, name: str, xml: bytearray, start: int, end: int) -> None:
        """Any prefix, attribute order or quoting: slower, so only for files Excel did not write."""
        count = 0
        for tag in TAG_RE.finditer(xml, start, end):
            count += 1
            if count > self.max_cells + self.max_rows:
                self.too_many_cells()
            attrs = list(R_ATTR_RE.finditer(tag.group(2)))
            if not attrs:
                self.unpositioned(name)
            for attr in attrs:  # calamine takes a cell's last r, a row's first: check them all
                self.check_ref(name, attr.group(1) if attr.group(1) is not None else attr.group(2),
                               cell=tag.group(1) == b"c")
            if len(attrs) > 1:  # inside the window, but which position is meant?
                reject("upload.ambiguous-cells", f"A sheet of the workbook ({name[:80]}) has a {'cell' if tag.group(1) == b'c' else 'row'} "
                                                 "with two positions, so it could be read in more than one way; "
                                                 "Excel never writes that. " + SAVE_AS)

    def check_ref(self, name: str, value: bytes, *, cell: bool | None = None) -> None:
        ref = CELL_REF_RE.fullmatch(value) if len(value) <= 16 else None
        if ref is None or (cell is not None and cell != bool(ref.group(1))):
            self.unpositioned(name)
        letters, row = ref.group(1).decode(), int(ref.group(2))
        if row > self.max_rows or (letters and column_index(letters) >= self.max_columns):
            where = f"Cell {letters}{row}" if letters else f"Row {row}"
            reject("upload.outside-template", f"{where} has something in it (a value or formatting) outside the "
                                              f"template's area, columns A to {self.last_column} and rows 1 to "
                                              f"{self.max_rows}. Select the columns and rows beyond the template, "
                                              "delete them (right-click > Delete), save and upload again.")

    def unpositioned(self, name: str) -> NoReturn:
        reject("upload.unpositioned-cells", f"The sheet {name[:80]!r} has cells or rows without a proper "
                                            "position (Excel always writes one), so it cannot be read safely. "
                                            + SAVE_AS)

    def too_many_cells(self) -> NoReturn:
        reject("upload.too-many-cells", f"The sheet holds more cells than the template has room for "
                                        f"({self.max_rows} rows by {self.max_columns} columns). Copy the results "
                                        "into a fresh template and upload that.")


def beyond(limit: str, low: str, high: str, *, longer: bool = True) -> bytes:
    """A regex matching the start of any reference part that sorts after ``limit`` the way
    Excel's column letters and row numbers do: a longer one (unless ``longer`` is False), or a
    greater one of the same length. Empty when nothing matches.
    """
    first = "1" if low == "0" else low  # row numbers have no leading zero
    options = [f"[{first}-{high}][{low}-{high}]{{{len(limit)}}}"] if longer else []
    for i, ch in enumerate(limit):
        if ch < high:
            rest = len(limit) - i - 1
            options.append(re.escape(limit[:i]) + f"[{chr(ord(ch) + 1)}-{high}]" + (f"[{low}-{high}]{{{rest}}}" if rest else ""))
    return ("(?:" + "|".join(options) + ")").encode() if options else b""


def has_prefixed_tag(xml: bytes | bytearray, start: int, end: int) -> bool:
    """A namespace-prefixed <x:c or <x:row in [start, end). Colons are rare in sheet data, so
    one-byte finds (memchr) visit them; only a sheet full of colons gets the regex."""
    at = xml.find(b":", start, end)
    for _ in range(64):
        if at < 0:
            return False
        if PREFIXED_TAG_RE.match(xml, at):
            return True
        at = xml.find(b":", at + 1, end)
    return PREFIXED_TAG_RE.search(xml, at, end) is not None


@dataclass(frozen=True)
class WindowScans:
    odd_row: re.Pattern  # ODD_ROW_TAG_RE, anchored on the rare "w"
    r_value: re.Pattern  # an "r=" not written ' r="' or not plainly inside (rows < 10**(digits-1))
    exact_r_value: re.Pattern  # the same, exact for every row up to the limit


@lru_cache(maxsize=8)
def window_scans(max_rows: int, max_columns: int) -> WindowScans:
    """The patterns of Window.plainly_inside for one window (built once per window)."""
    last = column_letter(max_columns - 1)
    letters, digits = len(last), len(str(max_rows))
    same_length = beyond(last, "A", "Z", longer=False)
    # quick: a column beyond the last at full length; more letters; no digit or a leading 0; or
    # anything but a quote after digits-1 digits (so rows of `digits` digits are "not plain")
    quick = (same_length + b"|" if same_length else b"") + \
        b'[A-Z]{0,%d}+(?:[^1-9]|\\d{1,%d}+[^"])' % (letters, max(digits - 1, 1))
    # exact: exact_re's value part (beyond the window, malformed), plus anything but 1-9 after the letters
    exact = beyond(last, "A", "Z") + b"|[A-Z]*+(?:" + beyond(str(max_rows), "0", "9") + b'|[^1-9]|\\d*+[^"\\d])'

    def r_value(value: bytes) -> re.Pattern:
        # "r=" then: not a double quote (r='..', r= ".."), not first in its tag ("r=, <c\tr=, a second
        # r=), or a value
        return re.compile(b'r=(?:[^"]|(?<!<c r=)(?<!<row r=)|"(?:' + value + b"))")

    return WindowScans(odd_row=re.compile(rb'w(?<=<row)(?! r=")'),
                       r_value=r_value(quick if digits > 1 else exact), exact_r_value=r_value(exact))


def has_any(xml: bytes | bytearray, chars: bytes, start: int, end: int) -> bool:
    return any(xml.find(bytes([ch]), start, end) >= 0 for ch in chars)  # one-byte finds: memchr
