"""``manage.py jwtsessions_revoke``: cut sessions off from the command line (incident response)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jwtsessions.models import Session
from jwtsessions.revocation import (
    revoke_session,
    revoke_sessions,
    revoke_user_sessions,
    track_cache_writes,
)
from jwtsessions.settings import jwt_settings

# Exit status when the database was updated but the cache was not (the bound still holds).
CACHE_NOT_UPDATED = 3

# Sessions revoked per transaction by --all, so millions of them never sit in one list or lock.
ALL_BATCH_SIZE = 1000


class Command(BaseCommand):
    help = (
        "Revoke sessions: every session of one user, one session, or every session of everyone. "
        "Takes effect on the next API request (database and cache are both updated)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--user", metavar="USERNAME", help="Revoke every session of this user (USERNAME_FIELD)."
        )
        which.add_argument("--session", metavar="ID", help="Revoke this one session.")
        which.add_argument("--all", action="store_true", help="Revoke every active session.")
        parser.add_argument("--reason", default="", help="Stored with each revoked session.")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (for --all).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason: str = options["reason"] or "revoked by command"
        with track_cache_writes() as report:
            if options["user"] is not None:
                self._revoke_user(options["user"], reason)
            elif options["session"] is not None:
                self._revoke_session(options["session"], reason)
            else:
                self._revoke_all(reason, options["interactive"])
        if not report.cache_ok:
            interval = jwt_settings.REVOCATION_SYNC_INTERVAL.total_seconds()
            raise CommandError(
                "The database is updated, but the cache could not be: every process still "
                f"refuses these sessions within REVOCATION_SYNC_INTERVAL ({interval:g}s), "
                "from the database.",
                returncode=CACHE_NOT_UPDATED,
            )

    def _revoke_user(self, username: str, reason: str) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user with {user_model.USERNAME_FIELD} {username!r}.") from None
        count = revoke_user_sessions(user, reason)
        self.stdout.write(f"Revoked {count} session(s) of user {username!r}.")

    def _revoke_session(self, session_id: str, reason: str) -> None:
        if not Session.objects.filter(pk=session_id).exists():
            raise CommandError(f"No session with id {session_id!r}.")
        if revoke_session(session_id, reason):
            self.stdout.write(f"Revoked 1 session ({session_id}).")
        else:
            self.stdout.write(f"Revoked 0 sessions: {session_id} was already revoked.")

    def _revoke_all(self, reason: str, interactive: bool) -> None:
        active = Session.objects.filter(revoked_at__isnull=True)
        if interactive:
            answer = input(
                f"This revokes all {active.count()} active session(s) of every user; everyone "
                "will have to log in again. Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Cancelled: nothing was revoked.")
        total = 0
        users: set[Any] = set()
        while True:
            batch = list(active.order_by("pk").values_list("pk", "user_id")[:ALL_BATCH_SIZE])
            if not batch:
                break
            revoked = revoke_sessions(
                Session.objects.filter(pk__in=[pk for pk, _ in batch]), reason
            )
            owner = dict(batch)
            users.update(owner[pk] for pk in revoked)
            total += len(revoked)
        self.stdout.write(f"Revoked {total} session(s) of {len(users)} user(s).")
