"""The reader: tolerant of how departments really fill the form, precise about what is wrong."""
from __future__ import annotations

from decimal import Decimal

import pytest

from selfeval_xlsx.checks import check_submission
from selfeval_xlsx.pipeline import analyse
from selfeval_xlsx.reader import read_workbook
from selfeval_xlsx.rules import load_rules


def problems(submission):
    """What reading and then checking the records find (the reader converts, the checks judge)."""
    return [*submission.issues, *check_submission(submission, load_rules())]


def found(submission):
    """Issues as (sheet, cell, code) tuples: what the tests assert on."""
    return {(i.sheet, i.cell, i.code) for i in problems(submission)}


def test_valid_form_reads_cleanly(make_book, tables):
    sub = read_workbook(make_book(tables))
    assert sub.issues == []
    [project] = sub.projects
    assert (project.project_id, project.name, project.year, project.department) == ("P01", "社区党建经费", "2023", "某区民政局")
    assert [(f.source, f.budget, f.executed) for f in project.funding] == [("本年财政拨款", Decimal(100), Decimal(95))]
    assert [s.amount for s in project.spending] == [Decimal(60), Decimal(35)]
    assert [(i.level3, i.target, i.actual, i.weight) for i in project.indicators][0] == ("培训班次", "≥18次", "18次", Decimal(25))
    # each record remembers its cell: 绩效指标 row 2 (0-based 1), 年度指标值 in column F (0-based 5)
    first = project.indicators[0]
    assert (first.sheet, first.row, first.cols["target"]) == ("绩效指标", 1, 5)


# --- one test per check, asserting (sheet, cell, code) --------------------------------------

def test_text_in_amount_names_the_cell(make_book, tables):
    tables["资金"][1][4] = "一百万"
    sub = read_workbook(make_book(tables))
    assert ("资金", "E2", "bad-number") in found(sub)
    assert sub.issues[0].value == "一百万" and sub.issues[0].project_id == "P01"


def test_date_where_amount_belongs(make_book, tables):
    import datetime as dt
    tables["资金"][1][3] = dt.datetime(2023, 5, 1)
    assert ("资金", "D2", "bad-number") in found(read_workbook(make_book(tables)))


def test_negative_amount(make_book, tables):
    tables["支出"][1][3] = -5
    assert ("支出", "D2", "negative-number") in found(read_workbook(make_book(tables)))


def test_weight_typed_as_words(make_book, tables):
    tables["绩效指标"][1][7] = "二十五分"
    assert ("绩效指标", "H2", "bad-number") in found(read_workbook(make_book(tables)))


def test_missing_sheet(make_book, tables):
    del tables["资金"]
    sub = read_workbook(make_book(tables))
    assert ("资金", "", "missing-sheet") in found(sub)
    assert [i.severity for i in sub.issues if i.code == "missing-sheet"] == ["error"]


def test_missing_spending_sheet_is_only_a_warning(make_book, tables):
    del tables["支出"]
    sub = read_workbook(make_book(tables))
    assert [(i.code, i.severity) for i in problems(sub)] == [("missing-spending-sheet", "warning")]


def test_missing_column_points_where_it_belongs(make_book, tables):
    """No header cell comes close: the mark goes on the free cell after the header (it was
    shown as cell ``1`` and marked on A1)."""
    for row in tables["资金"]:
        del row[4]
    assert ("资金", "E1", "missing-column") in found(read_workbook(make_book(tables)))


def test_every_header_renamed(make_book, tables):
    tables["绩效指标"][0] = [f"列{i}" for i in range(len(tables["绩效指标"][0]))]
    assert ("绩效指标", "", "missing-header") in found(read_workbook(make_book(tables)))


def test_empty_required_cell(make_book, tables):
    tables["绩效指标"][2][5] = None
    assert ("绩效指标", "F3", "empty-required") in found(read_workbook(make_book(tables)))


def test_duplicate_project_id(make_book, tables):
    tables["项目信息"].append(["P01", "另一个项目", 2023, "某区民政局"])
    sub = read_workbook(make_book(tables))
    assert ("项目信息", "A3", "duplicate-project-id") in found(sub)
    assert len(sub.projects) == 1


def test_row_of_unknown_project(make_book, tables):
    tables["资金"].append(["P99", "本年财政拨款", 1, 1, 1])
    assert ("资金", "A3", "unknown-project") in found(read_workbook(make_book(tables)))


def test_formula_without_cached_value(make_book, tables):
    tables["资金"][1][4] = "=C2*0.95"  # openpyxl stores the formula but no computed value
    sub = read_workbook(make_book(tables))
    assert ("资金", "E2", "formula-no-value") in found(sub)
    assert ("资金", "E2", "empty-required") not in found(sub)


def test_bad_year(make_book, tables):
    tables["项目信息"][1][2] = "去年"
    assert ("项目信息", "C2", "bad-year") in found(read_workbook(make_book(tables)))


def test_unknown_level1_and_nature(make_book, tables):
    tables["绩效指标"][1][1] = "其他指标"
    tables["绩效指标"][2][4] = "越大越好"
    issues = found(read_workbook(make_book(tables)))
    assert {("绩效指标", "B2", "bad-level1"), ("绩效指标", "E3", "bad-nature")} <= issues


def test_level2_outside_its_level1_is_a_warning(make_book, tables):
    tables["绩效指标"][1][2] = "社会效益指标"
    sub = read_workbook(make_book(tables))
    assert [(i.cell, i.code, i.severity) for i in problems(sub)] == [("C2", "bad-level2", "warning")]


def test_project_without_funding(make_book, tables):
    tables["资金"] = tables["资金"][:1]
    assert ("项目信息", "A2", "no-funding") in found(read_workbook(make_book(tables)))


# --- what departments really send -------------------------------------------------------------

def test_title_rows_aliases_units_and_shuffled_columns(make_book, tables):
    tables["资金"] = [["2023年度项目资金情况表"], [], ["单位：元"],
                    ["全年执行数\n（元）", "项目 编号", "全年预算数(元)", "资金来源"],
                    [950000, "P01", "1,000,000", "本年财政拨款"]]
    tables["项目信息"][0] = ["project_id", "name", "year", "department", "implementer"]
    sub = read_workbook(make_book(tables))
    assert sub.issues == []
    [row] = sub.projects[0].funding
    assert (row.budget, row.executed, row.row) == (Decimal(100), Decimal(95), 4)


def test_merged_category_cells_fill_down_and_blank_rows_skip(make_book, tables):
    rows = tables["绩效指标"]
    rows[2][0] = rows[2][1] = None
    rows.insert(3, [None] * 11)  # a blank row inside the table
    sub = read_workbook(make_book(tables, merges={"绩效指标": ["A2:A3", "B2:B3"]}))
    indicators = sub.projects[0].indicators
    assert [(i.project_id, i.level1, i.row) for i in indicators[:3]] == [
        ("P01", "产出指标", 1), ("P01", "产出指标", 2), ("P01", "效益指标", 4)]
    assert sub.issues == []


def test_percent_formatted_number_and_plain_number(make_book, tables):
    tables["绩效指标"][3][6] = 0.96     # shown as 96% in Excel
    tables["绩效指标"][1][6] = 18       # plain number: the target's unit is implied
    sub = read_workbook(make_book(tables, formats={"绩效指标": {"G4": "0%"}}))
    indicators = sub.projects[0].indicators
    assert (indicators[0].actual, indicators[2].actual) == ("18", "96%")


def test_many_blank_rows_before_the_data(make_book, tables):
    tables["资金"] = [[None]] * 20000 + tables["资金"]
    sub = read_workbook(make_book(tables))
    assert sub.issues == []
    assert sub.projects[0].funding[0].row == 20001


def test_xls_is_read(tmp_path, tables):
    pytest.importorskip("xlwt")
    from corpus import write_xls

    path = tmp_path / "old.xls"
    write_xls(path, tables)
    sub = read_workbook(path)
    assert sub.issues == []
    assert sub.projects[0].funding[0].executed == Decimal(95)


@pytest.mark.parametrize("content, code", [
    (b"", "empty-file"),
    ("项目编号,项目名称\nP01,党建\n".encode("gb18030"), "not-a-workbook"),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00garbage", "corrupt-file"),
])
def test_unreadable_files_are_one_issue_not_an_exception(tmp_path, content, code):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    sub = read_workbook(path)
    assert sub.projects == []
    assert [(i.file, i.code, i.severity) for i in sub.issues] == [(str(path), code, "error")]


def test_truncated_workbook(make_book, tables, tmp_path):
    data = make_book(tables).read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert [i.code for i in read_workbook(path).issues] == ["corrupt-file"]


def test_fast_metadata_scan_agrees_with_the_exact_one(make_book, tables):
    from selfeval_xlsx.xlsx.meta import read_meta

    tables["绩效指标"][3][6] = 0.96
    tables["资金"][1][4] = "=C2*0.95"
    data = make_book(tables, formats={"绩效指标": {"G4": "0%", "F2": "0.0%"}}).read_bytes()
    exact, fast = read_meta(data), read_meta(data, max_cells=2_000_000)
    assert fast["绩效指标"].percent == exact["绩效指标"].percent == {(3, 6), (1, 5)}
    assert fast["资金"].formula_without_value == exact["资金"].formula_without_value == {(1, 4)}
    for name, meta in exact.items():
        assert (meta.rows, meta.cols) <= (fast[name].rows, fast[name].cols)


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_fast_scan_finds_a_formula_beside_data_validation_formulas(prefix):
    from selfeval_xlsx.xlsx.meta import _scan_exact, _scan_fast

    p = prefix
    xml = (f'<{p}worksheet><{p}sheetData><{p}row r="2"><{p}c r="B2" t="s"><{p}v>0</{p}v></{p}c>'
           f'<{p}c r="C2"><{p}f>B2*2</{p}f></{p}c></{p}row></{p}sheetData><{p}dataValidations>'
           f'<{p}dataValidation sqref="A2"><{p}formula1>"a,b"</{p}formula1></{p}dataValidation>'
           f'</{p}dataValidations></{p}worksheet>').encode()
    fast, _ = _scan_fast(xml, frozenset(), 2_000_000)
    assert fast.formula_without_value == _scan_exact(xml, set())[0].formula_without_value == {(1, 2)}


# --- issue 16: odd cells, look-alike sheets, repeated headers ----------------------------------

def test_na_words_are_text_and_an_id_na_is_an_id(make_book, tables):
    for sheet in tables.values():
        for row in sheet[1:]:
            row[0] = "NA" if row[0] == "P01" else row[0]
    tables["项目信息"][1][4] = "None"
    tables["资金"][1][2] = "NULL"  # 年初预算数: text in a number cell, not a blank
    sub = read_workbook(make_book(tables))
    [project] = sub.projects
    assert (project.project_id, project.implementer, len(project.indicators)) == ("NA", "None", 4)
    assert found(sub) == {("资金", "C2", "bad-number")}


def test_cached_excel_errors_are_their_own_problem(make_book, tables):
    import corpus

    data = make_book(tables).read_bytes()
    data = corpus.with_error_value(data, "xl/worksheets/sheet2.xml", "E2")  # 资金 全年执行数
    data = corpus.with_error_value(data, "xl/worksheets/sheet4.xml", "G3", "#N/A")  # 绩效指标 实际完成值
    sub = read_workbook("x.xlsx", data)
    assert found(sub) == {("资金", "E2", "excel-error"), ("绩效指标", "G3", "excel-error")}
    assert "公式计算结果为 #DIV/0!" in sub.issues[0].message
    path = make_book(tables, name="err.xlsx")
    path.write_bytes(data)
    analysis = analyse(path)  # the scorer does not report the refused actual a second time
    assert sorted((i.cell, i.code) for i in analysis.all_issues) == [("E2", "excel-error"), ("G3", "excel-error")]


@pytest.mark.parametrize("typed, header, read, codes", [
    ("950000元", "全年预算数", Decimal(95), {("资金", "D2", "unit-in-amount")}),
    ("100万元", "全年预算数", Decimal(100), set()),
    ("1,000,000元", "全年预算数（元）", Decimal(100), set()),
    ("100万元", "全年预算数（元）", Decimal(100), {("资金", "D2", "unit-in-amount")}),
    ("95次", "全年预算数", None, {("资金", "D2", "bad-amount-unit")}),
])
def test_units_typed_in_amount_cells(make_book, tables, typed, header, read, codes):
    tables["资金"][0][3], tables["资金"][1][3] = header, typed
    sub = read_workbook(make_book(tables))
    assert sub.projects[0].funding[0].budget == read
    assert {f for f in found(sub) if f[2] != "over-budget"} == codes


def test_dashes_and_none_in_optional_number_cells_mean_empty(make_book, tables):
    tables["资金"][1][2] = "—"
    tables["绩效指标"][1][8], tables["绩效指标"][2][9] = "/", "无"
    tables["资金"][1][3] = "—"  # 全年预算数 is required: a dash there is still wrong
    sub = read_workbook(make_book(tables))
    assert sub.projects[0].funding[0].initial_budget is None
    assert [(i.self_score, i.deduction) for i in sub.projects[0].indicators[:2]] == [(None, None), (Decimal(25), None)]
    assert found(sub) == {("资金", "D2", "bad-number")}


def test_two_visible_lookalike_sheets_refuse_the_file(tmp_path, tables):
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in {**tables, "绩效指标 (2)": tables["绩效指标"]}.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(tmp_path / "x.xlsx")
    sub = read_workbook(tmp_path / "x.xlsx")
    assert {(i.sheet, i.code) for i in sub.issues} == {("绩效指标", "ambiguous-sheet")}
    assert sub.issues[0].blocks_file and not sub.projects[0].indicators


def test_a_repeated_header_with_the_same_values_is_only_named(make_book, tables):
    for row in tables["资金"]:
        row.append(row[0])  # 项目编号 again at the right end, as wide sheets have it
    assert found(read_workbook(make_book(tables))) == {("资金", "F1", "duplicate-header")}


def test_grids_straight_from_calamine_equal_what_pandas_reads(tmp_path):
    """The reader takes each sheet from calamine itself; its grids must stay the ones pandas
    ``read_excel(header=None, dtype=object, na_filter=False)`` gives, cell type included."""
    import datetime as dt

    import openpyxl

    from selfeval_xlsx.reader import _load_arrays, _load_grids

    rows = [["\ufeff\"项目\"编号", "项目名称", "年度", "预算"],
            ["P01", True, 2023.0, 12.5],
            ["", None, dt.date(2023, 12, 31), dt.datetime(2023, 6, 1, 8, 30)],
            [0, False, dt.time(9, 15), "NA"]]
    book = openpyxl.Workbook()
    book.active.title = "项目"
    for row in rows:
        book.active.append(row)
    book.create_sheet("资金")  # an empty sheet
    book.create_sheet("绩效指标").sheet_state = "hidden"
    book.create_sheet("绩效指标 (2)").append(["一级指标", 1])
    book.save(tmp_path / "dept.xlsx")
    data = (tmp_path / "dept.xlsx").read_bytes()

    ours, ours_merges = _load_arrays(data, [], {})
    frames, merges = _load_grids(data, ambiguous=[], meta={})
    assert list(ours) == list(frames) and ours_merges == merges
    for name, frame in frames.items():
        if frame is None:
            assert ours[name] is None
            continue
        theirs = frame.to_numpy(dtype=object)
        assert ours[name].shape == theirs.shape
        assert [[(type(v), v) for v in row] for row in ours[name].tolist()] == \
               [[(type(v), v) for v in row] for row in theirs.tolist()]
    assert ours["项目"][0, 0] == "项目编号" and ours["项目"][1, 2] == 2023 and type(ours["项目"][1, 2]) is int
