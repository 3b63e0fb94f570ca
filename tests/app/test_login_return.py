"""The login page over real HTTP: it returns to the page that sent the browser there, never to
another site; its style sheet answers without the token (nothing else does); health carries the
service's clock."""
from __future__ import annotations

import time

import httpx

from attack_server import DEMO_MODEL
from serving import running_service

TOKEN = "correct-horse-battery-staple-42"


def test_login_returns_to_the_page_it_came_from_and_nowhere_else():
    with running_service(DEMO_MODEL, server_token=TOKEN) as run, \
            httpx.Client(base_url=run.base, timeout=10) as http:
        form = http.get("/login", params={"next": "/teach"})
        assert '<input type="hidden" name="next" value="/teach">' in form.text
        back = http.post("/login", data={"token": TOKEN, "next": "/teach"},
                         follow_redirects=False)
        assert back.status_code == 303 and back.headers["location"] == "/teach"
        # logged in already: the form sends the browser straight back
        assert http.get("/login", params={"next": "/teach"},
                        follow_redirects=False).headers["location"] == "/teach"
        for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example",
                          "/login?next=/"):
            answer = httpx.post(f"{run.base}/login", data={"token": TOKEN, "next": elsewhere},
                                follow_redirects=False)
            assert answer.headers["location"] == "/", elsewhere
        health = http.get("/api/health").json()
        assert abs(health["server_time"] - time.time()) < 5


def test_only_the_login_pages_own_files_answer_without_the_token():
    with running_service(DEMO_MODEL, server_token=TOKEN) as run, \
            httpx.Client(base_url=run.base, timeout=10) as http:
        style = http.get("/static/style.css")
        assert style.status_code == 200 and ".pill-ok" in style.text
        assert http.get("/static/favicon.svg").status_code == 200
        assert http.get("/static/app.js").status_code == 401
        assert http.post("/static/style.css").status_code == 401
        page = http.get("/login")
        assert 'href="/static/style.css"' in page.text
        assert "server.token" in page.text and "command line" in page.text
