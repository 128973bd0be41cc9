"""The README's main job: ``xnb demo`` prepares everything and walks a counter visit.

One run of the whole demo (it takes a while), then the facts it printed are checked
against each other, against the files it wrote and against the database it left behind.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backend.banks.formats import Outcome, get_format


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Demo:
    """What one run of ``xnb demo --no-serve`` printed and left under ``var/``."""

    def __init__(self, out: str, var: Path) -> None:
        self.out = out
        self.var = var

    def one(self, pattern: str) -> re.Match[str]:
        """The single match of ``pattern`` in the output."""
        found = list(re.finditer(pattern, self.out, flags=re.MULTILINE))
        assert len(found) == 1, f"{pattern!r} printed {len(found)} times:\n{self.out[-4000:]}"
        return found[0]

    def fen(self, pattern: str) -> int:
        """The yuan amount captured by ``pattern``'s first group, in fen."""
        return int(Decimal(self.one(pattern).group(1)) * 100)

    def query(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """Rows of the demo's database."""
        engine = create_engine(f"sqlite:///{self.var / 'xnb.db'}")
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The whole demo, once, on a fresh database in a temporary directory."""
    tmp_path = tmp_path_factory.mktemp("demo")
    env = {
        "XNB_DATABASE_URL": f"sqlite:///{tmp_path}/var/xnb.db",
        "PATH": "/usr/bin:/bin",
        # The checkout this test belongs to, whatever the interpreter's editable install says.
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        [
            *(sys.executable, "-m", "xnb", "demo", "--no-serve", "--port", str(_free_port())),
            *("--agent-port", str(_free_port()), "--control-port", str(_free_port())),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Demo(result.stdout, tmp_path / "var")


def test_demo_builds_the_county_prints_logins_and_saves_receipts(demo: Demo):
    out = demo.out
    assert out.count("账簿检查通过") == 2  # after the contribution years and after the pensions
    assert "clerk_xzg" in out and "审计管理员" in out
    previews = sorted((demo.var / "receipts").glob("receipt-*.png"))
    assert len(previews) == 1
    assert all(p.stat().st_size > 1000 for p in previews)
    assert all(str(p) in out for p in previews)


def test_demo_awards_pensions_and_prints_one_computation_part_by_part(demo: Demo):
    awarded = demo.one(r"待遇申请 (\d+) 件（经办 张丽），复核通过 (\d+) 件（复核 马强）")
    assert int(awarded.group(1)) == int(awarded.group(2)) >= 3
    assert int(awarded.group(2)) == demo.query("SELECT COUNT(*) FROM pensions")[0][0]
    monthly = demo.fen(r"核定明细：.*月领 ([\d.]+) 元$")
    parts = [
        demo.fen(r"基础养老金（全国最低标准）\s+([\d.]+) 元  政策版本 \d+$"),
        demo.fen(r"基础养老金（县级加发）\s+([\d.]+) 元  政策版本 \d+$"),
        demo.fen(r"长缴多得（缴费15年）\s+([\d.]+) 元  政策版本 \d+$"),
        demo.fen(r"个人账户养老金（[\d.]+÷139）\s+([\d.]+) 元  政策版本 \d+$"),
    ]
    assert parts[:3] == [14300, 3500, 3000]  # 2025 minimum, county top-up, 15 × 2.00
    assert sum(parts) == monthly == demo.fen(r"^\s+合计\s+([\d.]+) 元$")
    balance = demo.fen(r"个人账户养老金（([\d.]+)÷139）")
    assert parts[3] == (balance * 2 + 139) // (2 * 139)  # balance ÷ 139, half up
    version = demo.one(r"政策版本 (\d+)：(.+)（2015-01-01起，区划 654226）$")
    assert version.group(2) == "和布克赛尔县城乡居民养老保险实施办法（演示）"
    assert demo.query("SELECT name FROM policy_versions WHERE id = :id", id=version.group(1)) == [
        (version.group(2),)
    ]
    assert "资格审核示例" in demo.out and "未满60周岁" in demo.out


def test_demo_payroll_is_reconciled_and_its_failures_reissued_next_month(demo: Demo):
    assert demo.one(r"生成 张丽，复核 马强，审批 巴特尔（三人分别经办）")
    [pipe] = sorted((demo.var / "payroll").glob("DF*[0-9].txt"))
    assert pipe.with_name(pipe.stem + ".pain001.xml").exists()
    return_file = pipe.with_name(pipe.stem + ".return.txt")
    with return_file.open(encoding="gb18030", newline="") as fh:
        header, rows = get_format("pipe").read_return(iter(fh))
        outcomes = [r.outcome for r in rows]
    failed_in_file = outcomes.count(Outcome.FAILED)
    assert failed_in_file >= 1 and len(outcomes) == header.count
    printed = demo.one(r"银行回盘 .*\.return\.txt：(\d+) 笔，其中失败 (\d+) 笔$")
    assert (int(printed.group(1)), int(printed.group(2))) == (header.count, failed_in_file)
    assert int(demo.one(r"^\s+失败 (\d+) 笔\s+[\d.]+ 元$").group(1)) == failed_in_file
    assert demo.one(r"再次导入同一回盘：已导入过，未作任何变更")
    status = demo.one(r"名册 (\d+) 状态：已对账；失败 (\d+) 笔（名册明细 (\d+) 行，([\d.]+) 元）")
    assert int(status.group(2)) == failed_in_file
    payroll_id, failed_lines = int(status.group(1)), int(status.group(3))
    assert demo.query("SELECT status FROM payrolls WHERE id = :id", id=payroll_id) == [
        ("reconciled",)
    ]
    reissued = demo.one(r"^\s+重发 (\d+) 笔\s+([\d.]+) 元$")
    assert int(reissued.group(1)) == failed_lines
    assert reissued.group(2) == status.group(4)
    assert demo.query(
        "SELECT COUNT(*) FROM payroll_lines WHERE kind = 'reissue' AND reissue_of_id IN "
        "(SELECT id FROM payroll_lines WHERE payroll_id = :id AND state = 'failed')",
        id=payroll_id,
    ) == [(failed_lines,)]


def test_demo_death_list_suspends_and_confirmation_settles_the_overpayment(demo: Demo):
    found = demo.one(
        r"死亡名单 .*public_security-2026-06\.csv（公安）：(\d+) 行，匹配领取人员 1 人"
    )
    assert int(found.group(1)) == 3
    overpaid = demo.fen(r"（2026-05-28死亡）：暂停发放.*死亡后已发 ([\d.]+) 元$")
    [(paid_after_death, basic_after_death)] = demo.query(
        "SELECT SUM(l.amount_fen), SUM(l.amount_fen - l.account_fen) FROM payroll_lines l"
        " JOIN death_cases c ON c.pension_id = l.pension_id"
        " WHERE l.month > '2026-05-31' AND l.state = 'paid'"
    )
    assert overpaid == paid_after_death > 0
    assert demo.fen(r"死亡后多发待遇\s+([\d.]+) 元$") == overpaid
    basic = demo.fen(r"其中基础养老金\s+([\d.]+) 元  须追回$")
    assert basic == basic_after_death
    recovered = demo.fen(r"从个人账户余额扣回\s+([\d.]+) 元$")
    owed = demo.fen(r"继承人应退还\s+([\d.]+) 元$")
    assert recovered + owed == basic
    assert demo.fen(r"丧葬补助金\s+([\d.]+) 元$") == 13 * (14300 + 3500)
    assert re.search(r"未发放：\S+\s+死亡待核实.*（death_match）$", demo.out, flags=re.MULTILINE)
    assert demo.query(
        "SELECT c.status, p.status, p.end_month FROM death_cases c"
        " JOIN pensions p ON p.id = c.pension_id"
    ) == [("confirmed", "terminated", "2026-05-01")]


def test_demo_issues_cards_through_the_lifecycle_and_leaves_a_deck_for_the_desk(demo: Demo):
    """Named pensioners and residents hold active cards made by the card centre from the
    backend's vault; their chips are in the deck the desk's agent reads, with ID cards,
    and the tour names the commands that put them in the reader."""
    labels = ["pensioner-1", "pensioner-2", "resident-1", "resident-2"]
    for label in labels:
        line = demo.one(rf"^  {label}\s+(养老金领取人|参保缴费人)\s+\S+\s+卡号 (D\d{{8}})$")
        (state,) = demo.query("SELECT state FROM cards WHERE card_number = :n", n=line.group(2))[0]
        assert state == "active"
        chip = json.loads((demo.var / "cards" / f"{label}.json").read_text(encoding="utf-8"))
        assert chip["lifecycle"] == "personalised" and chip["label"] == label
    events = demo.query("SELECT action, count(*) FROM card_events GROUP BY action ORDER BY action")
    assert dict(events) == {
        "activate": 4, "apply": 4, "issue": 4, "personalise": 4, "produce": 4,
        "start_production": 4,
    }  # fmt: skip
    assert "xnb card insert pensioner-1" in demo.out
    assert "xnb idcard place pensioner-1" in demo.out
    assert "/desk/" in demo.out
