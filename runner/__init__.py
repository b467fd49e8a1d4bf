"""agent-runner: turns labelled GitHub issues into pull requests."""

__version__ = "0.1.0"
