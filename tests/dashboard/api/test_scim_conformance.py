"""The SCIM endpoint checked by an implementation that is not ours: scim2-tester (python-scim)
discovers the service, then creates, reads, queries, replaces, patches and deletes users over
HTTP. Every check passes but the ones the dashboard departs from on purpose (README, "Provisioning
from the identity provider"), named here one by one so that any new failure shows."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from dashboard.api import create_api

START_S = 30

# (check, words of its reason): what the dashboard does differently by design
DEPARTURES = {
    ("object_deletion", "still exists after deletion"),  # DELETE disables; the account stays
    ("check_remove_attribute", "active cannot be removed"),
    ("check_remove_attribute", "did not remove attribute 'roles'"),  # every account has a role
    ("check_add_attribute", "unexpected value for 'roles'"),  # its one role is primary
    ("check_replace_attribute", "unexpected value for 'roles'"),
    ("search_with_attributes", "Not Found"),  # no search across resource types (POST /.search)
}


@pytest.fixture
def scim_url(api) -> Iterator[str]:
    """The API served over loopback HTTP by uvicorn in a thread; the SCIM base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_api(settings=api.settings, db=api.db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/scim/v2"
    finally:
        server.should_exit = True
        thread.join(START_S)


def test_scim2_tester_finds_only_the_departures_by_design(api, scim_url) -> None:
    # Imported here, not at collection: their pydantic models read docstrings through
    # inspect.getmodule, 5.8 s in a process that has the product's packages loaded.
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    random.seed(7)  # the checker draws its values' shapes (booleans, list items) from random
    headers = {"Authorization": f"Bearer {api.secrets['admin']}"}
    with httpx2.Client(base_url=scim_url, headers=headers, timeout=30) as http:
        client = SyncSCIMClient(http)
        client.discover()
        results = check_server(client, resource_types=["User"])
    failed = [(r.title, str(r.reason)) for r in results if r.status != Status.SUCCESS]
    unexpected = [
        (title, reason)
        for title, reason in failed
        if not any(title == check and words in reason for check, words in DEPARTURES)
    ]
    assert not unexpected, unexpected
    passed = [r.title for r in results if r.status == Status.SUCCESS]
    assert {
        "query_all_schemas",
        "query_resource_type_by_id",
        "object_creation",
        "object_query",
        "object_replacement",
        "check_add_attribute",
    } <= set(passed)
    # 36 on 2026-12-06, 42 once externalId was kept (2026-12-07), with scim2-tester 0.5.2
    assert len(passed) >= 40, passed
