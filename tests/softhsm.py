"""SoftHSM2 for the tests (marker ``hsm``): a token directory per run, a token per test.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module initialises; the run points it at its
own temporary configuration, so parallel runs never share a token directory, and every
test gets a freshly initialised token with its own label. Missing SoftHSM2 or
python-pkcs11 skips locally and fails in CI (``XNB_REQUIRE_RIGS=1``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from backend.config import Settings
from backend.keys.pkcs11_token import SOFTHSM2_MODULE, TokenConfig, rescan

USER_PIN = "246810"
SO_PIN = "13579135"


@pytest.fixture(scope="session")
def softhsm_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This run's SoftHSM2 configuration (its own token directory)."""
    from tests.conftest import missing

    if not SOFTHSM2_MODULE.exists() or shutil.which("softhsm2-util") is None:
        missing("SoftHSM2 is not installed (Debian package softhsm2)")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        missing("python-pkcs11 is not installed (pip install -e '.[hsm]')")
    # SoftHSM2 syncs every token object to disk (~0.1 s each); on tmpfs a test's vault takes
    # 0.05 s instead of 2 s. Each run still has a directory of its own.
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        directory = Path(tempfile.mkdtemp(prefix="xnb-softhsm-", dir=shm))
    else:
        directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {directory / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    yield config
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def hsm_token(softhsm_config: Path) -> TokenConfig:
    """A new, empty token of this test (user PIN ``USER_PIN``)."""
    label = f"xnb-{uuid.uuid4().hex[:16]}"
    init = ["softhsm2-util", "--init-token", "--free", "--label", label]
    subprocess.run(
        [*init, "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(softhsm_config)},
    )
    rescan(SOFTHSM2_MODULE)
    return TokenConfig(module=SOFTHSM2_MODULE, label=label, pin=SecretStr(USER_PIN))


def hsm_settings(settings: Settings, token: TokenConfig, pin_file: Path) -> Settings:
    """``settings`` switched to the HSM: the token of the test, the PIN in a 0600 file."""
    pin_file.write_text(token.pin.get_secret_value())
    pin_file.chmod(0o600)
    return settings.model_copy(
        update={
            "key_store": "pkcs11",
            "pkcs11_module": token.module,
            "pkcs11_token_label": token.label,
            "pkcs11_pin_file": pin_file,
        }
    )


def store_settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """Test settings on the file stores (``request.param == "file"``) or a fresh token."""
    settings = Settings(env="test", database_url=database_url)
    if request.param == "file":
        return settings
    return hsm_settings(settings, request.getfixturevalue("hsm_token"), tmp_path / "pin")


#: Parameters of a fixture that runs a test on both stores (the HSM one marked ``hsm``).
STORES = ["file", pytest.param("pkcs11", marks=pytest.mark.hsm)]
