"""Intake: folders, e-mails with attachments, lock files, identical files."""
from __future__ import annotations

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
