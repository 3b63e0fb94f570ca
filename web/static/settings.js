// The settings page: shows the settings in use, sends only what was changed, shows each
// refusal beside its field (the API names the key), and sends the outputs' test messages.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("settings-form");
const inputs = Array.from(form.querySelectorAll("input[name]"));
let current = {};

// Each kind of field as the API has it and as the form shows it.
const toField = {
  list: (value) => value.join(", "),
  table: (value) => Object.entries(value).map(([name, p]) => name + "=" + p).join(", "),
  number: (value) => String(value),
};
const fromField = {
  list: (text) => text.split(",").map((s) => s.trim()).filter(Boolean),
  table: (text) => {
    const table = {};
    for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
      const at = item.lastIndexOf("=");
      // a pair without "=" goes as text: the service refuses it, naming the key
      if (at < 0) return text;
      const number = item.slice(at + 1).trim();
      table[item.slice(0, at).trim()] = number === "" ? number : Number(number);
    }
    return table;
  },
  number: (text) => (text.trim() === "" ? text : Number(text)),
};
const kindOf = (input) => input.dataset.kind;

function show(settings) {
  current = settings;
  $("model-name").textContent = settings.model;
  for (const input of inputs) {
    input.value = toField[kindOf(input)](settings[input.name]);
    input.removeAttribute("aria-invalid");
    $("error-" + input.name).textContent = "";
  }
}

function refusedText(response, answer) {
  if (response.status === 401) return "log in with the service's token first (open the page " +
    "with ?token=…)";
  return answer && answer.detail ? answer.detail : "HTTP " + response.status;
}

async function load() {
  try {
    const response = await fetch("/api/settings", {cache: "no-store"});
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      $("settings-note").textContent = "Cannot read the settings: " + refusedText(response, answer);
      return;
    }
    show(answer);
  } catch (e) {
    $("settings-note").textContent = "Cannot read the settings: the service does not answer.";
  }
}

async function save(event) {
  event.preventDefault();
  const note = $("settings-note");
  const change = {};
  for (const input of inputs) {
    $("error-" + input.name).textContent = "";
    input.removeAttribute("aria-invalid");
    const kind = kindOf(input);
    const value = fromField[kind](input.value);
    const before = fromField[kind](toField[kind](current[input.name]));
    if (JSON.stringify(value) !== JSON.stringify(before)) change[input.name] = value;
  }
  if (!Object.keys(change).length) {
    note.textContent = "Nothing changed.";
    return;
  }
  note.textContent = "Saving…";
  try {
    const response = await fetch("/api/settings", {
      method: "PUT", headers: {"Content-Type": "application/json"}, body: JSON.stringify(change)});
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      for (const problem of (answer && answer.errors) || []) {
        const name = problem.field.replace(/^body\./, "");
        if ($("error-" + name)) {
          $("error-" + name).textContent = problem.problem;
          $("set-" + name).setAttribute("aria-invalid", "true");
        }
      }
      note.textContent = "Not saved: " + refusedText(response, answer);
      return;
    }
    show(answer);
    note.textContent = "Saved: " + Object.keys(change).join(", ") + ".";
  } catch (e) {
    note.textContent = "Not saved: the service does not answer.";
  }
}

async function sendTest(button) {
  const output = button.dataset.output;
  const place = $("result-" + output);
  button.disabled = true;
  place.textContent = "Sending…";
  try {
    const response = await fetch("/api/outputs/" + output + "/test", {method: "POST"});
    const answer = await response.json().catch(() => null);
    place.textContent = "";
    if (!response.ok) {
      place.textContent = "Not sent: " + refusedText(response, answer);
      return;
    }
    const head = document.createElement("span");
    head.className = answer.delivered ? "ok" : "bad";
    head.textContent = answer.delivered ? "Delivered" : "Not delivered";
    const list = document.createElement("ul");
    for (const result of answer.results) {
      const item = document.createElement("li");
      item.textContent = result.target + ": " + (result.delivered ? "delivered" : result.error);
      list.append(item);
    }
    place.append(head, list);
  } catch (e) {
    place.textContent = "Not sent: the service does not answer.";
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", save);
for (const button of document.querySelectorAll("button[data-output]")) {
  button.addEventListener("click", () => sendTest(button));
}
load();
