"""python-escpos transports against the capture printer on 127.0.0.1, and the preview."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from device_drivers.printer import CapturePrinter, MemoryPrinter, decode_escpos, errors
from device_drivers.printer.escpos_transport import file_printer, network_printer
from device_drivers.receipt_cli import app
from firmware_profiles.printers import printer_profile
from tests.device_drivers.printer_support import VERIFIER, every_layout

PROFILE = printer_profile("capture_80")


@pytest.fixture
def capture() -> Iterator[CapturePrinter]:
    with CapturePrinter(port=0) as printer:
        yield printer


def test_a_receipt_sent_over_tcp_decodes_to_text_barcode_and_a_genuine_token(
    capture: CapturePrinter,
) -> None:
    receipt = every_layout()[0]
    with network_printer("127.0.0.1", capture.port, profile=PROFILE, timeout=2) as printer:
        sent = printer.print_receipt(receipt)
    (job,) = capture.wait_for_jobs(1)
    # The job is the receipt framed by the status queries before and after it.
    status_queries = b"\x10\x04\x01\x10\x04\x04"
    assert job.data == status_queries + sent + status_queries
    decoded = decode_escpos(job.data)
    assert "个人缴费凭证" in decoded.text
    assert decoded.barcodes == ["JF2026000001"]
    claims = VERIFIER.verify(decoded.qr_payloads[0])
    assert claims.amount_fen == 50_000 and claims.person == "654226********0011"


def test_paper_out_is_reported_before_anything_prints(capture: CapturePrinter) -> None:
    capture.paper_out = True
    with (
        network_printer("127.0.0.1", capture.port, profile=PROFILE, timeout=2) as printer,
        pytest.raises(errors.PaperOutError) as caught,
    ):
        printer.print_receipt(every_layout()[0])
    assert caught.value.to_dict()["code"] == "paper_out"
    (job,) = capture.wait_for_jobs(1)
    assert b"\x1b@" not in job.data


def test_printer_switched_off_mid_receipt_is_printer_disconnected(
    capture: CapturePrinter,
) -> None:
    capture.hang_up_after = 500
    with (
        network_printer("127.0.0.1", capture.port, profile=PROFILE, timeout=2) as printer,
        pytest.raises(errors.PrinterDisconnectedError),
    ):
        printer.print_receipt(every_layout()[0])
    assert capture.wait_for_jobs(1)[0].hung_up


def test_nothing_listening_is_printer_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(errors.PrinterUnavailableError) as caught:
        network_printer("127.0.0.1", free_port, profile=PROFILE, timeout=1)
    assert caught.value.retriable


def test_file_transport_writes_the_job_without_asking_status(tmp_path: Path) -> None:
    job = tmp_path / "job.bin"
    with file_printer(job, profile=PROFILE) as printer:
        sent = printer.print_receipt(every_layout()[1])
    assert job.read_bytes() == sent
    assert "社会保障卡领卡回执" in decode_escpos(sent).text


def test_memory_printer_records_exactly_what_went_out() -> None:
    printer = MemoryPrinter(profile=PROFILE)
    sent = printer.print_receipt(every_layout()[3])
    assert bytes(printer.output) == sent


def test_receipt_preview_command_prints_text_and_saves_a_png(tmp_path: Path) -> None:
    printer = MemoryPrinter(profile=printer_profile("capture_58"))
    printer.print_receipt(every_layout("刘䶮")[4])
    job = tmp_path / "statement.bin"
    job.write_bytes(bytes(printer.output))
    result = CliRunner().invoke(app, ["preview", str(job), "--dots", "384"])
    assert result.exit_code == 0, result.output
    assert "养老金发放对账单" in result.output
    assert "[条码] DZ2026000005" in result.output
    with Image.open(job.with_suffix(".png")) as png:
        assert png.format == "PNG" and png.width == 384 + 32 and png.height > 600


def test_preview_of_a_broken_job_is_a_clear_error(tmp_path: Path) -> None:
    job = tmp_path / "broken.bin"
    job.write_bytes(b"\x1b\x99")
    result = CliRunner().invoke(app, ["preview", str(job)])
    assert result.exit_code == 1
    assert "无法解析" in result.output
