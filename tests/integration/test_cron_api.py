"""``/api/cron`` over HTTP on a real server: every endpoint, its JSON and its errors (§1.9).

Runs themselves are covered by the scheduler's unit tests and the one real run in
test_wt_cron.py; here nothing waits for a schedule.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.server import Server

pytestmark = pytest.mark.integration

CODE = "def run(ctx, cb):\n    cb(None, {'ok': True})\n"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_KEYS = {
    "container",
    "name",
    "state",
    "schedule",
    "tz",
    "token",
    "meta",
    "created_at",
    "next_available_at",
    "run_count",
    "error_count",
    "results",
}


@pytest.fixture
def container() -> str:
    return f"cron-{uuid.uuid4().hex[:10]}"


def webtask(server: Server, container: str, name: str = "job") -> str:
    """Creates ``container/name`` and returns its token."""
    response = server.put(container, name, CODE)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def put_job(server: Server, container: str, name: str = "job", **body: Any) -> httpx.Response:
    body.setdefault("schedule", "*/5 * * * *")
    return server.client.put(f"/api/cron/{container}/{name}", json=body, headers=server.auth())


def error(status: int, message: str) -> dict[str, Any]:
    errors = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found"}
    return {"code": status, "error": errors[status], "message": message}


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_put_attaches_a_job_to_the_webtask_and_uses_its_token(
    server: Server, container: str
) -> None:
    token = webtask(server, container)
    before = time.time()
    response = put_job(server, container)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    job = response.json()
    assert set(job) == JOB_KEYS
    assert {k: job[k] for k in JOB_KEYS - {"created_at", "next_available_at"}} == {
        "container": container,
        "name": "job",
        "state": "active",
        "schedule": "*/5 * * * *",
        "tz": "UTC",
        "token": token,
        "meta": {},
        "run_count": 0,
        "error_count": 0,
        "results": [],
    }
    assert ISO.match(job["created_at"])
    assert before - 1 <= seconds(job["created_at"]) <= time.time()
    upcoming = seconds(job["next_available_at"])
    assert upcoming % 300 == 0  # a multiple of five minutes
    assert seconds(job["created_at"]) < upcoming <= seconds(job["created_at"]) + 300
    assert server.client.get(f"/api/cron/{container}/job", headers=server.auth()).json() == job


def test_put_takes_what_wt_sends(server: Server, container: str) -> None:
    token = webtask(server, container)
    response = put_job(
        server,
        container,
        schedule="0 9 * * 1-5",
        token=token,
        state="inactive",
        meta={"team": "blue"},
        tz="America/New_York",
    )
    assert response.status_code == 200
    job = response.json()
    assert (job["schedule"], job["tz"], job["state"], job["meta"]) == (
        "0 9 * * 1-5",
        "America/New_York",
        "inactive",
        {"team": "blue"},
    )
    assert job["token"] == token
    # 09:00 in New York is 13:00 or 14:00 UTC.
    assert datetime.fromtimestamp(seconds(job["next_available_at"]), UTC).hour in (13, 14)


def test_a_token_with_exp_gives_expires_at(server: Server, container: str) -> None:
    webtask(server, container)
    issued = server.client.post(
        "/api/tokens/issue",
        json={"ten": container, "jtn": "job", "code": CODE, "exp": 4102444800},
        headers=server.auth(),
    )
    assert issued.status_code == 200, issued.text
    job = put_job(server, container, token=issued.text).json()
    assert job["expires_at"] == "2100-01-01T00:00:00.000Z"


def test_put_again_replaces_the_schedule_and_keeps_created_at(
    server: Server, container: str
) -> None:
    webtask(server, container)
    first = put_job(server, container, meta={"a": "1"}).json()
    second = put_job(server, container, schedule="0 0 * * *").json()
    assert second["created_at"] == first["created_at"]
    assert (second["schedule"], second["meta"]) == ("0 0 * * *", {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "The schedule must be a string of at most 200 characters, not None."),
        (
            {"schedule": "* * * *"},
            "The schedule '* * * *' must have 5 fields: MINUTE HOUR DAY MONTH WEEKDAY.",
        ),
        ({"schedule": "61 * * * *"}, "The schedule '61 * * * *' is not a valid cron expression."),
        ({"schedule": "0 0 31 2 *"}, "The schedule '0 0 31 2 *' never fires."),
        (
            {"schedule": "* * * * *", "tz": "Mars/Olympus"},
            "The time zone 'Mars/Olympus' is not an IANA time zone name such as 'Europe/Paris'.",
        ),
        (
            {"schedule": "* * * * *", "state": "paused"},
            "The state must be 'active' or 'inactive', not 'paused'.",
        ),
        (
            {"schedule": "* * * * *", "meta": {"n": 1}},
            "Cron job meta must be an object of strings, not {'n': 1}.",
        ),
        (
            {"schedule": "* * * * *", "token": "not-a-jwt"},
            "The job token is not a token of this server: Token is not a valid webtask token.",
        ),
        ({"schedule": "* * * * *", "token": 7}, "The job token must be a string, not int."),
    ],
)
def test_bad_bodies_are_400(
    server: Server, container: str, body: dict[str, Any], message: str
) -> None:
    webtask(server, container)
    response = server.client.put(f"/api/cron/{container}/job", json=body, headers=server.auth())
    assert response.status_code == 400
    assert response.json() == error(400, message)
    missing = server.client.get(f"/api/cron/{container}/job", headers=server.auth())
    assert missing.status_code == 404


def test_a_body_that_is_not_a_json_object_is_400(server: Server, container: str) -> None:
    webtask(server, container)
    response = server.client.put(
        f"/api/cron/{container}/job", content=b"[1]", headers=server.auth()
    )
    assert response.status_code == 400
    assert response.json() == error(400, "Request body must be a JSON object, not list.")


def test_the_token_must_be_the_webtasks_own(server: Server, container: str) -> None:
    webtask(server, container)
    other = webtask(server, container, "other")
    response = put_job(server, container, token=other)
    assert response.status_code == 400
    assert response.json() == error(
        400,
        f"The job token is for webtask {container}/other, not {container}/job: a cron job "
        "runs the webtask of its own name.",
    )


def test_an_expired_or_revoked_token_is_refused(server: Server, container: str) -> None:
    token = webtask(server, container)
    expired = server.client.post(
        "/api/tokens/issue",
        json={"ten": container, "jtn": "job", "code": CODE, "exp": 1000},
        headers=server.auth(),
    ).text
    assert put_job(server, container, token=expired).json() == error(
        400, "The job token has expired."
    )
    revoked = server.client.post(
        "/api/tokens/revoke", params={"token": token}, headers=server.auth()
    )
    assert revoked.status_code == 200
    assert put_job(server, container, token=token).json() == error(
        400, "The job token has been revoked."
    )


def test_a_job_needs_its_webtask(server: Server, container: str) -> None:
    response = put_job(server, container, name="ghost")
    assert response.status_code == 404
    assert response.json() == error(
        404,
        f"No such webtask: {container}/ghost. A cron job runs the webtask of its own name: "
        "create the webtask first.",
    )


def test_list_by_name_with_meta_filters_and_paging(server: Server, container: str) -> None:
    for name, meta in [("b", {"k": "1", "x": "y"}), ("a", {"k": "1"}), ("c", {"k": "2"})]:
        webtask(server, container, name)
        assert put_job(server, container, name=name, meta=meta).status_code == 200

    def names(**params: Any) -> list[str]:
        response = server.client.get(f"/api/cron/{container}", params=params, headers=server.auth())
        assert response.status_code == 200, response.text
        return [job["name"] for job in response.json()]

    assert names() == ["a", "b", "c"]
    assert names(meta="k:1") == ["a", "b"]
    assert names(meta=["k:1", "x:y"]) == ["b"]
    assert names(meta=["k:1", "k:2"]) == []
    assert names(meta="k:3") == []
    assert names(offset=1, limit=1) == ["b"]
    assert names(limit=2) == ["a", "b"]
    listed = server.client.get(f"/api/cron/{container}", headers=server.auth()).json()
    assert set(listed[0]) == JOB_KEYS


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"meta": "nocolon"}, "Query parameter 'meta' must look like key:value, not 'nocolon'."),
        ({"offset": "-1"}, "Query parameter 'offset' must be a non-negative integer, not '-1'."),
        ({"limit": "x"}, "Query parameter 'limit' must be a non-negative integer, not 'x'."),
    ],
)
def test_bad_list_parameters_are_400(
    server: Server, container: str, params: dict[str, str], message: str
) -> None:
    response = server.client.get(f"/api/cron/{container}", params=params, headers=server.auth())
    assert response.status_code == 400
    assert response.json() == error(400, message)


def test_state_switches_between_active_and_inactive(server: Server, container: str) -> None:
    webtask(server, container)
    put_job(server, container)
    url = f"/api/cron/{container}/job/state"
    paused = server.client.put(url, json={"state": "inactive"}, headers=server.auth())
    assert paused.status_code == 200
    assert paused.json()["state"] == "inactive"
    assert set(paused.json()) == JOB_KEYS
    resumed = server.client.put(url, json={"state": "active"}, headers=server.auth())
    assert resumed.json()["state"] == "active"
    assert seconds(resumed.json()["next_available_at"]) > time.time()
    bad = server.client.put(url, json={"state": "expired"}, headers=server.auth())
    assert bad.status_code == 400
    assert bad.json() == error(400, "The state must be 'active' or 'inactive', not 'expired'.")
    bad = server.client.put(url, json={}, headers=server.auth())
    assert bad.json() == error(400, "The state must be 'active' or 'inactive', not None.")


def test_history_of_a_new_job_is_empty(server: Server, container: str) -> None:
    webtask(server, container)
    put_job(server, container)
    response = server.client.get(
        f"/api/cron/{container}/job/history", params={"limit": 20}, headers=server.auth()
    )
    assert response.status_code == 200
    assert response.json() == []


def test_delete_removes_the_job_but_not_the_webtask(server: Server, container: str) -> None:
    webtask(server, container)
    put_job(server, container)
    deleted = server.client.delete(f"/api/cron/{container}/job", headers=server.auth())
    assert deleted.status_code == 204
    again = server.client.delete(f"/api/cron/{container}/job", headers=server.auth())
    assert again.status_code == 404
    assert again.json() == error(404, f"No such cron job: {container}/job.")
    kept = server.client.get(f"/api/webtask/{container}/job", headers=server.auth())
    assert kept.status_code == 200


def test_deleting_the_webtask_deletes_its_job(server: Server, container: str) -> None:
    webtask(server, container)
    put_job(server, container)
    webtask(server, container)  # an update keeps the job
    job_url = f"/api/cron/{container}/job"
    assert server.client.get(job_url, headers=server.auth()).status_code == 200
    removed = server.client.delete(f"/api/webtask/{container}/job", headers=server.auth())
    assert removed.status_code == 204
    assert server.client.get(job_url, headers=server.auth()).status_code == 404
    webtask(server, container)  # a new webtask of the same name starts without a job
    assert server.client.get(job_url, headers=server.auth()).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "/job", None),
        ("DELETE", "/job", None),
        ("PUT", "/job/state", {"state": "active"}),
        ("GET", "/job/history", None),
    ],
)
def test_a_missing_job_is_404(
    server: Server, container: str, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    response = server.client.request(
        method, f"/api/cron/{container}{suffix}", json=body, headers=server.auth()
    )
    assert response.status_code == 404
    assert response.json() == error(404, f"No such cron job: {container}/job.")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/job"),
        ("PUT", "/job"),
        ("DELETE", "/job"),
        ("PUT", "/job/state"),
        ("GET", "/job/history"),
    ],
)
def test_every_endpoint_needs_a_token_for_the_container(
    server: Server, container: str, method: str, suffix: str
) -> None:
    url = f"/api/cron/{container}{suffix}"
    body = {"schedule": "* * * * *", "state": "active"}
    anonymous = server.client.request(method, url, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"].startswith("Missing token")
    stranger = server.cli("token", "create", "--container", "someone-else").strip()
    refused = server.client.request(method, url, json=body, headers=server.auth(stranger))
    assert refused.status_code == 403
    assert refused.json() == error(
        403, f"This token does not grant access to container {container!r}."
    )
    own = server.cli("token", "create", "--container", container).strip()
    allowed = server.client.request(method, url, json=body, headers=server.auth(own))
    assert allowed.status_code in (200, 404)
