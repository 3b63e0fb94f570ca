// The event history page (/events): a page of events at a time from /api/events, filtered by
// label and date (kept in the URL), one event's large picture and details in a dialog that
// Escape and the browser's back button close, deletes behind a confirm, and new and ended
// events from the websocket without a reload. A label may be a model's class or a taught
// classifier's state: what is shown is the event's own display_label, never a model lookup.
"use strict";

(() => {
  const PAGE = 50;
  const LOGIN_AFTER_MS = 3000;  // time to read why before the page goes to the login page
  const $ = (id) => document.getElementById(id);
  const list = $("history");
  const dialog = $("detail");
  const state = {
    events: new Map(),  // id -> event, those shown
    next: null,  // the cursor of the next (older) page, null on the last
    matching: 0,
    loading: 0,  // a newer load makes the answers of older ones moot
    open: null,  // the id shown in the dialog
    pushed: false,  // the dialog's URL was pushed here: closing it goes back
    connectedBefore: false,
    loginNeeded: false,
    retryMs: 500,
  };

  // --- time, said for people ---------------------------------------------------------------

  function clock(t) {
    return new Date(t * 1000).toLocaleString([], {weekday: "short", day: "numeric",
      month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function duration(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.round(seconds % 3600 / 60) + " min";
  }

  function lasted(event) {
    const end = event.state === "active" ? Date.now() / 1000 : event.end;
    return duration(Math.max(0, end - event.start));
  }

  function percent(p) {
    return Math.round(p * 100) + " %";
  }

  function picture(event) {
    // the snapshot improves while the event lasts: a new URL makes the browser ask again
    return event.snapshot + "?v=" + encodeURIComponent(event.end || event.last_seen);
  }

  // --- the filters and the URL --------------------------------------------------------------

  function filters() {
    const query = new URLSearchParams(location.search);
    return {label: query.get("label") || "", taught: query.get("taught") || "",
            from: query.get("from") || "",
            to: query.get("to") || "", event: query.get("event") || ""};
  }

  function url(changes) {
    const wanted = {...filters(), ...changes};
    const query = new URLSearchParams();
    for (const key of ["label", "taught", "from", "to", "event"]) {
      if (wanted[key]) query.set(key, wanted[key]);
    }
    const text = query.toString();
    return location.pathname + (text ? "?" + text : "");
  }

  function localMidnight(date, days) {  // "2026-12-05" -> Unix time of that local midnight
    const [y, m, d] = date.split("-").map(Number);
    return new Date(y, m - 1, d + days).getTime() / 1000;
  }

  function apiQuery(f) {
    const query = new URLSearchParams();
    if (f.label) query.set("label", f.label);
    if (f.taught) query.set("taught", f.taught);
    if (f.from) query.set("since", String(localMidnight(f.from, 0)));
    if (f.to) query.set("until", String(localMidnight(f.to, 1)));
    return query;
  }

  function matches(event, f) {
    return (!f.label || event.label === f.label) && (!f.taught || event.taught === f.taught) &&
      (!f.from || event.start >= localMidnight(f.from, 0)) &&
      (!f.to || event.start < localMidnight(f.to, 1));
  }

  function showFilters(f) {
    $("from").value = f.from;
    $("to").value = f.to;
    $("label").value = choice(f);
    $("delete-all").textContent = choice(f) || f.from || f.to ? "Delete these…"
                                                               : "Delete all…";
  }

  // --- answers of the API ---------------------------------------------------------------------

  // The service no longer takes this browser's login (its token was changed): say so, then go
  // to the login page, which brings the browser back here, filters and all.
  function needLogin() {
    if (state.loginNeeded) return;
    state.loginNeeded = true;
    $("live").textContent = "Log in again: the access token has changed";
    $("live").className = "live-state bad";
    const back = location.pathname + location.search;
    setTimeout(() => location.assign("/login?next=" + encodeURIComponent(back)), LOGIN_AFTER_MS);
  }

  async function api(path, options) {
    const response = await fetch(path, {cache: "no-store", ...options});
    if (response.status === 401) {
      needLogin();
      throw new Error("this browser must log in again");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.detail || "the service answered " + response.status);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function say(text) {  // how many are shown, or why none can be
    $("summary").textContent = text;
  }

  function tell(text) {  // what a delete did
    $("action").textContent = text;
  }

  // --- the list -----------------------------------------------------------------------------

  function item(event) {
    const li = document.createElement("li");
    li.className = event.state;
    li.dataset.id = event.id;
    const link = document.createElement("a");
    link.className = "event";
    link.href = url({event: event.id});
    const thumb = document.createElement(event.snapshot ? "img" : "div");
    thumb.className = "thumb";
    if (event.snapshot) {
      thumb.src = picture(event);
      thumb.alt = "";
      thumb.loading = "lazy";
    }
    const text = document.createElement("div");
    text.className = "text";
    text.innerHTML = '<div class="what"><span class="label"></span><span class="peak"></span>' +
      '</div><div class="when"></div><div class="span"><span class="ends"></span> · ' +
      '<span class="lasted"></span></div>';
    text.querySelector(".label").textContent = event.display_label;
    text.querySelector(".peak").textContent = percent(event.peak);
    text.querySelector(".peak").title = "peak probability";
    text.querySelector(".when").textContent = clock(event.start);
    text.querySelector(".ends").textContent = event.state === "active" ? "ongoing"
      : "until " + new Date(event.end * 1000).toLocaleTimeString();
    text.querySelector(".lasted").textContent = lasted(event);
    link.append(thumb, text);
    link.addEventListener("click", (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;  // a new tab
      e.preventDefault();
      openEvent(event.id, true);
    });
    li.append(link);
    return li;
  }

  function draw() {
    const events = [...state.events.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    list.replaceChildren(...events.map(item));
    const f = filters();
    const empty = $("history-empty");
    empty.hidden = events.length > 0;
    empty.textContent = choice(f) || f.from || f.to ? "No events match these filters."
                                                  : "No events yet.";
    $("more").hidden = !state.next;
  }

  function inverted(f) {
    return f.from && f.to && f.from > f.to;
  }

  function summarise() {  // the one place that says it: a load or count ending late agrees
    if (inverted(filters())) {
      say("The From date is after the To date.");
      return;
    }
    const shown = state.events.size;
    const ongoing = [...state.events.values()].filter((e) => e.state === "active").length;
    say(state.matching === 0 ? "" : "Showing " + shown + " of " + state.matching + " event" +
        (state.matching === 1 ? "" : "s") + (ongoing ? ", " + ongoing + " ongoing" : "") + ".");
  }

  // an option of the label select: a label and the taught classifier whose state it is, as
  // two taught classifiers may both have a state "open"
  function choice(f) {
    return f.label || f.taught ? JSON.stringify([f.label, f.taught || ""]) : "";
  }

  function drawLabels(labels) {
    const select = $("label");
    if (document.activeElement === select) return;  // not under the hand choosing
    const wanted = choice(filters());
    const options = [new Option("All labels", "")];
    for (const l of labels) {
      options.push(new Option(l.display_label + " (" + l.count + ")", choice(l)));
    }
    if (wanted && !options.some((o) => o.value === wanted)) {  // a link to a label now gone
      options.push(new Option(filters().label + " (none)", wanted));
    }
    select.replaceChildren(...options);
    select.value = wanted;
  }

  function chosen() {  // the select's label and taught classifier
    const [label, taught] = $("label").value ? JSON.parse($("label").value) : ["", ""];
    return {label, taught};
  }

  async function load(more) {
    const f = filters();
    showFilters(f);
    if (inverted(f)) {
      ++state.loading;  // what is still loading for the filters before is moot
      state.events.clear();
      state.next = null;
      draw();
      summarise();
      return;
    }
    const query = apiQuery(f);
    query.set("limit", String(PAGE));
    if (more && state.next) query.set("before", state.next);
    const loading = ++state.loading;
    try {
      const page = await api("/api/events?" + query);
      if (loading !== state.loading) return;
      if (!more) state.events.clear();
      for (const event of page.events) state.events.set(event.id, event);
      state.next = page.next;
      state.matching = page.matching;
      drawLabels(page.labels);
      draw();
      summarise();
    } catch (error) {
      if (loading === state.loading) say("Cannot load the events: " + error.message + ".");
    }
  }

  async function recount() {  // after a live change: the counts and labels, not the list
    const f = filters();
    if (inverted(f)) return;  // nothing to count: load() said why
    const query = apiQuery(f);
    query.set("limit", "1");
    try {
      const page = await api("/api/events?" + query);
      state.matching = page.matching;
      drawLabels(page.labels);
      summarise();
    } catch (error) {
      // offline: the connection state says so, and the next hello reloads
    }
  }

  function onEvent(event) {
    if (state.open === event.id) showDetail(event);
    if (!matches(event, filters())) {
      recount();
      return;
    }
    const oldestShown = [...state.events.keys()].sort()[0];
    // older than the page's end: it belongs to a page not loaded yet
    if (state.events.has(event.id) || !state.next || event.id > oldestShown) {
      state.events.set(event.id, event);
      draw();
    }
    recount();
  }

  // --- one event ----------------------------------------------------------------------------

  function fact(name, value) {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value;
    div.append(dt, dd);
    return div;
  }

  function showDetail(event) {
    $("detail-title").textContent = event.display_label +
      (event.state === "active" ? " · ongoing" : "");
    const img = $("detail-picture");
    img.hidden = !event.snapshot;
    $("detail-no-picture").hidden = Boolean(event.snapshot);
    if (event.snapshot) {
      img.src = picture(event);
      img.alt = "The best picture of the " + event.display_label + " event";
      $("detail-download").href = event.snapshot;
      $("detail-download").download = "shadercam-" + event.id + ".jpg";
    }
    $("detail-download").hidden = !event.snapshot;
    $("detail-facts").replaceChildren(...[
      fact("Label", event.label),
      event.taught && fact("Taught classifier", event.taught),
      event.taught && event.previous && fact("State before", event.previous),
      fact("Started", clock(event.start)),
      fact("Ended", event.state === "active" ? "ongoing" : clock(event.end)),
      fact("Duration", lasted(event)),
      fact("Peak probability", percent(event.peak)),
      fact("Model", event.model_name),
      fact("Frames", event.start_frame + " to " + event.end_frame + " (best " +
                     event.peak_frame + ")"),
      fact("Id", event.id)].filter(Boolean));
    const remove = $("detail-delete");
    remove.disabled = event.state === "active";
    remove.title = event.state === "active" ? "an event can be deleted once it has ended" : "";
    $("detail-note").textContent = event.state === "active"
      ? "This event is going on: it can be deleted once it has ended." : "";
  }

  async function openEvent(id, push) {
    if (push) {
      history.pushState({event: id}, "", url({event: id}));
      state.pushed = true;
    }
    state.open = id;
    let event = state.events.get(id);
    if (!event) {
      try {
        event = await api("/api/events/" + encodeURIComponent(id));
      } catch (error) {
        state.open = null;
        tell(error.status === 404 ? "That event is no longer in the history."
                                  : "Cannot show that event: " + error.message + ".");
        history.replaceState(null, "", url({event: ""}));
        return;
      }
    }
    if (state.open !== id) return;
    showDetail(event);
    if (!dialog.open) dialog.showModal();
  }

  function closeEvent() {  // Escape, the Close button or a delete
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener("close", () => {
    const pushed = state.pushed;
    state.open = null;
    state.pushed = false;
    if (!filters().event) return;  // closed by the back button
    if (pushed) {
      history.back();
    } else {  // opened from a link: the list stays where it is
      history.replaceState(null, "", url({event: ""}));
    }
  });
  dialog.addEventListener("click", (e) => {  // a click on the backdrop
    if (e.target === dialog) closeEvent();
  });
  $("detail-close").addEventListener("click", closeEvent);

  $("detail-delete").addEventListener("click", async () => {
    const id = state.open;
    const event = state.events.get(id);
    const name = event ? event.display_label + " at " + clock(event.start) : "this event";
    if (!id || !window.confirm("Delete " + name + " and its picture?")) return;
    tell("Deleting…");
    try {
      await api("/api/events/" + encodeURIComponent(id), {method: "DELETE"});
    } catch (error) {
      $("detail-note").textContent = "Not deleted: " + error.message + ".";
      return;
    }
    state.events.delete(id);
    draw();
    closeEvent();
    tell("Deleted " + name + ".");
    recount();
  });

  // --- filters and paging -------------------------------------------------------------------

  function filterChanged() {
    const f = {...chosen(), from: $("from").value, to: $("to").value, event: ""};
    history.replaceState(null, "", url(f));
    state.next = null;
    load(false);
  }

  $("filters").addEventListener("change", filterChanged);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("clear").addEventListener("click", () => {
    $("label").value = "";
    $("from").value = "";
    $("to").value = "";
    filterChanged();
  });
  $("more").addEventListener("click", () => load(true));

  $("delete-all").addEventListener("click", async () => {
    const f = filters();
    const which = [choice(f) && "of " + ($("label").selectedOptions[0] || {}).text,
                   f.from && "from " + f.from, f.to && "to " + f.to].filter(Boolean).join(" ");
    const question = "Delete every ended event" + (which ? " " + which : "") +
      ", with their pictures? Ongoing events are kept. This cannot be undone.";
    if (!window.confirm(question)) return;
    tell("Deleting…");
    try {
      const answer = await api("/api/events?" + apiQuery(f), {method: "DELETE"});
      tell(answer.note.charAt(0).toUpperCase() + answer.note.slice(1) + ".");
    } catch (error) {
      tell("Not all deleted: " + error.message + ".");
    }
    load(false);
  });

  window.addEventListener("popstate", () => {
    const f = filters();
    if (f.event) openEvent(f.event, false);
    else closeEvent();
    if (choice(f) !== $("label").value || f.from !== $("from").value ||
        f.to !== $("to").value) {
      load(false);
    }
  });

  // ongoing events' durations move on
  setInterval(() => {
    for (const li of list.querySelectorAll("li.active")) {
      const event = state.events.get(li.dataset.id);
      if (event) li.querySelector(".lasted").textContent = lasted(event);
    }
  }, 1000);

  // --- live ---------------------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws");
    socket.onmessage = (e) => {
      const message = JSON.parse(e.data);
      if (message.type === "hello") {
        $("live").textContent = "Live";
        $("live").className = "live-state ok";
        state.retryMs = 500;
        if (state.connectedBefore) load(false);  // events may have come and gone meanwhile
        state.connectedBefore = true;
      } else if (message.type === "event") {
        onEvent(message.event);
      }
    };
    socket.onclose = (e) => {
      if (state.loginNeeded) return;
      const full = e.code === 1013;  // the service has its most viewers
      $("live").textContent = full ? "Too many viewers: trying again shortly"
                                   : "Offline: reconnecting…";
      $("live").className = "live-state bad";
      if (!full) recount();  // offline, or refused for a login that no longer counts?
      setTimeout(connect, full ? 10000 : state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 10000);
    };
  }

  load(false).then(() => {
    const f = filters();
    if (f.event) openEvent(f.event, false);
  });
  connect();
})();
