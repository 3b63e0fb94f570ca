"""The event history page (/events) in headless Chromium on a real service whose camera makes
real events: live updates, the large picture in a dialog that Escape and back close, filters
kept in the URL, paging, delete one and delete all behind a confirm, the main page's links to
it, a login that no longer counts, and its phone and dark layouts (screenshots in
test-artifacts/)."""
from __future__ import annotations

import datetime
import io
import time

import httpx
from PIL import Image

from app.api import create_app
from app.api.port import ServerSettings
from app.config import load_config
from app.events.rules import Event, new_event_id
from app.service import Service
from serving import engine_up, free_port, running_service, uvicorn_thread, wait_for

TOKEN = "history-page-token-0123456789"
COUNT = "document.querySelectorAll('#history li').length"


def yesterdays_events(store, count: int) -> list[Event]:
    """Ended events of a taught classifier's state "open", yesterday from 10:00 local time, a
    minute apart: a label that is no class of the model."""
    day = datetime.date.today() - datetime.timedelta(days=1)
    first = datetime.datetime.combine(day, datetime.time(10, 0)).timestamp()
    picture = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 80, 40)).save(picture, format="JPEG")
    made = []
    for i in range(count):
        start = first + 60 * i
        event = Event(id=new_event_id(start), label="open", display_label="door: open",
                      model_name="colours", start=start, start_frame=i * 10 + 1, peak=0.8,
                      peak_frame=i * 10 + 3, last_seen=start + 42, end_frame=i * 10 + 9,
                      end=start + 42, taught="door", previous="closed")
        store.save(event, picture.getvalue())
        made.append(event)
    return made


def logged_in(browser, run, path: str, **options):
    page = browser.new_page(**options)
    page.goto(f"{run.base}/login?token={TOKEN}")
    page.goto(run.base + path)
    return page


def texts(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")


def query_of(page) -> dict[str, str]:
    return page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")


def test_history_page(browser, colour_model, colour_schedule, artifacts):
    with running_service(colour_model, camera_source=f"files:{colour_schedule}", camera_fps=6,
                         server_token=TOKEN, events_start_frames=2, events_end_s=0.3,
                         events_cooldown_s=0) as run, \
            httpx.Client(base_url=run.base, timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        store = run.service.events.store
        wait_for(lambda: any(not e.active for e in store.list()), timeout=30)

        # the main page's panel links to the history, and each thumbnail to its event
        main = logged_in(browser, run, "/", viewport={"width": 1200, "height": 1000})
        main.wait_for_selector("#events li.ended a")
        assert main.get_attribute("#events-all", "href") == "/events"
        chosen, href = main.eval_on_selector("#events li.ended",
                                             "li => [li.dataset.id, li.firstChild.href]")
        assert href == f"{run.base}/events?event={chosen}"
        main.click(f"#events li[data-id='{chosen}'] a")
        main.wait_for_url(f"{run.base}/events?event={chosen}")
        main.wait_for_function("document.getElementById('detail').open")
        main.wait_for_function("document.getElementById('detail-picture').naturalWidth === 320")
        main.keyboard.press("Escape")  # opened from a link: the history stays, without it
        main.wait_for_function("!document.getElementById('detail').open && !location.search")
        assert main.url == run.base + "/events"
        main.close()

        page = logged_in(browser, run, "/events", viewport={"width": 1280, "height": 900})
        page.wait_for_function(f"{COUNT} >= 2")
        # new and ended events appear without a reload, newest first
        before = page.evaluate(COUNT)
        page.wait_for_function(f"{COUNT} >= {before + 3}", timeout=30000)
        shown = page.eval_on_selector_all("#history li", "els => els.map(e => e.dataset.id)")
        assert shown == sorted(shown, reverse=True)
        assert set(texts(page, "#history li .label")) <= {"Red", "Green", "Blue"}
        assert all(t.endswith(" %") for t in texts(page, "#history li .peak"))
        ended = page.locator("#history li.ended").first
        assert ended.locator(".ends").inner_text().startswith("until ")
        assert ended.locator(".lasted").inner_text().endswith(" s")
        page.wait_for_selector("#history li.active .ends")  # the one going on, if any, says so
        assert page.locator("#history li.active .ends").first.inner_text() == "ongoing"
        page.wait_for_selector("#live.ok")
        page.screenshot(path=str(artifacts / "events-desktop-light.png"), full_page=True)

        # the labels present to choose from; the choice is kept in the URL and new events of
        # another label stay out
        options = page.eval_on_selector_all("#label option", "os => os.map(o => o.text)")
        assert {"Red", "Green", "Blue"} <= {o.split(" (")[0] for o in options}  # "Red (3)"
        page.select_option("#label", label=next(o for o in options if o.startswith("Green")))
        page.wait_for_function("[...document.querySelectorAll('#history li .label')]"
                               ".every(l => l.textContent === 'Green')")
        assert query_of(page) == {"label": "green"}
        greens = page.evaluate(COUNT)
        page.wait_for_function(f"{COUNT} > {greens}", timeout=30000)  # a new green one, live
        assert set(texts(page, "#history li .label")) == {"Green"}
        assert page.inner_text("#summary").startswith("Showing ")

        # one event, large, with its details; Escape closes it and goes back
        page.click("#history li.ended a")
        page.wait_for_function("document.getElementById('detail').open")
        event_id = query_of(page)["event"]
        page.wait_for_function("document.getElementById('detail-picture').naturalWidth === 320")
        facts = dict(zip(texts(page, "#detail-facts dt"), texts(page, "#detail-facts dd")))
        assert facts["Label"] == "green" and facts["Id"] == event_id
        assert facts["Peak probability"].endswith(" %") and facts["Model"] == "colours"
        assert page.inner_text("#detail-title") == "Green"
        page.screenshot(path=str(artifacts / "events-detail-desktop-light.png"))
        page.keyboard.press("Escape")
        page.wait_for_function("!document.getElementById('detail').open && "
                               "location.search === '?label=green'")
        # the browser's back button closes it too
        page.click(f"#history li[data-id='{event_id}'] a")
        page.wait_for_function("document.getElementById('detail').open")
        page.go_back()
        page.wait_for_function("!document.getElementById('detail').open && "
                               "location.search === '?label=green'")

        # delete one, after the confirm
        page.click(f"#history li[data-id='{event_id}'] a")
        page.wait_for_function("document.getElementById('detail').open")
        page.once("dialog", lambda confirm: confirm.accept())
        page.click("#detail-delete")
        page.wait_for_function(f"!document.querySelector(\"#history li[data-id='{event_id}']\")")
        assert http.get(f"/api/events/{event_id}").status_code == 404
        assert page.inner_text("#action").startswith("Deleted Green at ")

        # by date, kept in the URL: yesterday's events, a page of 50 and then the rest
        yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
        older = yesterdays_events(store, 62)
        page.goto(f"{run.base}/events?from={yesterday}&to={yesterday}")
        page.wait_for_function(f"{COUNT} === 50")
        assert page.input_value("#from") == yesterday == page.input_value("#to")
        assert page.is_visible("#more")
        assert page.inner_text("#summary") == "Showing 50 of 62 events."
        page.click("#more")
        page.wait_for_function(f"{COUNT} === 62")
        assert page.is_hidden("#more")
        shown = page.eval_on_selector_all("#history li", "els => els.map(e => e.dataset.id)")
        assert shown == [e.id for e in reversed(older)]
        assert set(texts(page, "#history li .label")) == {"door: open"}
        page.click(f"#history li[data-id='{older[0].id}'] a")  # a taught state's details
        page.wait_for_function("document.getElementById('detail').open")
        facts = dict(zip(texts(page, "#detail-facts dt"), texts(page, "#detail-facts dd")))
        assert (facts["Label"], facts["Taught classifier"], facts["State before"]) == \
            ("open", "door", "closed")
        page.keyboard.press("Escape")
        page.wait_for_function("!document.getElementById('detail').open")
        assert set(texts(page, "#history li .lasted")) == {"42.0 s"}
        page.select_option("#label", label="door: open (62)")  # the taught state, by name
        page.wait_for_function("location.search.includes('taught=door')")
        assert query_of(page) == {"label": "open", "taught": "door", "from": yesterday,
                                  "to": yesterday}
        page.wait_for_function(f"{COUNT} === 50")
        page.fill("#from", datetime.date.today().isoformat())  # after To: said, nothing shown
        page.wait_for_function("document.getElementById('summary').textContent"
                               ".includes('after the To date')")
        assert page.evaluate(COUNT) == 0

        # a confirm that is dismissed deletes nothing; accepted, every ended event matching
        # the filter goes, and the ongoing ones stay
        page.goto(f"{run.base}/events?from={yesterday}&to={yesterday}")
        page.wait_for_function(f"{COUNT} === 50")
        page.once("dialog", lambda confirm: confirm.dismiss())
        page.click("#delete-all")
        assert http.get("/api/events", params={"taught": "door"}).json()["matching"] == 62
        asked = []
        page.once("dialog", lambda confirm: (asked.append(confirm.message), confirm.accept()))
        assert page.inner_text("#delete-all") == "Delete these…"
        page.click("#delete-all")
        page.wait_for_function("document.getElementById('action').textContent"
                               ".startsWith('Deleted 62 events')")
        assert "Ongoing events are kept" in asked[0] and f"from {yesterday}" in asked[0]
        page.wait_for_function(f"{COUNT} === 0")  # the list reloaded after the answer
        assert page.inner_text("#history-empty") == "No events match these filters."
        assert http.get("/api/events", params={"taught": "door"}).json()["matching"] == 0
        assert http.get("/api/events").json()["matching"] > 0  # today's are not in the filter

        page.click("#clear")
        page.wait_for_function(f"{COUNT} > 0")
        assert query_of(page) == {}
        clicked = time.time()
        page.once("dialog", lambda confirm: confirm.accept())
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleting:
            page.click("#delete-all")
        answer = deleting.value.json()
        assert answer["count"] > 0
        note = answer["note"][0].upper() + answer["note"][1:] + "."
        page.wait_for_function(f"document.getElementById('action').textContent === {note!r}")
        # what is left was going on at the click, or started since
        left = http.get("/api/events", params={"limit": 1000}).json()["events"]
        assert all(e["end"] is None or e["end"] > clicked - 2 for e in left), left
        assert {e["id"] for e in left} >= set(answer["kept"])
        if answer["kept"]:
            assert "ongoing event is kept" in note
        page.close()


def test_history_page_on_a_phone_and_in_dark_mode(browser, colour_model, colour_schedule,
                                                  artifacts):
    with running_service(colour_model, camera_source=f"files:{colour_schedule}", camera_fps=6,
                         server_token=TOKEN, events_start_frames=2, events_end_s=0.3,
                         events_cooldown_s=0) as run:
        engine_up(run)
        wait_for(lambda: sum(not e.active for e in run.service.events.store.list()) >= 3,
                 timeout=30)
        for scheme, width, height in (("light", 390, 844), ("dark", 390, 844),
                                      ("dark", 1280, 900)):
            page = logged_in(browser, run, "/events", viewport={"width": width, "height": height},
                             color_scheme=scheme)
            page.wait_for_function(f"{COUNT} >= 3")
            page.wait_for_function("[...document.querySelectorAll('#history li.ended img')]"
                                   ".some(img => img.complete && img.naturalWidth === 320)")
            # nothing wider than the screen; on a phone one event a row, picture beside text
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            dark = sum(int(c) for c in background[4:-1].split(",")) < 120
            assert dark == (scheme == "dark")
            # measured at once: live events redraw the list
            boxes, thumb, text = page.evaluate(
                "(box => [[...document.querySelectorAll('#history li')].slice(0, 2).map(box),"
                " box(document.querySelector('#history li .thumb')),"
                " box(document.querySelector('#history li .text'))])"
                "(e => (r => ({x: r.x, y: r.y, width: r.width, height: r.height}))"
                "(e.getBoundingClientRect()))")
            if width < 700:
                assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"] - 1
                assert thumb["x"] + thumb["width"] <= text["x"] + 1
            else:
                assert boxes[1]["y"] == boxes[0]["y"]  # side by side
            size = "phone" if width < 700 else "desktop"
            page.screenshot(path=str(artifacts / f"events-{size}-{scheme}.png"), full_page=True)
            page.click("#history li.ended a")
            page.wait_for_function("document.getElementById('detail-picture').naturalWidth")
            dialog = page.locator("#detail").bounding_box()
            assert dialog["width"] <= width
            card = page.evaluate("getComputedStyle(document.getElementById('detail'))"
                                 ".backgroundColor")
            assert (sum(int(c) for c in card[4:-1].split(",")) < 200) == (scheme == "dark")
            page.screenshot(path=str(artifacts / f"events-detail-{size}-{scheme}.png"))
            page.keyboard.press("Escape")
            page.wait_for_function("!document.getElementById('detail').open")
            page.close()


def test_a_changed_token_sends_the_history_to_login_and_back(browser, colour_model,
                                                             colour_schedule, tmp_path):
    service = Service(load_config(env={}, overrides={
        "camera.source": f"files:{colour_schedule}", "camera.fps": 6, "events.dir": str(tmp_path),
        "events.start_frames": 2, "events.end_s": 0.3, "events.cooldown_s": 0}), colour_model)
    service.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        first = ServerSettings.from_config(service.config, token=TOKEN)
        with uvicorn_thread(create_app(service, first), port):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/login?token={TOKEN}")
            page.goto(f"{base}/events?label=red")
            page.wait_for_selector("#live.ok")
        # the service comes back with another token: this browser's login no longer counts
        second = ServerSettings.from_config(service.config, token="another-token-0123456789")
        with uvicorn_thread(create_app(service, second), port):
            page.wait_for_function("document.getElementById('live').textContent"
                                   ".startsWith('Log in again')", timeout=20000)
            page.wait_for_url(f"{base}/login?next=%2Fevents%3Flabel%3Dred", timeout=15000)
            page.fill("input[name=token]", "another-token-0123456789")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/events?label=red")  # back, the filter kept
            page.wait_for_selector("#live.ok")
            assert page.eval_on_selector("#label", "s => s.selectedOptions[0].text") \
                .startswith("Red (")
            page.close()
    finally:
        service.stop()
