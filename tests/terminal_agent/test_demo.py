"""The counter demo the lead's ``xnb demo`` runs: the visit's receipt comes out as a PNG preview,
signed by the backend for the collection the visit made."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from terminal_agent.demo import run_counter_demo
from tests.terminal_agent.backend_support import CLERK, PASSWORD, LiveBackend


def test_counter_demo_saves_a_preview_of_each_receipt(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as backend:
        previews = run_counter_demo(
            backend.url, tmp_path / "var" / "receipts", username=CLERK, password=PASSWORD
        )
    assert len(previews) == 1
    for preview in previews:
        with Image.open(preview) as image:
            assert image.format == "PNG"
            assert image.height > image.width
