// Live page: predictions from the websocket, health every few seconds, reconnecting by itself.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let retryMs = 500;
let lastFrameAt = 0;

function setStatus(text, kind) {
  const pill = $("status");
  pill.textContent = text;
  pill.className = "pill pill-" + kind;
}

function renderPrediction(p) {
  const best = $("best");
  best.textContent = p.uncertain ? "uncertain" : p.label;
  best.parentElement.classList.toggle("uncertain", p.uncertain);
  const list = $("topk");
  const items = p.top_k.map((r) => {
    const li = document.createElement("li");
    const pct = (r.probability * 100).toFixed(1) + "%";
    li.innerHTML = '<div class="row"><span class="label"></span><span class="pct"></span></div>' +
      '<div class="track"><div class="fill"></div></div>';
    li.querySelector(".label").textContent = r.label;
    li.querySelector(".pct").textContent = pct;
    li.querySelector(".fill").style.width = pct;
    li.dataset.index = r.index;
    return li;
  });
  list.replaceChildren(...items);
  $("frame").textContent = p.frame;
  if (p.timings_ms && p.timings_ms.total !== undefined) {
    $("latency").textContent = Math.round(p.timings_ms.total);
  }
  lastFrameAt = Date.now();
}

function renderModel(model, gl) {
  $("model").textContent = model.name + (model.classes ? " (" + model.classes + " classes)" : "");
  const error = $("model-error");
  error.hidden = !model.error;
  error.textContent = model.error ? "Model: " + model.error : "";
  if (gl && gl.renderer) {
    $("renderer").textContent = gl.renderer + (gl.software ? " (software: slow)" : "");
  }
}

function renderHealth(h) {
  renderModel(h.model, h.gl);
  const cam = h.camera;
  const rate = cam.state === "running" && cam.fps ? " at " + cam.fps + " fps" : "";
  $("camera").textContent = cam.source + ": " + cam.state + rate;
  const note = $("camera-note");
  note.hidden = cam.state === "running";
  note.textContent = cam.error ? "Camera problem: " + cam.error + " (retrying)" : "";
  $("fps").textContent = h.fps.toFixed(1);
  $("uptime").textContent = formatUptime(h.uptime_s);
  const kinds = {ok: "ok", starting: "wait", degraded: "warn", error: "bad"};
  setStatus(h.status, kinds[h.status] || "wait");
}

function formatUptime(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? h + " h " + m + " min" : m ? m + " min " + Math.floor(s % 60) + " s" : Math.floor(s) + " s";
}

async function pollHealth() {
  try {
    const response = await fetch("/api/health", {cache: "no-store"});
    if (response.ok) {
      const health = await response.json();
      renderHealth(health);
      document.dispatchEvent(new CustomEvent("shadercam:health", {detail: health}));
    }
  } catch (e) {
    setStatus("offline", "bad");
  }
}

function restartPreview() {
  $("preview").src = "/stream.mjpg?t=" + Date.now();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.onopen = () => {
    retryMs = 500;
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    document.dispatchEvent(new CustomEvent("shadercam:message", {detail: message}));
    if (message.type === "hello") {
      renderModel(message.model, message.gl);
      pollHealth();
    } else if (message.type === "prediction") {
      renderPrediction(message);
    }
  };
  socket.onclose = () => {
    setStatus("reconnecting…", "wait");
    setTimeout(() => {
      connect();
      restartPreview();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

$("preview").addEventListener("error", () => setTimeout(restartPreview, 2000));
connect();
setInterval(pollHealth, 3000);
