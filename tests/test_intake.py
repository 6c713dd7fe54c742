"""Intake: folders, e-mails with attachments, lock files, identical files."""
from __future__ import annotations

import base64
import datetime as dt
from email.message import EmailMessage

from selfeval_xlsx.intake import collect

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def write_eml(path, attachments, *, sender="教育局 <jyj@example.gov.cn>", date="Tue, 03 Oct 2023 09:30:00 +0800"):
    """An e-mail as departments send it: a body and spreadsheet attachments (name, bytes)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Date"] = sender, "czj@example.gov.cn", "2023年绩效自评表", date
    msg.set_content("请查收附件。")
    for name, data in attachments:
        msg.add_attachment(data, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=name)
    path.write_bytes(msg.as_bytes())
    return path


def test_folder_is_walked_and_odd_files_are_listed(tmp_path, make_book, tables):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    make_book(tables, name="inbox/sub/a.xlsx")
    (inbox / "~$a.xlsx").write_bytes(b"lock")
    (inbox / "notes.txt").write_text("hi")
    refs, skipped = collect([inbox])
    assert [r.name for r in refs] == ["sub/a.xlsx"]
    assert {(s.path, s.code) for s in skipped} == {("~$a.xlsx", "lock-file"), ("notes.txt", "not-an-input")}


def test_identical_files_count_once(tmp_path, make_book, tables):
    first = make_book(tables, name="a.xlsx")
    (tmp_path / "copy.xlsx").write_bytes(first.read_bytes())
    refs, skipped = collect([tmp_path])
    assert [r.name for r in refs] == ["a.xlsx"]
    assert [(s.path, s.code) for s in skipped] == [("copy.xlsx", "duplicate-file")]


def test_email_attachments_become_inputs_with_sender_and_date(tmp_path, make_book, tables):
    data = make_book(tables, name="src.xlsx").read_bytes()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    write_eml(mail_dir / "教育局.eml", [("2023年自评表.xlsx", data), ("说明.docx", b"doc")])
    refs, skipped = collect([mail_dir])
    [ref] = refs
    assert ref.name == "教育局.eml » 2023年自评表.xlsx"
    assert ref.sender == "教育局 <jyj@example.gov.cn>"
    assert ref.submitted == dt.datetime(2023, 10, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert ref.read() == data and skipped == []


def test_email_without_spreadsheet_is_skipped(tmp_path):
    write_eml(tmp_path / "x.eml", [])
    refs, skipped = collect([tmp_path / "x.eml"])
    assert refs == [] and [s.code for s in skipped] == ["no-attachment"]


def test_missing_path_is_listed_not_raised(tmp_path):
    refs, skipped = collect([tmp_path / "nope"])
    assert refs == [] and [s.code for s in skipped] == ["missing-path"]


# -- issue 16: names as bytes, what a path is, containers, e-mails parsed once ---------------

import io  # noqa: E402
import os  # noqa: E402
import zipfile  # noqa: E402

import pytest  # noqa: E402

import corpus  # noqa: E402
from selfeval_xlsx import intake  # noqa: E402
from selfeval_xlsx.guard import Limits  # noqa: E402


def test_a_non_utf8_name_is_shown_decoded_and_read_by_its_bytes(tmp_path, make_book, tables):
    data = make_book(tables, name="src.xlsx").read_bytes()
    raw = os.path.join(os.fsencode(tmp_path), "报表".encode("gbk"))
    os.mkdir(raw)
    with open(os.path.join(raw, b"\xff\xfe.xlsx"), "wb") as fh:  # neither UTF-8 nor GB18030
        fh.write(data)
    [ref], skipped = collect([tmp_path / "报表".encode("gbk").decode("utf-8", "surrogateescape")])
    assert skipped == [] and ref.name == "\\xff\\xfe.xlsx" and ref.read() == data
    os.remove(tmp_path / "src.xlsx")
    [ref], _ = collect([os.fsdecode(raw) + "/.."])
    assert ref.name == "报表/\\xff\\xfe.xlsx"


def test_an_unreadable_file_is_one_problem_not_the_end(tmp_path, make_book, tables, monkeypatch):
    # As root, chmod 000 does not stop reading: simulate the permission error at open.
    make_book(tables, name="a.xlsx")
    make_book({**tables, "项目信息": [tables["项目信息"][0], ["P02", *tables["项目信息"][1][1:]]]}, name="b.xlsx")
    real_open = open

    def deny(path, *args, **kwargs):
        if str(path).endswith("a.xlsx"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    refs, skipped = collect([tmp_path])
    assert [r.name for r in refs] == ["b.xlsx"]
    assert [(s.path, s.code) for s in skipped] == [("a.xlsx", "unreadable-file")]


def test_special_files_are_listed_never_opened(tmp_path):
    os.mkfifo(tmp_path / "p.xlsx")
    (tmp_path / "z.xlsx").symlink_to("/dev/zero")
    with open(tmp_path / "big.xlsx", "wb") as fh:
        fh.truncate(3 * 2**30)
    refs, skipped = collect([tmp_path, tmp_path / "p.xlsx"])
    assert refs == []
    assert sorted((s.path, s.code) for s in skipped) == [
        ("big.xlsx", "file-too-large"), ("p.xlsx", "special-file"), ("p.xlsx", "special-file"),
        ("z.xlsx", "special-file")]


def test_an_email_is_parsed_once_and_attachments_are_read_by_slice(tmp_path, monkeypatch):
    data = [corpus.workbook_bytes(corpus.tables(f"E{i}")) for i in range(5)]
    write_eml(tmp_path / "m.eml", [(f"表{i}.xlsx", d) for i, d in enumerate(data)])
    refs, _ = collect([tmp_path])
    assert all(r.inner[0][0] == "mime" for r in refs)

    def parse(*_):
        raise AssertionError("parsed again")

    monkeypatch.setattr(intake, "_parse_email", parse)
    monkeypatch.setattr(intake, "_split_mime", parse)
    assert [r.read() for r in refs] == data  # each attachment from its slice of the file


def test_an_odd_email_falls_back_to_the_standard_parser(tmp_path):
    data = corpus.workbook_bytes(corpus.tables("E9"))
    raw = corpus.raw_eml([(b'attachment; filename="a.xlsx"', data)])
    (tmp_path / "m.eml").write_bytes(raw.replace(b"--BOUNDARY--", b""))  # no closing boundary
    [ref], skipped = collect([tmp_path])
    assert ref.read() == data and skipped == []


def test_attachments_and_archive_members_count_against_the_limits(tmp_path, make_book, tables):
    data = make_book(tables, name="src.xlsx").read_bytes()
    write_eml(tmp_path / "m.eml", [("大.xlsx", data + b"\0" * 5000)])
    (tmp_path / "a.zip").write_bytes(corpus.zip_bytes([("大.xlsx", data + b"\0" * 5000)]))
    os.remove(tmp_path / "src.xlsx")
    refs, skipped = collect([tmp_path], limits=Limits(max_file_bytes=len(data) + 100))
    assert refs == []
    assert {(s.path, s.code) for s in skipped} == {("m.eml » 大.xlsx", "file-too-large"),
                                                   ("a.zip » 大.xlsx", "file-too-large")}


def test_archives_nested_too_deep_or_bombed_are_refused(tmp_path):
    nested = ("x.xlsx", corpus.workbook_bytes(corpus.tables("Z1")))
    for depth in range(4):
        nested = (f"z{depth}.zip", corpus.zip_bytes([nested]))
    (tmp_path / "deep.zip").write_bytes(nested[1])
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.xlsx", b"\0" * (3 * 2**20))  # 3 MB at about 1000:1
    (tmp_path / "bomb.zip").write_bytes(bomb.getvalue())
    refs, skipped = collect([tmp_path])
    assert refs == []
    assert {(s.path.split(" » ")[0], s.code) for s in skipped} == {("deep.zip", "zip-bomb"), ("bomb.zip", "zip-bomb")}


def test_gbk_names_in_zips_and_mail_headers_are_decoded(tmp_path):
    data = corpus.workbook_bytes(corpus.tables("G1"))
    (tmp_path / "a.zip").write_bytes(corpus.zip_bytes([("乙局自评.xlsx".encode("gbk"), data)]))
    (tmp_path / "m.eml").write_bytes(corpus.raw_eml([
        (b'attachment; filename="' + "测试表格.xlsx".encode("gbk") + b'"', data + b"1"),
        (corpus.rfc2231_split("丁局自评表.xlsx").replace(b"; filename*1*", b";\r\n\tfilename*1*"), data + b"2"),  # folded
        (b'attachment; filename="=?gb2312?B?' + base64.b64encode("镕基.xlsx".encode("gbk")) + b'?="', data + b"3")]))
    refs, skipped = collect([tmp_path])
    assert skipped == []
    assert [r.name for r in refs] == ["a.zip » 乙局自评.xlsx", "m.eml » 测试表格.xlsx", "m.eml » 丁局自评表.xlsx",
                                      "m.eml » 镕基.xlsx"]
    assert refs[1].sender == "某区财政局 <czj@example.invalid>" and refs[2].read() == data + b"2"
    assert [r.submitted_basis for r in refs] == ["file", "email", "email", "email"]


def test_outlook_msg_attachments_become_inputs(tmp_path):
    data = corpus.workbook_bytes(corpus.tables("M1"))
    corpus.write_msg(tmp_path / "m.msg", [("甲.xlsx", data), ("说明.docx", b"doc")])
    [ref], skipped = collect([tmp_path])
    assert (ref.name, ref.sender, ref.read()) == ("m.msg » 甲.xlsx", "某区民政局", data) and skipped == []
    assert ref.submitted == dt.datetime(2023, 10, 2, 1, 0, tzinfo=dt.timezone.utc) and ref.submitted_basis == "email"


@pytest.mark.parametrize("name", ["x.eml", "x.msg", "x.zip"])
def test_a_broken_container_is_listed(tmp_path, name):
    (tmp_path / name).write_bytes(b"\xd0\xcf\x11\xe0garbage" if name != "x.eml" else b"")
    refs, skipped = collect([tmp_path])
    assert refs == [] and len(skipped) == 1 and skipped[0].path == name


def test_spreadsheets_in_formats_not_read_are_refused_by_name(tmp_path):
    write_eml(tmp_path / "m.eml", [("二进制.xlsb", b"PK\x03\x04bin"), ("说明.docx", b"doc")])
    (tmp_path / "导出.csv").write_text("项目编号\nP01\n")
    refs, skipped = collect([tmp_path])
    assert refs == []
    assert {(s.path, s.code, s.code.severity) for s in skipped} == {
        ("m.eml » 二进制.xlsb", "unsupported-format", "error"), ("导出.csv", "unsupported-format", "error")}
