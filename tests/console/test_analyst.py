"""The analysts' workbench: datasets, backtests of model versions run in the background by a
real console, their scores, and the /analyst page in a real Chromium (compare two versions,
promote one) — with jurisdiction and bad input refused."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import PASSWORD, bearer, create_test_users, login, small_console_settings
from tests.browser import chromium_missing_reason, is_loopback, launch_chromium, log_in, serve
from zhizhi.console.demo_datasets import DEMO_DATASET, render_demo_dataset

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

ANALYST = "analyst-district"
TOWN_ANALYST = "analyst-town"
STOPS = (10.0, 45.0, 320.0)
RULE = "hazmat-abnormal-stop"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def bench(tmp_path_factory, module_database_url):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = small_console_settings(tmp_path_factory.mktemp("analyst"), database_url=module_database_url)
    render_demo_dataset(settings.resolved_datasets_dir, stops=STOPS)
    broken = settings.resolved_datasets_dir / "broken" / "clip-1"
    broken.mkdir(parents=True)
    (broken / "camera.json").write_text(
        (settings.resolved_datasets_dir / DEMO_DATASET / "stop-010s" / "camera.json").read_text())
    (broken / "events.jsonl").write_text('{"rule": "abnormal_stop", "start_ts": 10, "end_ts": 5}\n')
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user(ANALYST, "analyst", users.district_code, PASSWORD)
    state.auth.add_user(TOWN_ANALYST, "analyst", users.town_a, PASSWORD)
    app = create_app(settings, state=state)
    with TestClient(app) as client:
        heads = {name: bearer(login(client, name)) for name in (ANALYST, TOWN_ANALYST, users.operator_a)}
        yield state, client, users, heads, app
    state.close()


def _model_with_stop(state, min_duration_s: float, version: int) -> str:
    """A new draft of the production warning model with another abnormal-stop duration."""
    import yaml

    data = yaml.safe_load(state.models.production("warning").content)
    data["version"] = version
    for rule in data["rules"]:
        if rule["id"] == RULE:
            rule["min_duration_s"] = min_duration_s
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _finish(client, heads, job_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/backtests/{job_id}", headers=heads).json()
        if job["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_datasets_are_listed(bench):
    _, client, users, heads, _ = bench
    listed = {d["name"]: d for d in client.get("/api/datasets", headers=heads[users.operator_a]).json()}
    assert listed[DEMO_DATASET] == {"name": DEMO_DATASET, "clips": 3, "with_truth": 3}


def test_a_backtest_runs_in_the_background_with_exact_scores(bench):
    state, client, _, heads, _ = bench
    prod = state.models.production("warning")
    r = client.post("/api/backtests", headers=heads[ANALYST], json={
        "model": {"name": prod.name, "version": prod.version}, "dataset": DEMO_DATASET, "truth": True})
    assert r.status_code == 202, r.text
    job = _finish(client, heads[ANALYST], r.json()["id"])
    assert job["status"] == "finished", job
    assert (job["done"], job["total"]) == (3, 3)
    scores = job["result"]["rules"][RULE]
    # the shipped rule waits 20 s: the 45-s and 320-s stops are found, the 10-s one is not
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 0, 1)
    assert scores["recall"] == pytest.approx(2 / 3, abs=1e-3) and scores["precision"] == 1.0
    assert job["id"] in [j["id"] for j in client.get("/api/backtests", headers=heads[ANALYST]).json()]


def test_bad_backtest_requests_are_refused(bench):
    state, client, users, heads, _ = bench
    prod = state.models.production("warning")
    model = {"name": prod.name, "version": prod.version}
    assert client.post("/api/backtests", headers=heads[users.operator_a],
                       json={"model": model, "dataset": DEMO_DATASET}).status_code == 403
    assert client.post("/api/backtests", headers=heads[ANALYST],
                       json={"model": model, "dataset": "nope"}).status_code == 404
    assert client.post("/api/backtests", headers=heads[ANALYST],
                       json={"model": model, "dataset": "../etc"}).status_code == 422
    assert client.post("/api/backtests", headers=heads[ANALYST],
                       json={"model": {"name": prod.name, "version": 999}, "dataset": DEMO_DATASET}).status_code == 404
    broken = client.post("/api/backtests", headers=heads[ANALYST],
                         json={"model": model, "dataset": "broken", "truth": True})
    assert broken.status_code == 422 and "events.jsonl:1" in broken.text


@pytest.mark.browser
def test_the_analyst_page_compares_two_versions_and_promotes_one(bench, tmp_path):
    """Compare the shipped model with a 60-s variant on the demo dataset, then promote it."""
    reason = chromium_missing_reason()
    if reason:
        pytest.fail(reason)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    state, client, _, heads, app = bench
    prod = state.models.production("warning")
    r = client.post("/api/models", headers=heads[ANALYST], json={
        "kind": "warning", "content": _model_with_stop(state, 60.0, prod.version + 1), "reason": "fewer false stops"})
    assert r.status_code == 201, r.text
    folder = DOCS_SCREENSHOTS if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
    blocked: list[str] = []
    with serve(app) as base, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
            context.route("**/*", lambda route: route.continue_() if is_loopback(route.request.url)
                          else (blocked.append(route.request.url), route.abort()))
            log_in(context, base, ANALYST)
            page = context.new_page()
            page.goto(f"{base}/analyst", wait_until="domcontentloaded")
            page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=30_000)
            a, b = prod.label, f"{prod.name}@{prod.version + 1}"
            page.check(f"input[name=an-a][value='{a}']")
            page.check(f"input[name=an-b][value='{b}']")
            page.click("#an-diff")
            page.wait_for_function(
                "() => document.querySelector('#an-diff-out').textContent.includes('min_duration_s')"
            )
            page.select_option("#an-dataset", DEMO_DATASET)
            page.click("#an-run-ab")
            try:
                page.wait_for_function("() => zhizhiAnalyst.results.a && zhizhiAnalyst.results.b", timeout=120_000)
            except PlaywrightTimeout:
                raise AssertionError(page.evaluate("document.querySelector('#an-jobs').innerText + ' | ' + "
                                                   "document.querySelector('#an-run-msg').innerText")) from None
            recall = page.evaluate(f"[zhizhiAnalyst.results.a.result.rules['{RULE}'].recall,"
                                   f" zhizhiAnalyst.results.b.result.rules['{RULE}'].recall]")
            assert recall[0] == pytest.approx(2 / 3, abs=1e-3) and recall[1] == pytest.approx(1 / 3, abs=1e-3)
            assert page.locator(f"#an-result-body tr[data-rule='{RULE}']").count() == 1
            with page.expect_download() as download:  # a finished backtest's scores, as a CSV for Excel
                page.locator("#an-jobs .an-csv").first.click()
            assert download.value.suggested_filename.startswith("回测结果-backtest-")
            assert Path(download.value.path()).read_bytes().startswith("\ufeff规则编号,规则类型,命中".encode())
            page.wait_for_timeout(400)
            page.screenshot(path=str(folder / "analyst.png"))
            page.on("dialog", lambda dialog: dialog.accept("比对后上线 after the backtest"))
            page.click(f"button[data-promote='{b}']")
            page.wait_for_function(f"() => document.querySelector(\"tr[data-model='{b}'] .an-status.production\")")
        finally:
            browser.close()
    assert state.models.production("warning").label == b
    assert not blocked, blocked



@pytest.fixture(scope="module")
def labelled(bench, tmp_path_factory):
    """Labels in the console's store with their evidence tracks (a 35-s stop closed as a false
    alarm and a 120-s stop resolved, in town A; a false alarm in town B; one too old), and two
    drafts of the warning model: the shipped 20-s stop and a 60-s one. Returns their versions."""
    from tests.labels_support import FALSE_STOP_S, TRUE_STOP_S, record_stop
    from zhizhi.alerts.labels import AlertLabel, LabelStore

    state, client, users, heads, _ = bench
    base = tmp_path_factory.mktemp("labelled")
    evidence = state.settings.resolved_evidence_dir
    false_alarm = record_stop(base, evidence, FALSE_STOP_S, seed=1)
    true_stop = record_stop(base, evidence, TRUE_STOP_S, seed=2)
    now = time.time()
    store = LabelStore(state.engine, migrated=True)
    for label in (
        false_alarm.label("false_alarm", now - 3600, assignee_unit=users.town_a),
        true_stop.label("confirmed", now - 1800, assignee_unit=users.town_a),
        false_alarm.label("false_alarm", now - 600, alert_id="abcdefghjk23", assignee_unit=users.town_b),
        true_stop.label("false_alarm", now - 40 * 86400, alert_id="abcdefghjk24", assignee_unit=users.town_a),  # old
    ):
        store.add(AlertLabel.model_validate(label))
    prod = state.models.production("warning")
    latest = max(v.version for v in state.models.list("warning", prod.name))
    for version, seconds in ((latest + 1, 20.0), (latest + 2, 60.0)):
        r = client.post("/api/models", headers=heads[ANALYST], json={
            "kind": "warning", "content": _model_with_stop(state, seconds, version), "reason": "fewer false stops"})
        assert r.status_code == 201, r.text
    return prod.name, latest + 1, latest + 2


def test_false_alarm_labels_are_a_dataset_of_the_callers_jurisdiction(bench, labelled):
    """``labels:false-alarms``: a town's analyst backtests its own town's labels; a 60-s rule
    prevents its false alarm and still catches its true stop."""
    state, client, users, heads, _ = bench
    name, shipped, longer = labelled

    def listed(user: str) -> dict:
        found = client.get("/api/datasets", headers=heads[user]).json()
        return next(d for d in found if d["name"] == "labels:false-alarms")

    assert listed(TOWN_ANALYST) == {"name": "labels:false-alarms", "clips": 2, "with_truth": 0, "false_alarms": 1,
                                    "confirmed": 1}
    assert (listed(ANALYST)["clips"], listed(ANALYST)["false_alarms"]) == (3, 2)
    for version, still_firing in ((shipped, 1), (longer, 0)):
        r = client.post("/api/backtests", headers=heads[TOWN_ANALYST], json={
            "model": {"name": name, "version": version}, "dataset": "labels:false-alarms"})
        assert r.status_code == 202, r.text
        job = _finish(client, heads[TOWN_ANALYST], r.json()["id"])
        assert job["status"] == "finished", job
        assert job["params"]["scope"] == users.town_a and job["result"]["dataset"] == "labels:false-alarms"
        labels = job["result"]["labels"]
        assert (labels["false_alarms"], labels["still_firing"], labels["confirmed"], labels["caught"]) == (
            1, still_firing, 1, 1)
        assert "cases" not in labels  # every reader sees results: counts, no alert ids
        assert (job["result"]["rules"][RULE]["fp"], job["result"]["rules"][RULE]["tp"]) == (still_firing, 1)
    runs = state.settings.data_dir / "labels" / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # each run's folder goes with its job

    model = {"name": name, "version": shipped}
    for user, dataset, status in (
        (users.operator_a, "labels:false-alarms", 403),  # no models.manage
        (TOWN_ANALYST, DEMO_DATASET, 403),  # a folder is the whole district's
        (TOWN_ANALYST, "labels:nope", 404),
        (TOWN_ANALYST, "labels:../x", 422),
    ):
        r = client.post("/api/backtests", headers=heads[user], json={"model": model, "dataset": dataset})
        assert r.status_code == status, (user, dataset, r.text)


@pytest.mark.browser
def test_the_analyst_page_backtests_false_alarm_labels(bench, labelled):
    """A town's analyst compares the 20-s and the 60-s stop on its labels in the page."""
    reason = chromium_missing_reason()
    if reason:
        pytest.fail(reason)
    from playwright.sync_api import sync_playwright

    _, _, _, _, app = bench
    name, shipped, longer = labelled
    with serve(app) as base, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
            context.route("**/*", lambda route: route.continue_() if is_loopback(route.request.url) else route.abort())
            log_in(context, base, TOWN_ANALYST)
            page = context.new_page()
            page.goto(f"{base}/analyst", wait_until="domcontentloaded")
            page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=30_000)
            assert "1 误报 false alarms · 1 确认 confirmed" in page.locator(
                "#an-dataset option[value='labels:false-alarms']").inner_text()
            page.check(f"input[name=an-a][value='{name}@{shipped}']")
            page.check(f"input[name=an-b][value='{name}@{longer}']")
            page.select_option("#an-dataset", "labels:false-alarms")
            page.click("#an-run-ab")
            page.wait_for_function("() => zhizhiAnalyst.results.a && zhizhiAnalyst.results.b", timeout=120_000)
            lines = {slot: page.locator(f"#an-result-body .an-labels[data-slot='{slot}']").inner_text()
                     for slot in ("a", "b")}
        finally:
            browser.close()
    assert "false alarms still firing 1 / 1" in lines["a"] and "true events still caught 1 / 1" in lines["a"]
    assert "false alarms still firing 0 / 1" in lines["b"] and "true events still caught 1 / 1" in lines["b"]
