"""Shipyard: Python-backed GitHub Actions from git push to a running deployment."""

__version__ = "0.1.0"
