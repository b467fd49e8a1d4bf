"""The optional HTTP listener (``AGENT_HTTP_PORT``): webhooks, health, metrics and task status."""
