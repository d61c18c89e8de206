"""``manage.py jwtsessions_revoke``: cut sessions off from the command line (incident response).

Exit status: 0 when everything was revoked and the cache took every refusal; 1 for a usage
error (unknown user or session, no target); 3 when the revocations are saved in the database
but the cache could not be updated, so they are enforced within ``REVOCATION_SYNC_INTERVAL``
by every process that can read the database, and processes that cannot read it refuse every
credential with 503 (scripts can alert on it).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from jwtsessions.models import Session
from jwtsessions.revocation import revoke_session, revoke_sessions, track_cache_writes
from jwtsessions.settings import jwt_settings

# Sessions revoked per transaction by --all and --user, so millions of them never sit in one
# list or lock; a progress line is printed after each batch when there is more than one.
ALL_BATCH_SIZE = 1000
CACHE_NOT_UPDATED = 3


def plural(count: int, word: str) -> str:
    """``1 session``, ``2 sessions``, ``30,003 sessions``."""
    return f"{count:,} {word if count == 1 else word + 's'}"


class Command(BaseCommand):
    help = (
        "Revoke sessions: every session of one user, one session, or every session of everyone. "
        "Takes effect on the next API request (database and cache are both updated). "
        f"Exits with {CACHE_NOT_UPDATED} if the cache could not be updated (the database was)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--user", metavar="USERNAME", help="Revoke every session of this user (USERNAME_FIELD)."
        )
        which.add_argument(
            "--session",
            metavar="ID",
            help="Revoke this one session. Write --session=ID: an id may start with '-'.",
        )
        which.add_argument("--all", action="store_true", help="Revoke every active session.")
        parser.add_argument("--reason", default="", help="Stored with each revoked session.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation before --all (for scripts).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason: str = options["reason"] or "revoked by command"
        self.verbosity = int(options.get("verbosity", 1))
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
                "The revocations are saved in the database, but the cache could not be updated: "
                f"they are enforced within REVOCATION_SYNC_INTERVAL ({interval:g} s) by every "
                "process that can read the database; processes that cannot read it refuse "
                "every credential with 503.",
                returncode=CACHE_NOT_UPDATED,
            )

    def _revoke_in_batches(self, active: QuerySet[Session], reason: str) -> tuple[int, int]:
        """Revoke ``active`` a batch at a time; return (sessions, users) revoked."""
        expected = active.count()
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
            if expected > ALL_BATCH_SIZE and self.verbosity >= 1:
                self.stdout.write(f"  {total:,} of {plural(expected, 'session')} revoked…")
                self.stdout.flush()
        return total, len(users)

    def _revoke_user(self, username: str, reason: str) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user with {user_model.USERNAME_FIELD} {username!r}.") from None
        active = Session.objects.filter(user_id=user.pk, revoked_at__isnull=True)
        count, _ = self._revoke_in_batches(active, reason)
        self.stdout.write(f"Revoked {plural(count, 'session')} of user {username!r}.")

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
                f"This revokes all {plural(active.count(), 'active session')} of every user; "
                "everyone will have to log in again. Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Cancelled: nothing was revoked.")
        total, users = self._revoke_in_batches(active, reason)
        self.stdout.write(f"Revoked {plural(total, 'session')} of {plural(users, 'user')}.")
