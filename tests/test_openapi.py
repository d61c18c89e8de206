"""drf-spectacular over the package's URLs alone: 0 warnings, 0 errors, a useful schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

pytest.importorskip("drf_spectacular")

SCHEMA_SETTINGS = {
    **settings.REST_FRAMEWORK,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}


def generate(tmp_path: Path, urlconf: str = "tests.urls_openapi") -> dict[str, Any]:
    """``manage.py spectacular --validate --fail-on-warn`` on the package's URLs."""
    out = tmp_path / "schema.json"
    with override_settings(REST_FRAMEWORK=SCHEMA_SETTINGS):
        call_command(
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--urlconf",
            urlconf,
            "--format",
            "openapi-json",
            "--file",
            str(out),
        )
    return dict(json.loads(out.read_text()))


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


def test_the_schema_validates_without_a_warning_and_describes_every_endpoint(tmp_path):
    schema = generate(tmp_path)  # --fail-on-warn: any warning or error raises
    ops = operations(schema)
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("jwtsessions_") for i in ids)
    assert set(ops) == {
        ("/api/auth/login/", "post"),
        ("/api/auth/refresh/", "post"),
        ("/api/auth/logout/", "post"),
        ("/api/auth/logout-all/", "post"),
        ("/api/auth/sessions/", "get"),
        ("/api/auth/sessions/{session_id}/", "get"),
        ("/api/auth/sessions/{session_id}/", "delete"),
        ("/api/auth/api-keys/", "get"),
        ("/api/auth/api-keys/", "post"),
        ("/api/auth/api-keys/{key_id}/", "get"),
        ("/api/auth/api-keys/{key_id}/", "delete"),
        ("/api/auth/service-token/", "post"),
        ("/api/auth/jwks.json", "get"),
        ("/api/auth/csrf/", "get"),
    }


def _schema_of(schema: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    ref = content["application/json"]["schema"]["$ref"]
    return dict(schema["components"]["schemas"][ref.rsplit("/", 1)[1]])


def test_security_schemes_for_all_three_classes(tmp_path):
    with override_settings(JWTSESSIONS={"AUTH_COOKIE": "access", "COOKIE_SECURE": False}):
        schema = generate(tmp_path, "tests.urls_openapi_project")
    schemes = schema["components"]["securitySchemes"]
    assert schemes["jwtSessionBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A session access token from `login/` or `refresh/`.",
    }
    assert schemes["jwtSessionCookie"]["in"] == "cookie"
    assert schemes["jwtSessionCookie"]["name"] == "access"
    assert schemes["jwtsessionsApiKey"]["name"] == "Authorization"
    assert schemes["jwtsessionsXApiKey"]["name"] == "X-API-Key"
    assert schemes["jwtServiceToken"]["scheme"] == "bearer"
    ops = operations(schema)
    assert ops[("/api/auth/service-token/", "post")]["security"] == [
        {"jwtsessionsApiKey": []},
        {"jwtsessionsXApiKey": []},
    ]
    assert {"jwtSessionBearer": []} in ops[("/api/auth/api-keys/", "post")]["security"]
    assert {"jwtServiceToken": []} in ops[("/api/whoami/", "get")]["security"]
    # Cookie mode: the pair's tokens are cookies, not body members.
    pair = _schema_of(schema, ops[("/api/auth/login/", "post")]["responses"]["200"]["content"])
    assert "access" not in pair["properties"]


def test_request_and_response_bodies_and_every_status(tmp_path):
    schema = generate(tmp_path)
    ops = operations(schema)
    for path in ("login/", "refresh/", "api-keys/", "service-token/"):
        body = ops[(f"/api/auth/{path}", "post")]["requestBody"]
        assert "application/json" in body["content"], path
    login_body = _schema_of(schema, ops[("/api/auth/login/", "post")]["requestBody"]["content"])
    assert set(login_body["required"]) == {"username", "password"}
    pair = _schema_of(schema, ops[("/api/auth/login/", "post")]["responses"]["200"]["content"])
    assert set(pair["properties"]) == {
        "access", "refresh", "token_type", "expires_in", "session_id",
    }  # fmt: skip
    expected = {
        ("/api/auth/login/", "post"): {"200", "400", "401", "403", "429", "503"},
        ("/api/auth/refresh/", "post"): {"200", "400", "401", "403", "503"},
        ("/api/auth/logout/", "post"): {"204", "401", "403"},
        ("/api/auth/logout-all/", "post"): {"204", "401", "403"},
        ("/api/auth/sessions/{session_id}/", "delete"): {"204", "401", "404"},
        ("/api/auth/api-keys/", "post"): {"201", "400", "401", "403", "429"},
        ("/api/auth/service-token/", "post"): {"200", "400", "401", "403"},
    }
    for key, statuses in expected.items():
        assert set(ops[key]["responses"]) == statuses, key
    logout = ops[("/api/auth/logout/", "post")]["responses"]["204"]
    assert "content" not in logout
    error = _schema_of(schema, ops[("/api/auth/login/", "post")]["responses"]["401"]["content"])
    assert set(error["required"]) == {"detail", "code"}
    created = ops[("/api/auth/api-keys/", "post")]["responses"]["201"]["content"]
    assert "key" in _schema_of(schema, created)["properties"]


@override_settings(JWTSESSIONS={"LOGIN_SERIALIZER": "tests.test_conventions.EmailLoginSerializer"})
def test_a_custom_login_serializer_is_what_the_schema_describes(tmp_path):
    schema = generate(tmp_path)
    op = operations(schema)[("/api/auth/login/", "post")]
    body = _schema_of(schema, op["requestBody"]["content"])
    assert set(body["properties"]) == {"email", "password"}


def test_the_example_project_serves_swagger_ui_without_a_cdn():
    pytest.importorskip("drf_spectacular_sidecar")
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    script = """
import django, json
django.setup()
from django.test import Client
client = Client()
docs = client.get("/api/docs/")
schema = client.get("/api/schema/?format=json")
print(json.dumps({"docs": docs.status_code, "html": docs.content.decode(),
                  "schema": schema.status_code, "paths": list(schema.json()["paths"])}))
"""
    env = {
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECRET_KEY": "example-" + "s3cret-" * 8,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["docs"] == 200
    html = result["html"]
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert 'src="http' not in html
    assert 'href="http' not in html
    assert result["schema"] == 200
    assert "/api/auth/login/" in result["paths"]
    assert "/api/notes/" in result["paths"]


def test_the_package_never_imports_drf_spectacular_unless_the_project_installs_it():
    import subprocess
    import sys

    script = """
import sys, django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "rest_framework",
                    "jwtsessions"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SECRET_KEY="x" * 50, ROOT_URLCONF="tests.urls_openapi",
)
django.setup()
import jwtsessions.urls, jwtsessions.views
print("drf_spectacular" in sys.modules)
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
