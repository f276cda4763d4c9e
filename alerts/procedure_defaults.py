"""The procedures (处置规程) a console ships with: one checklist per rule kind and report category.

Version 1 of each category is saved by ``system`` when the console first starts
(:meth:`alerts.procedures.ProcedureStore.seed`); an admin's edits are later versions. The rule
kinds are those of ``models/warning`` (abnormal_stop, zone_entry, prohibited_hours, speeding,
wrong_way, crowd) and ``models/trajectory`` (route_deviation, fatigue, signal_loss), the report
categories those of ``alerts/policy.py`` (fire, flood, traffic_accident).

>>> sorted(DEFAULT_PROCEDURES)[:3]
['abnormal_stop', 'crowd', 'fatigue']
>>> all(any(required for _, required in steps) for _, steps in DEFAULT_PROCEDURES.values())
True
"""

from __future__ import annotations

#: category -> (title, [(step text, required)])
DEFAULT_PROCEDURES: dict[str, tuple[str, list[tuple[str, bool]]]] = {
    "abnormal_stop": ("危化品车辆异常停车处置规程", [
        ("调取现场视频，核实车辆、车牌与停车位置", True),
        ("联系驾驶员或运输企业，问明停车原因", True),
        ("确认有无泄漏、起火等险情；有险情立即转为事件处置", True),
        ("通知属地网格员或交警到场核查", False),
        ("车辆驶离或险情排除后，记录处置结果", True),
    ]),
    "zone_entry": ("闯入禁行区域处置规程", [
        ("核实车辆身份与闯入位置", True),
        ("联系驾驶员，责令立即驶离禁行区域", True),
        ("通知属地交警或网格员跟踪", False),
        ("确认车辆已驶离并记录", True),
    ]),
    "prohibited_hours": ("禁行时段通行处置规程", [
        ("核实车辆与通行时间", True),
        ("联系运输企业，责令停驶或改期通行", True),
        ("抄告交通运输部门", False),
    ]),
    "speeding": ("超速行驶处置规程", [
        ("核实车速与所在路段限速", True),
        ("电话提醒驾驶员减速慢行", True),
        ("抄告运输企业安全负责人", False),
    ]),
    "wrong_way": ("逆向行驶处置规程", [
        ("调取视频确认逆行车辆", True),
        ("通知交警拦截处置", True),
        ("沿线发布安全提醒", False),
    ]),
    "crowd": ("人员聚集处置规程", [
        ("调取视频核实聚集人数与性质", True),
        ("通知属地网格员到场了解情况", True),
        ("必要时通知公安维持秩序", False),
        ("记录聚集原因与疏散结果", True),
    ]),
    "route_deviation": ("偏离核定路线处置规程", [
        ("核实车辆当前位置与核定路线", True),
        ("联系驾驶员了解偏离原因", True),
        ("责令回到核定路线并持续跟踪", True),
    ]),
    "fatigue": ("疲劳驾驶处置规程", [
        ("核实连续驾驶时长", True),
        ("联系驾驶员，要求就近停车休息", True),
        ("通知运输企业安排换班", False),
    ]),
    "signal_loss": ("定位信号中断处置规程", [
        ("查看最后位置与中断时长", True),
        ("联系驾驶员或运输企业核实车辆状态", True),
        ("调取最后位置附近的视频", False),
        ("恢复定位或确认安全后记录", True),
    ]),
    "fire": ("火情处置规程", [
        ("核实火情位置与规模", True),
        ("通知消防救援（119）", True),
        ("通知属地网格员到场、疏散群众", True),
        ("记录处置结果", True),
    ]),
    "flood": ("积水内涝处置规程", [
        ("核实积水位置与深度", True),
        ("通知属地排水与网格员到场", True),
        ("必要时设置警示、封闭道路", False),
        ("记录处置结果", True),
    ]),
    "traffic_accident": ("交通事故处置规程", [
        ("核实事故位置与伤亡情况", True),
        ("通知交警（122），有伤员时通知急救（120）", True),
        ("涉及危化品车辆时转为事件处置", False),
        ("记录处置结果", True),
    ]),
}

__all__ = ["DEFAULT_PROCEDURES"]
