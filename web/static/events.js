// Events panel: the recent events with their snapshots, each a link to it in the history page
// (/events), kept live from the websocket messages that app.js passes on as
// "shadercam:message", and the outputs' states from its health polls ("shadercam:health").
"use strict";

(() => {
  const SHOWN = 12;
  const panel = document.getElementById("events-panel");
  const list = document.getElementById("events");
  let events = new Map();  // id -> event, whatever order; sorted when drawn

  function when(event) {
    const clock = (t) => new Date(t * 1000).toLocaleTimeString();
    if (event.state === "active") return "since " + clock(event.start);
    const seconds = Math.max(0, event.end - event.start);
    return clock(event.start) + " · " + (seconds < 60 ? seconds.toFixed(1) + " s"
                                                      : Math.round(seconds / 60) + " min");
  }

  function item(event) {
    const li = document.createElement("li");
    li.className = event.state;
    li.dataset.id = event.id;
    const link = document.createElement("a");  // the event, large, in the history page
    link.href = "/events?event=" + encodeURIComponent(event.id);
    if (event.snapshot) {
      const img = document.createElement("img");
      img.src = event.snapshot;
      img.alt = event.display_label;
      img.loading = "lazy";
      link.append(img);
    }
    const text = document.createElement("div");
    text.className = "text";
    text.innerHTML = '<div class="label"></div><div class="when"></div>';
    text.querySelector(".label").textContent =
      event.display_label + " · " + Math.round(event.peak * 100) + " %";
    text.querySelector(".when").textContent = when(event);
    link.append(text);
    li.append(link);
    return li;
  }

  function draw() {
    const newest = [...events.values()].sort((a, b) => b.start - a.start).slice(0, SHOWN);
    events = new Map(newest.map((e) => [e.id, e]));
    list.replaceChildren(...newest.map(item));
    document.getElementById("events-empty").hidden = newest.length > 0;
  }

  async function load() {
    try {
      const response = await fetch("/api/events?limit=" + SHOWN, {cache: "no-store"});
      if (response.status === 404) {  // events are turned off
        panel.hidden = true;
        return;
      }
      if (!response.ok) return;
      events = new Map((await response.json()).events.map((e) => [e.id, e]));
      draw();
    } catch (e) {
      // offline: app.js shows that; the list comes back with the next hello
    }
  }

  function drawOutputs(outputs) {
    const line = document.getElementById("outputs");
    const parts = Object.entries(outputs || {})
      .filter(([name]) => name !== "websocket" && name !== "metrics")
      .map(([name, o]) => {
        const span = document.createElement("span");
        span.textContent = name + ": " + o.state + (o.error ? " (" + o.error + ")" : "");
        span.className = o.state === "error" ? "bad" : "";
        return span;
      });
    line.replaceChildren(...parts.flatMap((p, i) => (i ? [" · ", p] : [p])));
  }

  document.addEventListener("shadercam:message", (e) => {
    const message = e.detail;
    if (message.type === "hello") {  // a (re)connection: the list may have moved on
      load();
      drawOutputs(message.outputs);
    } else if (message.type === "event") {
      events.set(message.event.id, message.event);
      draw();
    }
  });
  document.addEventListener("shadercam:health", (e) => drawOutputs(e.detail.outputs));
  load();
})();
