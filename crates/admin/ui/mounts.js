// Network storage mounts: the list with each mount's state, reload and remove; where backups go
// by default; and the form that adds a CIFS or NFS mount, with the API's validation message
// shown under it.

import { get, post, put, del } from "./api.js";
import { h, replace, errorBox, section, badge, pageTitle, busy, field, checkField, statusLine, confirmDialog, nextId } from "./dom.js";

const enc = encodeURIComponent;

function stateBadge(state) {
  if (state === "active") return badge("active", "good");
  if (state === "failed") return badge("failed", "bad");
  return badge(state || "not tried", "warn");
}

function mountsTable(info, refresh, edit) {
  const list = info.mounts || [];
  if (!list.length) return section("Mounts", h("p", { class: "muted", "data-test": "no-mounts", text: "No mount yet." }));
  const rows = list.map((mount) => {
    const errors = errorBox();
    const reload = h("button", { type: "button", class: "small", "data-test": "reload-mount", text: "Reload" });
    reload.setAttribute("aria-label", `Reload ${mount.name}`);
    const change = h("button", { type: "button", class: "small", "data-test": "edit-mount", text: "Edit" });
    change.setAttribute("aria-label", `Edit ${mount.name}`);
    change.addEventListener("click", () => edit(mount));
    const remove = h("button", { type: "button", class: "small danger", "data-test": "remove-mount", text: "Remove" });
    remove.setAttribute("aria-label", `Remove ${mount.name}`);
    reload.addEventListener("click", () =>
      busy([reload, remove], errors, async () => {
        await post(`/mounts/${enc(mount.name)}/reload`, {});
        await refresh();
      }),
    );
    remove.addEventListener("click", async () => {
      const done = await confirmDialog({
        title: `Remove the mount "${mount.name}"?`,
        body: [h("p", { text: "It is unmounted and forgotten; the files on the server stay." })],
        confirmLabel: "Remove",
        danger: true,
        onConfirm: () => del(`/mounts/${enc(mount.name)}`),
      });
      if (done) await refresh();
    });
    const source = mount.type === "cifs" ? `//${mount.server}/${mount.share ?? ""}` : `${mount.server}:${mount.path ?? ""}`;
    return h(
      "tr",
      { "data-test": "mount", "data-name": mount.name },
      h("th", { scope: "row", "data-label": "Name" }, h("span", { text: mount.name }), info.default_backup_mount === mount.name ? [" ", badge("default for backups")] : null),
      h("td", { "data-label": "Use", text: mount.usage }),
      h("td", { "data-label": "Type", text: mount.type + (mount.read_only ? " (read only)" : "") }),
      h("td", { "data-label": "Source", class: "wrap", text: source }),
      h("td", { "data-label": "State", "data-test": "mount-state" }, stateBadge(mount.state)),
      h("td", { "data-label": "Seen at", class: "wrap", text: mount.user_path || "–" }),
      h("td", { class: "row-actions" }, h("div", { class: "actions" }, reload, change, remove), errors.el),
    );
  });
  const captionId = nextId("cap");
  return section(
    "Mounts",
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "responsive", "aria-describedby": captionId },
        h("thead", {}, h("tr", {}, ["Name", "Use", "Type", "Source", "State", "Seen at", "Actions"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows),
      ),
    ),
    h("p", { id: captionId, class: "muted small", text: `${list.length} mount${list.length === 1 ? "" : "s"}` }),
  );
}

function optionsSection(info, refresh) {
  const backups = (info.mounts || []).filter((m) => m.usage === "backup");
  const select = h(
    "select",
    { name: "default_backup_mount", "data-test": "default-backup-mount" },
    h("option", { value: "", text: "The backup folder", selected: !info.default_backup_mount }),
    backups.map((m) => h("option", { value: m.name, text: m.name, selected: info.default_backup_mount === m.name })),
  );
  const errors = errorBox("form-error");
  const status = statusLine();
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-mount-options", text: "Save" });
  const form = h("form", { class: "inline-form", novalidate: true }, field("Backups go to", select), save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, errors, async () => {
      await post("/mounts/options", { default_backup_mount: select.value || null });
      status.say("Default backup location saved.");
      await refresh();
    });
  });
  return section("Default backup location", form, errors.el, status.el);
}

// One form for a new mount and for changing one: editing fills it from the mount and sends the
// whole configuration with PUT, as the API takes it (the password is never read back, so a CIFS
// mount with credentials needs it typed again).
function mountForm(refresh) {
  const name = h("input", { name: "name", required: true, autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9_]+", "data-test": "mount-name" });
  const usage = h(
    "select",
    { name: "usage", "data-test": "mount-usage" },
    ["backup", "media", "share"].map((u) => h("option", { value: u, text: u })),
  );
  const type = h(
    "select",
    { name: "type", "data-test": "mount-type" },
    h("option", { value: "cifs", text: "CIFS / Samba" }),
    h("option", { value: "nfs", text: "NFS" }),
  );
  const server = h("input", { name: "server", required: true, autocomplete: "off", spellcheck: "false", "data-test": "mount-server" });
  const port = h("input", { name: "port", type: "number", min: "1", max: "65535", inputmode: "numeric", "data-test": "mount-port" });
  const share = h("input", { name: "share", autocomplete: "off", spellcheck: "false", "data-test": "mount-share" });
  const path = h("input", { name: "path", autocomplete: "off", spellcheck: "false", "data-test": "mount-path" });
  const username = h("input", { name: "username", autocomplete: "off", "data-test": "mount-username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", "data-test": "mount-password" });
  const version = h(
    "select",
    { name: "version", "data-test": "mount-version" },
    h("option", { value: "", text: "Automatic" }),
    h("option", { value: "2.0", text: "2.0" }),
    h("option", { value: "1.0", text: "1.0" }),
  );
  const readOnly = h("input", { type: "checkbox", name: "read_only", "data-test": "mount-read-only" });
  const cifsFields = [field("Share", share, "The share's name on the server."), field("User name", username, "Leave both empty for guest access."), field("Password", password), field("Protocol version", version)];
  const nfsFields = [field("Path", path, "The exported path, as /export/media.")];
  const readOnlyField = checkField("Read only", readOnly, "Not for backup mounts.");
  const sync = () => {
    const cifs = type.value === "cifs";
    for (const f of cifsFields) f.hidden = !cifs;
    for (const f of nfsFields) f.hidden = cifs;
    readOnlyField.hidden = usage.value === "backup";
  };
  type.addEventListener("change", sync);
  usage.addEventListener("change", sync);
  const errors = errorBox("form-error");
  const status = statusLine();
  const create = h("button", { type: "submit", class: "primary", "data-test": "create-mount", text: "Add mount" });
  const cancel = h("button", { type: "button", "data-test": "cancel-edit", text: "Cancel", hidden: true });
  const headingId = nextId("sec");
  const heading = h("h2", { id: headingId, text: "Add a mount" });
  let editing = null;
  const setEditing = (mount) => {
    editing = mount;
    name.readOnly = Boolean(mount);
    create.textContent = mount ? "Save changes" : "Add mount";
    heading.textContent = mount ? `Change the mount "${mount.name}"` : "Add a mount";
    cancel.hidden = !mount;
  };
  const form = h(
    "form",
    { class: "mount-form", novalidate: true, "data-test": "mount-form", "aria-label": "New mount" },
    h(
      "div",
      { class: "row-fields" },
      field("Name", name, "Letters, digits and underscores."),
      field("Use", usage),
      field("Type", type),
      field("Server", server, "Host name or address."),
      field("Port", port, "Empty for the protocol's default."),
      cifsFields,
      nfsFields,
    ),
    readOnlyField,
    errors.el,
    h("div", { class: "actions" }, create, cancel),
    status.el,
  );
  sync();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, errors, async () => {
      const body = { name: name.value.trim(), usage: usage.value, type: type.value, server: server.value.trim() };
      if (port.value) body.port = Number(port.value);
      if (usage.value !== "backup" && readOnly.checked) body.read_only = true;
      if (type.value === "cifs") {
        body.share = share.value.trim();
        // Both or neither: the API says which one is missing.
        if (username.value) body.username = username.value;
        if (password.value) body.password = password.value;
        if (version.value) body.version = version.value;
      } else body.path = path.value.trim();
      if (editing) {
        await put(`/mounts/${enc(editing.name)}`, body);
        status.say(`Mount "${body.name}" changed.`);
      } else {
        await post("/mounts", body);
        status.say(`Mount "${body.name}" added.`);
      }
      form.reset();
      setEditing(null);
      sync();
      await refresh();
    });
  });
  cancel.addEventListener("click", () => {
    form.reset();
    errors.clear();
    setEditing(null);
    sync();
  });
  const edit = (mount) => {
    form.reset();
    errors.clear();
    name.value = mount.name;
    usage.value = mount.usage;
    type.value = mount.type;
    server.value = mount.server ?? "";
    port.value = mount.port ?? "";
    share.value = mount.share ?? "";
    path.value = mount.path ?? "";
    username.value = mount.username ?? "";
    version.value = mount.version ?? "";
    readOnly.checked = Boolean(mount.read_only);
    setEditing(mount);
    sync();
    heading.scrollIntoView({ block: "start" });
    server.focus();
  };
  return { el: h("section", { class: "card", "aria-labelledby": headingId }, heading, form), edit };
}

export async function render(main, { signal }) {
  const listHolder = h("div");
  const settings = mountForm(() => refresh());
  const optionsHolder = h("div");
  const loadErrors = errorBox();
  const refresh = async () => {
    loadErrors.clear();
    let info;
    try {
      info = await get("/mounts", { signal });
    } catch (error) {
      if (error.name !== "AbortError") loadErrors.show(error);
      return;
    }
    if (signal.aborted) return;
    replace(listHolder, mountsTable(info, refresh, settings.edit));
    replace(optionsHolder, optionsSection(info, refresh));
  };
  await refresh();
  if (signal.aborted) return;
  replace(main, pageTitle("Mounts"), loadErrors.el, listHolder, settings.el, optionsHolder);
}
