"""A real backend for agent tests: migrated SQLite, the demo county and its policy, one
clerk, a card key vault holding the public demo keys (so the demo cards authenticate
online), served by uvicorn on 127.0.0.1 and stoppable (to cut the link) and restartable
on the same port."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy import Engine, text

from backend import migrations
from backend.app import create_app
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.keys import LocalKeyVault, fields
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.policy import service as policy
from tests.backend.card_support import add_card, add_person
from tests.terminal_agent.support import ServerThread, free_port

CLERK = "clerk_hbk"
PASSWORD = "Test-Passw0rd!"
VILLAGE = "654226100200"


@dataclass
class LiveBackend:
    """The backend app on a fixed port; ``cut()`` and ``restore()`` take the link down and up."""

    directory: Path
    port: int = field(default_factory=free_port)
    server: ServerThread | None = None

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"
        database_url = f"sqlite:///{self.directory / 'backend.db'}"
        migrations.upgrade(database_url)
        self.settings = Settings(
            env="test",
            database_url=database_url,
            receipt_key_dir=self.directory / "receipts",
            card_vault_path=self.directory / "card-vault.json",
        )
        # The public demo keys at version 1: the virtual cards are personalised with them.
        LocalKeyVault.create(
            self.settings.card_vault_path,
            passphrase=self.settings.card_vault_passphrase.get_secret_value(),
            province_code="65",
            demo_keys=True,
            scrypt_n=2**10,
        )
        self.engine: Engine = make_engine(database_url)
        with unit_of_work(make_session_factory(self.engine)) as session:
            orgs.load_regions(session=session, path=orgs.DATA_DIR / "regions_654226.csv")
            # The shipped policy versions: the demo visit assesses and collects a year.
            policy.load_defaults(session=session, actor=Actor.system())
            office = orgs.create_office(
                session=session,
                code="654226100-SB",
                name="和布克赛尔镇社保所",
                region_code="654226100000",
                actor=Actor.system(),
            )
            orgs.create_operator(
                session=session,
                principal=None,
                actor=Actor.system(),
                username=CLERK,
                full_name="李娜",
                role=Role.CLERK,
                office_id=office.id,
                password=PASSWORD,
            )

    def restore(self) -> None:
        """Serve the backend (again) on its port."""
        self.server = ServerThread(create_app(self.settings), self.port).__enter__()

    def cut(self) -> None:
        """Stop serving: the agent's calls now fail to connect."""
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None

    def __enter__(self) -> LiveBackend:
        self.restore()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cut()
        self.engine.dispose()

    def login(self) -> str:
        """``Bearer <token>`` of the clerk."""
        response = httpx.post(
            f"{self.url}/api/v1/auth/login", json={"username": CLERK, "password": PASSWORD}
        )
        response.raise_for_status()
        return f"Bearer {response.json()['access_token']}"

    def register_card(self, *, identification_code: str, card_number: str, generation: int) -> int:
        """An active card of a resident in the clerk's township with these chip data; its id."""
        session_factory = make_session_factory(self.engine)
        card = add_card(
            session_factory,
            add_person(session_factory, village=VILLAGE),
            state="active",
            generation=generation,
            identification_code=identification_code,
            card_number=card_number,
        )
        return card.id

    def count(self, sql: str, **params: object) -> int:
        """A count from the backend's database."""
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql), params).scalar_one())

    def persons_with(self, id_number: str) -> int:
        """How many persons hold ``id_number`` (found by its lookup hash: it is encrypted)."""
        return self.count(
            "SELECT count(*) FROM persons WHERE id_number_hash = :h",
            h=fields.lookup("id_number", id_number),
        )
