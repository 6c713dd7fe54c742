"""The rules file: bundled defaults, overrides, and every kind of bad file."""
from decimal import Decimal as D

import pytest

from selfeval_xlsx.errors import RulesError
from selfeval_xlsx.rules import BUNDLED_RULES, Rules, load_rules


def test_national_rules_come_from_the_bundled_file_only():
    assert BUNDLED_RULES.is_file()
    loaded = load_rules()
    assert loaded.source == str(BUNDLED_RULES)
    with pytest.raises(TypeError):
        Rules()  # no second copy of the defaults in code


def test_defaults_are_the_national_table():
    r = load_rules()
    assert r.budget_weight == 10 and r.total_weight == 100
    assert dict(r.level1_weights) == {"产出指标": 50, "效益指标": 30, "满意度指标": 10, "成本指标": 0}
    assert r.reverse_method == "linear"
    assert r.band("部分达成") == (D("0.6"), D("0.8"))
    assert r.qualitative_default == 1
    assert r.self_score_tolerance == D("0.01") and r.reconciliation_tolerance == D("0.01")
    assert r.grade_names == ("优", "良", "中", "差")


@pytest.mark.parametrize("total, grade", [
    (D(100), "优"), (D(90), "优"), (D("89.99"), "良"), (D(80), "良"), (D("79.99"), "中"),
    (D(60), "中"), (D("59.99"), "差"), (D(0), "差"),
])
def test_grade_edges(total, grade):
    assert load_rules().grade(total) == grade


@pytest.mark.parametrize("band, score, inside", [
    ("达成", D(8), True), ("达成", D(10), True), ("达成", D("7.99"), False), ("达成", D("10.01"), False),
    ("部分达成", D(6), True), ("部分达成", D("7.99"), True), ("部分达成", D(8), False),
    ("未达成", D(0), True), ("未达成", D("5.99"), True), ("未达成", D(6), False), ("未达成", D(-1), False),
])
def test_bands_include_low_end_and_top_band_high_end(band, score, inside):
    assert load_rules().in_band(band, score, D(10)) is inside


def write(tmp_path, text):
    path = tmp_path / "local.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_partial_file_overrides_only_what_it_says(tmp_path):
    r = load_rules(write(tmp_path, '[reverse]\nmethod = "ratio"\n[grades]\n"优" = 85\n'))
    assert r.reverse_method == "ratio"
    assert r.grade(D(86)) == "优" and r.grade(D(84)) == "良"
    assert r.budget_weight == 10 and r.band("达成") == (D("0.8"), D(1))


def test_lowest_grade_renamed(tmp_path):
    r = load_rules(write(tmp_path, '[grades]\nlowest = "不合格"\n'))
    assert r.grade(D(10)) == "不合格" and r.grade_names == ("优", "良", "中", "不合格")


def test_other_split_and_float_values(tmp_path):
    text = ('[weights]\nbudget = 20\n"产出指标" = 40\n"效益指标" = 30\n"满意度指标" = 10\n'
            '[qualitative]\n"达成" = [0.85, 1.0]\n"部分达成" = [0.6, 0.85]\ndefault = 0.9\n'
            '[tolerance]\nself_score = 0.5\n')
    r = load_rules(write(tmp_path, text))
    assert r.budget_weight == 20 and r.default_weight("产出指标") == 40
    assert r.band("达成") == (D("0.85"), D("1.0")) and r.qualitative_default == D("0.9")
    assert r.self_score_tolerance == D("0.5")


@pytest.mark.parametrize("text, key", [
    ('[weights]\nbudgett = 10\n', "weights.budgett"),                      # unknown key
    ('[weight]\nbudget = 10\n', "weight"),                                 # unknown table
    ('[weights]\nbudget = "十"\n', "weights.budget"),                       # wrong type
    ('[weights]\nbudget = true\n', "weights.budget"),                       # bool is not a number
    ('[weights]\nbudget = -10\n"产出指标" = 70\n', "weights.budget"),        # negative weight
    ('[weights]\n"成本指标" = -5\n"产出指标" = 55\n', "weights.成本指标"),
    ('[weights]\n"产出指标" = 60\n', "weights.total"),                      # defaults no longer sum to total
    ('[reverse]\nmethod = "log"\n', "reverse.method"),                     # unknown method
    ('[reverse]\nmethod = 1\n', "reverse.method"),
    ('[grades]\n"优" = 70\n', "grades"),                                    # 优 below 良: out of order
    ('[grades]\n"中" = 80\n', "grades"),                                    # equal thresholds
    ('[qualitative]\n"部分达成" = [0.6, 0.9]\n', "qualitative.部分达成"),      # overlaps 达成
    ('[qualitative]\n"达成" = [0.9, 0.8]\n', "qualitative.达成"),            # low above high
    ('[qualitative]\n"未达成" = [0, 1.2]\n', "qualitative.未达成"),
    ('[qualitative]\n"达成" = [0.8]\n', "qualitative.达成"),                 # not a pair
    ('[qualitative]\ndefault = 0.5\n', "qualitative.default"),             # outside 达成
    ('[tolerance]\nself_score = -0.01\n', "tolerance.self_score"),
    ('weights = 5\n', "weights"),
])
def test_bad_files_name_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert str(path) in message and key in message


def test_malformed_and_missing_files(tmp_path):
    with pytest.raises(RulesError, match="local.toml"):
        load_rules(write(tmp_path, "[weights\nbudget = 10"))
    with pytest.raises(RulesError, match="nope.toml"):
        load_rules(tmp_path / "nope.toml")
