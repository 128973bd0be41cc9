"""Development tool: regenerate the single initial migration from the models.

Until the first production release the schema is one migration, ``0001``, generated from
the models (``python -m backend.migrations.regenerate``). After a release, changes become
new revisions instead and this tool goes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from backend.migrations import _HERE, alembic_config


def main() -> None:
    """Delete ``versions/*.py``, autogenerate ``0001`` against an empty SQLite file, format it."""
    versions = _HERE / "versions"
    for old in versions.glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'regen.db'}"
        command.revision(
            alembic_config(url), message="initial schema", autogenerate=True, rev_id="0001"
        )
    subprocess.run([sys.executable, "-m", "ruff", "format", str(versions)], check=True)


if __name__ == "__main__":
    main()
