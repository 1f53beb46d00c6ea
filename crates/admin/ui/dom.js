// Building the page: elements made with createElement and textContent only, never by parsing
// HTML, so no text from the API can become markup. Also the small widgets every page shares
// (errors next to their cause, confirmation dialogs, sizes and dates).

/**
 * Makes an element. `attrs`: `class`, `text` (textContent), `on<event>` (a listener), `dataset`
 * entries as `data-*`, booleans for boolean attributes (false or null leaves them out), else the
 * attribute as text. Children: nodes or strings (as text), arrays of them; null is skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Appends nodes, strings (as text) and nested arrays of them; skips null and false. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** A document-unique id for label/aria wiring. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * An error shown where it happened: `role="alert"`, with its hook (`data-test`) only while it
 * shows something, so that finding the hook means finding the message.
 */
export function errorBox(hook = "error") {
  const box = h("p", { class: "error", role: "alert", hidden: true });
  return {
    el: box,
    show(error) {
      box.textContent = messageOf(error);
      box.dataset.test = hook;
      box.hidden = false;
    },
    clear() {
      box.textContent = "";
      delete box.dataset.test;
      box.hidden = true;
    },
  };
}

/** The text to show for an error of any kind. */
export function messageOf(error) {
  if (!error) return "Unknown error";
  if (typeof error === "string") return error;
  return error.message || String(error);
}

/** A polite status line (`aria-live`), for what went right. */
export function statusLine() {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" });
  return {
    el,
    say(text) {
      el.textContent = text;
    },
  };
}

/**
 * Runs `action` while `button` shows that it is busy; an error goes to `errors` (an errorBox).
 * Resolves to the action's result, or undefined when it failed.
 */
export async function busy(button, errors, action) {
  errors?.clear();
  const buttons = Array.isArray(button) ? button : [button];
  for (const b of buttons) {
    if (!b) continue;
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
  }
  try {
    return await action();
  } catch (error) {
    if (error?.name === "AbortError") return undefined;
    if (errors) errors.show(error);
    else throw error;
    return undefined;
  } finally {
    for (const b of buttons) {
      if (!b) continue;
      b.disabled = false;
      b.removeAttribute("aria-busy");
    }
  }
}

/**
 * Asks in a modal `<dialog>` and resolves to true when confirmed. `body` may hold form fields;
 * `onConfirm` (optional) runs before the dialog closes and may throw to keep it open with the
 * message shown in the dialog.
 */
export function confirmDialog({ title, body = [], confirmLabel = "Confirm", danger = false, onConfirm }) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const errors = errorBox();
    const confirm = h("button", {
      type: "submit",
      class: danger ? "danger" : "primary",
      "data-test": "confirm",
      text: confirmLabel,
    });
    const cancel = h("button", { type: "button", "data-test": "cancel", text: "Cancel" });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: titleId, text: title }),
      body,
      errors.el,
      h("div", { class: "actions" }, cancel, confirm),
    );
    const dialog = h("dialog", { "aria-labelledby": titleId }, form);
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", () => finish(false));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (onConfirm) {
        const ok = await busy([confirm, cancel], errors, async () => {
          await onConfirm();
          return true;
        });
        if (!ok) return;
      }
      finish(true);
    });
    document.body.append(dialog);
    dialog.showModal();
    // A field to fill first; else, for what cannot be undone, the safe choice.
    const first = form.querySelector("input, select, textarea");
    (first || (danger ? cancel : confirm)).focus();
  });
}

/** A labelled form control: `<div class="field"><label>..</label>control hint</div>`. */
export function field(labelText, control, hint) {
  const id = control.id || nextId();
  control.id = id;
  const parts = [h("label", { for: id, text: labelText }), control];
  if (hint) {
    const hintId = nextId("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

/** A checkbox with its label after it. */
export function checkField(labelText, control, hint) {
  const id = control.id || nextId();
  control.id = id;
  const parts = [control, h("label", { for: id, text: labelText })];
  const wrap = h("div", { class: "field check" }, parts);
  if (hint) {
    const hintId = nextId("hint");
    control.setAttribute("aria-describedby", hintId);
    wrap.append(h("p", { class: "hint", id: hintId, text: hint }));
  }
  return wrap;
}

/** A `<section>` with an `<h2>` that names it for screen readers. */
export function section(title, ...children) {
  const id = nextId("sec");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id, text: title }), children);
}

/** A definition list of label/value pairs; values that are null are left out. */
export function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : String(value)));
  }
  return dl;
}

/** Bytes as a person reads them. */
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** An ISO date (or µs since the epoch) in the reader's locale. */
export function when(value) {
  if (value === null || value === undefined || value === "") return "–";
  const date = typeof value === "number" ? new Date(value / 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/**
 * A row of action buttons sharing one error box: `add(hook, label, kind, action)` makes a
 * button that runs `action` with every button of the row busy.
 */
export function actionRow(errors) {
  const buttons = [];
  return {
    buttons,
    add(hook, label, kind, action) {
      const button = h("button", { type: "button", class: kind, "data-test": hook, text: label });
      button.addEventListener("click", () => busy(buttons, errors, action));
      buttons.push(button);
      return button;
    },
  };
}

/** The figures of `/…/stats` (the Stats model) as facts, with meters for CPU and memory. */
export function statsFacts(stats) {
  const percent = (value) => Number(value || 0).toFixed(1);
  const meter = (value) => h("meter", { min: "0", max: "100", value: String(value || 0), "aria-hidden": "true" });
  return facts([
    ["CPU", h("span", {}, meter(stats.cpu_percent), ` ${percent(stats.cpu_percent)} %`)],
    ["Memory", h("span", {}, meter(stats.memory_percent), ` ${bytes(stats.memory_usage)} of ${bytes(stats.memory_limit)} (${percent(stats.memory_percent)} %)`)],
    ["Network", `${bytes(stats.network_rx)} in, ${bytes(stats.network_tx)} out`],
    ["Disk", `${bytes(stats.blk_read)} read, ${bytes(stats.blk_write)} written`],
  ]);
}

/** A small coloured badge. */
export function badge(text, kind = "") {
  return h("span", { class: ["badge", kind], text });
}

/** The page's `<h1>`, focusable so the router can move focus to it. */
export function pageTitle(text) {
  document.title = `${text} – Supervisor`;
  return h("h1", { tabindex: "-1", text });
}
