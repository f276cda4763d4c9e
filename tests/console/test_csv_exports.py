"""Every CSV export opens as it should in Excel and WPS (docs/exports.md): UTF-8 with a BOM, CRLF,
Chinese headers (``?headers=en`` for English), times in the wall's time zone, formulas defused,
an ASCII file name with the Chinese one beside it — and a town's export holds only its town's
rows. One export is opened by a real spreadsheet program (LibreOffice Calc, headless) to show
what a user sees: text, numbers and dates in their cells, no formula anywhere."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from zhizhi.console.export_tables import (
    ALERT_COLUMNS,
    BACKTEST_COLUMNS,
    INCIDENT_COLUMNS,
    TOUR_LOG_COLUMNS,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FORMULA = '=HYPERLINK("http://evil.example/x","点我")'


def _wall_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class World:
    client: TestClient
    state: object
    users: object
    a: dict[str, str]
    b: dict[str, str]
    alert_a: dict
    alert_b: dict
    incident_a: dict
    incident_b: dict
    tour_a: dict
    tour_b: dict
    backtest: str

    def exports(self) -> dict[str, tuple[str, dict]]:
        """Each export of town A's things, by name: its path and query."""
        return {
            "alerts": ("/api/alerts/export.csv", {}),
            "incidents": ("/api/incidents/export.csv", {}),
            "report": (f"/api/incidents/{self.incident_a['id']}/report.csv", {}),
            "tour_log": (f"/api/tours/{self.tour_a['id']}/log.csv", {"start": time.time() - 3600}),
            "backtest": (f"/api/backtests/{self.backtest}/result.csv", {}),
        }


def _report(client, state, town: str, headers: dict, text: str) -> dict:
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    event = {"category": "+积水", "text": text, "lon": lon, "lat": lat, "reporter": "-1+1", "channel": "hotline",
             "occurred_at": time.time() - 600}
    answer = client.post("/api/events", json=event, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _incident(client, state, town: str, headers: dict, title: str) -> dict:
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    spec = {"type": "flood", "title": title, "area": {"point": [lon, lat], "radius_m": 60}}
    opened = client.post("/api/incidents", json=spec, headers=headers)
    assert opened.status_code == 201, opened.text
    return opened.json()


def _tour(client, state, town: str, headers: dict, name: str) -> dict:
    from zhizhi.console.tours import TourStore

    camera = next(c for c in state.cameras.cameras if c.grid and c.grid.startswith(town))
    made = client.post("/api/tours", json={"name": name, "stops": [{"camera_id": camera.id, "dwell_s": 10}]},
                       headers=headers)
    assert made.status_code == 201, made.text
    tour = made.json()
    store = TourStore(state.engine)
    store.log(store.get(tour["id"], tour["code"]), camera.id, "main", b"\xff\xd8csv", "值班员甲")
    return tour


def _backtest(state, folder: Path) -> str:
    """A real backtest (the shipped warning model on a rendered clip) as the console's job."""
    from zhizhi.console.demo_datasets import render_demo_dataset
    from zhizhi.models.backtest.dataset import load_dataset
    from zhizhi.models.backtest.run import run_backtest

    dataset = load_dataset(render_demo_dataset(folder, stops=(45.0,)), truth=True)
    job = state.jobs.submit("backtest", lambda progress: run_backtest(
        None, dataset, truth=True, progress=progress).model_dump(mode="json"), owner="csv-test")
    assert str(state.jobs.wait(job.id, 60).status) == "finished", state.jobs.get(job.id)
    return job.id


@pytest.fixture(scope="module")
def world(client, console_state, logins, test_users, tmp_path_factory) -> World:
    state, users = console_state, test_users
    a, b = logins[users.operator_a], logins[users.operator_b]
    return World(
        client, state, users, a, b,
        alert_a=_report(client, state, users.town_a, a, FORMULA),
        alert_b=_report(client, state, users.town_b, b, "乙镇私有"),
        incident_a=_incident(client, state, users.town_a, a, "=1+2 甲镇内涝"),
        incident_b=_incident(client, state, users.town_b, b, "乙镇内涝"),
        tour_a=_tour(client, state, users.town_a, a, "-北线巡航"),
        tour_b=_tour(client, state, users.town_b, b, "乙镇巡航"),
        backtest=_backtest(state, tmp_path_factory.mktemp("csv-backtest")),
    )


def _table(response) -> list[dict[str, str]]:
    """The CSV as a spreadsheet's user reads it, after checking its form."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    data = response.content
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel and WPS read UTF-8, not GBK
    assert data.count(b"\n") == data.count(b"\r\n") > 0  # CRLF, every line
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _of_town_b(world: World, text: str) -> bool:
    """Whether ``text`` names town B or a unit below it."""
    return re.search(rf"(?<!\d){re.escape(world.users.town_b)}\d*(?!\d)", text) is not None


def _filenames(response) -> tuple[str, str]:
    found = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"; filename\*=UTF-8\'\'([A-Za-z0-9%._-]+)',
                         response.headers["content-disposition"])
    assert found, response.headers["content-disposition"]
    return found.group(1), unquote(found.group(2))


HEADERS = {
    "alerts": (ALERT_COLUMNS, "alerts-", "告警-"),
    "incidents": (INCIDENT_COLUMNS, "incidents-", "事件-"),
    "report": (None, "sitrep-", "态势报告-=1+2 甲镇内涝"),
    "tour_log": (TOUR_LOG_COLUMNS, "patrol-log-", "巡查记录--北线巡航"),
    "backtest": (BACKTEST_COLUMNS, "backtest-", "回测结果-"),
}


@pytest.mark.parametrize("name", list(HEADERS))
def test_every_export_opens_in_excel_with_chinese_or_english_headers(world, name):
    from zhizhi.alerts.incidents.sitrep import CSV_COLUMNS, CSV_COLUMNS_ZH

    url, query = world.exports()[name]
    columns, ascii_prefix, zh_prefix = HEADERS[name]
    zh_headers, en_headers = ((CSV_COLUMNS_ZH, CSV_COLUMNS) if columns is None
                              else ([c.zh for c in columns], [c.key for c in columns]))
    chinese = world.client.get(url, params=query, headers=world.a)
    rows = _table(chinese)
    assert rows and list(rows[0]) == list(zh_headers)  # Chinese by default
    ascii_name, zh_name = _filenames(chinese)
    assert ascii_name.startswith(ascii_prefix) and ascii_name.endswith(".csv")
    assert zh_name.startswith(zh_prefix) and zh_name.endswith(".csv")
    english = world.client.get(url, params=query | {"headers": "en"}, headers=world.a)
    assert list(_table(english)[0]) == list(en_headers)
    assert len(_table(english)) == len(rows)
    # 401 without a login; a ticket (a download link's credential) opens it
    assert TestClient(world.client.app).get(url, params=query).status_code == 401
    ticket = world.client.post("/api/auth/ticket", headers=world.a).json()["ticket"]
    by_link = TestClient(world.client.app).get(url, params=query | {"ticket": ticket})
    assert by_link.status_code == 200 and by_link.content == chinese.content
    refused = world.client.get(url, params=query | {"headers": "fr"}, headers=world.a)
    assert refused.status_code == 422 and "headers" in refused.text


def test_alerts_export_holds_the_towns_own_rows_as_the_list_filters_them(world):
    a, alert_a, alert_b = world.a, world.alert_a, world.alert_b
    before = {x["id"] for x in world.client.get("/api/alerts", params={"limit": 1000}, headers=a).json()}
    exported = world.client.get("/api/alerts/export.csv", params={"limit": 1000}, headers=a)
    after = {x["id"] for x in world.client.get("/api/alerts", params={"limit": 1000}, headers=a).json()}
    rows = _table(exported)
    assert before & after <= {r["告警编号"] for r in rows} <= before | after  # the list's alerts (some may arrive)
    assert alert_b["id"] not in exported.text and not _of_town_b(world, exported.text)  # nothing of town B
    mine = next(r for r in rows if r["告警编号"] == alert_a["id"])
    assert mine["描述"] == "'" + FORMULA  # shown as text, never run
    assert mine["类别"] == "'+积水" and mine["报告人"] == "'-1+1"
    assert mine["状态"] == "新告警" and mine["来源"] == "热线"  # values named in Chinese too
    assert mine["首次发现时间"] == _wall_time(alert_a["first_ts"]) and TIME.match(mine["最近发现时间"])
    assert float(mine["经度"]) == pytest.approx(alert_a["lon"])  # a number, as it is
    assert mine["网格"] == alert_a["grid"] + "\t"  # 15 digits: kept as text by Excel
    assert mine["镇街"] == alert_a["town"] == world.users.town_a
    english = _table(world.client.get("/api/alerts/export.csv", params={"headers": "en"}, headers=a))
    assert next(r for r in english if r["id"] == alert_a["id"])["status"] == "new"
    # the list's filters, the same answers (and the same precise 422)
    params = {"status": "new,acknowledged", "severity": alert_a["severity"], "since": alert_a["last_ts"] - 1}
    filtered = _table(world.client.get("/api/alerts/export.csv", params=params, headers=a))
    assert [r["告警编号"] for r in filtered] == [
        x["id"] for x in world.client.get("/api/alerts", params=params, headers=a).json()]
    assert alert_a["id"] in {r["告警编号"] for r in filtered}
    bad = world.client.get("/api/alerts/export.csv", params={"status": "bogus"}, headers=a)
    assert bad.status_code == 422 and "unknown status 'bogus'" in bad.text
    theirs = _table(world.client.get("/api/alerts/export.csv", headers=world.b))
    assert alert_b["id"] in {r["告警编号"] for r in theirs} and alert_a["id"] not in {r["告警编号"] for r in theirs}


def test_incident_exports_hold_the_towns_own_part(world):
    a = world.a
    rows = _table(world.client.get("/api/incidents/export.csv", headers=a))
    ids = {r["事件编号"] for r in rows}
    assert world.incident_a["id"] in ids and world.incident_b["id"] not in ids
    text = world.client.get("/api/incidents/export.csv", headers=a).text
    assert world.incident_b["id"] not in text and not _of_town_b(world, text)
    mine = next(r for r in rows if r["事件编号"] == world.incident_a["id"])
    assert mine["名称"] == "'=1+2 甲镇内涝" and mine["类型"] == "洪涝" and mine["状态"] == "处置中"
    assert mine["启动时间"] == _wall_time(world.incident_a["created_ts"]) and mine["结束时间"] == ""
    assert mine["启动单位"] == world.users.town_a and int(mine["影响人口"]) >= 0
    closed = _table(world.client.get("/api/incidents/export.csv", params={"status": "closed"}, headers=a))
    assert world.incident_a["id"] not in {r["事件编号"] for r in closed}
    report = _table(world.client.get(f"/api/incidents/{world.incident_a['id']}/report.csv", headers=a))
    assert report[0]["类别"] == "事件" and report[0]["名称"] == "'=1+2 甲镇内涝"
    hidden = world.client.get(f"/api/incidents/{world.incident_b['id']}/report.csv", headers=a)
    assert hidden.status_code == 404


def test_patrol_log_export_in_wall_time(world):
    since = time.time() - 3600
    rows = _table(world.client.get(f"/api/tours/{world.tour_a['id']}/log.csv", params={"start": since},
                                   headers=world.a))
    assert len(rows) == 1 and rows[0]["巡航路线"] == "'-北线巡航" and rows[0]["快照"] == "有"
    logged = world.client.get(f"/api/tours/{world.tour_a['id']}/log", params={"start": since}, headers=world.a)
    assert rows[0]["时间"] == _wall_time(logged.json()[0]["ts"]) and rows[0]["值班员"] == "值班员甲"
    assert world.client.get(f"/api/tours/{world.tour_b['id']}/log.csv", params={"start": since},
                            headers=world.a).status_code == 404


def test_backtest_export_is_its_scores_per_rule(world):
    rows = _table(world.client.get(f"/api/backtests/{world.backtest}/result.csv", headers=world.a))
    result = world.client.get(f"/api/backtests/{world.backtest}", headers=world.a).json()["result"]
    assert [r["规则编号"] for r in rows] == [*result["rules"], "合计"]
    stop = next(r for r in rows if r["规则编号"] == "hazmat-abnormal-stop")
    assert stop["规则类型"] == "危化品异常停车" and (stop["命中"], stop["误报"], stop["漏报"]) == ("1", "0", "0")
    assert float(stop["召回率"]) == result["rules"]["hazmat-abnormal-stop"]["recall"]
    assert world.client.get("/api/backtests/backtest-0-0/result.csv", headers=world.a).status_code == 404

    def fail(progress):
        raise RuntimeError("the clip could not be read")

    failed = world.state.jobs.submit("backtest", fail, owner="csv-test")
    world.state.jobs.wait(failed.id, 10)
    refused = world.client.get(f"/api/backtests/{failed.id}/result.csv", headers=world.a)
    assert refused.status_code == 409 and "failed" in refused.json()["detail"]


def _cells(xlsx: Path) -> tuple[dict[str, tuple[str, str]], set[str], bytes]:
    """The first sheet's cells (``A1`` -> (type, value)), the cells with a date format, and the
    sheet's XML, read from the file (an .xlsx is a zip of XML)."""
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(xlsx) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml")
        strings = ["".join(t.text or "" for t in si.iter(f"{m}t"))
                   for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{m}si")]
        styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.iter(f"{m}numFmt")}
    xfs = [xf.get("numFmtId") for xf in styles.find(f"{m}cellXfs").iter(f"{m}xf")]
    cells, dated = {}, set()
    for c in ElementTree.fromstring(sheet_xml).iter(f"{m}c"):
        value = c.find(f"{m}v")
        text = None if value is None else value.text
        kind = c.get("t", "n")
        cells[c.get("r")] = (kind, strings[int(text)] if kind == "s" else text)
        if "yyyy" in (formats.get(xfs[int(c.get("s", 0))]) or ""):
            dated.add(c.get("r"))
    return cells, dated, sheet_xml


def test_a_spreadsheet_program_opens_the_alerts_export(world, tmp_path):
    assert shutil.which("soffice"), "soffice missing: run scripts/install_libreoffice.sh"
    source = tmp_path / "alerts.csv"
    source.write_bytes(world.client.get("/api/alerts/export.csv", headers=world.a).content)
    # Calc as a user's double-click opens it: comma-separated, UTF-8, numbers and dates recognised
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--infilter=CSV:44,34,76,1,,0,false,true", "--convert-to", "xlsx", "--outdir", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=120)
    cells, dated, sheet = _cells(tmp_path / "alerts.xlsx")
    letters = [chr(ord("A") + i) for i in range(len(ALERT_COLUMNS))]
    column = {c.key: letter for c, letter in zip(ALERT_COLUMNS, letters, strict=True)}
    assert [cells[f"{x}1"] for x in letters] == [("s", c.zh) for c in ALERT_COLUMNS]  # no BOM, no mojibake
    assert b"<f" not in sheet  # not one formula in the sheet
    row = next(r for r in range(2, 100_000) if cells[f"A{r}"] == ("s", world.alert_a["id"]))
    assert cells[f"{column['text']}{row}"] == ("s", "'" + FORMULA)  # the text, as text
    assert cells[f"{column['grid']}{row}"][0] == "s"  # the 15-digit code stays text, never 3.2E+14
    assert cells[f"{column['grid']}{row}"][1].strip() == world.alert_a["grid"]
    assert cells[f"{column['lon']}{row}"][0] == "n"
    assert float(cells[f"{column['lon']}{row}"][1]) == pytest.approx(world.alert_a["lon"])
    first = f"{column['first_ts']}{row}"
    assert cells[first][0] == "n" and first in dated  # a date and time Calc can sort and filter by
    shown = datetime(1899, 12, 30) + timedelta(days=float(cells[first][1]))
    expected = datetime.fromtimestamp(world.alert_a["first_ts"], SHANGHAI).replace(tzinfo=None)
    assert abs(shown - expected) < timedelta(seconds=1)  # the wall's time zone, to the second
