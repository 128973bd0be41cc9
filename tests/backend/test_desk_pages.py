"""The staff application is served at /desk/; the old counter page's address leads there."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_desk_is_served_and_the_counter_address_redirects_with_its_query(client: TestClient):
    page = client.get("/desk/")
    assert page.status_code == 200 and "经办工作台" in page.text
    assert client.get("/desk/modules.js").headers["content-type"].startswith("text/javascript")
    moved = client.get("/counter/?agent=http://127.0.0.1:17801", follow_redirects=False)
    assert moved.status_code == 308
    assert moved.headers["location"] == "/desk/?agent=http://127.0.0.1:17801"
    assert client.get("/counter", follow_redirects=False).headers["location"] == "/desk/"
