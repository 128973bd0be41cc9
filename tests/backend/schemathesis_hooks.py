"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``): every 4xx or 5xx is a problem document.

A refusal is ``application/problem+json`` with a stable, machine-readable ``code`` (lower
case, digits and underscores) and the HTTP ``status`` it was sent with; a client — the
counter page, the agent, a bank — branches on the code, never on the wording.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

STABLE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@schemathesis.check
def problem_document(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx/5xx answer is RFC 9457 problem+json with a stable ``code`` and its status."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])
    if isinstance(media_type, list):
        media_type = media_type[0] if media_type else ""
    if not str(media_type).startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered as {media_type!r}, not application/problem+json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"problem document is not JSON: {response.content[:200]!r}") from exc
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not STABLE_CODE.match(code):
        raise AssertionError(f"problem document without a stable code: {body!r:.300}")
    if body.get("status") != response.status_code:
        raise AssertionError(f"problem status {body.get('status')} != {response.status_code}")
    return True
