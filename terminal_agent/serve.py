"""Run one agent process: logging, ``bootstrap``, the local API under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from terminal_agent.agent import bootstrap
from terminal_agent.api import create_api
from terminal_agent.config import AgentConfig
from terminal_agent.logs import setup_logging

log = logging.getLogger(__name__)


def serve(config: AgentConfig) -> None:
    """Serve until stopped (SIGINT / SIGTERM); devices and files are released on the way out."""
    setup_logging(config.log)
    agent = bootstrap(config)
    agent.start()
    log.info(
        "agent %s on http://%s:%s, backend %s, pages from %s",
        config.device_id,
        config.host,
        config.port,
        config.backend_url,
        config.page_origin,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(agent),
            host=config.host,
            port=config.port,
            log_config=None,
            ws="websockets-sansio",
        )
    )
    try:
        server.run()
    finally:
        agent.close()
