// The three-way page: per conflicting part pick mine, theirs or both (or edit the result),
// count what is decided, preview the whole file, then save.
import { api, say, short } from "/static/app.js";

const form = document.getElementById("resolve");
const docx = form.dataset.docx === "1";
const count = Number(form.dataset.count);
const hunks = [...form.querySelectorAll("fieldset.hunk[data-index]")];
const saveBtn = document.getElementById("save");
const decidedEl = document.getElementById("decided");
const out = document.getElementById("save-result");

const sideText = (h, side) => h.querySelector(`pre[data-side="${side}"]`)?.textContent ?? "";
const choice = (h) => h.querySelector('input[type="radio"]:checked')?.value ?? null;

function textFor(h, take) {
  if (take === "ours") return sideText(h, "ours");
  if (take === "theirs") return sideText(h, "theirs");
  if (take === "both") {
    const ours = sideText(h, "ours");
    const theirs = sideText(h, "theirs");
    if (docx && ours && theirs) return `${ours}\n${theirs}`;
    return ours + theirs;
  }
  return "";
}

// A result the user typed differs from what the chosen side gives.
function edited(h) {
  const ta = h.querySelector("textarea.hunk-result");
  if (docx || !ta) return false;
  const take = choice(h);
  if (take === null) return ta.value !== "";
  return ta.value !== textFor(h, take);
}

const decided = (h) => choice(h) !== null || edited(h);

function update() {
  if (count) {
    const n = hunks.filter(decided).length;
    decidedEl.textContent = String(n);
    saveBtn.disabled = n < count;
    for (const h of hunks) h.classList.toggle("decided", decided(h));
  } else {
    saveBtn.disabled = form.querySelector('input[name="take"]:checked') === null;
  }
}

function choose(h, take) {
  const radio = h.querySelector(`input[type="radio"][value="${take}"]`);
  if (radio) radio.checked = true;
  const ta = h.querySelector("textarea.hunk-result");
  if (ta) {
    ta.value = textFor(h, take);
    ta.rows = Math.min(20, Math.max(3, ta.value.split("\n").length + 1));
  }
}

form.addEventListener("change", (e) => {
  const h = e.target.closest("fieldset.hunk[data-index]");
  if (h && e.target.matches('input[type="radio"]')) choose(h, e.target.value);
  update();
});
form.addEventListener("input", update);
for (const b of form.querySelectorAll("button[data-all]")) {
  b.addEventListener("click", () => {
    for (const h of hunks) choose(h, b.dataset.all);
    update();
  });
}

// The whole file as the page would save it: unchanged parts plus each part's result. A Word
// document is settled part by part in the document itself: its preview lists the choices.
function assemble() {
  if (docx) {
    return hunks.map((h) => {
      const where = h.dataset.where ? `${h.dataset.where}: ` : "";
      const value = h.querySelector("textarea.hunk-result").value;
      return `${where}${value === "" ? "(not decided)" : value}`;
    }).join("\n");
  }
  const parts = [];
  for (const el of form.querySelectorAll("pre[data-same], fieldset.hunk[data-index]")) {
    if (el.matches("pre")) parts.push(el.textContent);
    else parts.push(el.querySelector("textarea.hunk-result").value);
  }
  return parts.join("");
}

document.getElementById("preview")?.addEventListener("click", () => {
  const box = document.getElementById("preview-out");
  document.getElementById("preview-text").textContent = assemble();
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
});

function base64(text) {
  return base64Bytes(new TextEncoder().encode(text));
}

function base64Bytes(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const resolveUrl = () => `/api/folders/${encodeURIComponent(form.dataset.folder)}/conflicts/` +
  `${encodeURIComponent(form.dataset.conflict)}/resolve`;

function saved(c) {
  out.replaceChildren();
  out.append(c ? `Saved as version ${short(c.id)}: ${c.summary}. ` : "Saved. ",
    "It syncs to every device. ");
  const back = document.createElement("a");
  back.href = "/conflicts";
  back.textContent = "Back to the conflicts";
  out.append(back);
  form.classList.add("saved");
  saveBtn.disabled = true;
  say("Conflict resolved");
}

// A Word document finished in Word comes back whole.
document.getElementById("upload-form")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = document.getElementById("upload").files[0];
  if (!file) return;
  const btn = e.target.querySelector("button");
  btn.disabled = true;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const data = await api("POST", resolveUrl(), { content_base64: base64Bytes(bytes) });
    saved(data?.commit);
  } catch (err) {
    out.textContent = `Could not save: ${err.message}`;
    btn.disabled = false;
  }
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  let body;
  if (!count) body = { take: form.querySelector('input[name="take"]:checked').value };
  else if (hunks.some(edited)) body = { content_base64: base64(assemble()) };
  else body = { hunks: hunks.map((h) => ({ index: Number(h.dataset.index), take: choice(h) })) };
  saveBtn.disabled = true;
  try {
    const data = await api("POST", resolveUrl(), body);
    saved(data?.commit);
  } catch (err) {
    out.textContent = `Could not save: ${err.message}`;
    saveBtn.disabled = false;
  }
});

update();
