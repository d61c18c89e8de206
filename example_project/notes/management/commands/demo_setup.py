"""``manage.py demo_setup``: migrate, then create (or reset) the demo users and print them.

The passwords are random on every run (or ``--password``), so a demo that ends up reachable
from elsewhere never has a well-known login. Resetting a password revokes that user's sessions.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from example_project.notes.models import Note

DEMO_USERNAME = "demo"
STAFF_USERNAME = "staff"


class Command(BaseCommand):
    help = "Migrate, create the demo user and a staff user, and print their credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="use this password for both users (default: random)")
        parser.add_argument("--no-migrate", action="store_true", help="do not run migrate first")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        demo_password = options["password"] or secrets.token_urlsafe(12)
        staff_password = options["password"] or secrets.token_urlsafe(12)
        with transaction.atomic():
            demo = self._user(DEMO_USERNAME, demo_password, staff=False)
            self._user(STAFF_USERNAME, staff_password, staff=True)
            if not Note.objects.filter(owner=demo).exists():
                Note.objects.create(
                    owner=demo,
                    title="Welcome",
                    body="Your notes live here. Open this page in a second browser, then revoke "
                    "one session from the other under “My sessions”.",
                )
        self.stdout.write(
            self.style.SUCCESS("Demo users (passwords are new on every run):\n")
            + f"  user:  {DEMO_USERNAME} / {demo_password}\n"
            + f"  staff: {STAFF_USERNAME} / {staff_password}   (also for /admin/)"
        )

    @staticmethod
    def _user(username: str, password: str, *, staff: bool) -> Any:
        model = get_user_model()
        user, _ = model._default_manager.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.set_password(password)
        user.is_active = True
        user.is_staff = staff
        user.is_superuser = staff
        user.save()
        return user
