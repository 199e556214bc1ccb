// The dashboard: folder actions, a live activity feed over SSE, and folder cards that
// follow the daemon's state.
import { api, say, timeEl } from "/static/app.js";

const feed = document.getElementById("feed");
const live = document.getElementById("live");
const MAX_FEED = 50;

// Events the daemon publishes (gitsync/worker.py, gitsync/daemon.py); named SSE events only
// reach listeners registered for their name.
const KINDS = ["committed", "pushed", "push-failed", "received", "merged", "conflict",
  "resolved", "restored", "note", "waiting", "offline", "online", "sync-stopped", "paused",
  "resumed", "skipped", "unreadable", "error", "lock-recovered", "state", "message"];

function cardFor(folder) {
  for (const card of document.querySelectorAll(".card")) {
    if (card.dataset.path === folder || card.dataset.folder === folder) return card;
  }
  return null;
}

function folderName(folder) {
  const card = cardFor(folder);
  const h = card?.querySelector("h3");
  if (h) return h.textContent.trim();
  return String(folder).split("/").filter(Boolean).pop() ?? String(folder);
}

// "laptop: edited report.docx" reads as "laptop edited report.docx".
// "1 file(s) updated from desktop" names the files when there are few.
function line(ev) {
  const msg = String(ev.message ?? "");
  if (ev.kind === "committed") return msg.replace(/^([^:\s]+): /, "$1 ");
  const files = Array.isArray(ev.data?.files) ? ev.data.files.map(String) : [];
  const from = msg.match(/ from (.+)$/);
  if ((ev.kind === "received" || ev.kind === "merged") && from && files.length &&
      files.length <= 3) {
    return `${from[1]} ${ev.kind === "merged" ? "changed (merged)" : "changed"} ${files.join(", ")}`;
  }
  return msg;
}

function addFeed(ev) {
  feed.querySelector(".empty")?.remove();
  const li = document.createElement("li");
  li.className = `kind-${String(ev.kind).replace(/[^a-z-]/g, "")}`;
  if (ev.needs_user) li.classList.add("needs-user");
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = line(ev);
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.append(`${folderName(ev.folder)} · `, timeEl(ev.time ?? Date.now() / 1000));
  li.append(what, " ", meta);
  feed.prepend(li);
  while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
}

function setField(card, name, value, { hideRow = false } = {}) {
  const el = card.querySelector(`[data-field="${name}"]`);
  if (!el) return;
  if (value instanceof Node) el.replaceChildren(value);
  else el.textContent = value ?? "";
  const row = hideRow ? card.querySelector(`[data-row="${name}"]`) : el;
  if (row) row.hidden = value === null || value === undefined || value === "";
}

function updateCard(f) {
  const card = cardFor(f.id);
  if (!card) return;
  card.className = card.className.replace(/\bstate-\S+/, "").trim() + ` state-${f.state}`;
  card.querySelector('[data-field="state"]').textContent = f.state;
  setField(card, "state_reason", f.state_reason);
  setField(card, "last_error", f.last_error);
  setField(card, "pending", String(f.pending));
  if (f.conflicts) {
    const a = document.createElement("a");
    a.href = "/conflicts";
    a.textContent = String(f.conflicts);
    setField(card, "conflicts", a);
  } else setField(card, "conflicts", "0");
  if (f.last_commit) {
    const frag = document.createDocumentFragment();
    const dev = document.createElement("span");
    dev.className = "device";
    dev.textContent = f.last_commit.device ?? f.last_commit.author;
    frag.append(timeEl(f.last_commit.time), " by ", dev);
    setField(card, "last_commit", frag);
  }
  setField(card, "offline_since", f.offline_since ? timeEl(f.offline_since) : null,
    { hideRow: true });
  const toggle = card.querySelector('[data-action="pause"], [data-action="resume"]');
  if (toggle) {
    const verb = f.paused ? "resume" : "pause";
    toggle.dataset.action = verb;
    toggle.textContent = f.paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-label", `${f.paused ? "Resume" : "Pause"} ${folderName(f.id)}`);
  }
}

let refreshTimer = null;
async function refreshCards() {
  try {
    const data = await api("GET", "/api/folders");
    for (const f of data.folders) updateCard(f);
  } catch (e) {
    live.textContent = "offline";
  }
}
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshCards, 300);
}

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  const card = btn.closest(".card");
  const id = card.dataset.folder;
  const action = btn.dataset.action;
  btn.disabled = true;
  try {
    await api("POST", `/api/folders/${encodeURIComponent(id)}/${action}`);
    say(`${folderName(id)}: ${action === "sync" ? "synced" : action + "d"}`);
  } catch (err) {
    say(`${folderName(id)}: ${err.message}`);
  } finally {
    btn.disabled = false;
    refreshCards();
  }
});

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { live.textContent = "live"; live.classList.add("on"); });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; live.classList.remove("on"); });
  const onEvent = (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch { return; }
    if (!ev || typeof ev !== "object") return;
    addFeed(ev);
    if (["pushed", "received", "merged", "online"].includes(ev.kind)) {
      const card = cardFor(ev.folder);
      if (card) setField(card, "last_sync", timeEl(ev.time ?? Date.now() / 1000));
    }
    refreshSoon();
  };
  for (const kind of KINDS) es.addEventListener(kind, onEvent);
}

connect();
setInterval(refreshCards, 30000);
