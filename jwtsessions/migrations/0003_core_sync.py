import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jwtsessions", "0002_admin"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="binding",
            field=models.CharField(blank=True, default="", editable=False, max_length=65),
        ),
        migrations.CreateModel(
            name="RefusalLog",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("s", "session"),
                            ("b", "blacklisted token id"),
                            ("k", "API key"),
                            ("u", "user credential"),
                        ],
                        max_length=1,
                    ),
                ),
                ("subject", models.CharField(max_length=255)),
                ("code", models.CharField(blank=True, default="", max_length=32)),
            ],
            options={"ordering": ["id"]},
        ),
    ]
