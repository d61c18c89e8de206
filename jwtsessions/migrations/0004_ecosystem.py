# Translatable verbose names (issue 13, item 2): metadata only, no schema change.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import jwtsessions.models


class Migration(migrations.Migration):
    dependencies = [
        ("jwtsessions", "0003_core_sync"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apikey",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("add_api_key_for_others", "Can add API keys owned by other users")
                ],
                "verbose_name": "API key",
                "verbose_name_plural": "API keys",
            },
        ),
        migrations.AlterModelOptions(
            name="blacklistedtoken",
            options={
                "ordering": ["-created_at"],
                "verbose_name": "blacklisted token",
                "verbose_name_plural": "blacklisted tokens",
            },
        ),
        migrations.AlterModelOptions(
            name="session",
            options={
                "ordering": ["-created_at"],
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
            },
        ),
        migrations.AlterField(
            model_name="apikey",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="created at"
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="digest",
            field=models.CharField(editable=False, max_length=64, verbose_name="secret digest"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(
                blank=True, db_index=True, null=True, verbose_name="expires at"
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="last_used_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last used at"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="name",
            field=models.CharField(max_length=100, verbose_name="name"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="public_id",
            field=models.CharField(
                editable=False, max_length=16, unique=True, verbose_name="public id"
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="revoke_reason",
            field=models.CharField(
                blank=True, default="", max_length=64, verbose_name="revoke reason"
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="revoked at"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="revoked_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="revoked by",
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(blank=True, default=list, verbose_name="scopes"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="jwt_api_keys",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        migrations.AlterField(
            model_name="blacklistedtoken",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="created at"
            ),
        ),
        migrations.AlterField(
            model_name="blacklistedtoken",
            name="expires_at",
            field=models.DateTimeField(db_index=True, verbose_name="expires at"),
        ),
        migrations.AlterField(
            model_name="blacklistedtoken",
            name="jti",
            field=models.CharField(max_length=255, unique=True, verbose_name="token id (jti)"),
        ),
        migrations.AlterField(
            model_name="blacklistedtoken",
            name="reason",
            field=models.CharField(blank=True, default="", max_length=64, verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="session",
            name="binding",
            field=models.CharField(
                blank=True,
                default="",
                editable=False,
                max_length=65,
                verbose_name="credential binding",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="created at"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="expires_at",
            field=models.DateTimeField(
                db_index=True, help_text="Absolute end, fixed at login.", verbose_name="expires at"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="id",
            field=models.CharField(
                default=jwtsessions.models.new_session_id,
                editable=False,
                max_length=32,
                primary_key=True,
                serialize=False,
                verbose_name="id",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="last_used_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, verbose_name="last used at"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="refresh_generation",
            field=models.PositiveIntegerField(
                default=0, editable=False, verbose_name="refresh generation"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="refresh_hash",
            field=models.CharField(
                editable=False, max_length=64, verbose_name="refresh token digest"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="refreshed_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="Login or last refresh; the idle timeout counts from here.",
                verbose_name="refreshed at",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="revoke_reason",
            field=models.CharField(
                blank=True, default="", max_length=64, verbose_name="revoke reason"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="revoked_at",
            field=models.DateTimeField(
                blank=True, db_index=True, null=True, verbose_name="revoked at"
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="revoked_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="revoked by",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="jwt_sessions",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="user_agent",
            field=models.CharField(
                blank=True, default="", max_length=256, verbose_name="user agent"
            ),
        ),
    ]
