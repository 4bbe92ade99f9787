"""The Celery worker's module for the Celery soak: ``celery -A tests.soak_worker worker``.

It builds the same app as the web processes (``tests/soak_app.py``), from the same
environment, as a user's worker module does.
"""

from __future__ import annotations

from .soak_app import create_app

celery = create_app().extensions["celery"]
