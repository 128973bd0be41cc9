"""Signatures and card cryptogram checks per second: SoftHSM2 against the file stores.

Run: ``.venv/bin/python bench/hsm_bench.py [--seconds 3]``. Makes its own SoftHSM2
configuration and token in a temporary directory (``softhsm2-util``), and times in one
process, one thread, the same work on both stores:

* ``ECDSA P-256 signature``: the CA's signing key signing a 300-byte message (about a
  certificate's to-be-signed part): in memory (the database store decrypts the key once
  and keeps it) against a ``CKM_ECDSA`` call into the token;
* ``INTERNAL AUTHENTICATE check``: ``KeyVault.verify_internal_authenticate`` for a
  generation-2 card (3DES: two derivations and an encryption inside the token, in
  software for the file vault) and a generation-3 card (SM4: software on both; the HSM
  vault reads the SM4 master key from the token each time).

Prints a Markdown table (rates and the HSM/file ratio) for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.keys import LocalKeyVault  # noqa: E402
from backend.keys.pkcs11 import Pkcs11KeyVault  # noqa: E402
from backend.keys.pkcs11_token import SOFTHSM2_MODULE, TokenConfig, rescan, token_for  # noqa: E402
from backend.keys.vault import KeyVault, application_of  # noqa: E402
from backend.pki.keystore import new_private_key  # noqa: E402
from backend.pki.keystore_pkcs11 import Pkcs11KeyStore  # noqa: E402
from card_services import internal_authenticate_cryptogram  # noqa: E402
from card_services.demo import DEMO_MASTER_KEYS  # noqa: E402
from card_services.keys import derive_card_keys  # noqa: E402

PIN = "246810"


def _rate(operation: Callable[[], object], seconds: float) -> float:
    operation()  # warm: handles found, keys decrypted
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        operation()
        count += 1
    return count / elapsed


def _token(work: Path) -> TokenConfig:
    (work / "tokens").mkdir()
    config = work / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(config)
    init = ["softhsm2-util", "--init-token", "--free", "--label", "bench"]
    subprocess.run(
        [*init, "--pin", PIN, "--so-pin", "13579135"],
        check=True,
        capture_output=True,
    )
    rescan(SOFTHSM2_MODULE)
    return TokenConfig(module=SOFTHSM2_MODULE, label="bench", pin=SecretStr(PIN))


def _check(vault: KeyVault, generation: int) -> Callable[[], object]:
    application = application_of(generation)
    code = bytes.fromhex("654226") + bytes(13)
    challenge = bytes(range(application.cipher.block_size))
    keys = derive_card_keys(DEMO_MASTER_KEYS, application=application, identification_code=code)
    answer = internal_authenticate_cryptogram(
        application=application, card_key=keys.internal_auth, challenge=challenge
    )

    def check() -> None:
        assert vault.verify_internal_authenticate(
            generation=generation,
            key_version=1,
            identification_code=code,
            challenge=challenge,
            cryptogram=answer,
        )

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    with tempfile.TemporaryDirectory(prefix="xnb-hsm-bench-") as tmp:
        work = Path(tmp)
        token = token_for(_token(work))
        message = os.urandom(300)
        file_key = new_private_key("ec-p256")
        assert isinstance(file_key, ec.EllipticCurvePrivateKey)
        token_key = Pkcs11KeyStore(token).generate(label="bench-ca", algorithm="ec-p256")
        file_vault = LocalKeyVault.create(
            work / "vault.json", passphrase="bench passphrase", province_code="65", demo_keys=True
        )
        hsm_vault = Pkcs11KeyVault.create(token, province_code="65", demo_keys=True)
        rows = [
            (
                "ECDSA P-256 signature",
                _rate(lambda: file_key.sign(message, ec.ECDSA(hashes.SHA256())), seconds),
                _rate(lambda: token_key.sign(message, ec.ECDSA(hashes.SHA256())), seconds),
            ),
            (
                "INTERNAL AUTHENTICATE check, 3DES (gen. 2)",
                _rate(_check(file_vault, 2), seconds),
                _rate(_check(hsm_vault, 2), seconds),
            ),
            (
                "INTERNAL AUTHENTICATE check, SM4 (gen. 3)",
                _rate(_check(file_vault, 3), seconds),
                _rate(_check(hsm_vault, 3), seconds),
            ),
        ]
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, one thread, {seconds:g} s per figure\n"
    )
    print("| operation | file store /s | SoftHSM2 /s | SoftHSM2 ÷ file |")
    print("|---|---:|---:|---:|")
    for name, file_rate, hsm_rate in rows:
        print(f"| {name} | {file_rate:,.0f} | {hsm_rate:,.0f} | {hsm_rate / file_rate:.2f} |")


if __name__ == "__main__":
    main()
