"""Devices come and go while the agent runs: noticed within a second, reported, recovered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device_drivers.id_scanner import PtyScannerSimulator, synthetic_deck
from device_drivers.printer import errors as printer_errors
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.printing import PrintRequest
from tests.terminal_agent.support import agent_config, wait_for

EVENT_WITHIN_SECONDS = 1.5


def events_of(agent: Agent, event_type: str, **fields: Any) -> list[dict[str, Any]]:
    """Recent events of one type whose fields match."""
    return [
        e
        for e in list(agent.bus.recent)
        if e["type"] == event_type and all(e.get(k) == v for k, v in fields.items())
    ]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Any]:
    """Start an agent from a configuration; closed after the test."""
    agents: list[Agent] = []

    def start(**sections: Any) -> Agent:
        agent = bootstrap(agent_config(tmp_path, **sections))
        agent.start()
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.close()


def test_scanner_unplugged_and_plugged_back_is_reported_and_reopened(
    tmp_path: Path, started: Any
) -> None:
    link = tmp_path / "ttyXNB0"
    first = PtyScannerSimulator().__enter__()
    os.symlink(first.port, link)
    agent = started(
        id_scanner={"kind": "serial", "port": str(link), "baudrate": 115200},
        card_reader={"kind": "none"},
        printer={"kind": "none"},
    )
    scanner = agent.devices["id_scanner"]
    wait_for(lambda: scanner.state == "ready", what="scanner ready")
    first.close()
    link.unlink()
    wait_for(lambda: scanner.state == "unavailable", timeout=EVENT_WITHIN_SECONDS, what="unplug")
    assert events_of(agent, "device.state", device="id_scanner", state="unavailable")
    with PtyScannerSimulator() as second:
        second.simulator.place(synthetic_deck()[1])
        os.symlink(second.port, link)
        wait_for(lambda: events_of(agent, "idcard.present"), timeout=3, what="card present")
        assert scanner.state == "ready"
        assert agent.read_id_card()["name"] == "古丽娜尔·哈力木"
        assert events_of(agent, "idcard.read")


def test_smart_card_service_stopping_and_returning_is_recovered(started: Any) -> None:
    agent = started(id_scanner={"kind": "none"}, printer={"kind": "none"})
    reader = agent.devices["card_reader"]
    wait_for(lambda: events_of(agent, "card.inserted"), what="card seen")
    reader.driver.service_running = False
    wait_for(
        lambda: reader.state == "service_not_running",
        timeout=EVENT_WITHIN_SECONDS,
        what="service stop noticed",
    )
    assert events_of(agent, "card.removed")
    reader.driver.service_running = True
    wait_for(lambda: len(events_of(agent, "card.inserted")) == 2, timeout=EVENT_WITHIN_SECONDS)
    assert reader.state == "ready"
    assert agent.read_card(authorization=None)["basic"]["card_number"] == "X00000003"


def test_paper_out_and_back_are_events(started: Any) -> None:
    agent = started(
        card_reader={"kind": "none"},
        id_scanner={"kind": "none"},
        printer={"kind": "capture", "port": 0, "status_poll_seconds": 0.2},
    )
    printer = agent.devices["printer"]
    wait_for(lambda: printer.state == "ready", what="printer ready")
    agent.capture.paper_out = True
    wait_for(lambda: events_of(agent, "printer.paper_out"), timeout=EVENT_WITHIN_SECONDS)
    assert printer.state == "paper_out"
    agent.capture.paper_out = False
    wait_for(lambda: events_of(agent, "printer.paper_back"), timeout=EVENT_WITHIN_SECONDS)
    assert printer.state == "ready"


def test_printer_switched_off_mid_receipt_is_a_retriable_error(
    started: Any, signed_token: Any
) -> None:
    agent = started(card_reader={"kind": "none"}, id_scanner={"kind": "none"})
    agent.capture.hang_up_after = 200
    request = PrintRequest.model_validate(
        {
            "receipt": {
                "layout": "survival",
                "name": "张桂兰",
                "id_number": "65422619580101002X",
                "valid_until": "2027-01-01",
            },
            "counter": {"office": "和布克赛尔镇社保所", "operator": "李娜"},
            "token": signed_token("survival"),
        }
    )
    with pytest.raises(printer_errors.PrinterDisconnectedError) as caught:
        agent.print_receipt(request, authorization=None)
    assert caught.value.retriable
    assert agent.devices["printer"].state == "printer_disconnected"
    agent.capture.hang_up_after = None
    assert agent.print_receipt(request, authorization=None)["bytes"] > 200
    assert agent.devices["printer"].state == "ready"
