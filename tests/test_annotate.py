"""The department's copy: 自评结果 first, their sheets intact, problem cells marked."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal as D

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.worksheet.datavalidation import DataValidation

from selfeval_xlsx.annotate import annotate_workbook
from selfeval_xlsx.issues import Code, issue
from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.vocab import Kind

GRADES = load_rules().grade_names
from selfeval_xlsx.models import FundingRow, Indicator, IndicatorScore, Project, ProjectResult

FORMULA_NAME = '=HYPERLINK("http://x")'
RED, YELLOW = "FFC7CE", "FFEB9C"


def build_department_workbook(path):
    """A small 项目信息/资金/绩效指标 workbook with a dropdown, merged cells and a comment."""
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "项目信息"
    info.append(["项目编号", "项目名称", "年度", "主管部门"])
    info.append(["P1", FORMULA_NAME, 2022, "区委组织部"])
    info["B2"].data_type = "s"  # the department typed this text; it is not a formula
    info["A1"].comment = Comment("部门自己的批注", "张三")
    funding = wb.create_sheet("资金")
    funding.append(["2022年项目资金表"])  # a title row above the header
    funding.append(["项目编号", "资金来源", "年初预算数", "全年预算数", "全年执行数"])
    funding.append(["P1", "本年财政拨款", 100, 100, "九十五"])
    dv = DataValidation(type="list", formula1='"本年财政拨款,上年结转资金,其他资金"', allow_blank=True)
    dv.add("B3:B100")
    funding.add_data_validation(dv)
    funding["B2"].font = openpyxl.styles.Font(bold=True, color="FF0000")
    ind = wb.create_sheet("绩效指标")
    ind.append(["项目编号", "一级指标", "二级指标", "三级指标", "指标性质", "年度指标值", "实际完成值", "分值", "自评得分"])
    ind.append(["P1", "产出指标", "数量指标", "开展活动次数", "", "≥18次", "17次", 50, 50])
    ind.append([None, None, "质量指标", "验收合格率", "", "=100%", "100%", 40, 40])
    ind.merge_cells("A2:A3")
    ind.merge_cells("B2:B3")
    for ws in wb.worksheets:  # Excel saves every sheet the user had grouped as selected
        ws.sheet_view.tabSelected = True
    wb.save(path)
    return path


def make_result():
    project = Project(sheet="项目信息", row=1, project_id="P1", name=FORMULA_NAME, year="2022",
                      department="区委组织部", source_file="组织部.xlsx")
    project.funding.append(FundingRow(sheet="资金", row=2, project_id="P1", source="本年财政拨款",
                                      budget=D("100"), executed=None))
    scores = []
    for k, (l1, l2, l3, target, actual, w, score) in enumerate([
            ("产出指标", "数量指标", "开展活动次数", "≥18次", "17次", D("50"), D("47.22")),
            ("产出指标", "质量指标", "验收合格率", "=100%", "100%", D("40"), D("40"))]):
        ind = Indicator(sheet="绩效指标", row=k + 1, project_id="P1", level1=l1, level2=l2, level3=l3,
                        target=target, actual=actual, weight=w, self_score=w)
        project.indicators.append(ind)
        scores.append(IndicatorScore(ind, Kind.POSITIVE if k == 0 else Kind.EQUAL, "反向(线性)", score=score))
    issues = [
        issue(Code.BAD_NUMBER, "全年执行数“九十五”不是数字，请填写数字", file="组织部.xlsx", sheet="资金", row=2, col=4,
              value="九十五", project_id="P1"),
        issue(Code.SELF_SCORE_DIFFERS, "自评得分50与计算得分47.22不一致", file="组织部.xlsx", sheet="绩效指标",
                row=1, col=8, value="50", project_id="P1"),
        issue(Code.MISSING_DEVIATION, "未达到目标，请填写偏差原因", file="组织部.xlsx", sheet="绩效指标",
                row=1, col=8, project_id="P1"),
        issue(Code.BAD_LEVEL2, "合并单元格提示", file="组织部.xlsx", sheet="绩效指标", row=2, col=1, project_id="P1"),
        issue(Code.MISSING_SPENDING_SHEET, "缺少“偏差原因分析及改进措施”列", file="组织部.xlsx", sheet="绩效指标"),
        issue(Code.MISSING_COLUMN, "表头行缺少必填列", file="组织部.xlsx", sheet="资金", row=1),
    ]
    result = ProjectResult(project, budget=D("100"), executed=D("0"), rate=None, budget_score=None,
                           indicators=tuple(scores), subtotals={"产出指标": D("87.22")}, total=None, grade="",
                           self_total=D("100"), issues=tuple(issues))
    return result, issues


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sheet_values(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


@pytest.fixture
def src(tmp_path):
    return build_department_workbook(tmp_path / "组织部.xlsx")


@pytest.fixture
def annotated(tmp_path, src):
    result, issues = make_result()
    before = sha256(src)
    out = annotate_workbook(src, tmp_path / "workbooks" / "组织部.xlsx", [result], issues, grades=GRADES)
    assert sha256(src) == before  # the department's file is only read
    return out


def test_result_sheet_first_and_original_sheets_kept(src, annotated):
    original = openpyxl.load_workbook(src)
    copy = openpyxl.load_workbook(annotated)
    assert copy.sheetnames == ["自评结果", "项目信息", "资金", "绩效指标"]
    assert copy.active.title == "自评结果"
    assert [bool(ws.sheet_view.tabSelected) for ws in copy.worksheets] == [True, False, False, False]
    for name in original.sheetnames:
        assert sheet_values(copy[name]) == sheet_values(original[name]), name
    assert {str(r) for r in copy["绩效指标"].merged_cells.ranges} == {"A2:A3", "B2:B3"}
    dvs = copy["资金"].data_validations.dataValidation
    assert len(dvs) == 1 and str(dvs[0].sqref) == "B3:B100" and dvs[0].type == "list"
    assert copy["资金"]["B2"].font.b and copy["资金"]["B2"].font.color.rgb.endswith("FF0000")
    assert copy["项目信息"]["A1"].comment.text == "部门自己的批注"


def test_problem_cells_marked(annotated):
    wb = openpyxl.load_workbook(annotated)
    bad = wb["资金"]["E3"]
    assert bad.fill.fgColor.rgb.endswith(RED)
    assert "不是数字" in bad.comment.text and bad.comment.text.startswith("错误")
    assert bad.comment.author == "selfeval-xlsx"
    twice = wb["绩效指标"]["I2"]
    assert twice.fill.fgColor.rgb.endswith(YELLOW)
    assert "47.22" in twice.comment.text and "偏差原因" in twice.comment.text  # both messages
    # An issue on a merged cell lands on the range's top-left cell.
    assert wb["绩效指标"]["B2"].fill.fgColor.rgb.endswith(YELLOW)
    # Row known, column unknown: the first cell of that row.
    assert wb["资金"]["A2"].fill.fgColor.rgb.endswith(RED)
    # Untouched cells keep no fill.
    assert wb["资金"]["D3"].fill.fgColor.rgb in ("00000000", None)


def test_result_sheet_content(annotated):
    ws = openpyxl.load_workbook(annotated)["自评结果"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if c.value is not None}
    name = cells[FORMULA_NAME]
    assert name.data_type == "s"  # stays text, never a formula
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    header = next(r for r in rows if r[:2] == ["项目编号", "项目名称"])
    assert header[header.index("产出指标得分")] == "产出指标得分" and "状态" in header
    project = rows[rows.index(header) + 1]
    assert project[header.index("全年预算数")] == 100 and isinstance(project[header.index("全年预算数")], (int, float))
    assert project[header.index("状态")] == "错误"
    ind_header = next(r for r in rows if r[:2] == ["项目编号", "一级指标"])
    first = rows[rows.index(ind_header) + 1]
    assert first[ind_header.index("得分")] == 47.22 and first[ind_header.index("指标性质")] == "正向"
    issue_header_row = next(i for i, r in enumerate(rows) if r[:5] == ["工作表", "单元格", "级别", "问题", "说明"])
    listed = [tuple(r[:3]) for r in rows[issue_header_row + 1:] if r[0] is not None]
    assert ("资金", "E3", "错误") in listed and ("绩效指标", "", "警告") not in listed
    assert ("绩效指标", None, "警告") in listed  # the missing column: in the list, no cell
    titles = {r[3] for r in rows[issue_header_row + 1:] if r[0] is not None}
    assert {"应填数字", "自评得分与计算得分不一致"} <= titles  # the registry's Chinese name beside each problem
    sheets = [r[0] for r in listed]
    assert sheets == sorted(sheets, key=["资金", "绩效指标"].index)  # the workbook's sheet order
    link = ws.cell(issue_header_row + 1 + listed.index(("资金", "E3", "错误")) + 1, 2)
    assert link.hyperlink.location == "'资金'!E3" or link.hyperlink.target == "#'资金'!E3"


def test_existing_result_sheet_replaced(tmp_path, src):
    wb = openpyxl.load_workbook(src)
    wb.create_sheet("自评结果")["A1"] = "旧的结果"
    wb.save(src)
    result, issues = make_result()
    out = annotate_workbook(src, tmp_path / "out.xlsx", [result], issues, grades=GRADES)
    copy = openpyxl.load_workbook(out)
    assert copy.sheetnames.count("自评结果") == 1 and copy.sheetnames[0] == "自评结果"
    assert copy["自评结果"]["A1"].value != "旧的结果"


def make_xlsm(xlsx, xlsm):
    """Turn an openpyxl .xlsx into a macro-enabled .xlsm with a (dummy) vbaProject.bin."""
    with zipfile.ZipFile(xlsx) as zin, zipfile.ZipFile(xlsm, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            if item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdVba" '
                                    b'Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
                                    b'Target="vbaProject.bin"/></Relationships>')
            zout.writestr(item, data)
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0dummy-macro")
    return xlsm


def test_xlsm_becomes_plain_xlsx(tmp_path, src):
    xlsm = make_xlsm(src, tmp_path / "宏.xlsm")
    assert "xl/vbaProject.bin" in zipfile.ZipFile(xlsm).namelist()
    before = sha256(xlsm)
    result, issues = make_result()
    out = annotate_workbook(xlsm, tmp_path / "out.xlsx", [result], issues, grades=GRADES)
    assert sha256(xlsm) == before
    z = zipfile.ZipFile(out)
    assert "xl/vbaProject.bin" not in z.namelist()
    types = z.read("[Content_Types].xml").decode()
    assert "spreadsheetml.sheet.main+xml" in types and "macroEnabled" not in types
    assert openpyxl.load_workbook(out).sheetnames[0] == "自评结果"


def test_unchanged_parts_are_carried_over_as_stored(tmp_path, src):
    """Parts the copy does not edit keep their stored bytes (a stored image stays stored, a
    part deflated at another level is not recompressed); names outside ASCII survive."""
    stored = tmp_path / "stored.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(stored, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item), zipfile.ZIP_DEFLATED, compresslevel=9)
        zout.writestr("xl/media/图片1.png", b"\x89PNG not really" * 50, zipfile.ZIP_STORED)
    result, issues = make_result()
    out = annotate_workbook(stored, tmp_path / "out.xlsx", [result], issues, grades=GRADES)
    with zipfile.ZipFile(stored) as before, zipfile.ZipFile(out) as after:
        assert after.testzip() is None
        for name in ("xl/theme/theme1.xml", "xl/media/图片1.png"):
            old, new = before.getinfo(name), after.getinfo(name)
            assert (new.compress_type, new.compress_size, new.CRC) == (old.compress_type, old.compress_size, old.CRC)
            assert after.read(name) == before.read(name)
        assert after.read("xl/workbook.xml") != before.read("xl/workbook.xml")  # edited: the new sheet
    assert openpyxl.load_workbook(out)["资金"]["E3"].fill.fgColor.rgb.endswith(RED)


def test_bytes_source(tmp_path, src):
    result, issues = make_result()
    out = annotate_workbook(src.read_bytes(), tmp_path / "from-bytes.xlsx", [result], issues, grades=GRADES)
    assert openpyxl.load_workbook(out)["资金"]["E3"].fill.fgColor.rgb.endswith(RED)


def test_refuses_to_overwrite_source(src):
    result, issues = make_result()
    with pytest.raises(ValueError):
        annotate_workbook(src, src, [result], issues, grades=GRADES)


def test_atomic_write_leaves_no_temp_file(tmp_path, annotated):
    assert [p.name for p in annotated.parent.iterdir()] == [annotated.name]


@pytest.fixture(scope="module")
def xls_source(tmp_path_factory):
    if not shutil.which("soffice"):
        pytest.skip("LibreOffice not installed (needed to make an .xls)")
    tmp = tmp_path_factory.mktemp("xls")
    xlsx = build_department_workbook(tmp / "组织部.xlsx")
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp / 'lo-profile'}", "--headless",
                    "--convert-to", "xls", "--outdir", str(tmp / "out"), str(xlsx)],
                   check=True, timeout=120, capture_output=True)
    return tmp / "out" / "组织部.xls"


def test_xls_values_copied_and_marked(tmp_path, xls_source):
    before = sha256(xls_source)
    result, issues = make_result()
    out = annotate_workbook(xls_source, tmp_path / "out.xlsx", [result], issues, grades=GRADES)
    assert sha256(xls_source) == before
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["自评结果", "项目信息", "资金", "绩效指标"]
    assert wb["资金"]["A1"].value == "2022年项目资金表"
    assert wb["资金"]["E3"].value == "九十五" and wb["资金"]["D3"].value == 100
    assert wb["资金"]["E3"].fill.fgColor.rgb.endswith(RED)
    assert wb["项目信息"]["B2"].value == FORMULA_NAME and wb["项目信息"]["B2"].data_type == "s"
    assert {str(r) for r in wb["绩效指标"].merged_cells.ranges} == {"A2:A3", "B2:B3"}
    assert re.search("47.22", wb["绩效指标"]["I2"].comment.text)


def test_marks_join_a_sheet_that_already_has_comments(tmp_path, src):
    wb = openpyxl.load_workbook(src)
    wb["资金"]["A1"].comment = Comment("部门在资金表的批注", "李四")
    wb.save(src)
    result, issues = make_result()
    out = annotate_workbook(src, tmp_path / "copy.xlsx", [result], issues, grades=GRADES)
    funding = openpyxl.load_workbook(out)["资金"]
    assert funding["A1"].comment.text == "部门在资金表的批注"
    assert "九十五" in funding["E3"].comment.text
    with zipfile.ZipFile(out) as zf:
        vml = [zf.read(n) for n in zf.namelist() if n.endswith(".vml")]
    from lxml import etree

    shapes = 0
    for part in vml:  # still well-formed XML where ours joined openpyxl's drawing, ids unique
        ids = [s.get("id") for s in etree.fromstring(part).iter("{urn:schemas-microsoft-com:vml}shape")]
        assert len(ids) == len(set(ids))
        shapes += len(ids)
    assert shapes == 6  # 2 of the department's comments + 4 of ours


def _edited_sheet(path, sheet_part, edit_xml):
    """Rewrite one worksheet part of the .xlsx at ``path`` with ``edit_xml(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as zf:
        parts = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in parts:
            zf.writestr(info, edit_xml(data) if info.filename == sheet_part else data)
    return path


def _copy_as_read(path):
    """What the copy shows, sheet by sheet: values, fills, comments, selected tabs."""
    wb = openpyxl.load_workbook(path)
    return [(ws.title, ws.sheet_view.tabSelected,
             [(c.coordinate, c.value, c.fill.fgColor.rgb if c.fill.fill_type == "solid" else None,
               c.comment.text if c.comment else None, c.number_format, c.font.b)
              for row in ws.iter_rows() for c in row])
            for ws in wb.worksheets]


@pytest.mark.parametrize("variant", ["plain", "empty row", "no refs", "table after", "no declaration"])
def test_text_edited_sheets_match_the_tree_edit(tmp_path, monkeypatch, variant):
    """Marked sheets are edited as text when plainly written; the copy is the one the tree
    edit gives: marks on existing cells, on cells and rows the sheet lacks (between, before,
    after the department's), on a merged range, in an empty ``<row/>``; a sheet without cell
    references (edited as a tree) and one with a table (``<legacyDrawing>`` before it)."""
    from selfeval_xlsx.xlsx import edit

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "表"
    for r in (1, 2, 4, 6):
        for c in (2, 3, 5):
            ws.cell(r, c, f"{r}-{c}").font = openpyxl.styles.Font(bold=c == 3)
    ws.merge_cells("B6:C7")
    other = wb.create_sheet("其他")
    other["A1"] = "x"
    other.sheet_view.tabSelected = True
    if variant == "table after":
        from openpyxl.worksheet.table import Table

        ws["B1"], ws["C1"], ws["E1"] = "甲", "乙", "丙"
        ws.add_table(Table(displayName="T1", ref="B1:C2"))
    src = tmp_path / "src.xlsx"
    wb.save(src)
    edits = {"empty row": lambda x: x.replace(b"</sheetData>", b'<row r="9" spans="1:3"/></sheetData>'),
             "no refs": lambda x: re.sub(rb' r="[A-Z]+\d+"', b"", x, count=2),
             "no declaration": lambda x: re.sub(rb"^<\?xml[^>]*\?>\s*", b"", x)}
    if variant in edits:
        _edited_sheet(src, "xl/worksheets/sheet1.xml", edits[variant])
    with zipfile.ZipFile(src) as zf:
        assert (edit.TextSheet.open(zf.read("xl/worksheets/sheet1.xml")) is None) == (variant == "no refs")
    cells = [(0, 1), (0, 3), (0, 0), (0, 6), (2, 2), (1, 3), (6, 2), (5, 2), (8, 1), (8, 0), (9, 4), (0, 4)]
    marks = [edit.Mark("表", r, c, RED if k % 3 else YELLOW, f"问题{k}", k % 3) for k, (r, c) in enumerate(cells)]
    marks.append(edit.Mark("表", 0, 1, YELLOW, "同一单元格的第二条", 0))
    sheet = edit.NewSheet("自评结果", [(0, 0, "标题", "title")], {"title": edit.Style(bold=True)})
    text = tmp_path / "text.xlsx"
    text.write_bytes(edit.annotate(src.read_bytes(), sheet, marks, "selfeval"))
    monkeypatch.setattr(edit.TextSheet, "open", classmethod(lambda cls, data: None))
    tree = tmp_path / "tree.xlsx"
    tree.write_bytes(edit.annotate(src.read_bytes(), sheet, marks, "selfeval"))
    assert _copy_as_read(text) == _copy_as_read(tree)
    shown = dict((t, (sel, cells)) for t, sel, cells in _copy_as_read(text))
    assert [c for c in shown["表"][1] if c[0] == "B6"][0][2] == "FF" + RED  # the merged range's anchor
    assert not shown["其他"][0]
    from lxml import etree

    with zipfile.ZipFile(text) as zf:
        children = [etree.QName(c).localname for c in etree.fromstring(zf.read("xl/worksheets/sheet1.xml"))]
    assert "legacyDrawing" in children
    if variant == "table after":
        assert children.index("legacyDrawing") < children.index("tableParts")


def test_a_sheet_only_unselected_is_left_as_written(tmp_path):
    """A selected sheet without marks loses only its tabSelected, even when written without
    cell references (the tree edit): no reference is added to its cells."""
    from selfeval_xlsx.xlsx import edit

    wb = openpyxl.Workbook()
    wb.active.title = "表"
    other = wb.create_sheet("其他")
    other["A1"], other["B1"] = "x", "y"
    other.sheet_view.tabSelected = True
    wb.save(tmp_path / "src.xlsx")
    src = _edited_sheet(tmp_path / "src.xlsx", "xl/worksheets/sheet2.xml", lambda x: re.sub(rb' r="[A-Z]+\d+"', b"", x))
    sheet = edit.NewSheet("自评结果", [(0, 0, "标题", "title")], {"title": edit.Style(bold=True)})
    copy = edit.annotate(src.read_bytes(), sheet, [edit.Mark("表", 0, 0, RED, "问题", 1)], "selfeval")
    with zipfile.ZipFile(src) as before, zipfile.ZipFile(io.BytesIO(copy)) as after:
        old, new = before.read("xl/worksheets/sheet2.xml"), after.read("xl/worksheets/sheet2.xml")
    assert b'tabSelected="1"' in old and b"tabSelected" not in new
    assert re.findall(rb"<c [^>]*>", new) == re.findall(rb"<c [^>]*>", old)  # no r="A1" added
