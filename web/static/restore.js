// Restore buttons (folder browser, recently deleted, file history): each carries its folder,
// path and version; a restore is a new commit, so it can be undone.
import { api, say, short } from "/static/app.js";

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button.restore");
  if (!btn) return;
  const { folder, path, rev, then } = btn.dataset;
  const out = document.getElementById("restore-result");
  btn.disabled = true;
  try {
    const data = await api("POST", `/api/folders/${encodeURIComponent(folder)}/restore`,
      { path, rev });
    const c = data?.commit;
    if (then === "file") {
      // Show the new version at the top of the history, with an undo back to what was there.
      const params = new URLSearchParams({ path });
      if (c) {
        params.set("restored", c.id);
        if (c.parents?.length) params.set("undo", c.parents[0]);
      }
      location.assign(`/folders/${encodeURIComponent(folder)}/file?${params}`);
      return;
    }
    const text = c ? `Restored ${path || "the folder"} as version ${short(c.id)}: ${c.summary}`
      : `${path || "The folder"} was already like that; nothing to restore.`;
    say(text, out);
    say(text);
    btn.textContent = "Restored";
  } catch (err) {
    say(`Could not restore ${path}: ${err.message}`, out);
    btn.disabled = false;
  }
});
