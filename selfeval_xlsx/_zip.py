"""Zip packages (.docx, .xlsx) written from entries that are already compressed.

A report's fixed template parts are deflated once for every report, and a workbook copy takes
the department's unchanged parts over as they are stored, without inflating and deflating
them again. Entries carry a fixed time (1980-01-01), so the same content gives the same bytes
on every run. Packages here are far below 4 GB, so there is no zip64.
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
LEVEL = 1  # measured for reports: level 6 makes files ~10 % smaller and rendering ~25 % slower
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header (APPNOTE 4.3.7)
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory header (4.3.12)
_END = struct.Struct("<4s4H2LH")  # end of central directory (4.3.16)
_DOS_DATE = (1 << 5) | 1  # 1980-01-01, time 00:00
_UTF8_NAME = 0x800  # general purpose flag bit 11: the name is UTF-8


@dataclass(frozen=True, slots=True)
class Entry:
    """One member: its name, uncompressed ``size`` and ``crc``, and ``data`` compressed
    with ``method`` (deflate or stored)."""

    name: str
    size: int
    crc: int
    data: bytes
    method: int = DEFLATED


def deflated(name: str, raw: bytes, level: int = LEVEL) -> Entry:
    """``raw`` deflated as a zip member called ``name``."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate, as zip wants
    return Entry(name, len(raw), zlib.crc32(raw), packer.compress(raw) + packer.flush())


def stored_entry(archive: bytes, info: zipfile.ZipInfo) -> Entry | None:
    """The member ``info`` of ``archive`` as it is stored there, still compressed; None when
    it cannot be taken over as is (encrypted, a compression method other than deflate, a
    broken header)."""
    if info.flag_bits & 1 or info.compress_type not in (STORED, DEFLATED):
        return None
    start = info.header_offset
    header = archive[start:start + _LOCAL.size]
    if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack_from("<2H", header, 26)
    start += _LOCAL.size + name_length + extra_length
    data = archive[start:start + info.compress_size]
    if len(data) != info.compress_size:
        return None
    return Entry(info.filename, info.file_size, info.CRC, data, info.compress_type)


def package(entries: list[Entry]) -> bytes:
    """The zip archive of ``entries``, in order."""
    out, central, offset = [], [], 0
    for e in entries:
        try:
            name, flags = e.name.encode("ascii"), 0
        except UnicodeEncodeError:
            name, flags = e.name.encode("utf-8"), _UTF8_NAME
        local = _LOCAL.pack(b"PK\x03\x04", 20, flags, e.method, 0, _DOS_DATE, e.crc, len(e.data), e.size,
                            len(name), 0)
        central.append(_CENTRAL.pack(b"PK\x01\x02", (3 << 8) | 20, 20, flags, e.method, 0, _DOS_DATE, e.crc,
                                     len(e.data), e.size, len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name)
        out += (local, name, e.data)
        offset += len(local) + len(name) + len(e.data)
    directory = b"".join(central)
    return b"".join(out) + directory + _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries),
                                                 len(directory), offset, 0)
