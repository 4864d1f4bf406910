"""``wt cron`` (wt-cli 11.0.2) against a real server, and one real scheduled run.

``test_a_job_runs_on_schedule`` waits for the next minute (up to about 70 s): the one slow test
of the cron work; everything else about timing is unit-tested with a fake clock.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.server import Server
from tests.integration.wt import WtCli, ensure_wt_cli

pytestmark = pytest.mark.integration

# Answers with the job record it was POSTed and whether it came with the job's token.
RECORDER_PY = """\
def record(ctx, cb):
    job = ctx.body
    cb(None, {
        'received': job,
        'bearer': ctx.headers.get('authorization') == 'Bearer ' + job['token'],
    })
"""


@pytest.fixture(scope="module")
def wt_bin() -> Path:
    return ensure_wt_cli()


@pytest.fixture
def container() -> str:
    return f"wtc-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def wt(wt_bin: Path, server: Server, tmp_path: Path, container: str) -> WtCli:
    token = server.cli("token", "create", "--container", container).strip()
    cli = WtCli(tmp_path / "home")
    cli.wt("init", "--url", server.url, "--token", token, "--container", container)
    return cli


def fields(stdout: str) -> dict[str, str]:
    """``Label:   value`` lines of printCronJob / history, as a map."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        match = re.match(r"^([A-Za-z_.]+(?: [a-z]+)?):\s+(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def moment(iso: str, tz: str = "UTC") -> str:
    """What wt prints for an instant: moment-timezone's ``format('L LTS z')`` in ``tz``."""
    local = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    hour = local.hour % 12 or 12
    noon = "AM" if local.hour < 12 else "PM"
    return f"{local:%m/%d/%Y} {hour}:{local:%M:%S} {noon} {local.tzname()}"


def job_block(job: dict[str, Any], *extra: str) -> str:
    """printCronJob's output for a job without results."""
    lines = [
        f"Name:        {job['name']}",
        f"State:       {job['state']}",
        f"Container:   {job['container']}",
        f"Schedule:    {job['schedule']}",
        f"Timezone:    {job['tz']}",
        f"Next run:    {moment(job['next_available_at'], job['tz'])}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def api(server: Server, path: str, **params: Any) -> Any:
    response = server.client.get(path, params=params, headers=server.auth())
    assert response.status_code == 200, response.text
    return response.json()


def test_cron_create_ls_get_rm(wt: WtCli, server: Server, container: str) -> None:
    source = wt.write("nightly.py", RECORDER_PY)
    created = wt.wt(
        "cron",
        "create",
        "--no-auth",
        "--schedule",
        "30 2 * * *",
        "--tz",
        "Europe/Paris",
        "--meta",
        "team=blue",
        str(source),
        "--name",
        "nightly",
    )
    job = api(server, f"/api/cron/{container}/nightly")
    assert (job["schedule"], job["tz"], job["meta"]) == (
        "30 2 * * *",
        "Europe/Paris",
        {"team": "blue"},
    )
    assert created.stdout == job_block(job, "Meta.team:   blue")
    assert re.search(r"^Next run:    \d\d/\d\d/\d{4} 2:30:00 AM CES?T$", created.stdout, re.M)
    assert job["token"] == api(server, f"/api/webtask/{container}/nightly")["token"]

    assert wt.wt("cron", "get", "nightly").stdout == created.stdout
    assert wt.wt("cron", "ls").stdout == created.stdout
    assert wt.wt("cron", "ls", "--meta", "team=blue").stdout == created.stdout
    none = wt.wt("cron", "ls", "--meta", "team=red").stdout
    assert none.startswith("No scheduled webtasks found. To create one:\n")

    moved = wt.wt("cron", "reschedule", "nightly", "--schedule", "0 3 * * *", "--state", "inactive")
    rescheduled = api(server, f"/api/cron/{container}/nightly")
    assert (rescheduled["schedule"], rescheduled["state"], rescheduled["tz"]) == (
        "0 3 * * *",
        "inactive",
        "Europe/Paris",
    )
    assert (rescheduled["created_at"], rescheduled["token"]) == (job["created_at"], job["token"])
    assert moved.stdout == job_block(rescheduled, "Meta.team:   blue")

    removed = wt.wt("cron", "rm", "nightly")
    assert removed.stdout.strip() == "Successfully removed the scheduled webtask: nightly"
    again = wt.wt("cron", "rm", "nightly", ok=False)
    assert again.returncode != 0
    assert "No such webtask: nightly" in again.stderr
    missing = wt.wt("cron", "get", "nightly", ok=False)
    assert "No such webtask: nightly" in missing.stderr
    history = wt.wt("cron", "history", "nightly", ok=False)
    assert "No such webtask: nightly" in history.stderr
    # The webtask itself stays.
    assert api(server, f"/api/webtask/{container}/nightly")["name"] == "nightly"


def test_cron_create_with_a_schedule_the_server_refuses(wt: WtCli) -> None:
    source = wt.write("bad.py", RECORDER_PY)
    result = wt.wt("cron", "create", "--no-auth", "--schedule", "61 * * * *", str(source), ok=False)
    assert result.returncode != 0
    assert (
        "Invalid cron job; please check that the schedule is a valid cron schedule" in result.stderr
    )


def test_a_job_runs_on_schedule(wt: WtCli, server: Server, container: str) -> None:
    source = wt.write("tick.py", RECORDER_PY)
    created = wt.wt(
        "cron", "create", "--no-auth", "--schedule", "*/1 * * * *", str(source), "--name", "tick"
    )
    job = api(server, f"/api/cron/{container}/tick")
    assert created.stdout == job_block(job)
    assert wt.wt("cron", "history", "tick").stdout == ""

    due = datetime.fromisoformat(job["next_available_at"].replace("Z", "+00:00")).timestamp()
    deadline = due + 15
    runs: list[dict[str, Any]] = []
    while not runs and time.time() < deadline:
        time.sleep(1)
        runs = api(server, f"/api/cron/{container}/tick/history")
    assert len(runs) == 1, f"no run by {deadline - due:.0f} s after it was due"
    [run] = runs
    assert run["scheduled_at"] == job["next_available_at"]
    started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp()
    assert 0 <= started - due < 5
    assert (run["type"], run["statusCode"]) == ("success", 200)
    assert run["headers"]["content-type"] == "application/json"
    stats = json.loads(run["headers"]["x-auth0-proxy-stats"])
    assert stats["latency"] >= 0
    answer = json.loads(run["body"])
    assert answer["bearer"] is True
    received = answer["received"]
    assert {k: received[k] for k in ("container", "name", "state", "schedule", "tz", "token")} == {
        "container": container,
        "name": "tick",
        "state": "active",
        "schedule": "*/1 * * * *",
        "tz": "UTC",
        "token": job["token"],
    }
    assert received["created_at"] == job["created_at"]
    assert received["run_count"] == 0

    after = api(server, f"/api/cron/{container}/tick")
    assert (after["run_count"], after["error_count"]) == (1, 0)
    assert after["results"] == [run]
    assert after["next_available_at"] > job["next_available_at"]

    printed = wt.wt("cron", "history", "tick").stdout
    history = fields(printed)
    assert history["scheduled_at"] == job["next_available_at"]
    assert history["started_at"] == run["started_at"]
    assert history["completed_at"] == run["completed_at"]
    assert history["type"] == "success"
    assert history["statusCode"] == "200"
    assert json.loads(history["body"])["received"]["name"] == "tick"

    got = fields(wt.wt("cron", "get", "tick").stdout)
    assert got["Last result"] == "success"
    assert got["Last run"] == moment(run["completed_at"])
    assert got["Next run"] == moment(after["next_available_at"])
