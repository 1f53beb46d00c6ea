// The add-on configuration form, generated from the UI schema of `/addons/<slug>/info`
// (`schema`: one item per option, `{name, type, required|optional, multiple, options, format,
// lengthMin, lengthMax, schema}`; `type` is string, integer, float, boolean, select, or schema
// for a nested mapping) with the names and descriptions of `translations`. Each top-level option
// is one control (or fieldset) whose `name` is the option's key. Nothing is checked here beyond
// what a control can express: the supervisor validates, and its message is shown.

import { h, nextId } from "./dom.js";

/** The translation of the reader's language, else English, else none. */
export function pickTranslation(translations) {
  if (!translations || typeof translations !== "object") return {};
  for (const language of [...(navigator.languages || []), navigator.language, "en"]) {
    if (!language) continue;
    const exact = translations[language];
    if (exact) return exact;
    const short = translations[language.split("-")[0]];
    if (short) return short;
  }
  return {};
}

const isOptional = (item) => item.optional === true || (item.required !== true && item.type === "schema");

function describe(item, texts) {
  const entry = texts?.[item.name] || {};
  return { label: entry.name || item.name, description: entry.description || "", fields: entry.fields || {} };
}

function labelled(item, texts, control, name) {
  const { label, description } = describe(item, texts);
  const id = control.id || nextId("opt");
  control.id = id;
  const parts = [h("label", { for: id }, label, isOptional(item) ? h("span", { class: "optional", text: " (optional)" }) : null)];
  if (description) {
    const hintId = nextId("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(control, h("p", { class: "hint", id: hintId, text: description }));
  } else parts.push(control);
  return h("div", { class: "field", "data-option": name }, parts);
}

/** A control for one scalar value; `read()` gives the value to send, undefined to leave out. */
function scalar(item, value, name, texts) {
  const optional = isOptional(item);
  if (item.type === "boolean") {
    const box = h("input", { type: "checkbox", name, checked: value === true });
    const { label, description } = describe(item, texts);
    box.id = nextId("opt");
    const wrap = h("div", { class: "field check", "data-option": name }, box, h("label", { for: box.id, text: label }));
    if (description) {
      const hintId = nextId("hint");
      box.setAttribute("aria-describedby", hintId);
      wrap.append(h("p", { class: "hint", id: hintId, text: description }));
    }
    // An optional flag that was never set stays unset until it is touched.
    let touched = value !== undefined;
    box.addEventListener("change", () => {
      touched = true;
    });
    return { el: wrap, read: () => (touched || !optional ? box.checked : undefined) };
  }
  if (item.type === "select") {
    const select = h("select", { name });
    const choices = [...(item.options || [])];
    if (value !== undefined && value !== null && !choices.includes(value)) choices.unshift(String(value));
    if (optional || value === undefined) select.append(h("option", { value: "", text: optional ? "(none)" : "Choose…" }));
    for (const choice of choices) select.append(h("option", { value: choice, text: choice, selected: choice === value }));
    if (value === undefined || value === null) select.value = "";
    return { el: labelled(item, texts, select, name), read: () => (select.value === "" ? (optional ? undefined : "") : select.value) };
  }
  const numeric = item.type === "integer" || item.type === "float";
  const type = numeric ? "number" : item.format === "password" ? "password" : item.format === "email" ? "email" : item.format === "url" ? "url" : "text";
  const input = h("input", { type, name, value: value === undefined || value === null ? "" : String(value) });
  if (type === "password") input.setAttribute("autocomplete", "new-password");
  else input.setAttribute("autocomplete", "off");
  if (numeric) {
    input.setAttribute("step", item.type === "integer" ? "1" : "any");
    input.setAttribute("inputmode", item.type === "integer" ? "numeric" : "decimal");
    const min = item.valueMin ?? item.lengthMin;
    const max = item.valueMax ?? item.lengthMax;
    if (min !== undefined) input.setAttribute("min", String(min));
    if (max !== undefined) input.setAttribute("max", String(max));
  } else {
    if (item.lengthMin !== undefined) input.setAttribute("minlength", String(item.lengthMin));
    if (item.lengthMax !== undefined) input.setAttribute("maxlength", String(item.lengthMax));
  }
  if (!optional) input.setAttribute("aria-required", "true");
  const read = () => {
    const raw = input.value;
    if (raw === "") return optional ? undefined : numeric ? undefined : "";
    if (numeric) {
      const n = Number(raw);
      return Number.isNaN(n) ? raw : n;
    }
    return raw;
  };
  return { el: labelled(item, texts, input, name), read };
}

/** A list of scalars: a multi-select for choices, else one value per line. */
function scalarList(item, value, name, texts) {
  const values = Array.isArray(value) ? value : [];
  if (item.type === "select") {
    const select = h("select", { name, multiple: true, size: String(Math.min(6, (item.options || []).length || 1)) });
    for (const choice of item.options || []) select.append(h("option", { value: choice, text: choice, selected: values.includes(choice) }));
    return { el: labelled(item, texts, select, name), read: () => [...select.selectedOptions].map((o) => o.value) };
  }
  const area = h("textarea", { name, rows: String(Math.max(3, values.length + 1)) });
  area.value = values.map((v) => (v === null ? "" : String(v))).join("\n");
  const field = labelled(item, texts, area, name);
  field.append(h("p", { class: "hint", text: "One value per line." }));
  const read = () => {
    const lines = area.value.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    if (item.type === "integer" || item.type === "float") return lines.map((l) => (Number.isNaN(Number(l)) ? l : Number(l)));
    if (item.type === "boolean") return lines.map((l) => (l === "true" ? true : l === "false" ? false : l));
    return lines;
  };
  return { el: field, read };
}

/** The controls of a nested mapping, named `<prefix>.<key>`. */
function mapping(items, value, prefix, texts) {
  const parts = items.map((sub) => control(sub, value?.[sub.name], `${prefix}.${sub.name}`, texts));
  const read = () => {
    const out = {};
    items.forEach((sub, n) => {
      const v = parts[n].read();
      if (v !== undefined) out[sub.name] = v;
    });
    return out;
  };
  return { els: parts.map((p) => p.el), read };
}

/** A nested mapping (`type: schema`), or a list of them with Add/Remove. */
function nested(item, value, name, texts) {
  const { label, description, fields } = describe(item, texts);
  const legend = h("legend", {}, label);
  const set = h("fieldset", { name, class: "nested", "data-option": name }, legend);
  if (description) set.append(h("p", { class: "hint", text: description }));
  if (!item.multiple) {
    const inner = mapping(item.schema || [], value || {}, name, fields);
    set.append(...inner.els);
    const present = value !== undefined && value !== null;
    return {
      el: set,
      read: () => {
        const v = inner.read();
        return !present && Object.keys(v).length === 0 && isOptional(item) ? undefined : v;
      },
    };
  }
  const rows = [];
  const list = h("div", { class: "rows" });
  const add = h("button", { type: "button", class: "small", text: `Add ${label}` });
  const addRow = (rowValue) => {
    const index = rows.length;
    const inner = mapping(item.schema || [], rowValue || {}, `${name}.${index}`, fields);
    const remove = h("button", { type: "button", class: "small", text: "Remove" });
    const rowEl = h("fieldset", { class: "row" }, h("legend", { text: `${label} ${index + 1}` }), inner.els, remove);
    const row = { el: rowEl, read: inner.read };
    remove.addEventListener("click", () => {
      rows.splice(rows.indexOf(row), 1);
      rowEl.remove();
      add.focus();
    });
    rows.push(row);
    list.append(rowEl);
    return rowEl;
  };
  for (const rowValue of Array.isArray(value) ? value : []) addRow(rowValue);
  add.addEventListener("click", () => addRow({}).querySelector("input, select, textarea")?.focus());
  set.append(list, add);
  return { el: set, read: () => rows.map((r) => r.read()) };
}

function control(item, value, name, texts) {
  if (item.type === "schema") return nested(item, value, name, texts);
  if (item.multiple) return scalarList(item, value, name, texts);
  return scalar(item, value, name, texts);
}

/**
 * The form's controls for `schema` with the current `options`: `{els, read}`; `read()` gives
 * the options object to send (unset optional values left out; options the schema does not name
 * are kept as they were, as the frontend does).
 */
export function optionsControls(schema, options, translation) {
  const texts = translation?.configuration || {};
  const items = Array.isArray(schema) ? schema : [];
  const parts = items.map((item) => control(item, options?.[item.name], item.name, texts));
  const known = new Set(items.map((item) => item.name));
  const read = () => {
    const out = {};
    for (const [key, value] of Object.entries(options || {})) if (!known.has(key)) out[key] = value;
    items.forEach((item, n) => {
      const v = parts[n].read();
      if (v !== undefined) out[item.name] = v;
    });
    return out;
  };
  return { els: parts.map((p) => p.el), read };
}
