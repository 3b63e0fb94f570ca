"""The page's events panel in headless Chromium: events appear live with their snapshots, and
the outputs' states show."""
from __future__ import annotations

from serving import engine_up, running_service


def test_events_show_live_with_thumbnails(browser, colour_model, colour_schedule, artifacts):
    with running_service(colour_model, camera_source=f"files:{colour_schedule}", camera_fps=6,
                         events_start_frames=2, events_end_s=0.3, events_cooldown_s=0) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(run.base + "/")
        page.wait_for_function("document.querySelectorAll('#events li').length >= 1",
                               timeout=30000)
        first_ids = page.eval_on_selector_all("#events li", "els => els.map(e => e.dataset.id)")
        # new events arrive without reloading the page, newest first
        page.wait_for_function(
            f"document.querySelectorAll('#events li').length >= {len(first_ids) + 3}",
            timeout=30000)
        page.wait_for_function("[...document.querySelectorAll('#events li.ended img')]"
                               ".some(img => img.complete && img.naturalWidth === 320)",
                               timeout=30000)
        labels = page.eval_on_selector_all("#events li .label",
                                           "els => els.map(e => e.textContent)")
        shown_labels = {label.split(" · ")[0] for label in labels}  # "Red · 100 %"
        assert shown_labels <= {"Red", "Green", "Blue"} and len(shown_labels) >= 2
        shown = page.eval_on_selector_all("#events li", "els => els.map(e => e.dataset.id)")
        starts = {e.id: e.start for e in run.service.events.store.list(limit=100)}
        assert set(shown) <= set(starts)
        assert [starts[i] for i in shown] == sorted((starts[i] for i in shown), reverse=True)
        assert page.is_hidden("#events-empty")
        page.wait_for_function("document.getElementById('outputs').textContent"
                               ".includes('events: ok')", timeout=15000)
        page.locator("#events-panel").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "page-events.png"), full_page=True)
