"""Hostile uploads, built in code for the gate tests (no binary fixtures are committed).

Each builder starts from a small valid workbook written by xlsxwriter (or writes raw bytes) and
patches the zip. The big ones stream their data so building them stays cheap in memory.
"""

from __future__ import annotations

import functools
import io
import struct
import warnings
import zipfile

import xlsxwriter

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
TYPES = "[Content_Types].xml"
MAIN_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
              b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
SHEET_TAIL = b"</sheetData></worksheet>"
MIB = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"


@functools.lru_cache(maxsize=None)
def valid_workbook(rows: int = 5, columns: int = 10) -> bytes:
    """A plain .xlsx with a Results sheet of text and numbers (shared strings included)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Results")
    for r in range(rows):
        for c in range(columns):
            sheet.write(r, c, f"text {r}-{c}" if c % 2 and c < 12 else r * c)
    book.close()
    return out.getvalue()


def members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def repack(data: bytes, *, replace: dict[str, bytes] | None = None, add: list[tuple[str, bytes]] = (),
           level: int = 6) -> bytes:
    """``data`` rewritten with some members replaced and others appended (duplicates allowed)."""
    replace = replace or {}
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we add on purpose
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for name, body in members(data):
                zf.writestr(name, replace.get(name, body))
            for name, body in add:
                zf.writestr(name, body)
    return out.getvalue()


def with_sheet(rows_xml: bytes) -> bytes:
    return repack(valid_workbook(), replace={SHEET: SHEET_HEAD + rows_xml + SHEET_TAIL})


# ---------------------------------------------------------------- not a zip at all

def empty() -> bytes:
    return b""


def ole2(*, encrypted: bool) -> bytes:
    """A compound-file header plus a directory sector naming the streams (enough for sniffing)."""
    header = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + struct.pack("<HHH", 0x3E, 3, 0xFFFE) + bytes(482)
    names = ["EncryptionInfo", "EncryptedPackage"] if encrypted else ["Workbook", "SummaryInformation"]
    directory = b"".join(n.encode("utf-16-le").ljust(64, b"\0") + bytes(64) for n in ["Root Entry"] + names)
    return header + directory.ljust(512 * 4, b"\0")


def csv_text() -> bytes:
    return b"UPN,Forename,Surname,Maths\r\nA123456789012,Ann,Smith,A\r\nB123456789012,Bob,Jones,B\r\n"


def html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><body><table><tr><td>UPN</td><td>Maths</td></tr></table></body></html>"


def pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


# ---------------------------------------------------------------- zips that are not workbooks

def truncated() -> bytes:
    data = valid_workbook()
    return data[: len(data) // 2]


def ods_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office:document-content/>")
        zf.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
    return out.getvalue()


def docx_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(TYPES, "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


# ---------------------------------------------------------------- directory attacks

@functools.lru_cache(maxsize=None)
def deflate_bomb(unzipped: int = 80 * MIB) -> bytes:
    """A sheet of repeated rows that inflates past the 64 MiB cap; written streaming, level 1."""
    row = b'<row r="2"><c r="A2"><v>1</v></c></row>' * 4096
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, body in members(valid_workbook()):
            if name != SHEET:
                zf.writestr(name, body)
        with zf.open(SHEET, "w") as stream:
            stream.write(SHEET_HEAD)
            for _ in range(unzipped // len(row) + 1):
                stream.write(row)
            stream.write(SHEET_TAIL)
    return out.getvalue()


def ratio_bomb() -> bytes:
    """8 MiB of padding inside one sheet: inflates over 1000:1 while staying under the size cap."""
    padded = SHEET_HEAD + b" " * (8 * MIB) + SHEET_TAIL
    return repack(valid_workbook(), replace={SHEET: padded}, level=9)


def central_records(data: bytes) -> tuple[int, int, list[tuple[int, str]]]:
    """(directory offset, end-record offset, [(record offset, name)]) of a zip built by zipfile."""
    end = data.rfind(b"PK\x05\x06")
    count, size, offset = struct.unpack("<HII", data[end + 10:end + 20])
    records, pos = [], offset
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[pos + 28:pos + 34])
        records.append((pos, data[pos + 46:pos + 46 + name_len].decode()))
        pos += 46 + name_len + extra_len + comment_len
    return offset, end, records


def lying_size() -> bytes:
    """The sheet claims 1,000 bytes in both headers but inflates to 20 MiB."""
    data = bytearray(with_sheet(b'<row r="1"><c r="A1"><v>1</v></c></row>' * (20 * MIB // 40)))
    _, _, records = central_records(bytes(data))
    for pos, name in records:
        if name == SHEET:
            local = struct.unpack("<I", data[pos + 42:pos + 46])[0]
            data[pos + 24:pos + 28] = struct.pack("<I", 1000)
            data[local + 22:local + 26] = struct.pack("<I", 1000)
    return bytes(data)


def overlapping() -> bytes:
    """A second directory entry pointing at the sheet's local header (a "quoted overlap" bomb)."""
    data = valid_workbook()
    offset, end, records = central_records(data)
    pos = next(p for p, name in records if name == SHEET)
    name_len, extra_len, comment_len = struct.unpack("<HHH", data[pos + 28:pos + 34])
    record = bytearray(data[pos:pos + 46 + name_len + extra_len + comment_len])
    record[46:46 + name_len] = SHEET.replace("sheet1", "sheet9").encode()
    directory = data[offset:end] + bytes(record)
    count = len(records) + 1
    eocd = data[end:end + 4] + data[end + 4:end + 8] + struct.pack("<HHII", count, count, len(directory), offset) \
        + data[end + 20:]
    return data[:offset] + directory + eocd


def many_members(n: int = 10_000) -> bytes:
    return repack(valid_workbook(), add=[(f"xl/media/part{i}.xml", b"<x/>") for i in range(n)])


def duplicate_names() -> bytes:
    return repack(valid_workbook(), add=[(SHEET, SHEET_HEAD + b'<row r="1"><c r="A1"><v>2</v></c></row>' + SHEET_TAIL)])


def unsafe_name(name: str = "../evil.xml") -> bytes:
    return repack(valid_workbook(), add=[(name, b"<x/>")])


# ---------------------------------------------------------------- risky content

def vba_project() -> bytes:
    return repack(valid_workbook(), add=[("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake vba")])


def macro_content_type() -> bytes:
    data = valid_workbook()
    types = dict(members(data))[TYPES].replace(MAIN_TYPE, b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    return repack(data, replace={TYPES: types})


def external_link() -> bytes:
    return repack(valid_workbook(), add=[("xl/externalLinks/externalLink1.xml",
                                          b'<externalLink><externalBook r:id="rId1"/></externalLink>')])


def embedding() -> bytes:
    return repack(valid_workbook(), add=[("xl/embeddings/oleObject1.bin", b"\xd0\xcf\x11\xe0 fake ole")])


def billion_laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY l0 "lol">{entities}]>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
            '<si><t>&l9;</t></si></sst>').encode()
    return repack(valid_workbook(), replace={STRINGS: body})


def xxe() -> bytes:
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&e;</t></si></sst>')
    return repack(valid_workbook(), replace={STRINGS: body})


def utf16_part() -> bytes:
    return repack(valid_workbook(), replace={STRINGS: "\ufeff<sst><si><t>x</t></si></sst>".encode("utf-16-le")})


def too_many_strings(n: int = 250_000) -> bytes:
    body = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + b"<si/>" * n + b"</sst>"
    return repack(valid_workbook(), replace={STRINGS: body})


# ---------------------------------------------------------------- cell positions

def far_cell(ref: str) -> bytes:
    row = "".join(ch for ch in ref if ch.isdigit())
    return with_sheet(f'<row r="1"><c r="A1"><v>1</v></c></row><row r="{row}"><c r="{ref}"><v>1</v></c></row>'.encode())


def unpositioned_cells() -> bytes:
    """Rows and cells with no r: calamine places them itself (the shape of the big bombs)."""
    return with_sheet(b"<row><c><v>1</v></c><c><v>2</v></c></row>" * 10)


def prefixed_far_cell() -> bytes:
    """A far cell written with a namespace prefix and single quotes (calamine still reads it)."""
    return with_sheet(b"<row r='1'><x:c xmlns:x='urn:x' r='XFD1'><v>1</v></x:c></row>")


def piled_up_cells(n: int = 2_000_000) -> bytes:
    """Millions of cells all claiming A1: inside the window, but more than the window holds."""
    return with_sheet(b'<row r="1">' + b'<c r="A1"/>' * n + b"</row>")
