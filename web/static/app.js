// The live page. Predictions come over the websocket; the picture of each one is fetched by its
// frame number and shown in the same step as its text, so picture and result always match.
// Health is polled every few seconds; the page's state (live, delayed, stale, degraded,
// offline, log in again, model error, camera error, paused) is worked out from both and shown
// plainly, and whatever is no longer live is greyed with its age.
"use strict";

const $ = (id) => document.getElementById(id);
const STALE_MIN_MS = 3000;
const DELAYED_MS = 1500;  // a result that reaches the page this much after it was made is late
const ANNOUNCE_EVERY_MS = 5000;
const LOGIN_AFTER_MS = 5000;  // time to read why before the page goes to the login page

const page = {
  socket: null, retryMs: 500, connected: false,
  health: null, healthFailed: false, healthAt: 0,  // the last health and when it came
  loginNeeded: false,
  shown: null, shownAt: 0,  // the prediction on screen and when it arrived
  arrivedAt: 0, lateMs: 0,  // when the newest prediction arrived (shown or not), how late
  intervalMs: 0,  // how far apart the results shown were made while live (a moving average)
  pending: null, fetching: false, pictureUrl: null,
  paused: false, streaming: false, full: false,
  announced: {text: "", at: 0},
  clock: {low: -Infinity, high: Infinity},  // bounds of the service's clock minus ours, in ms
};

// --- the service's clock -------------------------------------------------------------------
// A prediction's `timestamp` is the service's clock when its picture was taken; the browser's
// clock may differ (a Pi without a real-time clock before NTP has set it, a phone minutes
// off). Judging lateness by arrival instead cannot work: a link that delays every message by
// 5 s keeps the gaps between arrivals exactly as regular as the timestamps. So each health
// answer brings the service's clock (`server_time`), read between our sending the request and
// receiving the answer: the difference of the clocks lies between server_time - received and
// server_time - sent. Successive answers narrow these bounds; the offset used is the one
// nearest zero within them, so clocks that agree as far as can be told are taken to agree and
// a slow link (which widens the bounds but keeps zero inside) cannot hide its own delay. When
// an answer no longer fits the bounds, a clock was set: the bounds start afresh from it.
function learnClock(serverTimeS, sentAt, receivedAt) {
  const low = serverTimeS * 1000 - receivedAt, high = serverTimeS * 1000 - sentAt;
  const c = page.clock;
  if (low > c.high || high < c.low) [c.low, c.high] = [low, high];
  else [c.low, c.high] = [Math.max(c.low, low), Math.min(c.high, high)];
}

function serverNow() {
  const c = page.clock;
  return Date.now() + Math.min(Math.max(0, c.low), c.high);
}

// How long ago (ms) the service made prediction `p`: its picture's capture time (taken when the
// capture ended) plus the time it took to classify.
function madeAgo(p) {
  const t = p.timings_ms || {};
  const made = p.timestamp * 1000 + Math.max(0, (t.total || 0) - (t.capture || 0));
  return Math.max(0, serverNow() - made);
}

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
  const state = document.body.dataset.state;
  if (page.shown && (state === "live" || state === "degraded")) {  // no gap of a pause or outage
    const gap = (p.timestamp - page.shown.timestamp) * 1000;
    if (gap > 0) page.intervalMs = page.intervalMs ? 0.75 * page.intervalMs + 0.25 * gap : gap;
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
  page.arrivedAt = Date.now();
  page.lateMs = p.lateMs = madeAgo(p);  // how late it came (fetching its picture adds more)
  if (page.paused) return;
  page.pending = p;
  showNext();
}

// The picture of a prediction, or for a late one whose picture the service no longer keeps
// (it keeps the last few classified pictures only: holding seconds of them would cost a Pi
// tens of MB), the newest picture, named by its own frame number. An on-time prediction whose
// picture is gone is skipped: a newer one is on its way.
async function fetchPicture(p) {
  const response = await fetch("/preview/" + p.frame + ".jpg", {cache: "no-store"});
  if (response.ok) return {blob: await response.blob(), frame: p.frame};
  if (response.status === 404 && p.lateMs > DELAYED_MS) {
    const newest = await fetch("/snapshot.jpg", {cache: "no-store"});
    if (newest.ok) return {blob: await newest.blob(), frame: Number(newest.headers.get("X-Frame"))};
  }
  if (response.status === 401) needLogin();
  throw new Error("picture " + response.status);
}

async function showNext() {
  if (page.fetching || !page.pending) return;
  const p = page.pending;
  page.pending = null;
  page.fetching = true;
  try {
    const picture = await fetchPicture(p);
    const url = URL.createObjectURL(picture.blob);
    const img = new Image();
    img.src = url;
    await img.decode();
    if (!page.paused) {
      swapPicture(img, url, picture.frame);
      notePicture(picture.frame === p.frame ? "" : "Picture of frame " + picture.frame +
        ", newer than the result (frame " + p.frame + "): the result came too late for its own");
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

function notePicture(text) {
  const note = $("picture-note");
  note.textContent = text;
  note.hidden = !text;
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
  notePicture("");
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

// --- what went wrong, in words ---------------------------------------------------------------
// The service reports a model failure in words with its kind (`error_kind`), a camera failure
// in words. This is the one place that turns them into what happened and what to do; the
// service's own sentence stays one click away.

function sentence(text) {
  text = text.trim();
  return text && !/[.!?]$/.test(text) ? text + "." : text;
}

const GPU_ADVICE = "On a Raspberry Pi, check that the service may use the GPU (the 'render' " +
  "group) and that the vc4 driver is loaded (dtoverlay=vc4-kms-v3d), then restart the service.";
const RESTART = "then restart the service (sudo systemctl restart shadercam).";

const MODEL_PROBLEMS = {
  ModelError: (m) => ({
    what: "The model file " + m.path + " cannot be used: it is damaged or truncated " +
      "(an interrupted download or copy), or it is not a ShaderCam model.",
    todo: "Install it again with shadercam model install " + m.name + ", " + RESTART}),
  FileNotFoundError: (m) => ({
    what: "The model file " + m.path + " is missing.",
    todo: "Install a model with shadercam model install dog_classifier (or set model.path), " +
      RESTART}),
  PermissionError: (m) => ({
    what: "The service may not read the model file " + m.path + ".",
    todo: "Make it readable by the service's user, " + RESTART}),
  GPURefused: (m, message) => ({
    what: "The GPU was not trusted with the model: " + sentence(message),
    todo: GPU_ADVICE}),
  EGLError: () => ({what: "The GPU could not be opened for the model.", todo: GPU_ADVICE}),
  GLError: () => ({what: "The GPU failed while setting up the model.", todo: GPU_ADVICE}),
};
MODEL_PROBLEMS.ProfileError = MODEL_PROBLEMS.ModelError;

function explainModel(model) {
  const explain = MODEL_PROBLEMS[model.error_kind] || (() => ({
    what: "The model could not be started.",
    todo: "The service's log tells more (journalctl -u shadercam); " + RESTART}));
  return {...explain(model, model.error || ""), detail: model.error || ""};
}

function explainCamera(cam) {
  const picamera = cam.source === "picamera2";
  let what;
  if (cam.state === "stalled") {
    what = "The camera has stopped sending pictures: " + sentence(cam.error || "no frame");
  } else if (cam.error) {
    what = (picamera ? "The camera cannot be used: " : "The pictures cannot be read: ") +
      sentence(cam.error);
  } else {
    what = sentence("No pictures from " + cam.source);
  }
  const todo = cam.state === "stalled"
    ? "If it lasts, restart the service; a camera driver that hangs again needs a reboot."
    : picamera
      ? "Check the camera's ribbon cable and that rpicam-hello --list-cameras lists it."
      : "Put pictures or a video there, or change camera.source in the configuration.";
  return {what, todo, detail: cam.error || cam.source + ": " + cam.state};
}

// Outputs that fail make the service degraded while results still come: name each.
const OUTPUT_NAMES = {mqtt: "MQTT", webhooks: "Webhooks", events: "Event history",
                      websocket: "Websocket", metrics: "Metrics"};

function degradedCauses(h) {
  return Object.entries(h.outputs || {})
    .filter(([, o]) => o.state === "error")
    .map(([name, o]) => {
      const why = o.error || (o.urls || []).map((u) => u.error).filter(Boolean).join("; ");
      return {name: OUTPUT_NAMES[name] || name, why: why || "not working"};
    });
}

// --- health and the page's state -----------------------------------------------------------

function renderHealth(h) {
  page.health = h;
  page.healthAt = Date.now();
  const model = h.model;
  $("model").textContent = model.name + (model.classes ? " (" + model.classes + " classes)" : "");
  const gl = h.gl || {};
  if (gl.renderer) $("renderer").textContent = gl.renderer + (gl.software ? " (software)" : "");
  const gpu = $("gpu-banner");
  gpu.hidden = !gl.software;
  gpu.textContent = gl.software ? "Software GPU: " + gl.renderer + " does the work on the CPU, " +
    "so results come slowly. On a Pi, check that the service may use the GPU " +
    "(the 'render' group) and that the vc4 driver is loaded." : "";
  $("model-banner").hidden = model.state !== "error";
  if (model.state === "error") {
    const words = explainModel(model);
    $("model-what").textContent = words.what;
    $("model-todo").textContent = words.todo;
    $("model-detail").textContent = words.detail;
  }
  const cam = h.camera;
  const rate = cam.state === "running" && cam.fps ? " at " + cam.fps + " fps" : "";
  $("camera").textContent = cam.source + ": " + cam.state + rate;
  const problem = cam.state === "retrying" || cam.state === "stalled";
  $("camera-overlay").hidden = !problem;
  if (problem) {
    const words = explainCamera(cam);
    $("camera-what").textContent = words.what;
    $("camera-todo").textContent = words.todo;
    $("camera-detail").textContent = words.detail;
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

// Four of the intervals results were made at while they came. Not health's fps: a rate over the
// last few seconds, it falls once results stop, putting "stale" off the longer they stay away.
function staleAfterMs() {
  return Math.max(STALE_MIN_MS, 4 * page.intervalMs);
}

function updateState() {
  const h = page.health;
  const age = page.shown ? madeAgo(page.shown) / 1000 : null;  // by the service's clock
  const arriving = Date.now() - page.arrivedAt <= staleAfterMs();
  const causes = h && h.status === "degraded" ? degradedCauses(h) : [];
  let state, text, kind;
  if (page.loginNeeded) {
    [state, text, kind] = ["login", "Log in again", "bad"];
  } else if (!page.connected && page.full) {
    [state, text, kind] = ["full", "Viewer limit reached", "warn"];
  } else if (!page.connected && (page.healthFailed || page.shown)) {
    [state, text, kind] = ["offline", "Offline", "bad"];
  } else if (page.paused) {
    [state, text, kind] = ["paused", "Paused", "wait"];
  } else if (h && h.model.state === "error") {
    [state, text, kind] = ["model-error", "Model error", "bad"];
  } else if (h && (h.camera.state === "retrying" || h.camera.state === "stalled")) {
    [state, text, kind] = ["camera-error", "Camera problem", "bad"];
  } else if (page.shown && arriving && page.lateMs > DELAYED_MS) {
    [state, text, kind] = ["delayed", "Delayed", "warn"];
  } else if (page.shown && age * 1000 > staleAfterMs()) {
    [state, text, kind] = ["stale", "Stale", "warn"];
  } else if (page.shown && causes.length) {
    [state, text, kind] = ["degraded", "Degraded: " + causes.map((c) => c.name).join(", "),
                           "warn"];
  } else if (page.shown) {
    [state, text, kind] = ["live", "Live", "ok"];
  } else {
    [state, text, kind] = ["starting", page.connected ? "Starting" : "Connecting…", "wait"];
  }
  if (document.body.dataset.state !== state || $("status").textContent !== text) {
    document.body.dataset.state = state;
    setStatus(text, kind);
    if (state !== "live") announce(text);
  }
  $("status").title = causes.map((c) => c.name + ": " + c.why).join("\n");
  showAges(state, age);
  $("result-state").textContent = state === "delayed"
    ? "Delayed: results reach this page " + formatDuration(page.lateMs / 1000) + " late"
    : text;
  if (!page.shown && state === "model-error") $("best").textContent = "No results: the model " +
    "is not running (see above)";
  const offline = $("offline-banner");
  offline.hidden = state !== "offline";
  offline.textContent = state === "offline" ? "Offline: the service does not answer. " +
    "Reconnecting… The result shown is " + (age === null ? "none" : formatDuration(age) + " old") +
    "." : "";
  const degraded = $("degraded-banner");
  degraded.hidden = state !== "degraded";
  degraded.textContent = state === "degraded" ? "Results are live, but " +
    causes.map((c) => c.name + ": " + sentence(c.why)).join(" ") : "";
  $("login-banner").hidden = state !== "login";
  $("full-banner").hidden = state !== "full";
}

// Whatever is not live is greyed and says how old it is: the result and its picture when
// they are old, fps and uptime when the health they come from is.
function showAges(state, age) {
  const resultOld = ["offline", "login", "full", "stale", "delayed", "camera-error"]
    .includes(state);
  const healthOld = ["offline", "login", "full"].includes(state);
  $("results").classList.toggle("old", resultOld);
  $("picture").classList.toggle("old", resultOld && !page.streaming);
  $("age").textContent = page.shown && (resultOld || state === "paused")
    ? "· result from " + ago(age) : "";
  const healthAge = page.healthAt ? (Date.now() - page.healthAt) / 1000 : null;
  for (const name of ["fps", "uptime"]) {
    $(name + "-figure").classList.toggle("old", healthOld || (name === "fps" && resultOld));
    $(name + "-age").textContent = healthOld && healthAge !== null ? "as of " + ago(healthAge) : "";
  }
}

function formatDuration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? h + " h " + m + " min" : m ? m + " min " + Math.floor(s % 60) + " s" : Math.floor(s) + " s";
}

// "12 s ago", "3 min ago", "2 h 5 min ago": an age read at a glance.
function ago(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h ? h + " h " + m + " min" : m ? m + " min" : Math.floor(s) + " s") + " ago";
}

// The service no longer takes this browser's login (its token was changed): say so, then go to
// the login page, which brings the browser back here.
function needLogin() {
  if (page.loginNeeded) return;
  page.loginNeeded = true;
  const back = location.pathname + location.search;
  const link = $("login-link");
  link.href = "/login?next=" + encodeURIComponent(back);
  $("login-what").textContent = "The service no longer accepts this browser's login: its " +
    "access token has changed. Taking you to the login page…";
  updateState();
  setTimeout(() => location.assign(link.href), LOGIN_AFTER_MS);
}

async function pollHealth() {
  try {
    const sentAt = Date.now();
    const response = await fetch("/api/health", {cache: "no-store"});
    const receivedAt = Date.now();
    page.healthFailed = false;
    if (response.ok || response.status === 503) {
      const health = await response.json();
      if (!health.model) {  // the answer the service gives a browser without a valid login
        needLogin();
        return;
      }
      learnClock(health.server_time, sentAt, receivedAt);
      renderHealth(health);
      document.dispatchEvent(new CustomEvent("shadercam:health", {detail: health}));
    }
  } catch (e) {
    page.healthFailed = true;
    updateState();
  }
}

const FULL_RETRY_MS = 10000;  // the banner says so

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
    if (!page.full) pollHealth();  // offline, or refused for a login that no longer counts?
    updateState();
    setTimeout(connect, page.full ? FULL_RETRY_MS : page.retryMs);
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
    if (response.status === 401) needLogin();
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
