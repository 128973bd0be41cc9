"""Alembic environment: runs migrations online against the configured URL."""

from typing import Any, Literal

from alembic import context

from backend.db import UtcDateTime, make_engine
from backend.keys.fields import Encrypted
from backend.models import Base

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations spell the UTC timestamp type as its DDL, so they never import app code.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    # Encrypted personal data is bytes (key version, nonce, AES-GCM ciphertext) to the database.
    if type_ == "type" and isinstance(obj, Encrypted):
        return "sa.LargeBinary()"
    return False


def run_migrations_online() -> None:
    """Run migrations in one transaction per revision set."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
