"""Security headers, login throttling, redirects and hosts."""
from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def test_security_headers_on_every_page(login, world):
    client = login(world.users["pi"])
    for url in (reverse("study_list"), reverse("transcript", args=[world.study.slug, world.transcript.pk]),
                reverse("login")):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in client.get(reverse("transcript", args=[world.study.slug, world.transcript.pk]))[
        "Cache-Control"]


def test_login_is_throttled_after_repeated_failures(world):
    client = Client()
    url = reverse("login")
    for _ in range(5):
        assert client.post(url, {"username": "coder", "password": "wrong-password"}).status_code == 200
    blocked = client.post(url, {"username": "coder", "password": PASSWORD})
    assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.content
    # Another account is not affected; a success clears that account's failures.
    other = Client().post(url, {"username": "pi", "password": PASSWORD})
    assert other.status_code == 302


def test_login_next_cannot_leave_the_site(world):
    client = Client()
    response = client.post(reverse("login") + "?next=https://evil.example/steal",
                           {"username": "pi", "password": PASSWORD, "next": "https://evil.example/steal"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]
    response = Client().post(reverse("login"), {"username": "pi", "password": PASSWORD,
                                                "next": "//evil.example/x"})
    assert "evil.example" not in response["Location"]
    good = Client().post(reverse("login"), {"username": "pi", "password": PASSWORD,
                                            "next": reverse("study_home", args=[world.study.slug])})
    assert good["Location"] == reverse("study_home", args=[world.study.slug])


def test_unknown_host_header_is_refused(world, settings):
    settings.ALLOWED_HOSTS = ["qda.example.org"]
    assert Client().get(reverse("healthz"), HTTP_HOST="evil.example").status_code == 400
    assert Client().get(reverse("healthz"), HTTP_HOST="qda.example.org").status_code == 200
