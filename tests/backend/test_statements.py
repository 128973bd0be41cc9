"""The annual statement and the contribution certificate as A4 PDF, read back as text.

The PDF is checked the way a person reads it: ``pdftotext`` (poppler-utils) extracts
the text, which must hold the account's figures from the books, the interest rate and
convention, and the holder's name — a CJK Extension B character (𠮷) included, which
only comes out as itself when the glyph was embedded with its Unicode mapping. A page
rendered with ``pdftoppm`` goes to var/screenshots/ to be looked at.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.accounts.interest import run_interest
from backend.accounts.models import Source
from backend.db import unit_of_work
from backend.receipts.models import IssuedReceipt
from tests.backend.money_world import add_resident, load_basics
from tests.backend.test_interest import credit
from tests.conftest import World, missing

THIS_YEAR = dt.date.today().year
NAME = "𠮷祥"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} (Debian poppler-utils) is not installed")
    assert path is not None
    return path


def pdf_text(pdf: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    """The text of a PDF as poppler extracts it (table rows kept on a line with ``layout``)."""
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(
        [_tool("pdftotext"), "-enc", "UTF-8", *(["-layout"] if layout else []), str(source), "-"],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8")


def save_page(pdf: bytes, tmp_path: Path, name: str) -> Path:
    """The first page rendered to PNG under var/screenshots/ (to be looked at)."""
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = SCREENSHOTS / name
    subprocess.run(
        [_tool("pdftoppm"), "-png", "-r", "80", "-singlefile", str(source), str(prefix)],
        check=True,
    )
    return prefix.with_suffix(".png")


@pytest.fixture
def holder(world: World, session_factory) -> int:
    """A resident of 夏孜盖乡 named 𠮷祥 with 2020 entries, their interest credited, and this
    year's contribution assessed and paid at the counter."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person = add_resident(s, sequence=21, name=NAME)
        credit(s, person, dt.date(2020, 3, 10), 30000)
        credit(s, person, dt.date(2020, 3, 10), 4000, Source.GOVERNMENT_SUBSIDY)
        credit(s, person, dt.date(2020, 12, 1), 10000)
        person_id = person.id
    run_interest(factory=session_factory, year=2020)
    assessment = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": THIS_YEAR, "grade_fen": 50000},
        headers=world.headers("clerk_xzg"),
    )
    assert assessment.status_code == 201, assessment.text
    paid = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessment.json()["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert paid.status_code == 201, paid.text
    return person_id


def _issued(session_factory, kind: str) -> list[IssuedReceipt]:
    with unit_of_work(session_factory) as s:
        return list(s.scalars(select(IssuedReceipt).where(IssuedReceipt.kind == kind)))


def _genuine(world: World, receipt: IssuedReceipt) -> dict:
    check = world.client.post("/api/v1/public/receipts/verify", json={"token": receipt.token})
    assert check.status_code == 200 and check.json()["genuine"], check.text
    return check.json()["claims"]


def test_annual_statement_pdf_reads_back_with_the_books_figures(
    world: World, holder: int, session_factory, tmp_path: Path
):
    r = world.client.get(
        f"/api/v1/persons/{holder}/statements/2020.pdf", headers=world.headers("clerk_xzg")
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    save_page(r.content, tmp_path, "statement-2020")
    flat = re.sub(r"\s+", " ", pdf_text(r.content, tmp_path))
    assert "城乡居民基本养老保险个人账户对账单（2020年度）" in flat
    assert NAME in flat  # the Extension B character survives as itself
    assert "□" not in flat
    # 300 + 40 + 100 yuan in 2020; interest (300×9 + 40×9 + 100×0) × 1.5 % ÷ 12 = 3.825 → 3.83.
    assert "2020-03-10 个人缴费 300.00" in flat
    assert "2020-03-10 政府补贴 40.00" in flat
    assert "2020-12-01 个人缴费 100.00" in flat
    assert "2020-12-31 利息 3.83 年末结息" in flat
    assert "本年度记账利率 1.5%（年利率）；本年利息 3.83 元" in flat
    assert "当年记账金额按记账次月起至年末的整月数计息" in flat
    # Summary: opening 0, credits 443.83, interest 3.83, closing 443.83; by source.
    assert "年初余额 0.00 元 本年记账合计 443.83 元 其中利息 3.83 元 年末余额 443.83 元" in flat
    assert "个人缴费 0.00 400.00 400.00" in flat
    assert "合计 0.00 443.83 443.83" in flat
    assert "本年未领取养老金" in flat
    (issued,) = _issued(session_factory, "account_statement")
    assert f"单据号 {issued.receipt_number}" in flat
    claims = _genuine(world, issued)
    assert claims["amount_fen"] == 44383 and claims["kind"] == "account_statement"
    # Printed again with the account unchanged: the same receipt (number and token).
    again = world.client.get(
        f"/api/v1/persons/{holder}/statements/2020.pdf", headers=world.headers("clerk_xzg")
    )
    assert f"单据号 {issued.receipt_number}" in re.sub(
        r"\s+", " ", pdf_text(again.content, tmp_path)
    )
    assert len(_issued(session_factory, "account_statement")) == 1


def test_contribution_certificate_pdf_lists_the_paid_years(
    world: World, holder: int, session_factory, tmp_path: Path
):
    r = world.client.get(
        f"/api/v1/persons/{holder}/contribution-certificate.pdf",
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 200, r.text
    save_page(r.content, tmp_path, "contribution-certificate")
    text = pdf_text(r.content, tmp_path)
    flat, joined = re.sub(r"\s+", " ", text), re.sub(r"\s+", "", text)
    assert "城乡居民基本养老保险缴费证明" in flat
    assert f"兹证明{NAME}" in joined
    assert f"{THIS_YEAR}年缴费到账的年度共1年，计入缴费年限1年" in joined
    rows = pdf_text(r.content, tmp_path, layout=True)
    # year, grade, own paid, paid by the government, subsidies (Hoboksar: 65 yuan at 500)
    assert re.search(rf"^\s*{THIS_YEAR}\s+500\.00\s+500\.00\s+0\.00\s+65\.00\s*$", rows, re.M)
    (issued,) = _issued(session_factory, "contribution_certificate")
    assert f"单据号 {issued.receipt_number}" in flat
    # The balance on the certificate: 443.83 of 2020 + this year's 500 + 65 subsidy.
    assert _genuine(world, issued)["amount_fen"] == 44383 + 50000 + 6500


def test_documents_answer_only_inside_the_scope_and_for_past_years(world: World, holder: int):
    outside = world.client.get(
        f"/api/v1/persons/{holder}/statements/2020.pdf", headers=world.headers("clerk_emin")
    )
    assert outside.status_code == 404
    future = world.client.get(
        f"/api/v1/persons/{holder}/statements/{THIS_YEAR + 1}.pdf",
        headers=world.headers("clerk_xzg"),
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "year"
    no_account = world.client.get(
        "/api/v1/persons/999999/contribution-certificate.pdf", headers=world.headers("clerk_xzg")
    )
    assert no_account.status_code == 404
