"""``xnb receipt``: look at printed receipts, and run the capture printer.

The printer modules (Pillow, python-barcode, qrcode) are imported inside the commands,
so a backend installed without the agent's extras still starts ``xnb``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

#: The port of a network receipt printer (raw TCP, "JetDirect").
PRINTER_PORT = 9100

app = typer.Typer(help="收据：预览打印内容，运行模拟打印机", no_args_is_help=True)


@app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="ESC/POS 打印数据文件")],
    out: Annotated[Path | None, typer.Option(help="PNG 输出路径（默认与输入同名 .png）")] = None,
    dots: Annotated[int, typer.Option(help="打印宽度（点）：58mm=384，80mm=576")] = 576,
) -> None:
    """Decode an ESC/POS print job: print its text, barcodes and QR payloads, save a PNG."""
    from device_drivers.printer.decode import EscposDecodeError, decode_escpos
    from device_drivers.printer.preview import save_preview

    try:
        decoded = decode_escpos(file.read_bytes())
    except EscposDecodeError as exc:
        typer.echo(f"无法解析打印数据：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(decoded.text)
    for data in decoded.barcodes:
        typer.echo(f"[条码] {data}")
    for payload in decoded.qr_payloads:
        typer.echo(f"[二维码] {payload}")
    if decoded.images:
        typer.echo(f"[图像] {len(decoded.images)} 个")
    target = save_preview(decoded, out or file.with_suffix(".png"), dots_per_line=dots)
    typer.echo(f"预览已保存：{target}")


@app.command("capture")
def capture(
    out_dir: Annotated[Path, typer.Option(help="打印任务保存目录")] = Path("var/receipts"),
    port: Annotated[int, typer.Option(help="监听端口（127.0.0.1）")] = PRINTER_PORT,
) -> None:
    """Run the capture printer on 127.0.0.1: each job is saved as .bin and a PNG preview."""
    from device_drivers.printer.capture import CapturePrinter
    from device_drivers.printer.decode import EscposDecodeError, decode_escpos
    from device_drivers.printer.preview import save_preview

    out_dir.mkdir(parents=True, exist_ok=True)
    with CapturePrinter(port=port) as printer:
        typer.echo(f"模拟打印机监听 127.0.0.1:{printer.port}，Ctrl-C 结束")
        saved = 0
        try:
            while True:
                try:
                    jobs = printer.wait_for_jobs(saved + 1, timeout=60)
                except TimeoutError:
                    continue
                for job in jobs[saved:]:
                    saved += 1
                    path = out_dir / f"receipt-{time.strftime('%Y%m%d-%H%M%S')}-{saved}.bin"
                    path.write_bytes(job.data)
                    try:
                        save_preview(decode_escpos(job.data), path.with_suffix(".png"))
                    except EscposDecodeError as exc:
                        typer.echo(f"已保存 {path}（无法预览：{exc}）")
                        continue
                    typer.echo(f"已保存 {path}")
        except KeyboardInterrupt:
            typer.echo("结束")
