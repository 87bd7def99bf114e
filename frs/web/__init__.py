"""The web portal and JSON API (FastAPI, server-rendered Jinja2 pages). See :mod:`frs.web.app`."""

from .app import create_app

__all__ = ["create_app"]
