// The genrekit page: send the picked song to v1/predict and draw what comes back. Addresses
// are relative, so the page works behind a proxy that serves it under a sub-path. Whatever the
// service (or a proxy) sends is put on the page as text or properties, never as HTML.
"use strict";

// Hues far apart (two oranges side by side read as one genre on a timeline): Tableau's ten without
// its grey, which "unknown" has, then two dark ones; the PNGs' too (genrekit.predict.song.PALETTE)
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                 "#17becf", "#393b79", "#637939", "#843c39"];
const UNKNOWN = "unknown", UNKNOWN_COLOUR = "#a0a0a0";  // a stretch the music detector hears as not music
const MB = 2 ** 20;  // the service's MB (limits.max_upload_mb) are binary ones
const $ = (id) => document.getElementById(id);

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

function number(x) { return String(+Number(x).toFixed(1)); }  // 50 -> "50", 0.25 -> "0.3"

function duration(seconds) { return seconds < 120 ? `${number(seconds)} s` : `${number(seconds / 60)} min`; }

function megabytes(bytes, total = bytes) {
  const digits = total < 10 * MB ? 1 : 0;
  return (bytes / MB).toFixed(digits);
}

// A limit as the page states it: 50 -> "50", 0.04 -> "0.04" (never "0")
function limit(x) { return x >= 1 ? number(x) : String(+Number(x).toPrecision(2)); }

// A figure beside the limit it exceeds, with as many decimals as it takes to tell them apart
// (50.001 MB is not "50 MB, more than 50 MB"): [figure, limit]
function apart(value, bound) {
  for (let digits = 1; digits <= 6; digits++) {
    const shown = [String(+value.toFixed(digits)), String(+bound.toFixed(digits))];
    if (shown[0] !== shown[1]) return shown;
  }
  return [String(value), String(bound)];
}

// Colours by genre, in a Map: any name is a key ("__proto__" included). The model's genres
// take the palette in their order, then any genre first seen in an answer; past the palette,
// hues a golden angle apart at one lightness, so that no two genres share a colour.
const colours = new Map();

function colourOf(genre) {
  if (genre === UNKNOWN) return UNKNOWN_COLOUR;
  if (!colours.has(genre)) {
    const i = colours.size;
    colours.set(genre, i < PALETTE.length ? PALETTE[i]
      : `hsl(${((i - PALETTE.length) * 137.508 + 20) % 360}deg 70% 40%)`);
  }
  return colours.get(genre);
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

// The model as v1/model describes it (its genres, metrics and the service's limits); null
// until described. A failed description is tried again when an analysis starts.
let model = null;
let describing = null;

function describeModel() {
  if (!describing) describing = fetchModel().finally(() => { describing = null; });
  return describing;
}

function describeLimits(limits) {
  if (!limits || !(limits.max_upload_mb > 0)) return "";
  let text = `Uploads up to ${limit(limits.max_upload_mb)} MB`;
  if (limits.upload_seconds > 0) text += ` (sent within ${duration(limits.upload_seconds)})`;
  if (limits.max_minutes > 0) text += `, ${limit(limits.max_minutes)} min of audio`;
  return text + ".";
}

async function fetchModel() {
  try {
    const response = await fetch("v1/model");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const described = await response.json();
    if (!described || !Array.isArray(described.labels)) throw new Error("not a description of a model");
    for (const label of described.labels) colourOf(label);
    // balanced accuracy where the model records it: every genre weighs alike (the default: grouped CV)
    const metrics = described.metrics || {};
    // the protocol is named: folds grouped by artist say more than a random split (GTZAN knows
    // no artists: the default's folds group blocks of adjacent clip ids, a stand-in for them)
    const evaluation = metrics.evaluation || "";
    const held = /adjacent ids/.test(evaluation)
      ? "in cross-validation with folds grouped by blocks of adjacent clip ids (a stand-in for artists)"
      : /grouped/.test(evaluation) ? "in cross-validation grouped by artist" : "on held-out tracks";
    const accuracy = metrics.balanced_accuracy !== undefined
      ? `, balanced accuracy ${percent(metrics.balanced_accuracy)} ${held}`
      : metrics.accuracy !== undefined ? `, held-out accuracy ${percent(metrics.accuracy)}` : "";
    $("model").textContent = `Model ${described.id} (${described.kind}): ${described.labels.length} ` +
      `genres${accuracy}. ${describeLimits(described.limits)}`;
    model = described;
  } catch (error) {
    if (!model) $("model").textContent = "The model could not be described: is the service running?";
  }
}

function drawTop(result) {
  const list = $("top"), silent = result.unknown_reason === "silent";
  list.replaceChildren();
  // nothing heard: every genre equally probable, no ranking (nor windows to list)
  list.closest("figure").hidden = silent;
  $("chunks").closest("details").hidden = result.timeline.length === 0;
  if (silent) return;
  for (const { genre, probability } of result.top.slice(0, 5)) {
    const bar = el("span", { className: "bar" });
    bar.style.setProperty("width", percent(probability));
    bar.style.setProperty("background", colourOf(genre));
    list.append(el("li", {}, [el("span", { className: "name", textContent: genre }),
                              el("span", { className: "track" }, [bar]),
                              el("span", { className: "value", textContent: percent(probability) })]));
  }
}

function drawProportions(result) {
  const stack = $("proportions"), legend = $("legend");
  stack.replaceChildren();
  legend.replaceChildren();
  const shares = Object.entries(result.proportions).filter(([, share]) => share > 0).sort((a, b) => b[1] - a[1]);
  const shareName = (genre) => genre !== UNKNOWN ? genre : result.unknown_reason === "silent" ? "silent" : "not music";
  for (const [genre, share] of shares) {
    const part = el("span", { title: `${shareName(genre)}: ${percent(share)}` });
    part.style.setProperty("width", percent(share));
    part.style.setProperty("background", colourOf(genre));
    stack.append(part);
    const item = el("li", { textContent: `${shareName(genre)} ${percent(share)}` });
    item.style.setProperty("--swatch", colourOf(genre));
    legend.append(item);
  }
  stack.setAttribute("aria-label", "Proportions: " + shares.map(([g, s]) => `${shareName(g)} ${percent(s)}`).join(", "));
}


function windowLabel(segment) {
  const span = `${clock(segment.start)}–${clock(segment.end)}`;
  if (segment.genre === UNKNOWN && segment.music != null) return `${span}: not music (music ${percent(segment.music)})`;
  return `${span}: ${segment.genre} (${percent(segment.confidence)})`;
}

function median(values) {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b), middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// The windows on the song's time, each from its start (or where the one before it ended) to
// its end. A gap shorter than half the typical window (such as the 80 ms that the default
// model's 6 s windows leave at the end of each 30 s chunk) is given to the window before it;
// a longer one (a silent or mostly quiet stretch, left out of the analysis) stays a gap.
function layOut(result) {
  const slack = median(result.timeline.map((s) => s.end - s.start).filter((length) => length > 0)) / 2;
  const parts = [];  // windows ({from, until, segment}) and gaps ({from, until})
  let reached = result.start;
  // From where the windows so far end to `until`: a gap, or time of the window before (or after)
  // it; gives where the next window starts.
  const fill = (until) => {
    const length = until - reached, last = parts[parts.length - 1];
    if (length <= 0) return reached;
    if (length >= slack && length > 1e-3) parts.push({ from: reached, until });
    else if (last) last.until = until;  // a sliver after a window: that window's
    else return reached;  // a sliver before the first window: that window's
    return until;
  };
  for (const segment of result.timeline) {
    const from = fill(segment.start);
    parts.push({ from, until: Math.max(segment.end, from), segment });
    reached = Math.max(reached, segment.end);
  }
  fill(result.end);
  return parts;
}

// The timeline: one slider over the song's windows. Arrow keys, Home and End choose a window
// (the marker shows which), Enter or Space plays from it; a click plays from the window there.
const timeline = { windows: [], index: 0, start: 0, span: 1 };

function play(segment) {
  const player = $("player");
  player.currentTime = segment.start;
  player.play().catch(() => {});
}

function choose(index) {
  const line = $("timeline"), marker = $("marker"), part = timeline.windows[index];
  timeline.index = index;
  const left = (part.from - timeline.start) / timeline.span, width = (part.until - part.from) / timeline.span;
  marker.style.setProperty("left", `min(${(100 * left).toFixed(4)}%, 100% - 4px)`);
  marker.style.setProperty("width", `${(100 * width).toFixed(4)}%`);
  marker.hidden = false;
  line.setAttribute("aria-valuenow", String(Math.min(Math.max(Math.floor(part.segment.start), timeline.min),
                                                     timeline.max)));
  line.setAttribute("aria-valuetext", windowLabel(part.segment));
}

function windowAt(time) {
  let best = 0, distance = Infinity;
  timeline.windows.forEach((part, i) => {
    const away = time < part.from ? part.from - time : time >= part.until ? time - part.until : 0;
    if (away < distance) { best = i; distance = away; }
  });
  return best;
}

function drawTimeline(result) {
  const line = $("timeline"), track = $("windows"), rows = document.querySelector("#chunks tbody");
  track.replaceChildren();
  rows.replaceChildren();
  const span = Math.max(result.end - result.start, 1e-6);
  const parts = layOut(result);
  for (const part of parts) {
    const node = part.segment
      ? el("span", { className: "window", title: windowLabel(part.segment) })
      : el("span", { className: "gap",
                     title: `${clock(part.from)}–${clock(part.until)}: silent or mostly quiet, not shown` });
    // flex-grow by the share of the song (their sum is 1000, never under 1), from a basis of 0
    node.style.setProperty("flex", `${(1000 * Math.max(part.until - part.from, 0) / span).toFixed(6)} 0 0`);
    if (part.segment) {
      node.style.setProperty("background", colourOf(part.segment.genre));
      // as sure as the step's genre, or, heard as not music, as the detector is of that
      const unheard = part.segment.genre === UNKNOWN && part.segment.music != null;
      node.style.setProperty("opacity", String(0.45 + 0.55 * (unheard ? 1 - part.segment.music : part.segment.confidence)));
    }
    track.append(node);
  }
  for (const segment of result.timeline) {
    rows.append(el("tr", {}, [el("td", { textContent: clock(segment.start) }), el("td", { textContent: clock(segment.end) }),
                              el("td", { textContent: segment.genre === UNKNOWN ? "not music" : segment.genre }),
                              el("td", { textContent: segment.genre === UNKNOWN ? "" : percent(segment.confidence) })]));
  }
  Object.assign(timeline, { windows: parts.filter((part) => part.segment), index: 0, start: result.start, span,
                            min: Math.floor(result.start), max: Math.ceil(result.end) });
  line.setAttribute("aria-valuemin", String(timeline.min));
  line.setAttribute("aria-valuemax", String(timeline.max));
  if (timeline.windows.length) {
    line.tabIndex = 0;
    line.removeAttribute("aria-disabled");
    choose(0);
  } else {
    line.tabIndex = -1;
    line.setAttribute("aria-disabled", "true");
    line.setAttribute("aria-valuenow", String(timeline.min));
    line.setAttribute("aria-valuetext", "no window with sound");
    $("marker").hidden = true;
  }
  $("t-start").textContent = clock(result.start);
  $("t-end").textContent = `${clock(result.end)} (${span.toFixed(0)} s analysed)`;
}

function onTimelineKey(event) {
  const count = timeline.windows.length;
  if (!count || event.altKey || event.ctrlKey || event.metaKey) return;
  const moves = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10 };
  let index;
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    play(timeline.windows[timeline.index].segment);
    return;
  } else if (event.key === "Home") index = 0;
  else if (event.key === "End") index = count - 1;
  else if (Object.prototype.hasOwnProperty.call(moves, event.key)) index = timeline.index + moves[event.key];
  else return;
  event.preventDefault();
  choose(Math.min(Math.max(index, 0), count - 1));
}

function onTimelineClick(event) {
  if (!timeline.windows.length) return;
  const box = $("windows").getBoundingClientRect();
  const share = box.width > 0 ? (event.clientX - box.left) / box.width : 0;
  const index = windowAt(timeline.start + Math.min(Math.max(share, 0), 1) * timeline.span);
  choose(index);
  play(timeline.windows[index].segment);
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
    : styles.length > 0 ? "" : result.unknown_reason === "silent" ? "none: the file is silent"
    : result.unknown_reason === "not music" ? "none: this does not sound like music"
    : "none reached its threshold";
}

function describeVerdict(body) {
  // "unknown": not music, or no genre reached the minimum confidence; the best guess is still shown
  // (silence has none: every genre is equally probable)
  if (body.genre !== "unknown") return `${body.genre} (${percent(body.confidence)})`;
  if (body.unknown_reason === "silent") return "unknown: the file is silent (digital silence throughout)";
  const guess = `best guess ${(body.top[0] || {}).genre}, ${percent(body.confidence)}`;
  return body.unknown_reason === "not music" ? `unknown: this does not sound like music (${guess})`
    : `unknown: not confident enough (${guess})`;
}

// How long the browser says the song is, in seconds: NaN where it cannot tell within 2 s.
function audioSeconds(url) {
  return new Promise((resolve) => {
    const probe = document.createElement("audio");
    const done = (seconds) => {
      clearTimeout(timer);
      probe.removeEventListener("loadedmetadata", loaded);
      probe.removeEventListener("error", failed);
      probe.removeAttribute("src");
      probe.load();
      resolve(seconds);
    };
    const loaded = () => done(probe.duration), failed = () => done(NaN);
    const timer = setTimeout(failed, 2000);
    probe.addEventListener("loadedmetadata", loaded);
    probe.addEventListener("error", failed);
    probe.preload = "metadata";
    probe.src = url;
  });
}

// Why the service would refuse this file, said before it is sent; null where it would not
// (or where the limits, or the file's duration, are unknown here: the service then decides).
async function refusal(file, url) {
  const limits = model && model.limits;
  if (!limits) return null;
  if (limits.max_upload_mb > 0 && file.size > limits.max_upload_mb * MB) {
    const [size, most] = apart(file.size / MB, limits.max_upload_mb);
    return `${file.name} is ${size} MB, more than this service accepts (${most} MB): it was not sent.`;
  }
  if (limits.max_minutes > 0) {
    const seconds = await audioSeconds(url);
    if (Number.isFinite(seconds) && seconds > limits.max_minutes * 60) {
      const most = limits.max_minutes * 60;
      const minutes = (t) => (Math.floor(t) % 60 === 0 ? `${Math.floor(t / 60)} min` : `${clock(t)} min`);
      const [long, bound] = clock(seconds) !== clock(most) ? [minutes(seconds), minutes(most)]
        : apart(seconds, most).map((t) => `${t} s`);
      return `${file.name} is ${long} long, more than this service analyses (${bound}): it was not sent.`;
    }
  }
  return null;
}

function within(promise, milliseconds) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, milliseconds))]);
}

// The latest analysis: a file dropped while another is analysed replaces it, and the earlier
// request is aborted and its answer, should it still come, ignored. Cancel ends it.
let current = null;

function stop() {
  const request = current;
  current = null;
  $("cancel").hidden = true;
  if (request) {
    clearTimeout(request.timer);
    if (request.xhr) request.xhr.abort();
  }
  return request;
}

function finish(request) {
  if (current !== request) return false;
  current = null;
  clearTimeout(request.timer);
  if (document.activeElement === $("cancel")) $("file").focus();
  $("cancel").hidden = true;
  return true;
}

// "Uploading NAME: 12 of 48 MB…", at most once a second (the status is read out), the latest figure last.
function showProgress(request) {
  if (request.timer) return;
  const wait = request.shown + 1000 - Date.now();
  const show = () => {
    request.timer = null;
    if (current !== request || request.phase !== "uploading") return;
    request.shown = Date.now();
    setStatus(`Uploading ${request.file.name}: ${megabytes(request.loaded, request.total)} of ` +
              `${megabytes(request.total)} MB…`);
  };
  if (wait > 0) request.timer = setTimeout(show, wait);
  else show();
}

function answered(request, xhr) {
  const file = request.file, text = xhr.responseText || "";
  const response = { ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, statusText: xhr.statusText };
  const body = parseJSON(text);
  if (!response.ok || body === null) {
    $("player").hidden = true;
    setStatus(`Could not analyse ${file.name} (${response.status} ${response.statusText}): ` +
              describeError(body, text, response) + request.note, true);
    return;
  }
  try {
    $("verdict").textContent = describeVerdict(body);
    drawStyles(body);
    drawTop(body);
    drawProportions(body);
    drawTimeline(body);
    $("result").hidden = false;
  } catch (error) {
    $("result").hidden = true;
    setStatus(`Could not show the analysis of ${file.name}: the answer was not the expected JSON ` +
              `(${error.message}).`, true);
    return;
  }
  const windows = body.timeline.length;
  setStatus(`${file.name}: ${$("verdict").textContent}. ${windows} ${windows === 1 ? "window" : "windows"} with ` +
            `sound, analysed in ${Number(body.seconds).toFixed(1)} s.${request.note}`);
}

function send(request) {
  const file = request.file, xhr = new XMLHttpRequest();
  request.xhr = xhr;
  request.phase = "uploading";
  const form = new FormData();
  // the browser's type is a guess from the name: one it takes for no audio (a .txt) is sent as
  // bytes, for the service to judge by what they hold (and say so, not how to use curl)
  const audioType = /^(audio|video)\/|^application\/(ogg|octet-stream)$/.test(file.type);
  form.append("file", audioType ? file : new Blob([file], { type: "application/octet-stream" }), file.name);
  xhr.open("POST", "v1/predict");
  xhr.upload.addEventListener("progress", (event) => {
    if (current !== request || request.phase !== "uploading") return;
    request.loaded = event.loaded;
    request.total = event.lengthComputable && event.total > 0 ? event.total : file.size;
    showProgress(request);
  });
  xhr.upload.addEventListener("load", () => {
    if (current !== request) return;
    request.phase = "analysing";
    setStatus(`Analysing ${file.name}…`);
  });
  xhr.addEventListener("load", () => { if (finish(request)) answered(request, xhr); });
  xhr.addEventListener("error", () => {
    if (finish(request)) {
      setStatus(`The service did not answer: the connection failed or was closed (${file.name} was not analysed).`,
                true);
    }
  });
  xhr.addEventListener("abort", () => {  // an abort of ours has already let go of the request
    if (finish(request)) setStatus(`The upload of ${file.name} was stopped.`, true);
  });
  setStatus(`Uploading ${file.name}…`);
  request.shown = Date.now();
  xhr.send(form);
}

async function analyse(file, note = "") {
  stop();
  const request = { file, note, xhr: null, timer: null, phase: "checking", shown: 0, loaded: 0, total: file.size };
  current = request;
  $("cancel").hidden = false;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);
  player.hidden = false;
  $("result").hidden = true;
  setStatus(`Reading ${file.name}…`);
  if (!model) await within(describeModel(), 5000);  // the limits, and the genres' colours in order
  if (current !== request) return;
  const refused = await refusal(file, player.src);
  if (current !== request) return;
  if (refused) {
    finish(request);
    setStatus(refused + request.note, true);
    return;
  }
  send(request);
}

function main() {
  describeModel();
  const input = $("file"), drop = $("drop"), line = $("timeline");
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";  // so that choosing the same file again (after an error, say) is a change again
    if (file) analyse(file);
  });
  $("cancel").addEventListener("click", () => {
    const request = stop();
    if (request) setStatus(`Cancelled: ${request.file.name} was not analysed.`);
    input.focus();
  });
  line.addEventListener("keydown", onTimelineKey);
  line.addEventListener("click", onTimelineClick);
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const files = event.dataTransfer.files;
    if (files.length) {
      analyse(files[0], files.length > 1 ? ` (${files.length} files were dropped: only the first, ` +
                                          `${files[0].name}, was analysed; one song at a time)` : "");
    }
  });
  // a file this browser cannot play (a .au the service analyses): no dead player
  $("player").addEventListener("error", () => { $("player").hidden = true; });
}

document.addEventListener("DOMContentLoaded", main);
