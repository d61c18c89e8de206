"""WSGI entry point of the live server the fault tests run under gunicorn."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.live_settings")
application = get_wsgi_application()
