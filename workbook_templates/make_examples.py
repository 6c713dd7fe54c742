"""Regenerate the blank form and the worked examples (run from the repository root):

    python workbook_templates/make_examples.py

Writes the blank form ``selfeval_xlsx/data/selfeval_template.xlsx`` (package data) and, next to this script,
``seed_党建工作经费_2022.xlsx`` (the seed report's project), ``某区教育局_2023.xlsx`` (six
projects that together exercise every scoring rule of DOMAIN.md §3) and
``某区卫生健康局_2023_自评表.xlsx`` (two projects in the national 项目支出绩效自评表 layout of
DOMAIN.md §5b, one sheet each, one in 元). The examples are meant to pass ``check`` with
warnings only; the expected totals are listed in EXPECTED.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "workbook_templates" / "examples"
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import xlsxwriter  # noqa: E402

from selfeval_xlsx._io import atomic_path  # noqa: E402
from selfeval_xlsx.form import CREATED, TEMPLATE_PATH, write_template, write_workbook  # noqa: E402

SEED_FILE = HERE / "seed_党建工作经费_2022.xlsx"
BUREAU_FILE = HERE / "某区教育局_2023.xlsx"
HEALTH_FILE = HERE / "某区卫生健康局_2023_自评表.xlsx"

# Expected result with the default rules (reverse method ``linear``):
# project_id -> (budget score, total, grade, codes of the warnings the checks raise).
EXPECTED = {
    "001": ("10", "100", "优", ()),
    "JY2023-01": ("9.82", "97.75", "优", ()),
    "JY2023-02": ("10", "94.66", "优", ("over-budget",)),
    "JY2023-03": ("8.04", "81.36", "良", ()),
    "JY2023-04": ("9.91", "99.37", "优", ("self-score-differs", "missing-deviation")),
    "JY2023-05": ("7.39", "88.70", "良", ("weight-split",)),
    "JY2023-06": ("6.22", "75.04", "中", ()),
    # The national-layout workbook: ids derived from 主管部门|项目名称|年度 (national.py).
    # Both warn that the form has no 项目实施情况 … sections for the report (missing-narrative).
    "2023-A22JWX2W": ("9.76", "98.34", "优", ("self-score-differs", "missing-narrative")),
    "2023-XD2X5FDB": ("9", "91.05", "优", ("missing-narrative",)),
}


def _indicator(pid, level1, level2, level3, target, actual, weight, self_score=None, deviation="", **extra):
    row = {"project_id": pid, "level1": level1, "level2": level2, "level3": level3, "target": target,
           "actual": actual, "weight": weight, "self_score": self_score, "deviation": deviation}
    row.update(extra)
    return row


def _spend(pid, item, category, amount, note=""):
    return {"project_id": pid, "item": item, "category": category, "amount": amount, "note": note}


def _fund(pid, source, initial, budget, executed):
    return {"project_id": pid, "source": source, "initial_budget": initial, "budget": budget, "executed": executed}


# ---------------------------------------------------------------------------------------------
# 1. The seed: 2022 党建工作经费 (seed/000_30ebca9367506f04.txt). Narratives are the seed's
# paragraphs verbatim (broken lines joined, page-break artefacts removed). All nine 三级指标
# reached, self score 10 each -> 10 + 90 = 100, 优.

SEED_PROJECT = {
    "project_id": "001",
    "name": "党建工作经费",
    "year": 2022,
    "department": "某区某街道党工委",
    "implementer": "某街道党建工作办公室",
    # The seed states no goal of its own; this one restates the aims its conclusion reports.
    "goal": "完成党员、基层党务工作者教育培训工作，不断加强新时代党的宣传思想工作，以群众喜闻乐见的形式，"
            "让党的思想深入人心；教育培训达到教育党员，服务群众的目的。",
    # 二（一） without its last sentence, which the report generates from the scores.
    "achieved": "完成了党员、基层党务工作者教育培训工作，不断加强新时代党的宣传思想工作，以群众喜闻乐见的形式，"
                "让党的思想深入人心; 教育培训达到教育党员，服务群众的目的，收到良好效果，进一步推动全街党员干部"
                "队伍作风转变，发挥好街党校教育培训主阵地作用，加强党员意识形态教育。",
    "implementation": "根据《广州市财政局 中共广州市委组织部 广州市民政局关于进一步加强党的基层组织建设经费保障工作的"
                      "通知》 (穗财行〔2021〕72号)、《广州市财政局关于提前下达 2022 年度基层党建工作经费的通知》"
                      "（穗财行〔2021〕148号）及《关于下达2022 年基层党建工作经费的分配方案》的文件要求，区财政2022"
                      "年共下拨党工委党建工作经费 100万元。2022 年党建办认真贯彻落实党的二十大精神，聚焦“提升党建"
                      "引领基层治理效能”主题主线，紧紧围绕全面推进党的政治建设、思想建设、组织建设、队伍建设和纪律"
                      "建设，从实从细贯彻落实区委基层党建五项措施，强化党建引领街道中心工作、重点项目，扎实推进各项"
                      "党建工作，有效提升为民服务质效。",
    "management": "严格按照上级相关工作要求，严格贯彻落实内控制度及财务管理制度，认真落实绩效管理责任，切实加强预算"
                  "绩效管理工作组织领导，抓紧布置各项工作，按时保质保量完成。同时，定期开展项目绩效自评工作，对照项目"
                  "绩效目标从绩效自评的真实性、合理性、完整性等方面进行了严格审核，针对自评结果的整理分析，对存在的"
                  "问题进行整改。",
    "funds_usage": "2022年度党建工作经费预算安排 100万元，区财局拨款 100万元，主要用于做好党的二十大精神学习宣传贯彻"
                   "工作，坚持把党的二十大精神作为干部教育培训必修课，分阶段分批次部署开展党的二十大精神学习宣传贯彻"
                   "工作，推动党的二十大精神在新市落地生根，结出丰硕成果。紧跟党的理论创新步伐，持续将党的二十大精神、"
                   "习近平新时代中国特色社会主义思想和习近平总书记重要指示精神、习近平生态文明思想作为重要内容，以上"
                   "率下提高学习效果，推动理论学习不断深入。开设培训班 18次，党员培训总计 2300人次，购买红色书籍共计 "
                   "1728册，丰富学习资源。针对不同类型的培训对象，采取不同培训方式，今年共组织后进党组织集中培训 25次，"
                   "活用学习强国、广东党建以及等线上“微党课”资源，切实实现党员教育全覆盖。选取 6个社区、4个“两新”"
                   "组织作为推行“第一书记”试点，着力推动自身建设，融合“红色管家”党群服务平台作用，打造亮点品牌。"
                   "慰问战斗在疫情防控一线的基层党员、干部，购买疫情防控有关的药品、物资等，支持疫情防控工作。",
    "analysis": "完成了党员群众宣传生态文明建设政策，结合教育培训活动、主题活动开展绿色环保活动: 形成了街党校、基层"
                "党组织在教育培训党员群众的作用和社会影响力进一步扩大；经过满意度调查实际满意度约为 95%。",
    "problems": "一是党员教育培训工作缺乏创新思路和举措，调研不够，办法不多，针对性和适用性不强；二是在抓具体工作落实"
                "上，个别基层党组织战斗堡垒作用发挥不足，在改进工作作风，求真务实方面下功夫不够；三是“红色管家”党建"
                "品牌建设力度不足，个别社区建设的特色平台形同虚设，未发挥作用。四是受新冠肺炎疫情防控影响，项目资金"
                "主要用于疫情防控应急支出。",
    "improvements": "加强资金的合理使用，提前做好资金使用规划，确保资金有序正常使用。围绕提高党性，增强素质目标，持续"
                    "抓好党员理想信念教育，党风党纪教育和能力素质教育，抓实抓细镇街党校日常管理和党员教育培训工作，切实"
                    "增强党校教育培训的针对性和实效性，不断提高党员干部教育培训质量筑牢镇街党校“主阵地”“大熔炉”，全力"
                    "推进党建引领城中村治理各项工作，不断织密上下贯通、执行有力的组织体系，持续深化“红色管家”党建品牌"
                    "建设，充分实现特色平台利用最大化，提升服务水平。",
}

SEED_FUNDING = [_fund("001", "本年财政拨款", 100, 100, 100)]

SEED_SPENDING = [  # adds up to 100.00 = executed
    _spend("001", "党员教育培训费", "30216 培训费", 38.50, "开设培训班 18 次，党员培训 2300 人次"),
    _spend("001", "红色书籍及学习资料购置", "30201 办公费", 17.28, "购买红色书籍 1728 册"),
    _spend("001", "疫情防控药品及物资", "30218 专用材料费", 24.00, "慰问疫情防控一线基层党员、干部"),
    _spend("001", "党的二十大精神学习宣传活动费", "30299 其他商品和服务支出", 12.72),
    _spend("001", "“第一书记”试点及“红色管家”平台建设", "30227 委托业务费", 7.50, "6个社区、4个“两新”组织"),
]

_P, _E, _S = "产出指标", "效益指标", "满意度指标"
SEED_INDICATORS = [  # weights 产出 5×10, 效益 3×10, 满意度 1×10
    _indicator("001", _P, "数量指标", "开设培训班次数", "≥18次", "18次", 10, 10),
    _indicator("001", _P, "数量指标", "党员培训人次", "≥2300人次", "2300人次", 10, 10),
    _indicator("001", _P, "数量指标", "购买红色书籍数量", "≥1728册", "1728册", 10, 10),
    _indicator("001", _P, "数量指标", "后进党组织集中培训次数", "≥25次", "25次", 10, 10),
    _indicator("001", _P, "数量指标", "“第一书记”试点数量（6个社区、4个“两新”组织）", "≥10个", "10个", 10, 10),
    _indicator("001", _E, "社会效益指标", "党的二十大精神学习宣传覆盖率", "=100%", "100%", 10, 10),
    _indicator("001", _E, "可持续影响指标", "党员教育全覆盖", "有效提升", "达成", 10, 10),
    _indicator("001", _E, "社会效益指标", "支持疫情防控工作", "有效支持", "达成", 10, 10),
    _indicator("001", _S, "服务对象满意度指标", "党员群众满意度", "≥95%", "95%", 10, 10),
]


# ---------------------------------------------------------------------------------------------
# 2. 某区教育局 2023: six projects; together they exercise every rule of DOMAIN.md §3.
# Weights always add up to 100 with the budget's 10, so the workbook has warnings, no errors.

BUREAU = "某区教育局"


def _project(pid, name, implementer, leader, **text):
    return {"project_id": pid, "name": name, "year": 2023, "department": BUREAU,
            "implementer": implementer, "leader": leader, **text}


BUREAU_PROJECTS = [
    # JY2023-01 — also fills the optional report sections (绩效目标, 自评工作开展情况, 其他需要说明的问题)
    # and the sign-off (财务负责人, 落款单位, 落款日期). Rules: positive shortfall (B<A), percent actual stored as the number 0.92 with
    # a 0% format, an actual with no unit (45 for ≥45所), equal target, qualitative 达成 with a
    # self score inside its band, two funding sources, amounts with decimals.
    # Expected: rate 98.16% -> 9.82; total 97.75, 优.
    _project(
        "JY2023-01", "义务教育阶段课后服务补助", "区内各公办中小学", "陈××",
        goal="全区45所公办中小学全面开展课后服务，参与学生不少于3.2万人，教师培训合格率不低于95%，"
             "有效缓解家长“接送难”问题，家长满意度达到90%以上。",
        achieved="45所公办中小学全部开展课后服务，参与学生30400人，学生参与率88%，家长满意度93%，"
                 "教师培训合格率92%，个别指标未达到年初目标。",
        implementation="根据《关于进一步做好中小学课后服务工作的通知》要求，区教育局统筹安排课后服务补助资金，"
                       "按“基础托管+特色课程”模式在全区公办中小学开展课后服务，并引入第三方机构提供科创、体育、艺术类课程。",
        management="制定课后服务补助资金管理办法，按学期核定服务人数和课时，资金按月拨付到校；"
                   "区教育局每学期开展督导检查，并将课后服务开展情况纳入学校年度考核。",
        funds_usage="项目全年预算825.76万元，其中本年财政拨款780.50万元、上年结转资金45.26万元，"
                    "全年执行810.58万元，主要用于教师课后服务劳务补助、课程资源购置、第三方托管服务和督导培训。",
        analysis="课后服务覆盖全部公办中小学，学生参与率达到88%，家长满意度93%。受部分家庭选择自行接送影响，"
                 "参与人数略低于目标；新入职教师较多，培训合格率未达到95%。",
        problems="一是部分学校课后服务课程同质化，特色课程供给不足；二是新入职教师课后服务能力有待提升；"
                 "三是课后服务结束时间与部分家长下班时间仍有衔接空档。",
        improvements="扩大优质课程资源引进，推行弹性离校；加强新教师岗前培训和补考；按学期动态调整补助标准。",
        # The optional report sections and sign-off, filled here to show them in the report.
        objectives="总体目标：全区公办中小学全面开展课后服务，缓解家长“接送难”问题。主要绩效指标：开展课后服务学校"
                   "45所，参与学生不少于3.2万人，教师培训合格率不低于95%，家长满意度不低于90%。",
        evaluation_work="区教育局成立绩效自评工作小组，对照年初绩效目标逐项核实完成情况，查阅资金拨付凭证和课后服务台账，"
                        "并抽取10所学校开展家长问卷调查。",
        other_notes="课后服务中由家长分担的课程费用不在本项目资金中核算。",
        finance_officer="王××", closing_unit="某区教育局", closing_date=dt.date(2024, 1, 20),
    ),
    # JY2023-02 — rules: over-spending (executed 336.80 > budget 320.00: rate shown as 105.25%,
    # score capped at 10, warning), reverse target ≤3天 with 4天 (linear: (1-1/3)×10 = 6.67),
    # reverse target met (≤1起 / 0起), reverse cost target just missed, deadline met
    # (≤2023-08-31 / 2023-08-25), equal target, a deduction (15 - 2 = 13).
    # Expected: total 94.66, 优; warning for over-spending.
    _project(
        "JY2023-02", "中小学校园安全设施改造", "区教育后勤服务中心", "刘××",
        goal="完成12所中小学校园安全设施改造，工程验收合格率100%，2023年8月底前完工，"
             "安全隐患整改响应时间不超过3天，全年不发生校园安全责任事故。",
        achieved="12所学校改造工程于2023年8月25日全部完工并通过验收，全年未发生校园安全责任事故；"
                 "隐患整改平均响应时间4天，超出目标。",
        implementation="区教育局按照校园安全“三个100%”建设要求，对12所中小学的视频监控、消防设施、"
                       "校门防冲撞设施和一键报警系统进行改造，利用暑假集中施工。",
        management="项目实行招投标和监理制度，工程款按进度支付；区教育局会同应急管理部门开展竣工验收，"
                   "建立隐患整改台账，实行销号管理。",
        funds_usage="项目全年预算320.00万元（年初预算350.00万元，年中调减30.00万元），全年执行336.80万元。"
                    "因部分学校消防管网改造追加工程量，支出超出预算16.80万元，已报区财政局申请调整预算。",
        analysis="改造后校园安全防护能力明显提升，全年未发生校园安全责任事故；但隐患整改响应时间偏长，"
                 "2所学校监控设备未按期接入区级平台。",
        problems="一是前期勘察不细，消防管网改造工程量估算不足，造成超预算；二是隐患整改依赖外部施工单位，响应偏慢；"
                 "三是个别学校监控设备接入平台滞后。",
        improvements="加强项目前期论证和预算测算；建立校园安全维修快速响应机制；督促剩余学校监控设备在下年一季度前完成接入。",
    ),
    # JY2023-03 — rules: qualitative 部分达成 (self 10 in [9, 12)), qualitative 未达成 (self 6 in
    # [0, 9)), qualitative 达成 with no self score (-> full weight, actual 已完成), 不适用 (人均
    # 培训成本, weight 5: total rescaled ×100/95), positive shortfall.
    # Expected: rate 80.38% -> 8.04; Σ = 77.29; total 81.36, 良.
    _project(
        "JY2023-03", "中小学教师培训专项经费", "区教师发展中心", "黄××",
        goal="全年培训中小学教师不少于3000人次，建设名师工作室10个，培训考核合格率不低于95%，"
             "教师教学能力明显提升，形成可推广的校本研修成果。",
        achieved="全年培训教师2650人次，建成名师工作室10个，培训考核合格率97%；教师教学能力有所提升，"
                 "校本研修成果转化未达预期。",
        implementation="区教师发展中心按“新教师、骨干教师、名师”三个层次组织集中培训和跟岗研修，"
                       "依托名师工作室开展送教下校活动。",
        management="培训项目实行年度计划管理，培训费用按标准据实结算；每期培训开展考核和满意度测评。",
        funds_usage="项目全年预算120.00万元，全年执行96.45万元，预算执行率80.38%，"
                    "主要用于集中培训、外聘专家授课、名师工作室活动和培训资料印制。",
        analysis="培训覆盖面较上年扩大，考核合格率达到97%；部分线下培训因学校教学安排调整取消，"
                 "培训人次未达目标；校本研修成果转化不足。",
        problems="一是部分培训与学校教学安排冲突，参训率不高；二是培训成果转化机制不健全；三是预算执行进度偏慢。",
        improvements="提前与学校对接培训时间，推广线上线下混合式培训；建立培训成果校本转化考核机制；加快预算执行进度。",
    ),
    # JY2023-04 — rules: self score disagreeing with the rules (=100% / 98%: computed 14.70,
    # self 15 -> warning with both numbers), missing deviation reason (升学率 93.5% < 95%,
    # 14.76 < 15, empty 偏差原因 -> warning), equal target with A = 0 (=0人 / 0人 -> full),
    # equal target 100%, two funding sources (本年财政拨款 + 其他资金).
    # Expected: rate 99.10% -> 9.91; total 99.37, 优.
    _project(
        "JY2023-04", "家庭经济困难学生生活补助", "区学生资助管理中心", "周××",
        goal="资助家庭经济困难学生不少于4200人，资助对象认定准确率100%，补助按时足额发放，"
             "不发生因贫辍学，受助学生升学率不低于95%。",
        achieved="全年资助家庭经济困难学生4316人，认定准确率100%，未发生因贫辍学；补助发放及时率98%，"
                 "受助学生升学率93.5%。",
        implementation="按照学生资助政策，对义务教育阶段家庭经济困难寄宿生和普通高中家庭经济困难学生发放生活补助，"
                       "并统筹社会捐赠资金设立助学金。",
        management="资助对象实行学校初审、区资助中心复审和公示制度，补助资金通过银行卡直接发放到学生或监护人账户。",
        funds_usage="项目全年预算595.50万元，其中本年财政拨款560.00万元、社会捐赠等其他资金35.50万元，"
                    "全年执行590.12万元。",
        analysis="资助政策实现应助尽助，未发生因贫辍学；春季学期部分转入学生信息核实滞后，个别补助延后发放。",
        problems="一是转学学生资助信息跨区核实周期长；二是社会捐赠资金到位时间不稳定。",
        improvements="与学籍系统实现数据比对，缩短认定周期；与捐赠单位签订年度协议，稳定捐赠资金来源。",
    ),
    # JY2023-05 — rules: a non-default weight split (产出 40, 效益 40, 满意度 10: allowed, with
    # a warning), a deadline written as 12月底前, positive shortfalls, an actual above target
    # that earns no more than its weight, two funding sources (本年财政拨款 + 上年结转资金).
    # Expected: rate 73.89% -> 7.39; total 88.70, 良.
    _project(
        "JY2023-05", "智慧校园建设", "区教育信息中心", "吴××",
        goal="新建智慧教室60间，教育平台运行稳定率不低于99%，12月底前完成设备采购，"
             "信息化教学应用覆盖率达到80%，实现30所学校数字教育资源共享。",
        achieved="新建智慧教室42间，平台运行稳定率99.5%，设备采购于11月20日完成；"
                 "信息化教学应用覆盖率65%，33所学校实现资源共享。",
        implementation="区教育信息中心统一规划智慧校园建设，分批次为中小学建设智慧教室，升级校园网络，"
                       "完成区级教育资源平台二期建设。",
        management="项目按政府采购程序实施，设备到货后由第三方检测验收；平台运维实行服务等级考核。",
        funds_usage="项目全年预算910.00万元，其中本年财政拨款850.00万元、上年结转资金60.00万元，"
                    "全年执行672.36万元，预算执行率73.89%。",
        analysis="平台运行稳定，资源共享学校超过目标；受设备供货周期影响，部分智慧教室未能在年内建成，"
                 "教师信息化教学应用能力仍需提升。",
        problems="一是设备采购招标时间长，建设进度滞后，预算执行率偏低；二是部分教师对智慧教室设备使用不熟练。",
        improvements="提前启动政府采购程序，按月跟踪执行进度；开展信息化教学应用全员培训。",
    ),
    # JY2023-06 — rules: large positive shortfalls, low budget execution, equal target in 元,
    # qualitative 部分达成 written briefly (部分达成, self 9 = 0.6w, the band's lower edge).
    # Expected: rate 62.17% -> 6.22; total 75.04, 中.
    _project(
        "JY2023-06", "普惠性幼儿园奖补资金", "区学前教育指导中心", "郑××",
        goal="对40所普惠性民办幼儿园给予奖补，保教质量评估达标率不低于90%，普惠性幼儿园覆盖率达到85%，"
             "普惠性学位供给持续扩大。",
        achieved="全年对20所幼儿园给予奖补，保教质量评估达标率65%，普惠性幼儿园覆盖率80.5%，普惠性学位有所增加。",
        implementation="区教育局按生均1500元标准对认定的普惠性民办幼儿园给予奖补，并对保教质量评估优秀的幼儿园给予奖励。",
        management="奖补资金实行申报、评审、公示后拨付；区学前教育指导中心每学期开展保教质量评估。",
        funds_usage="项目全年预算300.00万元，全年执行186.50万元，预算执行率62.17%，"
                    "主要用于生均奖补、保教质量提升奖励和设施设备补助。",
        analysis="部分民办幼儿园因办园条件不达标未能通过普惠性认定，奖补幼儿园数量仅为目标的一半，"
                 "保教质量评估达标率偏低。",
        problems="一是普惠性认定标准宣传不够，民办幼儿园申报积极性不高；二是部分幼儿园师资不稳定，保教质量不高；"
                 "三是奖补资金拨付进度慢。",
        improvements="加强政策宣传和申报辅导；对未达标幼儿园开展一对一帮扶；简化资金拨付流程，按季度拨付。",
    ),
]

BUREAU_FUNDING = [
    _fund("JY2023-01", "本年财政拨款", 800.00, 780.50, 765.32),
    _fund("JY2023-01", "上年结转资金", 45.26, 45.26, 45.26),
    _fund("JY2023-02", "本年财政拨款", 350.00, 320.00, 336.80),
    _fund("JY2023-03", "本年财政拨款", 120.00, 120.00, 96.45),
    _fund("JY2023-04", "本年财政拨款", 560.00, 560.00, 560.00),
    _fund("JY2023-04", "其他资金", 35.50, 35.50, 30.12),
    _fund("JY2023-05", "本年财政拨款", 900.00, 850.00, 612.36),
    _fund("JY2023-05", "上年结转资金", 60.00, 60.00, 60.00),
    _fund("JY2023-06", "本年财政拨款", 300.00, 300.00, 186.50),
]

BUREAU_SPENDING = [  # each project's rows add up to its executed amount
    _spend("JY2023-01", "课后服务教师劳务补助", "30226 劳务费", 612.40),
    _spend("JY2023-01", "课后服务课程资源购置", "30201 办公费", 98.65),
    _spend("JY2023-01", "第三方机构课后托管服务费", "30227 委托业务费", 74.28, "科创、体育、艺术类课程"),
    _spend("JY2023-01", "课后服务教师培训及督导", "30216 培训费", 25.25),
    _spend("JY2023-02", "视频监控系统升级", "31003 专用设备购置", 128.60),
    _spend("JY2023-02", "消防设施改造", "30213 维修（护）费", 96.35, "含追加的消防管网改造"),
    _spend("JY2023-02", "校门防冲撞设施", "30213 维修（护）费", 62.45),
    _spend("JY2023-02", "一键报警及门禁系统", "31003 专用设备购置", 49.40),
    _spend("JY2023-03", "教师集中培训费", "30216 培训费", 58.30),
    _spend("JY2023-03", "外聘专家授课费", "30226 劳务费", 21.60),
    _spend("JY2023-03", "名师工作室活动经费", "30299 其他商品和服务支出", 12.15),
    _spend("JY2023-03", "培训资料印制", "30202 印刷费", 4.40),
    _spend("JY2023-04", "义务教育阶段家庭经济困难学生生活补助", "30308 助学金", 386.75),
    _spend("JY2023-04", "普通高中国家助学金", "30308 助学金", 173.25),
    _spend("JY2023-04", "社会捐赠助学金发放", "30308 助学金", 30.12, "其他资金"),
    _spend("JY2023-05", "智慧教室设备采购", "31002 办公设备购置", 386.40, "42间"),
    _spend("JY2023-05", "校园网络升级改造", "31007 信息网络及软件购置更新", 152.96),
    _spend("JY2023-05", "教育资源平台运维", "30227 委托业务费", 73.00),
    _spend("JY2023-05", "教育资源平台二期尾款", "31007 信息网络及软件购置更新", 60.00, "上年结转资金"),
    _spend("JY2023-06", "普惠性幼儿园生均奖补", "31204 费用补贴", 150.00),
    _spend("JY2023-06", "保教质量提升奖励", "31204 费用补贴", 28.50),
    _spend("JY2023-06", "幼儿园设施设备补助", "31204 费用补贴", 8.00),
]

BUREAU_INDICATORS = [
    # JY2023-01: 产出 50 / 效益 30 / 满意度 10
    _indicator("JY2023-01", _P, "数量指标", "开展课后服务学校数", "≥45所", "45", 15, 15),  # actual with no unit
    _indicator("JY2023-01", _P, "数量指标", "参与课后服务学生人数", "≥32000人", "30400人", 15, 14.25,  # 30400/32000×15
               "部分家庭选择自行接送，参与人数低于预期；下一步丰富课程内容，提高吸引力。"),
    _indicator("JY2023-01", _P, "质量指标", "课后服务教师培训合格率", "≥95%", 0.92, 10, 9.68,  # 0.92/0.95×10
               "新入职教师较多，首次考核合格率偏低；已安排补训补考。", actual_format="0%"),
    _indicator("JY2023-01", _P, "时效指标", "补助资金拨付及时率", "=100%", "100%", 10, 10),
    _indicator("JY2023-01", _E, "社会效益指标", "学生参与课后服务覆盖率", "≥85%", "88%", 15, 15),
    _indicator("JY2023-01", _E, "可持续影响指标", "家长“接送难”问题缓解程度", "有效缓解", "达成", 15, 14,  # 达成 band [12, 15]
               "个别学校课后服务结束时间与家长下班时间仍有衔接空档，下一步推行弹性离校。"),
    _indicator("JY2023-01", _S, "服务对象满意度指标", "家长满意度", "≥90%", "93%", 10, 10),
    # JY2023-02
    _indicator("JY2023-02", _P, "数量指标", "改造学校数量", "≥12所", "12所", 15, 15),
    _indicator("JY2023-02", _P, "质量指标", "工程验收合格率", "=100%", "100%", 10, 10),
    _indicator("JY2023-02", _P, "时效指标", "工程完工时间", "≤2023-08-31", "2023-08-25", 10, 10),  # deadline met
    _indicator("JY2023-02", _P, "时效指标", "安全隐患整改响应时间", "≤3天", "4天", 10, 6.67,  # (1-(4-3)/3)×10
               "整改依赖外部施工单位，响应偏慢；下一步建立快速维修响应机制。"),
    _indicator("JY2023-02", _P, "成本指标", "单校改造平均成本", "≤28万元", "28.07万元", 5, 4.99,  # (1-0.07/28)×5
               "消防管网改造追加工程量，单校成本略超控制数。"),
    _indicator("JY2023-02", _E, "社会效益指标", "校园安全责任事故发生起数", "≤1起", "0起", 15, 15),
    _indicator("JY2023-02", _E, "可持续影响指标", "安全设施正常使用年限", "≥8年", "8年", 15, 13,  # deduction 2
               "2所学校监控设备未按期接入区级平台，扣2分；下年一季度前完成接入。", deduction=2),
    _indicator("JY2023-02", _S, "服务对象满意度指标", "师生及家长满意度", "≥90%", "94%", 10, 10),
    # JY2023-03: the 不适用 row keeps its weight 5 in the plan (indicator weights still add up to 90)
    _indicator("JY2023-03", _P, "数量指标", "培训教师人次", "≥3000人次", "2650人次", 15, 13.25,  # 2650/3000×15
               "部分线下培训因学校教学安排调整取消；下一步推广线上线下混合式培训。"),
    _indicator("JY2023-03", _P, "数量指标", "名师工作室建设数量", "≥10个", "10个", 10, 10),
    _indicator("JY2023-03", _P, "质量指标", "培训考核合格率", "≥95%", "97%", 10, 10),
    _indicator("JY2023-03", _P, "时效指标", "培训计划按期完成", "按时完成", "已完成", 10),  # 达成, no self score -> 10
    _indicator("JY2023-03", _P, "成本指标", "人均培训成本", "≤400元", "不适用", 5, nature="不适用"),
    _indicator("JY2023-03", _E, "社会效益指标", "教师教学能力提升", "明显提升", "部分达成年度指标并具有一定效果", 15, 10,
               "部分培训内容与课堂教学结合不紧；下一步增加课堂观摩和跟岗研修。"),  # 部分达成 band [9, 12)
    _indicator("JY2023-03", _E, "可持续影响指标", "培训成果校本转化", "形成可推广的校本研修成果",
               "未达成年度指标且效果较差", 15, 6,  # 未达成 band [0, 9)
               "缺少成果转化机制，校本研修成果未形成推广；下一步建立成果转化考核。"),
    _indicator("JY2023-03", _S, "服务对象满意度指标", "参训教师满意度", "≥90%", "91%", 10, 10),
    # JY2023-04
    _indicator("JY2023-04", _P, "数量指标", "资助学生人数", "≥4200人", "4316人", 20, 20),  # above target: still 20
    _indicator("JY2023-04", _P, "质量指标", "资助对象认定准确率", "=100%", "100%", 15, 15),
    _indicator("JY2023-04", _P, "时效指标", "补助资金发放及时率", "=100%", "98%", 15, 15,  # rules give 14.70
               "春季学期部分转入学生学籍信息核实滞后，补助延后发放。"),
    _indicator("JY2023-04", _E, "社会效益指标", "因贫辍学学生人数", "=0人", "0人", 15, 15),  # A = 0
    _indicator("JY2023-04", _E, "可持续影响指标", "受助学生升学率", "≥95%", "93.5%", 15, 14.76),  # no deviation
    _indicator("JY2023-04", _S, "服务对象满意度指标", "受助学生及家长满意度", "≥95%", "96%", 10, 10),
    # JY2023-05: 产出 40 / 效益 40 / 满意度 10
    _indicator("JY2023-05", _P, "数量指标", "新建智慧教室数量", "≥60间", "42间", 15, 10.5,  # 42/60×15
               "设备供货周期长，18间智慧教室顺延至下年一季度建成。"),
    _indicator("JY2023-05", _P, "质量指标", "平台系统运行稳定率", "≥99%", "99.5%", 10, 10),
    _indicator("JY2023-05", _P, "时效指标", "设备采购完成时间", "12月底前", "2023-11-20", 15, 15),  # deadline met
    _indicator("JY2023-05", _E, "社会效益指标", "信息化教学应用覆盖率", "≥80%", "65%", 20, 16.25,  # 65/80×20
               "部分教师对智慧教室设备使用不熟练；下一步开展全员应用培训。"),
    _indicator("JY2023-05", _E, "可持续影响指标", "数字教育资源共享学校数", "≥30所", "33所", 20, 20),
    _indicator("JY2023-05", _S, "服务对象满意度指标", "师生满意度", "≥90%", "86%", 10, 9.56,  # 86/90×10
               "新设备使用初期故障较多，影响使用体验；已督促供应商加强驻校服务。"),
    # JY2023-06
    _indicator("JY2023-06", _P, "数量指标", "奖补普惠性幼儿园数量", "≥40所", "20所", 20, 10,  # 20/40×20
               "部分民办幼儿园办园条件不达标，未通过普惠性认定；下一步加强申报辅导。"),
    _indicator("JY2023-06", _P, "质量指标", "保教质量评估达标率", "≥90%", "65%", 15, 10.83,  # 65/90×15
               "部分幼儿园师资流动大，保教质量不稳定；下一步开展一对一帮扶。"),
    _indicator("JY2023-06", _P, "成本指标", "生均奖补标准", "=1500元", "1500元", 15, 15),
    _indicator("JY2023-06", _E, "社会效益指标", "普惠性幼儿园覆盖率", "≥85%", "80.5%", 15, 14.21,  # 80.5/85×15
               "新增普惠性幼儿园数量不足，覆盖率未达目标。"),
    _indicator("JY2023-06", _E, "可持续影响指标", "普惠性学位供给", "持续扩大", "部分达成", 15, 9,  # 部分达成 band [9, 12)
               "新增普惠性学位少于计划，下一步扩大公办园和普惠园学位供给。"),
    _indicator("JY2023-06", _S, "服务对象满意度指标", "家长满意度", "≥90%", "88%", 10, 9.78,  # 88/90×10
               "部分家长对收费和保教质量仍有意见，下一步加强家园沟通。"),
]


# ---------------------------------------------------------------------------------------------
# 3. 某区卫生健康局 2023 in the national 项目支出绩效自评表 layout (DOMAIN.md §5b), one sheet per
# project, as departments type the printed form: merged labels and 一级/二级 runs, the year on a
# line of its own or in the title, 分值 | 执行率 | 得分 in either order, an empty 上年结转资金 row.

HEALTH = "某区卫生健康局"

HEALTH_FORMS = [
    # 附件1, 万元, year on its own line. Rate (1150.60+35.50)/(1180.00+35.50) = 97.58% -> 9.76;
    # indicators 88.58; total 98.34, 优. The department miscounted its 总分 as 98.50: a warning.
    {
        "sheet": "附件1", "attachment": "附件1", "unit": "万元", "year_in_title": False, "rate_first": True,
        "project": {"name": "基本公共卫生服务补助", "year": 2023, "department": HEALTH, "implementer": "区疾病预防控制中心",
                    "goal": "为辖区常住居民免费提供12类基本公共卫生服务，居民电子健康档案建档率不低于90%，"
                            "65岁及以上老年人健康管理不少于12000人，居民满意度不低于85%。",
                    "achieved": "全年为居民提供基本公共卫生服务，电子健康档案建档率92%，老年人健康管理11500人，"
                                "居民满意度90%，老年人健康管理人数未达到年初目标。"},
        "closing_unit": HEALTH, "submitted": "2024年1月18日", "leader": "孙××", "finance_officer": "钱××",
        "funding": [_fund("", "本年财政拨款", 1200.00, 1180.00, 1150.60), _fund("", "上年结转资金", 35.50, 35.50, 35.50)],
        "budget_score": 9.76, "total": 98.50,
        "indicators": [
            _indicator("", _P, "数量指标", "居民电子健康档案建档率", "≥90%", "92%", 10, 10),
            _indicator("", _P, "数量指标", "65岁及以上老年人健康管理人数", "≥12000人", "11500人", 10, 9.58,  # 11500/12000×10
                       "部分老年人外出务工或长期居住外地，未能纳入管理；下一步与社区联动开展上门服务。"),
            _indicator("", _P, "质量指标", "高血压患者规范管理率", "≥70%", "72%", 10, 10),
            _indicator("", _P, "时效指标", "补助资金拨付及时率", "=100%", "100%", 10, 10),
            _indicator("", _P, "成本指标", "人均基本公共卫生服务经费补助标准", "≥89元", "89元", 10, 10),
            _indicator("", _E, "社会效益指标", "居民健康素养水平", "≥25%", "26.5%", 15, 15),
            _indicator("", _E, "可持续影响指标", "基层医疗卫生服务能力", "持续提升", "达成", 15, 14,  # 达成 band [12, 15]
                       "部分村卫生室人员老化，服务能力提升较慢；下一步开展乡村医生轮训。"),
            _indicator("", _S, "服务对象满意度指标", "居民满意度", "≥85%", "90%", 10, 10),
        ],
    },
    # 附件2, 元 (converted to 万元 on read), year in the title, 分值 | 得分 | 执行率, 上年结转资金 and
    # 其他资金 left empty. Rate 2,520,000/2,800,000 元 = 90% -> 9; indicators 82.05; total 91.05, 优.
    {
        "sheet": "附件2", "attachment": "", "unit": "元", "year_in_title": True, "rate_first": False,
        "project": {"name": "家庭医生签约服务经费", "year": 2023, "department": HEALTH, "implementer": "区社区卫生服务中心",
                    "goal": "家庭医生签约人数不少于60000人，重点人群签约覆盖率不低于75%，签约服务费30天内结算，"
                            "推动形成基层首诊、分级诊疗格局。",
                    "achieved": "全年签约58200人，重点人群签约覆盖率78%，签约服务费平均35天结算，"
                                "分级诊疗格局初步显现。"},
        "closing_unit": HEALTH, "submitted": "2024-01-20", "leader": "李××", "finance_officer": "钱××",
        "funding": [_fund("", "本年财政拨款", 300.00, 280.00, 252.00)],  # written as 3,000,000 / 2,800,000 / 2,520,000 元
        "budget_score": 9, "total": 91.05,
        "indicators": [
            _indicator("", _P, "数量指标", "家庭医生签约人数", "≥60000人", "58200人", 15, 14.55,  # 58200/60000×15
                       "部分居民对签约服务认识不足，签约意愿不强；下一步加强宣传。"),
            _indicator("", _P, "数量指标", "重点人群签约覆盖率", "≥75%", "78%", 10, 10),
            _indicator("", _P, "质量指标", "签约居民随访完成率", "≥90%", "93%", 10, 10),
            _indicator("", _P, "时效指标", "签约服务费结算时限", "≤30天", "35天", 15, 12.5,  # (1-(35-30)/30)×15
                       "医保结算系统升级，结算周期延长；已协调医保部门压缩结算流程。"),
            _indicator("", _E, "社会效益指标", "签约居民基层就诊率", "≥60%", "62%", 15, 15),
            _indicator("", _E, "可持续影响指标", "分级诊疗格局", "逐步形成", "部分达成", 15, 10,  # 部分达成 band [9, 12)
                       "上级医院向下转诊渠道仍不畅通；下一步完善医联体双向转诊机制。"),
            _indicator("", _S, "服务对象满意度指标", "签约居民满意度", "≥90%", "91%", 10, 10),
        ],
    },
]

# The national form's funding rows, in its order and wording.
_SOURCE_LABELS = {"本年财政拨款": "其中：当年财政拨款", "上年结转资金": "上年结转资金", "其他资金": "其他资金"}


class _NationalSheet:
    """One national form on a sheet, written top to bottom like the printed form: a label
    column A, a row-label/一级 column B, then the data columns, with merged cells where the
    form has them. Rows are 0-based; ``self.r`` is the next free row."""

    def __init__(self, ws, formats, form: dict):
        self.ws, self.fmt, self.form, self.r = ws, formats, form, 0
        self.deduction = any(i.get("deduction") is not None for i in form["indicators"])  # a 扣分 column when needed
        self.last = 9 if self.deduction else 8  # the last column (J or I): 偏差原因分析及改进措施

    def line(self, text: str, style: str, first: int = 0, last: int | None = None) -> None:
        self.ws.merge_range(self.r, first, self.r, self.last if last is None else last, text, self.fmt(style))

    def write(self) -> None:
        form, ws = self.form, self.ws
        year = form["project"]["year"]
        for first, last, width in ((0, 0, 10), (1, 2, 14), (3, 3, 26), (4, self.last - 1, 13), (self.last, self.last, 34)):
            ws.set_column(first, last, width)
        if form.get("attachment"):
            ws.write_string(self.r, 0, form["attachment"], self.fmt("text"))
            self.r += 1
        ws.set_row(self.r, 30)
        self.line(f"{year}年度项目支出绩效自评表" if form.get("year_in_title") else "项目支出绩效自评表", "title")
        self.r += 1
        if not form.get("year_in_title"):
            self.line(f"（{year}年度）", "center")
            self.r += 1
        self.line(f"填报单位（盖章）：{form.get('closing_unit', '')}", "text", 0, 4)
        self.line(f"填报日期：{form.get('submitted', '')}", "text", 5)
        self.r += 1
        self._info(form["project"])
        self._funding()
        self._goal(form["project"])
        self._indicators()
        self.line(f"项目负责人：{form.get('leader', '')}", "text", 0, 2)
        self.line(f"财务负责人：{form.get('finance_officer', '')}", "text", 3, 5)
        self.line("联系电话：", "text", 6)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)

    def _info(self, project: dict) -> None:
        ws, fmt, r = self.ws, self.fmt, self.r
        ws.merge_range(r, 0, r, 1, "项目名称", fmt("label"))
        ws.merge_range(r, 2, r, self.last, project["name"], fmt("cell"))
        ws.merge_range(r + 1, 0, r + 1, 1, "主管部门", fmt("label"))
        ws.merge_range(r + 1, 2, r + 1, 4, project["department"], fmt("cell"))
        ws.write_string(r + 1, 5, "实施单位", fmt("label"))
        ws.merge_range(r + 1, 6, r + 1, self.last, project.get("implementer", ""), fmt("cell"))
        self.r += 2

    def _funding(self) -> None:
        ws, fmt, form = self.ws, self.fmt, self.form
        money = fmt("#,##0" if form["unit"] == "元" else "#,##0.00")
        scale = 10000 if form["unit"] == "元" else 1
        tail = ["分值", "执行率", "得分"] if form.get("rate_first", True) else ["分值", "得分", "执行率"]
        by_source = {s: [row for row in form["funding"] if row["source"] == s] for s in _SOURCE_LABELS}

        def total(rows, key):
            values = [row[key] * scale for row in rows if row.get(key) is not None]
            return sum(values) if values else None

        totals = [total(form["funding"], k) for k in ("initial_budget", "budget", "executed")]
        stated = {"分值": (10, fmt("0.00")), "执行率": (totals[2] / totals[1], fmt("0.00%")),
                  "得分": (form.get("budget_score"), fmt("0.00"))}
        rows = [("年度资金总额", totals, stated),
                *((_SOURCE_LABELS[s], [total(rs, k) for k in ("initial_budget", "budget", "executed")],
                   {h: ("—", fmt("center")) for h in tail}) for s, rs in by_source.items())]
        ws.merge_range(self.r, 0, self.r + len(rows), 0, f"项目资金（{form['unit']}）", fmt("label"))
        ws.merge_range(self.r, 1, self.r, 2, "", fmt("label"))
        for c, text in enumerate(["年初预算数", "全年预算数", "全年执行数", *tail], start=3):
            ws.write_string(self.r, c, text, fmt("label"))
        for c in range(9, self.last + 1):
            ws.merge_range(self.r, c, self.r + len(rows), c, "", fmt("cell"))
        for label, amounts, extra in rows:
            self.r += 1
            ws.merge_range(self.r, 1, self.r, 2, label, fmt("cell"))
            for c, value in enumerate(amounts, start=3):
                ws.write(self.r, c, value, money)
            for c, header in enumerate(tail, start=6):
                ws.write(self.r, c, *extra[header])
        self.r += 1

    def _goal(self, project: dict) -> None:
        ws, fmt, r = self.ws, self.fmt, self.r
        ws.merge_range(r, 0, r + 1, 0, "年度总体目标", fmt("label"))
        ws.merge_range(r, 1, r, 4, "预期目标", fmt("label"))
        ws.merge_range(r, 5, r, self.last, "实际完成情况", fmt("label"))
        ws.set_row(r + 1, 48)
        ws.merge_range(r + 1, 1, r + 1, 4, project.get("goal", ""), fmt("cell"))
        ws.merge_range(r + 1, 5, r + 1, self.last, project.get("achieved", ""), fmt("cell"))
        self.r += 2

    def _indicators(self) -> None:
        ws, fmt, rows = self.ws, self.fmt, self.form["indicators"]
        headers = ["一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分",
                   *(["扣分"] if self.deduction else []), "偏差原因分析及改进措施"]
        ws.merge_range(self.r, 0, self.r + len(rows), 0, "绩效指标", fmt("label"))
        for c, text in enumerate(headers, start=1):
            ws.write_string(self.r, c, text, fmt("label"))
        first = self.r + 1
        for r, row in enumerate(rows, start=first):
            ws.write_string(r, 3, row["level3"], fmt("cell"))
            ws.write_string(r, 4, row["target"], fmt("cell"))
            ws.write(r, 5, row["actual"], fmt(row.get("actual_format") or "cell"))
            ws.write_number(r, 6, row["weight"], fmt("0.00"))
            not_applicable = row.get("nature") == "不适用"  # the national form says so in 得分
            ws.write(r, 7, "不适用" if not_applicable else row.get("self_score"), fmt("0.00"))
            if self.deduction:
                ws.write(r, 8, row.get("deduction"), fmt("0.00"))
            ws.write(r, self.last, row.get("deviation") or None, fmt("cell"))
            if row.get("deviation"):
                ws.set_row(r, 15 * (1 + len(row["deviation"]) // 16))  # ~16 characters a line at width 34
        self._runs(1, [row["level1"] for row in rows], first)  # 一级 and 二级 merged over their runs
        self._runs(2, [(row["level1"], row["level2"]) for row in rows], first)
        self.r = first + len(rows)
        ws.merge_range(self.r, 0, self.r, 5, "总分", fmt("label"))
        ws.write_number(self.r, 6, 100, fmt("0.00"))
        ws.write(self.r, 7, self.form.get("total"), fmt("0.00"))
        for c in range(8, self.last + 1):
            ws.write_blank(self.r, c, None, fmt("cell"))
        self.r += 1

    def _runs(self, col: int, keys: list, first: int) -> None:
        start = 0
        for k in range(1, len(keys) + 1):
            if k == len(keys) or keys[k] != keys[start]:
                text = keys[start] if isinstance(keys[start], str) else keys[start][-1]
                if k - start > 1:
                    self.ws.merge_range(first + start, col, first + k - 1, col, text, self.fmt("cell"))
                else:
                    self.ws.write_string(first + start, col, text, self.fmt("cell"))
                start = k


def write_national(path, forms: list[dict]) -> None:
    """Write ``forms`` (dicts shaped like HEALTH_FORMS; funding and indicators as for
    write_workbook, amounts in 万元) as a workbook in the national layout, one sheet per form,
    deterministically (fixed document properties). A form in 元 has its amounts ×10000."""
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                              "strings_to_urls": False})
        book.set_properties({"title": "项目支出绩效自评表", "author": "selfeval-xlsx", "created": CREATED})
        base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "text_wrap": True}
        styles = {"title": {"bold": True, "font_size": 16, "align": "center", "border": 0},
                  "text": {"border": 0}, "center": {"align": "center"}, "label": {"bold": True, "align": "center"},
                  "cell": {}}
        cache: dict[str, object] = {}

        def fmt(style: str):
            """A style name, or a number format for a bordered, centred number cell."""
            if style not in cache:
                extra = styles.get(style, {"align": "center", "num_format": style})
                cache[style] = book.add_format({**base, "border": 1, **extra})
            return cache[style]

        for form in forms:
            _NationalSheet(book.add_worksheet(form["sheet"]), fmt, form).write()
        book.close()


def main() -> None:
    """Write the blank template and the three examples."""
    write_template(Path(str(TEMPLATE_PATH)))
    write_workbook(SEED_FILE, [SEED_PROJECT], SEED_FUNDING, SEED_SPENDING, SEED_INDICATORS)
    write_workbook(BUREAU_FILE, BUREAU_PROJECTS, BUREAU_FUNDING, BUREAU_SPENDING, BUREAU_INDICATORS)
    write_national(HEALTH_FILE, HEALTH_FORMS)


if __name__ == "__main__":
    main()
