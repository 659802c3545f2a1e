// StyleGAN-T playground page: every edit schedules one request after a short pause (debounce);
// a newer edit aborts the request in flight, so only the latest image is ever shown.
"use strict";

const DEBOUNCE_MS = 150;
const $ = (id) => document.getElementById(id);
// Exposed for scripts and the browser test: timings[i] = {editToShownMs, serverMs, requestMs};
// pending is true from an edit until the image (or error) for the latest edit is on the page.
const playground = {
  timings: [], shown: 0, errors: 0, pending: false, edits: 0, controller: null, timer: null, lastEditAt: 0, url: null,
  defaultPrompt: "", typed: false,  // until the user types, an empty prompt box means the model's default prompt
};
window.playground = playground;

function promptText() {
  return !playground.typed && !$("prompt").value.trim() ? playground.defaultPrompt : $("prompt").value;
}

function commonParams() {
  return {
    prompt: promptText(),
    psi: Number($("psi").value),
    style: $("style").value,
    noise_mode: $("noise_mode").value,
  };
}

// A number box's text as typed; the server validates it and explains what is wrong.
function numberText(id) {
  return $(id).validity.badInput ? "(not a number)" : $(id).value;
}

function pairParams() {
  const p = { ...commonParams(), seed: numberText("seed") };
  if ($("prompt2").value.trim()) p.prompt2 = $("prompt2").value;
  if (numberText("seed2") !== "") p.seed2 = numberText("seed2");
  return p;
}

function showError(message) {
  playground.errors += 1;
  $("error").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "not generated: fix the input above";
}

async function errorMessage(response) {
  try {
    const data = await response.json();
    return data.error || `HTTP ${response.status}`;
  } catch (e) {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

async function post(path, body, signal) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return { blob: await response.blob(), serverMs: Number(response.headers.get("X-Generation-Ms")) };
}

function download(url, name) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function settled(edit) {
  if (edit === playground.edits) playground.pending = false;
}

async function update() {
  const editAt = playground.lastEditAt;
  const edit = playground.edits;
  if (playground.controller) playground.controller.abort();  // a newer edit supersedes the request in flight
  const controller = new AbortController();
  playground.controller = controller;
  const body = { ...pairParams(), alpha: Number($("alpha").value) };
  const start = performance.now();
  try {
    const { blob, serverMs } = await post("/api/generate", body, controller.signal);
    const url = URL.createObjectURL(blob);
    const next = new Image();  // decode off screen first: a superseded image never reaches the page
    next.src = url;
    await next.decode();
    if (controller.signal.aborted) { URL.revokeObjectURL(url); return; }
    const img = $("image");
    img.src = url;
    await img.decode();
    if (playground.url) URL.revokeObjectURL(playground.url);
    playground.url = url;
    const shownAt = performance.now();
    const timing = { editToShownMs: shownAt - editAt, serverMs, requestMs: shownAt - start };
    playground.timings.push(timing);
    playground.shown += 1;
    img.dataset.shown = String(playground.shown);
    $("error").hidden = true;
    $("save-png").disabled = false;
    $("status").textContent = playground.typed || $("prompt").value.trim()
      ? `generated in ${serverMs.toFixed(0)} ms · shown ${timing.editToShownMs.toFixed(0)} ms after the last edit`
      : `"${body.prompt}" (the model's default prompt): type your own above`;
    settled(edit);
  } catch (err) {
    if (err.name === "AbortError" || controller.signal.aborted) return;
    showError(err.message);
    settled(edit);
  }
}

function schedule() {
  playground.lastEditAt = performance.now();
  playground.edits += 1;
  playground.pending = true;
  $("psi-value").textContent = Number($("psi").value).toFixed(2);
  $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
  clearTimeout(playground.timer);
  playground.timer = setTimeout(update, DEBOUNCE_MS);
}

async function saveGif() {
  const body = { ...pairParams(), frames: numberText("frames"), fps: 12 };
  $("status").textContent = "rendering GIF…";
  try {
    const { blob, serverMs } = await post("/api/gif", body);
    const url = URL.createObjectURL(blob);
    download(url, `stylegan-t-interpolation-seed${body.seed}.gif`);
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $("error").hidden = true;
    $("status").textContent = `GIF rendered in ${serverMs.toFixed(0)} ms`;
  } catch (err) {
    showError(err.message);
  }
}

async function showGrid() {
  const body = { ...commonParams(), seeds: $("grid-seeds").value, cols: 8 };
  try {
    const { blob, serverMs } = await post("/api/grid", body);
    const img = $("grid");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.hidden = false;
    $("error").hidden = true;
    $("grid-status").textContent = `${body.seeds}: generated in ${serverMs.toFixed(0)} ms`;
  } catch (err) {
    showError(err.message);
  }
}

async function showInfo() {
  try {
    const info = await (await fetch("/api/info")).json();
    $("model-info").textContent = `${info.resolution}×${info.resolution} · ${info.source || "model"} · ${info.device}`;
    const side = Math.max(256, Math.min(512, info.resolution * 8));
    $("image").style.width = $("image").style.height = `${side}px`;
    playground.defaultPrompt = info.default_prompt || "";
    if (playground.defaultPrompt) $("prompt").placeholder = playground.defaultPrompt;
  } catch (err) {
    $("model-info").textContent = "model info unavailable";
  }
}

for (const id of ["prompt", "style", "seed", "noise_mode", "psi", "prompt2", "seed2", "alpha"]) {
  $(id).addEventListener("input", schedule);
}
$("prompt").addEventListener("input", () => { playground.typed = true; });
$("random-seed").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 2 ** 31); schedule(); });
$("save-png").addEventListener("click", () => download(playground.url, `stylegan-t-seed${$("seed").value}.png`));
$("save-gif").addEventListener("click", saveGif);
$("show-grid").addEventListener("click", showGrid);
// The first image at once: the typed prompt (a reload keeps it) or the model's default prompt.
showInfo().then(() => { if (promptText().trim()) schedule(); });
