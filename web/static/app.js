// The live page. Predictions come over the websocket; the picture of each one is fetched by its
// frame number and shown in the same step as its text, so picture and result always match.
// Health is polled every few seconds; the page's state (live, stale, offline, model error,
// camera error, paused) is worked out from both and shown plainly.
"use strict";

const $ = (id) => document.getElementById(id);
const STALE_MIN_MS = 3000;
const ANNOUNCE_EVERY_MS = 5000;

const page = {
  socket: null, retryMs: 500, connected: false,
  health: null, healthFailed: false,
  shown: null, shownAt: 0,  // the prediction on screen and when it arrived
  pending: null, fetching: false, pictureUrl: null,
  paused: false, streaming: false, full: false,
  announced: {text: "", at: 0},
};

function setStatus(text, kind) {
  const pill = $("status");
  pill.textContent = text;
  pill.className = "pill pill-" + kind;
}

function percent(p) {
  return (p * 100).toFixed(1) + " %";
}

function renderRanking(list, ranked) {
  list.replaceChildren(...ranked.map((r) => {
    const li = document.createElement("li");
    li.innerHTML = '<div class="row"><span class="label"></span><span class="pct"></span></div>' +
      '<div class="track"><div class="fill"></div></div>';
    const label = li.querySelector(".label");
    label.textContent = r.display_label;
    label.title = r.label;  // the model's own label
    li.dataset.label = r.label;
    li.querySelector(".pct").textContent = percent(r.probability);
    li.querySelector(".fill").style.width = (r.probability * 100).toFixed(1) + "%";
    return li;
  }));
}

function renderHeadline(p, best, guess) {
  const top = p.top_k[0];
  best.textContent = p.uncertain ? "Uncertain" : p.display_label + " · " + percent(top.probability);
  best.dataset.label = p.uncertain ? "" : p.label;
  best.parentElement.classList.toggle("uncertain", p.uncertain);
  guess.hidden = !p.uncertain;
  guess.textContent = p.uncertain ? "Best guess: " + top.display_label + " (" +
    percent(top.probability) + "), below the " + Math.round(p.threshold * 100) +
    " % threshold" : "";
}

function renderPrediction(p) {
  renderHeadline(p, $("best"), $("guess"));
  renderRanking($("topk"), p.top_k);
  $("frame").textContent = p.frame;
  if (p.timings_ms && p.timings_ms.total !== undefined) {
    $("latency").textContent = Math.round(p.timings_ms.total);
  }
  page.shown = p;
  page.shownAt = Date.now();
  announce(p.uncertain ? "Uncertain" : p.display_label);
  updateState();
}

// Screen readers hear the result when it changes, at most every few seconds: not every frame.
function announce(text) {
  const now = Date.now();
  if (text === page.announced.text || now - page.announced.at < ANNOUNCE_EVERY_MS) return;
  page.announced = {text, at: now};
  $("announce").textContent = text;
}

// --- the picture of each prediction ------------------------------------------------------

function onPrediction(p) {
  if (page.paused) return;
  page.pending = p;
  showNext();
}

async function showNext() {
  if (page.fetching || !page.pending) return;
  const p = page.pending;
  page.pending = null;
  page.fetching = true;
  try {
    const response = await fetch("/preview/" + p.frame + ".jpg", {cache: "no-store"});
    if (!response.ok) throw new Error("picture " + response.status);
    const url = URL.createObjectURL(await response.blob());
    const img = new Image();
    img.src = url;
    await img.decode();
    if (!page.paused) {
      swapPicture(img, url, p.frame);
      renderPrediction(p);  // same task as the swap: both show in the same paint
    } else {
      URL.revokeObjectURL(url);
    }
  } catch (e) {
    // the picture is gone (a newer one replaced it) or the server went away: the next
    // prediction brings a new picture
  } finally {
    page.fetching = false;
    showNext();
  }
}

function swapPicture(img, url, frame) {
  img.id = "preview";
  img.alt = "Camera picture of frame " + frame + ", the one classified";
  img.dataset.frame = frame;
  $("preview").replaceWith(img);
  if (page.pictureUrl) URL.revokeObjectURL(page.pictureUrl);
  page.pictureUrl = url;
  page.streaming = false;
  const link = $("snapshot");
  link.href = url;
  link.download = "shadercam-frame-" + frame + ".jpg";
}

// Without a classifier (loading, failed) the page still shows the camera, from the stream.
function showCameraStream() {
  if (page.streaming || page.paused) return;
  page.streaming = true;
  const img = new Image();
  img.id = "preview";
  img.alt = "Live camera picture (not classified)";
  img.src = "/stream.mjpg?t=" + Date.now();
  $("preview").replaceWith(img);
  $("snapshot").href = "/snapshot.jpg";
  $("snapshot").download = "shadercam.jpg";
}

function stopCameraStream() {
  if (!page.streaming) return;
  page.streaming = false;
  const img = new Image();
  img.id = "preview";
  img.alt = "The camera picture that was classified";
  $("preview").replaceWith(img);
}

// --- health and the page's state -----------------------------------------------------------

function renderHealth(h) {
  page.health = h;
  const model = h.model;
  $("model").textContent = model.name + (model.classes ? " (" + model.classes + " classes)" : "");
  const gl = h.gl || {};
  if (gl.renderer) $("renderer").textContent = gl.renderer + (gl.software ? " (software)" : "");
  const gpu = $("gpu-banner");
  gpu.hidden = !gl.software;
  gpu.textContent = gl.software ? "Software GPU: " + gl.renderer + " does the work on the CPU, " +
    "so results come slowly. On a Pi, check that the service may use the GPU " +
    "(the 'render' group) and that the vc4 driver is loaded." : "";
  const modelBanner = $("model-banner");
  modelBanner.hidden = model.state !== "error";
  modelBanner.textContent = model.state === "error" ? "Model error: " + model.error +
    ". Fix or replace the model (shadercam model list), then restart the service." : "";
  const cam = h.camera;
  const rate = cam.state === "running" && cam.fps ? " at " + cam.fps + " fps" : "";
  $("camera").textContent = cam.source + ": " + cam.state + rate;
  const problem = cam.state === "retrying" || cam.state === "stalled";
  $("camera-overlay").hidden = !problem;
  if (problem) {
    $("camera-what").textContent = cam.error || "no pictures from " + cam.source;
    $("camera-trying").textContent = cam.state === "retrying"
      ? "Opening " + cam.source + " again" + (cam.retry_in_s !== null
        ? " in " + cam.retry_in_s.toFixed(1) + " s" : "") + " (failed " + cam.failures +
        (cam.failures === 1 ? " time)" : " times)")
      : "Waiting for the camera driver to deliver a frame.";
  }
  $("fps").textContent = h.fps.toFixed(1);
  $("uptime").textContent = formatDuration(h.uptime_s);
  if (model.state !== "running" && cam.state === "running") showCameraStream();
  else if (model.state === "running") stopCameraStream();
  updateState();
}

function staleAfterMs() {
  const fps = page.health ? page.health.fps : 0;
  return Math.max(STALE_MIN_MS, fps > 0 ? 4000 / fps : 0);
}

function updateState() {
  const h = page.health;
  const age = page.shown ? (Date.now() - page.shownAt) / 1000 : null;
  let state, text, kind;
  if (!page.connected && page.full) {
    [state, text, kind] = ["full", "Viewer limit reached", "warn"];
  } else if (!page.connected && (page.healthFailed || page.shown)) {
    [state, text, kind] = ["offline", "Offline", "bad"];
  } else if (page.paused) {
    [state, text, kind] = ["paused", "Paused", "wait"];
  } else if (h && h.model.state === "error") {
    [state, text, kind] = ["model-error", "Model error", "bad"];
  } else if (h && (h.camera.state === "retrying" || h.camera.state === "stalled")) {
    [state, text, kind] = ["camera-error", "Camera problem", "bad"];
  } else if (page.shown && age * 1000 > staleAfterMs()) {
    [state, text, kind] = ["stale", "Stale", "warn"];
  } else if (page.shown) {
    [state, text, kind] = ["live", "Live", "ok"];
  } else {
    [state, text, kind] = ["starting", page.connected ? "Starting" : "Connecting…", "wait"];
  }
  if (document.body.dataset.state !== state) {
    document.body.dataset.state = state;
    setStatus(text, kind);
    if (state !== "live") announce(text);
  }
  const old = state === "offline" || state === "stale";
  $("results").classList.toggle("old", old);
  $("result-state").textContent = text;
  $("age").textContent = page.shown && (old || state === "paused")
    ? "· result from " + formatDuration(age) + " ago" : "";
  const offline = $("offline-banner");
  offline.hidden = state !== "offline";
  offline.textContent = state === "offline" ? "Offline: the service does not answer. " +
    "Reconnecting… The result shown is " + (age === null ? "none" : formatDuration(age) + " old") +
    "." : "";
}

function formatDuration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? h + " h " + m + " min" : m ? m + " min " + Math.floor(s % 60) + " s" : Math.floor(s) + " s";
}

async function pollHealth() {
  try {
    const response = await fetch("/api/health", {cache: "no-store"});
    page.healthFailed = false;
    if (response.ok || response.status === 503) {
      const health = await response.json();
      renderHealth(health);
      document.dispatchEvent(new CustomEvent("shadercam:health", {detail: health}));
    }
  } catch (e) {
    page.healthFailed = true;
    updateState();
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = page.socket = new WebSocket(scheme + location.host + "/ws");
  socket.onopen = () => {
    page.retryMs = 500;
    page.connected = true;
    page.full = false;
    updateState();
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    document.dispatchEvent(new CustomEvent("shadercam:message", {detail: message}));
    if (message.type === "hello") renderHealth(message);
    else if (message.type === "prediction") onPrediction(message);
  };
  socket.onclose = (event) => {
    page.connected = false;
    page.full = event.code === 1013;  // the server has its most viewers: try again later
    updateState();
    setTimeout(connect, page.full ? 10000 : page.retryMs);
    page.retryMs = Math.min(page.retryMs * 2, 10000);
  };
}

// --- controls ----------------------------------------------------------------------------

function setPaused(paused) {
  page.paused = paused;
  const button = $("pause");
  button.textContent = paused ? "Resume" : "Pause";
  button.setAttribute("aria-pressed", String(paused));
  $("paused-badge").hidden = !paused;
  if (paused) {
    page.pending = null;
    if (page.streaming) {  // freeze the stream on its current picture
      const canvas = document.createElement("canvas");
      const img = $("preview");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      canvas.getContext("2d").drawImage(img, 0, 0);
      const still = new Image();
      still.id = "preview";
      still.alt = img.alt;
      still.src = canvas.toDataURL("image/jpeg");
      img.replaceWith(still);
      page.streaming = false;
    }
  } else if (page.health) {
    renderHealth(page.health);
  }
  updateState();
}

async function classifyPhoto(file) {
  const card = $("upload-card");
  card.hidden = false;
  const picture = $("upload-picture");
  if (picture.src.startsWith("blob:")) URL.revokeObjectURL(picture.src);
  picture.src = URL.createObjectURL(file);
  $("upload-best").textContent = "Classifying " + file.name + "…";
  $("upload-topk").replaceChildren();
  $("upload-guess").hidden = true;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch("/api/classify", {method: "POST", body: form});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || response.statusText);
    renderHeadline(answer, $("upload-best"), $("upload-guess"));
    renderRanking($("upload-topk"), answer.top_k);
  } catch (e) {
    $("upload-best").textContent = "Could not classify " + file.name + ": " + e.message;
  }
}

async function loadSettings() {
  try {
    const response = await fetch("/api/settings", {cache: "no-store"});
    if (!response.ok) return;
    const settings = await response.json();
    $("threshold").value = Math.round(settings.threshold * 100);
    $("smoothing").value = settings.smoothing;
  } catch (e) { /* offline: the form keeps what the page was served with */ }
}

async function saveSettings(event) {
  event.preventDefault();
  const note = $("settings-note");
  const body = {threshold: Number($("threshold").value) / 100,
                smoothing: Number($("smoothing").value)};
  note.textContent = "Saving…";
  try {
    const response = await fetch("/api/settings", {
      method: "PUT", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (response.status === 401 || response.status === 403) {
      note.textContent = "Not allowed: log in with the service's token to change settings.";
      return;
    }
    const answer = await response.json();
    if (!response.ok) {
      const detail = Array.isArray(answer.detail)
        ? answer.detail.map((d) => d.loc[d.loc.length - 1] + ": " + d.msg).join("; ")
        : answer.detail;
      note.textContent = "Not saved: " + detail;
      return;
    }
    note.textContent = "Saved: threshold " + Math.round(answer.threshold * 100) +
      " %, smoothing over " + answer.smoothing + (answer.smoothing === 1 ? " frame." : " frames.");
  } catch (e) {
    note.textContent = "Not saved: the service does not answer.";
  }
}

$("pause").addEventListener("click", () => setPaused(!page.paused));
$("upload").addEventListener("change", (event) => {
  if (event.target.files.length) classifyPhoto(event.target.files[0]);
  event.target.value = "";
});
$("upload-close").addEventListener("click", () => { $("upload-card").hidden = true; });
$("settings").addEventListener("submit", saveSettings);
connect();
pollHealth();
loadSettings();
setInterval(pollHealth, 3000);
setInterval(updateState, 1000);
