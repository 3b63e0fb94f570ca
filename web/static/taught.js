// The live page's taught classifiers: each one's newest result, from the `taught` of the
// predictions that app.js passes on as "shadercam:message". Hidden while none runs.
"use strict";

(() => {
  const panel = document.getElementById("taught-panel");
  const list = document.getElementById("taught");

  function item(name, result) {
    const li = document.createElement("li");
    li.dataset.name = name;
    li.dataset.label = result.uncertain ? "" : result.label;
    li.classList.toggle("uncertain", result.uncertain);
    li.innerHTML = '<div class="name"></div><div class="answer"></div><div class="state"></div>';
    li.querySelector(".name").textContent = name;
    const best = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1])[0];
    li.querySelector(".answer").textContent = result.uncertain
      ? "Uncertain (" + best[0] + "?)"
      : result.label + " · " + Math.round(result.probability * 100) + " %";
    li.querySelector(".state").textContent = result.state === null
      ? "settling…" : "state: " + result.state;
    return li;
  }

  document.addEventListener("shadercam:message", (e) => {
    const message = e.detail;
    if (message.type !== "prediction" || message.origin !== "camera") return;
    const taught = Object.entries(message.taught || {}).sort((a, b) => a[0].localeCompare(b[0]));
    panel.hidden = taught.length === 0;
    list.replaceChildren(...taught.map(([name, result]) => item(name, result)));
  });
})();
