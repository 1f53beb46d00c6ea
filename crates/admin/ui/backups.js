// Backups: the list (name, date, type, size, what is in it, where it is), making a full or
// partial one (name, password, add-ons and folders) followed live as a job, uploading a backup
// file with its progress, downloading one, restoring one (all of it or the parts chosen, with
// its password) followed live, and deleting one.

import { get, post, del, upload } from "./api.js";
import { h, replace, errorBox, section, badge, pageTitle, busy, field, checkField, statusLine, confirmDialog, when, nextId } from "./dom.js";
import { jobPanel, runJob } from "./jobs.js";

const enc = encodeURIComponent;
const FOLDERS = [
  ["share", "Share"],
  ["addons/local", "Local add-ons"],
  ["ssl", "SSL"],
  ["media", "Media"],
];

function checkboxes(legendText, name, choices, checked = () => false) {
  const set = h("fieldset", { class: "choices" }, h("legend", { text: legendText }));
  for (const [value, label] of choices) {
    set.append(checkField(label, h("input", { type: "checkbox", name, value, checked: checked(value) })));
  }
  return set;
}

const chosen = (root, name) => [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);

function createSection(addons, mounts, panel, signal, refresh) {
  const errors = errorBox();
  const name = h("input", { type: "text", name: "name", "data-test": "backup-name", autocomplete: "off", placeholder: `Backup ${new Date().toLocaleDateString()}` });
  const password = h("input", { type: "password", name: "password", "data-test": "backup-password", autocomplete: "new-password" });
  const type = h(
    "select",
    { name: "type", "data-test": "backup-type" },
    h("option", { value: "full", text: "Full: everything" }),
    h("option", { value: "partial", text: "Partial: what you choose" }),
  );
  const compressed = h("input", { type: "checkbox", name: "compressed", checked: true });
  const addonChoices = addons.map((addon) => [addon.slug, `${addon.name} (${addon.version})`]);
  const partial = h(
    "div",
    { class: "partial", hidden: true },
    checkField("Home Assistant configuration", h("input", { type: "checkbox", name: "homeassistant", value: "homeassistant", checked: true })),
    addonChoices.length ? checkboxes("Add-ons", "addons", addonChoices, () => true) : h("p", { class: "muted", text: "No add-on is installed." }),
    checkboxes("Folders", "folders", FOLDERS, () => true),
  );
  type.addEventListener("change", () => {
    partial.hidden = type.value !== "partial";
  });
  const backupMounts = mounts.filter((mount) => mount.usage === "backup");
  const location = backupMounts.length
    ? h("select", { name: "location" }, h("option", { value: "", text: "Backup folder" }), backupMounts.map((mount) => h("option", { value: mount.name, text: mount.name })))
    : null;
  const submit = h("button", { type: "submit", class: "primary", "data-test": "create-backup", text: "Create backup" });
  const form = h(
    "form",
    { class: "backup-form", novalidate: true },
    h(
      "div",
      { class: "row-fields" },
      field("Name", name),
      field("Password", password, "Optional. Without it the backup is not encrypted; it cannot be restored without it."),
      field("Type", type),
      location ? field("Location", location) : null,
    ),
    partial,
    checkField("Compressed", compressed),
    errors.el,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, errors, async () => {
      const body = { name: name.value.trim() || name.placeholder, compressed: compressed.checked, background: true };
      if (password.value) body.password = password.value;
      if (location && location.value) body.location = location.value;
      let path = "/backups/new/full";
      if (type.value === "partial") {
        path = "/backups/new/partial";
        body.homeassistant = partial.querySelector('input[name="homeassistant"]').checked;
        body.addons = chosen(partial, "addons");
        body.folders = chosen(partial, "folders");
      }
      const ok = await runJob(panel, `Creating backup "${body.name}"`, `Backup "${body.name}" created`, () => post(path, body), signal);
      if (ok) {
        password.value = "";
        name.value = "";
        refresh();
      }
    });
  });
  return section("Create a backup", form);
}

function uploadSection(panel, refresh) {
  const errors = errorBox();
  const input = h("input", { type: "file", name: "file", accept: ".tar,application/x-tar", "data-test": "upload-backup" });
  const progress = h("progress", { max: "100", value: "0", hidden: true });
  progress.setAttribute("aria-label", "Upload progress");
  const status = statusLine();
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (!file) return;
    errors.clear();
    progress.hidden = false;
    progress.value = 0;
    status.say(`Uploading ${file.name}…`);
    busy(input, errors, async () => {
      try {
        const answer = await upload("/backups/new/upload", file, (fraction) => {
          progress.value = Math.round(fraction * 100);
        });
        progress.value = 100;
        status.say(`Uploaded ${file.name}${answer.slug ? ` as ${answer.slug}` : ""}.`);
        refresh();
      } catch (error) {
        status.say("");
        progress.hidden = true;
        throw error;
      } finally {
        input.value = "";
      }
    });
  });
  return section("Upload a backup", field("Backup file (.tar)", input), progress, errors.el, status.el);
}

function summary(backup) {
  const parts = [];
  if (backup.content?.homeassistant) parts.push("Home Assistant");
  const addons = backup.content?.addons || [];
  if (addons.length) parts.push(`${addons.length} add-on${addons.length === 1 ? "" : "s"}`);
  const folders = backup.content?.folders || [];
  if (folders.length) parts.push(folders.join(", "));
  return parts.join("; ") || "–";
}

async function restore(backup, panel, signal, refresh) {
  const details = await get(`/backups/${enc(backup.slug)}/info`, { signal });
  const password = h("input", { type: "password", name: "password", autocomplete: "off" });
  const full = backup.type === "full";
  const whole = h("input", { type: "checkbox", name: "whole", checked: true });
  const parts = h(
    "div",
    { class: "partial", hidden: full },
    details.homeassistant ? checkField("Home Assistant configuration", h("input", { type: "checkbox", name: "homeassistant", value: "homeassistant", checked: true })) : null,
    (details.addons || []).length
      ? checkboxes("Add-ons", "addons", details.addons.map((a) => [a.slug, `${a.name} (${a.version})`]), () => true)
      : null,
    (details.folders || []).length ? checkboxes("Folders", "folders", details.folders.map((f) => [f, f]), () => true) : null,
  );
  whole.addEventListener("change", () => {
    parts.hidden = whole.checked;
  });
  const body = [
    h("p", { text: `Restore "${backup.name}" from ${when(backup.date)}. What it holds replaces what is here now.` }),
    full ? checkField("Restore everything", whole) : null,
    parts,
    backup.protected ? field("Password", password, "This backup is encrypted.") : null,
  ];
  // The request is made in the dialog, so that a refusal (a wrong password) is shown there.
  let answer = null;
  const confirmed = await confirmDialog({
    title: "Restore this backup?",
    body,
    confirmLabel: "Restore",
    danger: true,
    onConfirm: async () => {
      const payload = { background: true };
      if (backup.protected) payload.password = password.value;
      if (full && whole.checked) {
        answer = await post(`/backups/${enc(backup.slug)}/restore/full`, payload);
        return;
      }
      const homeassistant = parts.querySelector('input[name="homeassistant"]');
      payload.homeassistant = Boolean(homeassistant?.checked);
      payload.addons = chosen(parts, "addons");
      payload.folders = chosen(parts, "folders");
      answer = await post(`/backups/${enc(backup.slug)}/restore/partial`, payload);
    },
  });
  if (!confirmed) return;
  const ok = await runJob(panel, `Restoring "${backup.name}"`, `"${backup.name}" restored`, async () => answer, signal);
  if (ok) refresh();
}

function listSection(list, panel, signal, refresh) {
  const errors = errorBox();
  if (!list.length) return section("Backups", h("p", { class: "muted", text: "There is no backup yet." }), errors.el);
  const sorted = [...list].sort((a, b) => String(b.date).localeCompare(String(a.date)));
  const rows = sorted.map((backup) => {
    const download = h("a", { class: "button small", "data-test": "download", href: `/backups/${enc(backup.slug)}/download`, download: "", text: "Download" });
    download.setAttribute("aria-label", `Download ${backup.name}`);
    const restoreButton = h("button", { type: "button", class: "small", "data-test": "restore", text: "Restore", "aria-label": `Restore ${backup.name}` });
    const remove = h("button", { type: "button", class: "small danger", "data-test": "delete", text: "Delete", "aria-label": `Delete ${backup.name}` });
    const rowErrors = errorBox();
    restoreButton.addEventListener("click", () => busy(restoreButton, rowErrors, () => restore(backup, panel, signal, refresh)));
    remove.addEventListener("click", () =>
      busy(remove, rowErrors, async () => {
        const done = await confirmDialog({
          title: `Delete "${backup.name}"?`,
          body: [h("p", { text: "The backup file is removed from every location it is in." })],
          confirmLabel: "Delete",
          danger: true,
          onConfirm: () => del(`/backups/${enc(backup.slug)}`),
        });
        if (done) refresh();
      }),
    );
    const locations = (backup.locations || [null]).map((l) => l ?? "Backup folder").join(", ");
    return h(
      "tr",
      { "data-test": "backup-row", "data-slug": backup.slug },
      h("th", { scope: "row", "data-label": "Name" }, h("span", { text: backup.name || backup.slug }), backup.protected ? [" ", badge("encrypted")] : null),
      h("td", { "data-label": "Date", text: when(backup.date) }),
      h("td", { "data-label": "Type", text: backup.type }),
      h("td", { "data-label": "Size", text: `${Number(backup.size).toFixed(2)} MB` }),
      h("td", { "data-label": "Content", text: summary(backup) }),
      h("td", { "data-label": "Location", text: locations }),
      h("td", { class: "row-actions" }, h("div", { class: "actions" }, download, restoreButton, remove), rowErrors.el),
    );
  });
  const captionId = nextId("cap");
  return section(
    "Backups",
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "backups responsive", "aria-describedby": captionId },
        h("thead", {}, h("tr", {}, ["Name", "Date", "Type", "Size", "Content", "Location", "Actions"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows),
      ),
    ),
    h("p", { id: captionId, class: "muted small", text: `${list.length} backup${list.length === 1 ? "" : "s"}` }),
    errors.el,
  );
}

export async function render(main, { signal }) {
  const panel = jobPanel();
  const listHolder = h("div");
  const reloadErrors = errorBox();
  const refresh = async () => {
    try {
      const { backups } = await get("/backups", { signal });
      replace(listHolder, listSection(backups || [], panel, signal, refresh));
    } catch (error) {
      if (error.name !== "AbortError") reloadErrors.show(error);
    }
  };
  const [{ backups }, { addons }, mounts] = await Promise.all([
    get("/backups", { signal }),
    get("/addons", { signal }),
    get("/mounts", { signal }).catch(() => ({ mounts: [] })),
  ]);
  replace(listHolder, listSection(backups || [], panel, signal, refresh));
  const reload = h("button", { type: "button", class: "small", text: "Reload" });
  reload.addEventListener("click", () =>
    busy(reload, reloadErrors, async () => {
      await post("/backups/reload", {});
      await refresh();
    }),
  );
  replace(
    main,
    pageTitle("Backups"),
    panel.el,
    h("div", { class: "grid" }, createSection(addons || [], mounts.mounts || [], panel, signal, refresh), uploadSection(panel, refresh)),
    h("div", { class: "toolbar" }, reload),
    reloadErrors.el,
    listHolder,
  );
}
