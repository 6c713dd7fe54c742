"""Command line: ``selfeval template | check | score | run``.

Parses arguments, calls the library, prints, picks the exit code: 0 clean (warnings allowed),
1 some input has an error, 2 unusable arguments or unreadable files.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from ._io import describe_write_failure, private_tmp
from .errors import SelfevalError
from .guard import Limits
from .intake import collect
from .present import fmt_figure, level1_order, text_width
from .issues import Code
from .vocab import Layout, Severity


EPILOG = """\
示例：
  selfeval run workbook_templates/examples -o output      批量评分，输出汇总表、工作簿副本和报告
  selfeval check 某局_2023.xlsx                           只检查填报问题，不输出文件
  selfeval score 某局_2023.xlsx --json                    打印每个项目的得分
  selfeval template 自评表模板.xlsx                        生成空白填报模板
  selfeval template --targets 批复目标.xlsx -o 预填自评表   按批复绩效目标为各部门生成预填表
  selfeval run 收件箱 -o 结果 --targets 批复目标.xlsx --replies
                                                          与批复目标比对，并为各部门生成回复邮件草稿
退出码：0 全部通过（允许警告）；1 有文件被拒收或有项目存在错误；2 参数错误或文件无法读取。"""


STRICT_HELP = "严格模式：报告所需的文字栏目（项目实施情况、项目管理情况、存在问题、改进措施等）未填写时按错误处理，该项目不评分、不生成报告"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain text table, aligned for CJK text in a terminal."""
    widths = [max([text_width(h)] + [text_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths[-1] = 0  # the last column (the message) is left unpadded
    lines = []
    for row in [headers] + rows:
        lines.append("  ".join(cell + " " * (w - text_width(cell)) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _number(value) -> str:
    """A score for the terminal: two decimals so columns line up, whole numbers bare."""
    return "-" if value is None else fmt_figure(value)


def _check_or_score(args) -> int:
    from .batch.decisions import gather
    from .pipeline import analyse
    from .rules import load_rules

    rules = load_rules(args.rules, strict=args.strict)
    approved = _approved(args)
    refs, skipped = collect(args.files)
    analyses, _, issues = gather([analyse(ref, rules, Limits(), approved) for ref in refs])  # also one 项目编号 in two files
    if approved is not None and approved.targets.issues:
        issues = [*approved.targets.issues, *issues]
        if not args.json:
            _print_target_issues(approved.targets)
    unreadable = any(a.unreadable for a in analyses) or any(s.code is Code.MISSING_PATH or s.code.unreadable
                                                            for s in skipped)
    if args.command == "check":
        _print_check(args, analyses, issues, skipped)
    else:
        _print_scores(args, analyses)
    if unreadable:
        return 2
    refused = any(s.code.severity is Severity.ERROR for s in skipped)  # e.g. an attachment over the size limit
    return 1 if refused or any(i.is_error for i in issues) else 0


def _print_check(args, analyses, issues, skipped) -> None:
    if args.json:
        print(json.dumps({"files": [a.ref.name for a in analyses], "skipped": [s.__dict__ for s in skipped],
                          "layouts": {a.ref.name: dict(a.layouts) for a in analyses},
                          "issues": [i.to_dict() for i in issues]}, ensure_ascii=False, indent=1))
        return
    for s in skipped:
        print(f"{'拒收' if s.code.severity is Severity.ERROR else '跳过'}：{s.path}（{s.reason}）[{s.code}]")
    for analysis in analyses:
        own = [i for i in issues if i.file == analysis.ref.name]
        errors = sum(i.is_error for i in own)
        print(f"\n{analysis.ref.name}：{len(analysis.results)} 个项目，错误 {errors} 个，警告 {len(own) - errors} 个")
        for line in _layout_lines(analysis.layouts):
            print(line)
        if own:
            rows = [[i.sheet or "-", i.cell or "-", i.severity.label, str(i.code), i.message] for i in own]
            print(_table(["工作表", "单元格", "级别", "代码", "说明"], rows))


def _layout_lines(layouts) -> list[str]:
    """``  附件1、附件2：项目支出绩效自评表（国家表式）``: the sheets read, by recognised layout."""
    groups: dict[str, list[str]] = {}
    for sheet, layout in layouts:
        groups.setdefault(Layout(layout).label, []).append(sheet)
    return [f"  {'、'.join(sheets)}：{label}" for label, sheets in groups.items()]


def _print_scores(args, analyses) -> None:
    results = [r for a in analyses for r in a.results]
    if args.json:
        print(json.dumps([{
            "file": r.project.source_file, "project_id": r.project.project_id, "name": r.project.name,
            "budget_score": _json_number(r.budget_score), "rate": _json_number(r.rate),
            "subtotals": {k: _json_number(v) for k, v in r.subtotals.items()},
            "total": _json_number(r.total), "grade": r.grade, "status": r.status,
            "errors": sum(i.is_error for i in r.issues), "warnings": sum(not i.is_error for i in r.issues),
        } for r in results], ensure_ascii=False, indent=1))
        return
    levels = level1_order(k for r in results for k in r.subtotals)
    rows = [[r.project.project_id, r.project.name, _number(r.budget_score), *[_number(r.subtotals.get(k)) for k in levels],
             _number(r.total), r.grade or "-", r.status, str(len(r.issues)), r.project.source_file] for r in results]
    print(_table(["项目编号", "项目名称", "预算执行", *levels, "总分", "等级", "状态", "问题数", "来源文件"], rows))
    for analysis in analyses:
        for issue in analysis.issues:
            print(f"{analysis.ref.name}：{issue.message}")


def _approved(args):
    """The approved targets of ``--targets`` (None without it); raises TargetsError."""
    if args.score_against_approved and not args.targets:
        raise SelfevalError("--score-against-approved 需要同时用 --targets 指定批复绩效目标。")
    if not args.targets:
        return None
    from .pipeline import Approved
    from .targets import load_targets

    return Approved(load_targets(args.targets), args.score_against_approved)


def _print_target_issues(targets) -> None:
    for i in targets.issues:
        print(f"批复目标「{i.file}」：{i.message}")


def _json_number(value):
    return None if value is None else float(value)


GROUP_LIMIT = 20  # names listed per reason before "…及另外 N 个"


def _print_grouped(heading: str, items: list[tuple[str, str, str]]) -> None:
    """``heading`` then the (reason, name, detail) items grouped by reason, at most
    :data:`GROUP_LIMIT` names per reason."""
    if not items:
        return
    print(f"{heading} {len(items)} 个：")
    groups: dict[str, list[tuple[str, str]]] = {}
    for reason, name, detail in items:
        groups.setdefault(reason, []).append((name, detail))
    for reason, members in groups.items():
        print(f"  {reason}（{len(members)} 个）：")
        for name, detail in members[:GROUP_LIMIT]:
            print(f"    {name}" + (f"：{detail}" if detail else ""))
        if len(members) > GROUP_LIMIT:
            print(f"    …及另外 {len(members) - GROUP_LIMIT} 个")


def _print_refused(result) -> None:
    """Every rejected and every skipped input, grouped by reason."""
    rejected = []
    for name, problems in result.rejections.items():
        first = problems[0] if problems else None
        more = f"（另有 {len(problems) - 1} 个问题，见问题清单）" if len(problems) > 1 else ""
        rejected.append((first.title if first else "无法处理", name, (first.message if first else "") + more))
    # Inputs refused before reading (too large, no regular file, a format not read) are refusals too.
    rejected += [(s.code.title, s.path, s.reason) for s in result.skipped if s.code.severity is Severity.ERROR]
    _print_grouped("拒收", rejected)
    # A reason that only repeats its group's name ("不是工作簿或邮件，已跳过") is not printed twice.
    _print_grouped("跳过", [(s.code.title, s.path, "" if s.reason.removesuffix("，已跳过") == s.code.title else s.reason)
                          for s in result.skipped if s.code.severity is not Severity.ERROR])


def _print_project(r) -> None:
    p = r.project
    if r.superseded_by:
        print(f"{p.project_id}  {p.name}  [{r.status}]  {p.source_file}  → 以「{r.superseded_by}」为准")
        return
    score = f"{_number(r.total)} 分 {r.grade}" if r.total is not None else "未评分"
    print(f"{p.project_id}  {p.name}  {score}  [{r.status}]  {p.source_file}")


def _run(args) -> int:
    from .batch import RunOptions, run

    refs, skipped = collect(args.inputs, exclude=args.output)
    missing = [s.path for s in skipped if s.code is Code.MISSING_PATH]
    if missing:  # a mistyped inbox must not rebuild summary.xlsx from nothing
        print(f"输入路径不存在：{'、'.join(missing)}。请检查路径；未处理任何文件。", file=sys.stderr)
        return 2
    if not refs and not skipped:
        print("没有找到任何输入文件。", file=sys.stderr)
        return 2
    if args.scheduler and args.workers:
        print("--workers 只用于本机运行；使用 --scheduler 时，并行度由集群各工作进程的线程数（dask worker --nthreads）决定。",
              file=sys.stderr)
        return 2
    approved = _approved(args)
    options = RunOptions(output=Path(args.output), rules_path=args.rules, workers=args.workers,
                         scheduler=args.scheduler, connect_timeout=args.connect_timeout, break_lock=args.break_lock,
                         force=args.force, report_template=args.report_template, reports=not args.no_reports,
                         strict=args.strict, limits=Limits(seconds=args.max_seconds, memory_mb=args.max_memory_mb),
                         targets=approved.targets if approved else None,
                         score_on_approved=bool(approved and approved.score_on_approved),
                         replies=args.replies or args.replies_with_reports, replies_with_reports=args.replies_with_reports)
    if options.report_template is not None and not options.report_template.is_file():
        print(f"报告模板不存在：{options.report_template}", file=sys.stderr)
        return 2
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=2 * len(refs), unit="步", desc="读取评分与输出", file=sys.stderr)
    def notice(text: str) -> None:
        (bar.write if bar else print)(f"注意：{text}", file=sys.stderr)

    try:
        result = run(refs, options, skipped=skipped, progress=bar.update if bar else None, notice=notice)
    finally:
        if bar:
            bar.close()
    if not args.quiet:
        for r in (*result.counted, *result.superseded):
            _print_project(r)
    _print_refused(result)
    pdfs = []
    if args.pdf and result.reports:
        from .report import to_pdf

        try:
            pdfs = to_pdf(result.reports, result.output / "reports", tmp_dir=private_tmp(result.output))
        except SelfevalError as exc:
            print(f"PDF 转换未完成：{exc}", file=sys.stderr)
    errors, warnings = result.count(Severity.ERROR), result.count(Severity.WARNING)
    replaced = f"，另有已取代 {len(result.superseded)} 个不计" if result.superseded else ""
    refused = sum(s.code.severity is Severity.ERROR for s in result.skipped)
    print(f"工作簿：读取 {result.inputs} 个（复用上次结果 {result.reused} 个），拒收 {result.rejected + refused} 个，"
          f"跳过 {len(result.skipped) - refused} 个；项目：评分 {result.scored} 个，共 {len(result.counted)} 个{replaced}；"
          f"问题：错误 {errors} 个，警告 {warnings} 个。")
    print(f"输出：{result.output / 'summary.xlsx'}，{result.output / 'workbooks'}，"
          f"{result.output / 'reports'}（报告 {len(result.reports)} 份{f'，PDF {len(pdfs)} 份' if pdfs else ''}）")
    if options.replies:
        print(f"回复草稿：{result.output / 'replies'}（{len(result.replies)} 封，未发送；用 Outlook/Foxmail 打开后核对、发送）")
    return 0 if result.clean else 1


def _template(args) -> int:
    from .form import write_template

    if args.targets:
        return _prefilled(args)
    path = Path(args.path)
    if path.exists() and not args.overwrite:
        print(f"文件已存在：{path}（如需覆盖请加 --overwrite）", file=sys.stderr)
        return 2
    write_template(path)
    print(f"已生成空白模板：{path}")
    return 0


def _prefilled(args) -> int:
    from .form import prefilled_forms, prefilled_name, write_prefilled
    from .targets import load_targets

    targets = load_targets(args.targets)
    _print_target_issues(targets)
    folder = Path(args.output or "预填自评表")
    names = [prefilled_name(d, forms[0]) for d, forms in prefilled_forms(targets.projects).items()]
    existing = [n for n in names if (folder / n).exists()]
    if existing and not args.overwrite:
        print(f"文件已存在：{folder / existing[0]} 等 {len(existing)} 个（如需覆盖请加 --overwrite）", file=sys.stderr)
        return 2
    written = write_prefilled(folder, targets.projects)
    print(f"已按批复绩效目标生成 {len(written)} 个部门的预填自评表（{len(targets.projects)} 个项目）：{folder}")
    for path in written:
        print(f"  {path.name}")
    return 0


_EXPORTS = {"rules": ("national.toml", "全国通用评分规则", "修改其中的数值后，运行时用 --rules {path} 指定。"),
            "report-template": ("report_template.docx", "内置 Word 报告模板",
                                "在 Word 中修改版式和文字（保留 {{ }} 标签）后，运行时用 --report-template {path} 指定。")}


def _export(args) -> int:
    from importlib import resources

    name, what, hint = _EXPORTS[args.what]
    path = Path(args.path or name)
    if path.exists() and not args.overwrite:
        print(f"文件已存在：{path}（如需覆盖请加 --overwrite）", file=sys.stderr)
        return 2
    path.write_bytes((resources.files(__package__) / "data" / name).read_bytes())
    print(f"已导出{what}：{path}。{hint.replace('{path}', str(path))}")
    return 0


MIN_MEMORY_MB = 256  # below this a normal workbook cannot even be read (nor a codec imported)


def _seconds(text: str) -> float:
    """A finite, positive number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为秒数，收到「{text}」") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"应为大于 0 的有限秒数，收到「{text}」")
    return value


def _memory_mb(text: str) -> int:
    """A whole number of megabytes, at least :data:`MIN_MEMORY_MB` (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为整数（MB），收到「{text}」") from None
    if value < MIN_MEMORY_MB:
        raise argparse.ArgumentTypeError(f"不能小于 {MIN_MEMORY_MB} MB（读取一个普通工作簿就需要这么多），收到「{text}」")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfeval", description="项目支出绩效自评：读取部门填报的工作簿，检查、评分，输出汇总表、带评分结果的工作簿副本和 Word 自评报告。",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"selfeval-xlsx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="命令")

    rules_help = "评分规则文件（TOML），未写出的项沿用全国通用规则（selfeval export rules 可导出该文件供修改）"
    for name, help_text in (("check", "检查工作簿填报问题（指出工作表和单元格），不写任何文件"),
                            ("score", "检查并评分，打印每个项目的得分")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("files", nargs="+", metavar="文件", help="工作簿（.xlsx/.xlsm/.xls/.et/.ods）、邮件（.eml/.msg）、.zip 压缩包或文件夹")
        p.add_argument("--json", action="store_true", help="以 JSON 输出，便于其他程序读取")
        p.add_argument("--rules", type=Path, metavar="FILE", help=rules_help)
        p.add_argument("--strict", action="store_true", help=STRICT_HELP)
        _targets_arguments(p)

    p = sub.add_parser("run", help="批量处理：评分并输出汇总表、工作簿副本和报告",
                       description="批量处理一个收件箱（文件夹、工作簿、.eml/.msg 邮件、.zip 压缩包）。输出：summary.xlsx（汇总、指标明细、问题清单、统计），"
                                   "workbooks/（每个工作簿加上「自评结果」工作表的副本），reports/（每个项目一份 Word 报告）。"
                                   "再次运行时只处理新增或变化的文件。")
    p.add_argument("inputs", nargs="+", metavar="输入", help="工作簿、.eml/.msg 邮件、.zip 压缩包或文件夹（递归查找）")
    p.add_argument("-o", "--output", default="output", metavar="DIR", help="输出文件夹（默认 output/）")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="并行进程数（默认：CPU 核数）")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed 调度器地址（如 tcp://10.0.0.5:8786），需安装 selfeval-xlsx[dask]；"
                   "输入、输出文件夹和报告模板须在各机器的同一路径上可见，各机器须安装同一版本")
    p.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="S",
                   help="连接调度器、等待第一个工作进程的时限（秒，默认 10）")
    p.add_argument("--break-lock", action="store_true",
                   help="解除另一台机器上的运行留下的输出文件夹锁（仅在确认那次运行已停止时使用）")
    p.add_argument("--force", action="store_true", help="忽略上次运行的结果，全部重新处理")
    p.add_argument("--rules", type=Path, metavar="FILE", help=rules_help)
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.add_argument("--report-template", type=Path, metavar="FILE", help="自定义 Word 报告模板（docxtpl，在沙箱中渲染）")
    p.add_argument("--no-reports", action="store_true", help="不生成 Word 报告")
    p.add_argument("--pdf", action="store_true", help="同时用 LibreOffice 把报告转为 PDF（需要 soffice）")
    p.add_argument("--quiet", action="store_true", help="不显示进度条和逐项目结果")
    p.add_argument("--max-seconds", type=_seconds, default=Limits.seconds, metavar="S",
                   help=f"单个文件的处理时间上限（秒，默认 {Limits.seconds:g}）")
    p.add_argument("--max-memory-mb", type=_memory_mb, default=Limits.memory_mb, metavar="MB",
                   help=f"单个文件的内存上限（MB，默认 {Limits.memory_mb}，至少 {MIN_MEMORY_MB}）")
    _targets_arguments(p)
    p.add_argument("--replies", action="store_true",
                   help="为每个主管部门生成一封回复邮件草稿 replies/{主管部门}.eml：收件人为其报送邮件的发件人，正文列出各项目得分、"
                        "等级、状态和问题（错误在前），附上标注了问题的工作簿副本；带 X-Unsent 标记，Outlook/Foxmail 打开即为"
                        "待发送草稿。不会发送任何邮件")
    p.add_argument("--replies-with-reports", action="store_true", help="回复草稿同时附上各项目的 Word 自评报告（含 --replies）")

    p = sub.add_parser("export", help="导出内置的评分规则或报告模板，供本地修改",
                       description="导出内置文件供本地修改：rules 为全国通用评分规则（national.toml，含中文说明），"
                                   "report-template 为 Word 报告模板（docxtpl）。修改后分别用 --rules、--report-template 指定。")
    p.add_argument("what", choices=list(_EXPORTS), help="rules 或 report-template")
    p.add_argument("path", nargs="?", metavar="PATH", help="输出路径（默认 national.toml 或 report_template.docx）")
    p.add_argument("--overwrite", action="store_true", help="覆盖已存在的文件")

    p = sub.add_parser("template", help="生成空白填报模板，或按批复绩效目标生成各部门的预填表",
                       description="生成标准填报工作簿（含填表说明、下拉选项）。加 --targets 时按批复绩效目标为每个主管部门生成一份"
                                   "预填自评表，放在 -o 指定的文件夹中。")
    p.add_argument("path", nargs="?", default="selfeval_template.xlsx", metavar="PATH", help="输出路径（默认 selfeval_template.xlsx）")
    p.add_argument("--targets", type=Path, metavar="FILE|DIR",
                   help="批复绩效目标（工作簿或文件夹）：为每个主管部门生成一份预填自评表，项目、年初预算数、一级至三级指标、"
                        "年度指标值和分值已填好并锁定（工作表保护，无密码），部门只需在黄色单元格填写完成情况")
    p.add_argument("-o", "--output", metavar="DIR", help="预填自评表的输出文件夹（与 --targets 同用，默认 预填自评表/）")
    p.add_argument("--overwrite", action="store_true", help="覆盖已存在的文件")
    return parser


def _targets_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--targets", type=Path, metavar="FILE|DIR",
                   help="批复绩效目标（工作簿或文件夹）：含「绩效目标」工作表（项目编号、项目名称、主管部门、全年预算数、"
                        "一级/二级/三级指标、年度指标值、分值），或每个项目一张的「项目支出绩效目标表」。按项目编号、否则按"
                        "主管部门+项目名称与填报项目对应，逐项比对指标值、分值、指标增减和预算数，差异标在部门的单元格上")
    p.add_argument("--score-against-approved", action="store_true",
                   help="按批复的年度指标值和分值计分（默认按部门填报的计分，由审核人决定），与 --targets 同用")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run stops, its workers end, whole files stay."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``selfeval`` console script."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return _main(argv)
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    if getattr(args, "workers", 0) and args.workers < 0:
        print("--workers 不能为负数", file=sys.stderr)
        return 2
    try:
        if args.command in ("check", "score"):
            return _check_or_score(args)
        if args.command == "run":
            return _run(args)
        if args.command == "export":
            return _export(args)
        return _template(args)
    except SelfevalError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output folder is not writable, the disk is full …
        print(f"错误：无法读写 {exc.filename or '文件'}：{describe_write_failure(exc)}。", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "已收到终止信号（SIGTERM），已停止" if isinstance(exc, Terminated) else "已中断"
        print(f"{what}。已完成的输出均为完整文件，再次运行会从中断处继续。", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
