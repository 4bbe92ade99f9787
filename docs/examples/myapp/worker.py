"""The Celery worker's module: ``celery -A myapp.worker worker --loglevel INFO``."""

from __future__ import annotations

from myapp import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
