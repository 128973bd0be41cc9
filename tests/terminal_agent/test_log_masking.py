"""The agent's DEBUG log traces card exchanges by header and status word only: no holder
data (issue 19, defect 12). Before, every APDU was logged with its data in hex."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from terminal_agent.agent import bootstrap
from tests.terminal_agent.support import agent_config


def _hex_forms(text: str) -> set[str]:
    """How ``text`` could show up in a hex dump of card data (encodings, spacing, case)."""
    forms = set()
    for encoding in ("ascii", "gb18030", "utf-8"):
        try:
            raw = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        for hexed in (raw.hex(), raw.hex(" ")):
            forms |= {hexed, hexed.upper()}
    return forms


def test_debug_log_of_a_card_read_holds_no_holder_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = bootstrap(agent_config(tmp_path, id_scanner={"kind": "none"}))
    try:
        with caplog.at_level(logging.DEBUG):
            card = agent.read_card(authorization=None)
    finally:
        agent.close()
    holder, basic = card["holder"], card["basic"]
    secrets = {holder["name"], holder["social_security_number"], basic["card_number"]}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    traces = [r.getMessage() for r in caplog.records if "->" in r.getMessage()]
    assert traces, "the exchanges are traced"
    assert any(t.endswith("9000") and "00 B2" in t for t in traces)  # READ RECORD, status
    for secret in secrets:
        assert secret not in logged
        for form in _hex_forms(secret):
            assert form not in logged, (secret, form)
