"""`laurel dev` in real headless Chromium: sign in, start the simulated task, watch the progress bar
reach 100% through laurel's WebSocket — with laurel dev's embedded Redis and with a real redis-server.

The embedded-Redis run also takes the README's screenshot; LAUREL_UPDATE_SCREENSHOT=1 copies it to
docs/img/demo.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import HERE, ROOT

pytestmark = pytest.mark.slow

SCREENSHOT = os.path.join(ROOT, "docs", "img", "demo.png")


def sign_in(page, base_url: str, password: str = "demo") -> None:
    page.goto(base_url + "/")
    page.fill("#username", "demo")
    page.fill("#password", password)
    page.click("#signin")


def test_demo_progress_reaches_100(dev_server, page, request, tmp_path):
    banner = dev_server.banner()
    assert dev_server.base_url + "/" in banner
    assert "SECRET_KEY = " in banner and "channels_redis.core.RedisChannelLayer" in banner
    embedded = request.node.callspec.params["dev_server"] == "embedded-redis"
    assert ("embedded" in banner) == embedded, banner

    sign_in(page, dev_server.base_url)
    page.wait_for_selector("#user")
    assert page.text_content("#user") == "demo"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sessionid"]["httpOnly"] and len(cookies["sessionid"]["value"]) == 32
    page.wait_for_function("document.getElementById('state').textContent === 'open'", timeout=15000)

    page.click("#start")
    page.wait_for_function("document.getElementById('percent').textContent === '100%'", timeout=30000)
    assert page.text_content("#message") == "All done!"
    assert page.evaluate("document.getElementById('fill').style.width") == "100%"

    frames = [json.loads(line) for line in page.text_content("#log").splitlines() if line]
    frames.reverse()  # the page prepends
    updates = [f for f in frames if f["type"] == "task_update"]
    assert [f["progress"] for f in updates] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert frames[-1] == {
        "type": "task_complete", "task_id": updates[0]["task_id"], "status": "completed",
        "message": "All done!", "result": {"steps": 9},
    }
    assert list(updates[0]) == ["type", "task_id", "status", "message", "progress"]
    assert page.errors == []

    if embedded:
        # Let the bar's CSS transition finish before the picture.
        page.wait_for_function("""() => {
            const fill = document.getElementById('fill');
            return fill.getBoundingClientRect().width >= fill.parentElement.getBoundingClientRect().width - 0.5;
        }""", timeout=5000)
        shot = tmp_path / "demo.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 1000
        if os.environ.get("LAUREL_UPDATE_SCREENSHOT") == "1":
            os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)


def test_wrong_password_refused(dev_server, page):
    sign_in(page, dev_server.base_url, password="not-demo")
    page.wait_for_selector("#error")
    assert "correct username and password" in page.text_content("#error")
    assert not [c for c in page.context.cookies() if c["name"] == "sessionid"]
    # Without a session the WebSocket handshake is refused by laurel (403), as Daphne would.
    status = page.evaluate("""url => new Promise(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = e => resolve("closed " + e.code);
    })""", dev_server.base_url.replace("http", "ws") + "/ws/tasks/")
    assert status == "closed 1006"


def test_django_shares_the_dev_environment(dev_server, page):
    """Real Django, configured with laurel dev's settings snippet, accepts the demo user's password,
    loads the session the browser got, finds no migration to apply for auth/contenttypes/sessions,
    and its channel layer (channels_redis) reaches the browser's socket through laurel."""
    sign_in(page, dev_server.base_url)
    page.wait_for_function("document.getElementById('state').textContent === 'open'", timeout=15000)
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    settings = dev_server.settings()
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "django_reads_dev.py")],
        input=json.dumps({
            "SECRET_KEY": settings["SECRET_KEY"],
            "DB": settings["DATABASES"]["default"]["NAME"],
            "REDIS": settings["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0],
            "session_key": key,
        }),
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {
        "authenticate": "demo", "wrong_password": None, "session_user": "demo",
        "unapplied_migrations": [], "group_send": "ok",
    }
    page.wait_for_function(
        "document.getElementById('log').textContent.includes('from Django')", timeout=15000)
    frame = json.loads(page.text_content("#log").splitlines()[0])
    assert frame == {"type": "user_notification", "message": "from Django"}
