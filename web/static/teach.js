// The Teach page: draw a region on the live picture, create a taught classifier, give it
// examples per class (camera frames, bursts, photos, frames it was unsure of), see the
// refitted accuracy after each change, fix wrong examples, switch it on or off, export or
// delete it. Everything goes through /api/teach.
"use strict";

const $ = (id) => document.getElementById(id);
const PREVIEW_EVERY_MS = 1000;
const LIVE_EVERY_MS = 2000;
const REVIEW_EVERY_MS = 3000;

const teach = {
  classifiers: [], detail: null, open: null,  // the list, and the classifier shown
  draft: [0, 0, 1, 1],  // the region of the next classifier, fractions x, y, w, h
  busy: false, pictureUrl: null, fetchingPicture: false,
  reviewShown: "",  // the ids of the review items shown, so an unchanged queue is not redrawn
};

class ApiError extends Error {}

// One call to the API; its refusal's one sentence becomes the error's message.
async function api(method, url, body) {
  const options = {method, cache: "no-store"};
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers = {"Content-Type": "application/json"};
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    throw new ApiError("the service does not answer");
  }
  if (response.status === 401) throw new ApiError("log in with the service's token first");
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(answer.detail || response.status + " " + response.statusText);
  }
  return answer;
}

function percent(p) {
  return Math.round(p * 100) + " %";
}

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// --- the live picture and the region drawn on it --------------------------------------------

async function refreshPicture() {
  if (teach.fetchingPicture || document.hidden) return;
  teach.fetchingPicture = true;
  try {
    const response = await fetch("/snapshot.jpg", {cache: "no-store"});
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    const img = $("teach-preview");
    img.src = url;
    await img.decode().catch(() => {});
    if (teach.pictureUrl) URL.revokeObjectURL(teach.pictureUrl);
    teach.pictureUrl = url;
  } catch (e) {
    // offline: the last picture stays; the next tick tries again
  } finally {
    teach.fetchingPicture = false;
  }
}

function placeBox(box, region) {
  const [x, y, w, h] = region;
  box.style.left = x * 100 + "%";
  box.style.top = y * 100 + "%";
  box.style.width = w * 100 + "%";
  box.style.height = h * 100 + "%";
  box.hidden = false;
}

function setDraft(region) {
  teach.draft = region;
  const fields = ["region-x", "region-y", "region-w", "region-h"];
  region.forEach((v, i) => { $(fields[i]).value = Math.round(v * 100); });
  const whole = region[0] === 0 && region[1] === 0 && region[2] === 1 && region[3] === 1;
  $("region").hidden = whole;
  if (!whole) placeBox($("region"), region);
}

function draftFromFields() {
  const v = ["region-x", "region-y", "region-w", "region-h"].map((id) => Number($(id).value) / 100);
  const x = Math.min(Math.max(v[0], 0), 0.99), y = Math.min(Math.max(v[1], 0), 0.99);
  setDraft([x, y, Math.min(Math.max(v[2], 0.01), 1 - x), Math.min(Math.max(v[3], 0.01), 1 - y)]);
}

// Mouse, pen and finger alike: pointer events, captured so a drag may leave the picture.
function startDrawing() {
  const area = $("draw");
  let start = null;
  const at = (event) => {
    const r = area.getBoundingClientRect();
    return [Math.min(Math.max((event.clientX - r.left) / r.width, 0), 1),
            Math.min(Math.max((event.clientY - r.top) / r.height, 0), 1)];
  };
  const boxTo = (event) => {
    const [x, y] = at(event);
    return [Math.min(x, start[0]), Math.min(y, start[1]), Math.abs(x - start[0]),
            Math.abs(y - start[1])];
  };
  area.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    start = at(event);
    area.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  area.addEventListener("pointermove", (event) => {
    if (start) placeBox($("region"), boxTo(event));
  });
  const finish = (event) => {
    if (!start) return;
    const box = boxTo(event);
    start = null;
    if (box[2] >= 0.03 && box[3] >= 0.03) setDraft(box.map((v) => Math.round(v * 100) / 100));
    else setDraft(teach.draft);  // a tap, not a drag: the region stays
  };
  area.addEventListener("pointerup", finish);
  area.addEventListener("pointercancel", () => { start = null; setDraft(teach.draft); });
}

// --- the list of classifiers ----------------------------------------------------------------

async function loadList() {
  try {
    const answer = await api("GET", "/api/teach");
    teach.classifiers = answer.classifiers;
    $("list-note").textContent = "";
  } catch (e) {
    $("list-note").textContent = "Could not load the classifiers: " + e.message;
    return;
  }
  $("list-empty").hidden = teach.classifiers.length > 0;
  $("classifiers").replaceChildren(...teach.classifiers.map((c) => {
    const li = element("li");
    li.dataset.name = c.name;
    const button = element("button", "open-classifier");
    button.type = "button";
    button.setAttribute("aria-pressed", String(c.name === teach.open));
    button.append(element("span", "name", c.name), element("span", "summary", summaryOf(c)));
    button.addEventListener("click", () => openClassifier(c.name));
    li.append(button);
    if (!c.error) li.append(runSwitch(c));
    return li;
  }));
}

// On or off, kept by the service; "runs" also needs teach.active to name it.
function runSwitch(c) {
  const label = element("label", "run-switch");
  const toggle = element("input");
  toggle.type = "checkbox";
  toggle.setAttribute("role", "switch");
  toggle.checked = c.enabled;
  toggle.setAttribute("aria-label", "Run " + c.name + " on the camera's frames");
  toggle.addEventListener("change", () => switchClassifier(c.name, toggle));
  label.append(toggle, element("span", "", "Run"));
  return label;
}

async function switchClassifier(name, toggle) {
  toggle.disabled = true;
  try {
    await api("PATCH", "/api/teach/" + encodeURIComponent(name), {active: toggle.checked});
    $("list-note").textContent = (toggle.checked ? "Switched on " : "Switched off ") + name + ".";
  } catch (e) {
    $("list-note").textContent = "Not switched: " + e.message;
  }
  await loadList();
  if (teach.open === name) await loadDetail();
}

function summaryOf(c) {
  if (c.error) return "damaged: " + c.error;
  const accuracy = c.report && c.report.accuracy !== null ? percent(c.report.accuracy) : "–";
  const examples = Object.values(c.counts || {}).reduce((a, b) => a + b, 0);
  return (c.classes || []).length + " classes · " + examples + " examples · accuracy " +
    accuracy + (c.active ? "" : !c.enabled ? " · switched off" : " · not running");
}

async function createClassifier(event) {
  event.preventDefault();
  const note = $("create-note");
  const classes = [...document.querySelectorAll("#create input[name=class]")]
    .map((input) => input.value.trim()).filter((name) => name);
  const body = {name: $("new-name").value.trim(), classes, region: teach.draft};
  note.textContent = "Creating…";
  try {
    await api("POST", "/api/teach", body);
  } catch (e) {
    note.textContent = "Not created: " + e.message;
    return;
  }
  note.textContent = "Created " + body.name + ": now give each class examples.";
  $("create").reset();
  setDraft([0, 0, 1, 1]);
  await openClassifier(body.name);
}

async function importClassifier(file) {
  const form = new FormData();
  form.append("file", file);
  $("list-note").textContent = "Importing " + file.name + "…";
  try {
    const answer = await api("POST", "/api/teach/import", form);
    $("list-note").textContent = "Imported " + answer.name + ".";
    await openClassifier(answer.name);
  } catch (e) {
    $("list-note").textContent = "Not imported: " + e.message;
  }
}

// --- one classifier: its accuracy, its examples per class ----------------------------------

async function openClassifier(name) {
  teach.open = name;
  teach.reviewShown = null;
  await loadDetail();
  await loadReview();
  await loadList();
  $("classifier").scrollIntoView({block: "nearest"});
}

async function loadDetail() {
  if (!teach.open) return;
  try {
    teach.detail = await api("GET", "/api/teach/" + encodeURIComponent(teach.open));
  } catch (e) {
    say("Could not load " + teach.open + ": " + e.message);
    return;
  }
  renderDetail();
}

function say(text) {
  $("teach-note").textContent = text;
}

function renderDetail() {
  const c = teach.detail;
  $("classifier").hidden = false;
  $("classifier-title").textContent = c.name;
  const run = $("classifier-run");
  run.textContent = c.active ? "Running" : c.error ? "Not running"
    : !c.enabled ? "Switched off" : "Not running (teach.active)";
  run.className = "pill " + (c.active ? "pill-ok" : "pill-wait");
  $("classifier-error").hidden = !c.error;
  $("classifier-error").textContent = c.error ? "Damaged: " + c.error : "";
  if (c.region) placeBox($("saved-region"), c.region);
  renderResult(c.result);
  renderReport(c.report);
  $("export").href = "/api/teach/" + encodeURIComponent(c.name) + "/export";
  $("export").download = c.name + ".shadercam-taught.zip";
  $("classes").replaceChildren(...(c.classes || []).map((label) => classBox(c, label)));
}

function renderResult(result) {
  const live = $("live");
  live.classList.toggle("uncertain", !!(result && result.uncertain));
  if (!result) {
    const ready = teach.detail && teach.detail.ready;
    live.textContent = ready ? "waiting for a frame" : "not taught yet";
    live.dataset.label = "";
    return;
  }
  const best = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1])[0];
  live.textContent = result.uncertain
    ? "Uncertain (best guess " + best[0] + ", " + percent(best[1]) + ")"
    : result.label + " · " + percent(result.probability);
  live.dataset.label = result.uncertain ? "" : result.label;
}

function renderReport(report) {
  const accuracy = $("accuracy");
  if (report && report.accuracy !== null) {
    accuracy.textContent = percent(report.accuracy);
    accuracy.dataset.value = report.accuracy;
    $("accuracy-how").textContent = "(" + report.folds + "-fold cross-validation)";
  } else {
    accuracy.textContent = "not yet";
    accuracy.dataset.value = "";
    $("accuracy-how").textContent = "(needs two examples of each class)";
  }
  const advice = report ? report.advice : [];
  $("advice-box").hidden = !(report && report.needs_more_examples);
  $("advice").replaceChildren(...advice.map((line) => element("li", "", line)));
}

function classBox(c, label) {
  const box = element("section", "class-box");
  box.dataset.class = label;
  const head = element("div", "class-head");
  const title = element("h3", "", label);
  const count = (c.counts || {})[label] || 0;
  const recall = c.report && c.report.class_accuracy[label] !== undefined
    ? " · " + percent(c.report.class_accuracy[label]) + " right" : "";
  head.append(title, element("span", "count", count + (count === 1 ? " example" : " examples") +
                                                     recall));
  const controls = element("div", "controls");
  const capture = element("button", "capture", "Capture");
  capture.type = "button";
  capture.setAttribute("aria-label", "Capture one frame as " + label);
  capture.addEventListener("click", () => run(() => captureFrames(label, 1, 0)));
  const burst = element("button", "burst-button", "Burst");
  burst.type = "button";
  burst.setAttribute("aria-label", "Capture a burst of frames as " + label);
  burst.addEventListener("click", () => run(() => captureFrames(
    label, Number($("burst-n").value), Number($("burst-t").value))));
  const upload = element("input", "sr-only");
  upload.type = "file";
  upload.accept = "image/jpeg,image/png";
  upload.multiple = true;
  upload.id = "upload-" + c.classes.indexOf(label);
  const uploadLabel = element("label", "button", "Upload photos…");
  uploadLabel.htmlFor = upload.id;
  upload.addEventListener("change", () => {
    const files = [...upload.files];
    upload.value = "";
    if (files.length) run(() => uploadPhotos(label, files));
  });
  controls.append(capture, burst, upload, uploadLabel);
  const gallery = element("ul", "gallery");
  gallery.append(...c.examples.filter((e) => e.label === label).map((e) => exampleItem(c, e)));
  box.append(head, controls, gallery);
  return box;
}

function exampleItem(c, example) {
  const li = element("li");
  li.dataset.id = example.id;
  const img = element("img");
  img.src = example.thumb;
  img.alt = example.label + ", added " + new Date(example.added * 1000).toLocaleTimeString();
  img.loading = "lazy";
  const relabel = element("select", "relabel");
  relabel.setAttribute("aria-label", "Class of this example");
  relabel.append(...c.classes.map((name) => {
    const option = element("option", "", name);
    option.value = name;
    option.selected = name === example.label;
    return option;
  }));
  relabel.addEventListener("change", () => run(() => changeExample(
    "PATCH", example.id, {label: relabel.value}, "Moved an example to " + relabel.value)));
  const remove = element("button", "remove", "Delete");
  remove.type = "button";
  remove.setAttribute("aria-label", "Delete this example of " + example.label);
  remove.addEventListener("click", () => run(() => changeExample(
    "DELETE", example.id, undefined, "Deleted an example of " + example.label)));
  li.append(img, relabel, remove);
  return li;
}

// One change at a time: buttons wait while one is under way, the note says what happened.
async function run(task) {
  if (teach.busy) {
    say("Wait for the change under way to finish.");
    return;
  }
  teach.busy = true;
  $("classifier").setAttribute("aria-busy", "true");
  try {
    await task();
  } catch (e) {
    say(e.message);
  } finally {
    await loadDetail();
    await loadReview();
    await loadList();
    teach.busy = false;
    $("classifier").removeAttribute("aria-busy");
  }
}

function examplesUrl(label) {
  return "/api/teach/" + encodeURIComponent(teach.open) + "/examples?label=" +
    encodeURIComponent(label);
}

// `count` frames from the camera, spread over `seconds`: one each seconds / count.
async function captureFrames(label, count, seconds) {
  if (!(count >= 1 && count <= 50 && seconds >= 0 && seconds <= 60)) {
    throw new ApiError("a burst is 2 to 50 frames over 1 to 60 seconds");
  }
  const every = count > 1 ? (seconds * 1000) / count : 0;
  for (let i = 0; i < count; i++) {
    const started = Date.now();
    say(count > 1 ? "Capturing " + label + ": " + (i + 1) + " of " + count + "…"
                  : "Capturing " + label + "…");
    const answer = await api("POST", examplesUrl(label));
    renderReport(answer.report);
    const wait = every - (Date.now() - started);
    if (i + 1 < count && wait > 0) await new Promise((done) => setTimeout(done, wait));
  }
  say("Added " + count + (count === 1 ? " frame" : " frames") + " of " + label + ".");
}

async function uploadPhotos(label, files) {
  let added = 0;
  const refused = [];
  for (const file of files) {
    say("Adding " + file.name + " to " + label + "…");
    const form = new FormData();
    form.append("file", file);
    try {
      renderReport((await api("POST", examplesUrl(label), form)).report);
      added += 1;
    } catch (e) {
      refused.push(file.name + ": " + e.message);
    }
  }
  say("Added " + added + (added === 1 ? " photo" : " photos") + " to " + label + "." +
      (refused.length ? " Not added: " + refused.join("; ") : ""));
}

async function changeExample(method, id, body, done) {
  const url = "/api/teach/" + encodeURIComponent(teach.open) + "/examples/" + id;
  renderReport((await api(method, url, body)).report);
  say(done + ".");
}

// --- the review queue: frames it was unsure of, one tap on a class labels one -------------

async function loadReview() {
  if (!teach.open) return;
  const name = teach.open;
  let items;
  try {
    items = (await api("GET", "/api/teach/" + encodeURIComponent(name) + "/review")).items;
  } catch (e) {
    return;  // the next tick tries again
  }
  const shown = name + ":" + items.map((item) => item.id).join(",");
  if (teach.open !== name || shown === teach.reviewShown || !teach.detail) return;
  teach.reviewShown = shown;
  $("review-empty").hidden = items.length > 0;
  $("review-list").replaceChildren(...items.map((item) => reviewItem(teach.detail, item)));
}

function reviewItem(c, item) {
  const li = element("li");
  li.dataset.id = item.id;
  const img = element("img");
  img.src = item.thumb;
  img.alt = "Frame " + item.frame + ", taken for " + item.guess;
  const guess = element("p", "guess", "Guess: " + item.guess + " · " + percent(item.probability));
  const buttons = element("div", "label-as");
  buttons.append(...c.classes.map((label) => {
    const button = element("button", "", label);
    button.type = "button";
    button.dataset.class = label;
    button.setAttribute("aria-label", "Label frame " + item.frame + " as " + label);
    button.addEventListener("click", () => run(() => labelReview(item, label)));
    return button;
  }));
  const dismiss = element("button", "dismiss", "Dismiss");
  dismiss.type = "button";
  dismiss.setAttribute("aria-label", "Dismiss frame " + item.frame);
  dismiss.addEventListener("click", () => run(() => dismissReview(item)));
  li.append(img, guess, buttons, dismiss);
  return li;
}

function reviewUrl(item) {
  return "/api/teach/" + encodeURIComponent(teach.open) + "/review/" + item.id;
}

async function labelReview(item, label) {
  renderReport((await api("POST", reviewUrl(item), {label})).report);
  say("Labelled a frame as " + label + ".");
}

async function dismissReview(item) {
  await api("DELETE", reviewUrl(item));
  say("Dismissed a frame.");
}

async function deleteClassifier() {
  const name = teach.open;
  if (!name || !window.confirm("Delete " + name + " and all its examples?")) return;
  try {
    await api("DELETE", "/api/teach/" + encodeURIComponent(name));
  } catch (e) {
    say("Not deleted: " + e.message);
    return;
  }
  teach.open = teach.detail = null;
  $("classifier").hidden = true;
  $("saved-region").hidden = true;
  $("list-note").textContent = "Deleted " + name + ".";
  await loadList();
}

// The open classifier's newest result, from the service's newest prediction.
async function refreshLive() {
  if (!teach.open || document.hidden) return;
  try {
    const latest = await api("GET", "/api/latest");
    if (latest.taught && teach.open in latest.taught) renderResult(latest.taught[teach.open]);
  } catch (e) {
    // offline or nothing classified yet: the result shown stays
  }
}

$("create").addEventListener("submit", createClassifier);
for (const id of ["region-x", "region-y", "region-w", "region-h"]) {
  $(id).addEventListener("change", draftFromFields);
}
$("whole-frame").addEventListener("click", () => setDraft([0, 0, 1, 1]));
$("delete-classifier").addEventListener("click", deleteClassifier);
$("import").addEventListener("change", (event) => {
  if (event.target.files.length) importClassifier(event.target.files[0]);
  event.target.value = "";
});
startDrawing();
loadList();
refreshPicture();
setInterval(refreshPicture, PREVIEW_EVERY_MS);
setInterval(refreshLive, LIVE_EVERY_MS);
setInterval(() => { if (!teach.busy && !document.hidden) loadReview(); }, REVIEW_EVERY_MS);
