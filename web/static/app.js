// Shared by every page: calls to /api/* with the CSRF header, relative times that keep
// updating, and a status line. Data from other devices only ever reaches the page through
// textContent, never as HTML.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {}

export async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) {
    const msg = data?.error?.message ?? `${resp.status} ${resp.statusText}`;
    throw new ApiError(msg);
  }
  return data;
}

export function relTime(ts, now = Date.now() / 1000) {
  if (ts === null || ts === undefined) return "never";
  const d = Math.max(0, Math.floor(now - ts));
  if (d < 60) return `${d} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

export function timeEl(ts) {
  const t = document.createElement("time");
  t.dataset.ts = String(ts);
  const date = new Date(ts * 1000);
  t.dateTime = date.toISOString();
  t.title = date.toLocaleString();
  t.textContent = relTime(ts);
  return t;
}

export function tick() {
  const now = Date.now() / 1000;
  for (const t of document.querySelectorAll("time[data-ts]")) {
    const ts = Number(t.dataset.ts);
    if (!Number.isNaN(ts)) t.textContent = relTime(ts, now);
  }
}

export function say(text, el = document.getElementById("toast")) {
  if (!el) return;
  el.textContent = text;
  el.classList.add("shown");
  clearTimeout(el._hide);
  if (el.id === "toast") el._hide = setTimeout(() => el.classList.remove("shown"), 6000);
}

export const short = (id) => (id ?? "").slice(0, 8);

tick();
setInterval(tick, 5000);
