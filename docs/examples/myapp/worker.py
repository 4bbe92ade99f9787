"""The Celery worker's module: ``celery -A myapp.worker worker --loglevel INFO``."""

from __future__ import annotations

from myapp import celery, create_app

flask_app = create_app()  # registers the webhook's task on ``celery``, with the app it runs in

__all__ = ["celery", "flask_app"]
