"""``python -m terminal_agent --config agent.toml``: the agent without the ``xnb`` root."""

from terminal_agent.cli import agent_app

agent_app(prog_name="xnb-agent")
