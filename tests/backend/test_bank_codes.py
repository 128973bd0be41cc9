"""The bank code table: every bank code the system meets is shown by its Chinese name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from backend.banks import codes
from backend.banks.models import BankCode
from backend.contributions import demo as contributions_demo
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.pki.models import BankPartner
from tests.conftest import World


def _banks(world: World) -> dict[str, str]:
    r = world.client.get("/api/v1/registry/codes", headers=world.headers("clerk_xzg"))
    assert r.status_code == 200, r.text
    return r.json()["bank"]


def test_codes_come_from_the_table_and_a_partner_keeps_its_registered_name(
    world: World, session_factory
):
    assert "DEMOBANK" not in _banks(world)  # before: only partners had names
    with unit_of_work(session_factory) as s:
        assert codes.load_bank_codes(session=s, path=codes.NATIONAL) >= 10
        codes.load_bank_codes(session=s, path=codes.DEMO)
        s.add(BankPartner(code="RCC", name="和布克赛尔农村信用合作社"))
    banks = _banks(world)
    # The demo's pensions, cards and mandates use this code: it is named.
    assert banks[contributions_demo.DEMO_BANK] == "演示银行"
    assert banks["ABC"] == "中国农业银行" and banks["ICBC"] == "中国工商银行"
    assert banks["RCC"] == "和布克赛尔农村信用合作社"


def test_loading_again_renames_and_a_bad_file_changes_nothing(
    world: World, session_factory, tmp_path: Path
):
    table = tmp_path / "banks.csv"
    table.write_text("code,name\nABC,农业银行\n", encoding="utf-8")
    with unit_of_work(session_factory) as s:
        codes.load_bank_codes(session=s, path=codes.NATIONAL)
        codes.load_bank_codes(session=s, path=table)
    assert _banks(world)["ABC"] == "农业银行"
    table.write_text("code,name\nXJB,新疆银行\nTOO-LONG-BANK-CODE,某银行\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="第3行"), unit_of_work(session_factory) as s:
        codes.load_bank_codes(session=s, path=table)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(BankCode).where(BankCode.code == "XJB")) is None
