// The genrekit page: send the picked song to v1/predict and draw what comes back. Addresses
// are relative, so the page works behind a proxy that serves it under a sub-path.
"use strict";

const PALETTE = ["#1a5fb4", "#c64600", "#26a269", "#a51d2d", "#613583", "#865e3c", "#e66100", "#2190a4",
                 "#5e5c64", "#98a000", "#c061cb", "#3d3846"];
const $ = (id) => document.getElementById(id);
let colours = {};

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function percent(x) { return `${(100 * x).toFixed(1)}%`; }

function clock(seconds) {
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}

function parseJSON(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" ? value : null;
  } catch (error) {
    return null; // not JSON: a proxy's page, a crash, a cut connection
  }
}

// A readable sentence for any error answer: the service's {"detail": "..."}, else the start
// of whatever text came back (a proxy's or server's plain-text or HTML error).
function describeError(body, text, response) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && body.detail !== undefined) return JSON.stringify(body.detail).slice(0, 300);
  const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  if (plain) return plain.slice(0, 300);
  return response.ok ? "the answer was not the expected JSON" : (response.statusText || "no explanation given");
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function describeModel() {
  try {
    const response = await fetch("v1/model");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const model = await response.json();
    model.labels.forEach((label, i) => { colours[label] = PALETTE[i % PALETTE.length]; });
    // balanced accuracy where the model records it: every genre weighs alike (the default: grouped CV)
    const metrics = model.metrics || {};
    // the protocol is named: folds grouped by artist say more than a random split (GTZAN knows
    // no artists: the default's folds group blocks of adjacent clip ids, a stand-in for them)
    const evaluation = metrics.evaluation || "";
    const held = /adjacent ids/.test(evaluation)
      ? "in cross-validation with folds grouped by blocks of adjacent clip ids (a stand-in for artists)"
      : /grouped/.test(evaluation) ? "in cross-validation grouped by artist" : "on held-out tracks";
    const accuracy = metrics.balanced_accuracy !== undefined
      ? `, balanced accuracy ${percent(metrics.balanced_accuracy)} ${held}`
      : metrics.accuracy !== undefined ? `, held-out accuracy ${percent(metrics.accuracy)}` : "";
    $("model").textContent = `Model ${model.id} (${model.kind}): ${model.labels.length} genres${accuracy}. ` +
      `Uploads up to ${model.limits.max_upload_mb} MB.`;
  } catch (error) {
    $("model").textContent = "The model could not be described: is the service running?";
  }
}

function drawTop(result) {
  const list = $("top");
  list.replaceChildren();
  for (const { genre, probability } of result.top.slice(0, 5)) {
    const bar = el("span", { className: "bar" });
    bar.style.setProperty("width", percent(probability));
    bar.style.setProperty("background", colours[genre] || "#888");
    list.append(el("li", {}, [el("span", { textContent: genre }), el("span", { className: "track" }, [bar]),
                              el("span", { className: "value", textContent: percent(probability) })]));
  }
}

function drawProportions(result) {
  const stack = $("proportions"), legend = $("legend");
  stack.replaceChildren();
  legend.replaceChildren();
  const shares = Object.entries(result.proportions).filter(([, share]) => share > 0).sort((a, b) => b[1] - a[1]);
  for (const [genre, share] of shares) {
    const part = el("span", { title: `${genre}: ${percent(share)}` });
    part.style.setProperty("width", percent(share));
    part.style.setProperty("background", colours[genre] || "#888");
    stack.append(part);
    const item = el("li", { textContent: `${genre} ${percent(share)}` });
    item.style.setProperty("--swatch", colours[genre] || "#888");
    legend.append(item);
  }
  stack.setAttribute("aria-label", "Proportions: " + shares.map(([g, s]) => `${g} ${percent(s)}`).join(", "));
}

function drawTimeline(result) {
  const line = $("timeline"), rows = document.querySelector("#chunks tbody");
  line.replaceChildren();
  rows.replaceChildren();
  const span = Math.max(result.end - result.start, 1e-6);
  // Each window sits at its time: a stretch left out (silent or mostly quiet) is a gap of its length.
  let reached = result.start;
  const gap = (until) => {
    if (until - reached > 1e-3) {
      const blank = el("span", { className: "gap", title: `${clock(reached)}–${clock(until)}: silent or mostly quiet, not shown` });
      blank.style.setProperty("flex", `${until - reached} 0 0`);
      line.append(blank);
    }
  };
  for (const segment of result.timeline) {
    gap(segment.start);
    reached = Math.max(reached, segment.end);
    const label = `${clock(segment.start)}–${clock(segment.end)}: ${segment.genre} (${percent(segment.confidence)})`;
    const button = el("button", { type: "button", title: label, ariaLabel: label });
    button.style.setProperty("flex", `${Math.max(segment.end - segment.start, 0)} 0 0`);
    button.style.setProperty("background", colours[segment.genre] || "#888");
    button.style.setProperty("opacity", String(0.45 + 0.55 * segment.confidence));
    button.addEventListener("click", () => {
      const player = $("player");
      player.currentTime = segment.start;
      player.play().catch(() => {});
    });
    line.append(button);
    rows.append(el("tr", {}, [el("td", { textContent: clock(segment.start) }), el("td", { textContent: clock(segment.end) }),
                              el("td", { textContent: segment.genre }), el("td", { textContent: percent(segment.confidence) })]));
  }
  gap(result.end);
  $("t-start").textContent = clock(result.start);
  $("t-end").textContent = `${clock(result.end)} (${span.toFixed(0)} s analysed)`;
}

// The styles present (at or above their thresholds), most probable first as the service
// sends them; null from a model that gives none (e.g. one on handcrafted features).
function drawStyles(result) {
  const list = $("styles"), note = $("styles-note");
  list.replaceChildren();
  const styles = result.styles && typeof result.styles === "object" ? Object.entries(result.styles) : null;
  for (const [style, probability] of styles || []) {
    list.append(el("li", { textContent: `${style} ${percent(probability)}` }));
  }
  list.hidden = !styles || styles.length === 0;
  note.textContent = styles === null ? "none: this model names genres only"
    : styles.length === 0 ? "none reached its threshold" : "";
}

// The latest analysis: a file dropped while another is analysed replaces it, and the earlier
// request is aborted and its answer, should it still come, ignored.
let current = null;

async function analyse(file) {
  if (current) current.abort();
  const request = new AbortController();
  current = request;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);
  player.hidden = false;
  $("result").hidden = true;
  setStatus(`Analysing ${file.name}…`);
  const form = new FormData();
  form.append("file", file, file.name);
  let response, text;
  try {
    response = await fetch("v1/predict", { method: "POST", body: form, signal: request.signal });
    text = await response.text();
  } catch (error) {
    if (current !== request) return;  // replaced by a later file
    setStatus(`The service did not answer: ${error.message || error}`, true);
    return;
  }
  if (current !== request) return;
  const body = parseJSON(text);
  if (!response.ok || body === null) {
    setStatus(`Could not analyse ${file.name} (${response.status} ${response.statusText}): ` +
              describeError(body, text, response), true);
    return;
  }
  // "unknown": not music, or no genre reached the minimum confidence; the best guess is still shown
  $("verdict").textContent = body.genre === "unknown"
    ? (body.unknown_reason === "not music"
      ? `unknown: this does not sound like music (best guess ${body.top[0].genre}, ${percent(body.confidence)})`
      : `unknown: not confident enough (best guess ${body.top[0].genre}, ${percent(body.confidence)})`)
    : `${body.genre} (${percent(body.confidence)})`;
  drawStyles(body);
  drawTop(body);
  drawProportions(body);
  drawTimeline(body);
  $("result").hidden = false;
  const windows = body.timeline.length;
  setStatus(`${file.name}: ${windows} ${windows === 1 ? "window" : "windows"} with sound, analysed in ` +
            `${body.seconds.toFixed(1)} s.`);
}

function main() {
  describeModel();
  const input = $("file"), drop = $("drop");
  input.addEventListener("change", () => { if (input.files.length) analyse(input.files[0]); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) analyse(event.dataTransfer.files[0]);
  });
}

document.addEventListener("DOMContentLoaded", main);
