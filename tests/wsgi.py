"""WSGI entry for tests that run the suite's settings under a real server (gunicorn)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.live_burst_settings")
application = get_wsgi_application()
