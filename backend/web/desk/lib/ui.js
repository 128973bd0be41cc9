// The small shared component layer of the desk: building elements, form fields with their
// error slots, problem documents shown in plain Chinese, loading and empty states, tables,
// fact lists, busy buttons and the per-submission Idempotency-Key. Every screen uses these;
// none builds its own.

import { Problem, newKey } from "./api.js";

/** h("p", {class: "muted"}, "text", child…): an element. `on*` attributes are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) { el.replaceChildren(); append(el, children); return el; }

// ---------- states ----------

export function loading(text = "正在加载…") {
  return h("p", { class: "state loading", role: "status", "aria-busy": "true" }, text);
}

export function empty(text) { return h("p", { class: "state empty" }, text); }

// ---------- messages ----------

const CJK = /[\u3400-\u9fff\u{20000}-\u{3134f}]/u;

/**
 * What a person reads of a problem: the title and, when it is in Chinese, the detail.
 * Codes and driver text (often English) go to the details line, for support only.
 */
export function describe(error) {
  if (!(error instanceof Problem)) {
    return { text: "页面出错，请重试或联系技术支持", support: String(error && error.message) };
  }
  const where = { backend: "后台", agent: "终端设备", page: "页面" }[error.source] || "";
  const parts = [error.title];
  if (error.detail && error.detail !== error.title && CJK.test(error.detail)) parts.push(error.detail);
  const raw = error.detail && !CJK.test(error.detail) ? ` ${error.detail}` : "";
  return { text: parts.join("："), support: `${where} ${error.status || ""} ${error.code}${raw}`.trim() };
}

/** A message box for one screen: errors, warnings and confirmations, at the screen's top. */
export function messageBox() {
  const box = h("div", { class: "message", role: "alert", hidden: true });
  return Object.assign(box, {
    show(kind, text, { support, items = [] } = {}) {
      box.className = `message ${kind}`;
      clear(
        box,
        h("p", { class: "message-text" }, text),
        items.length ? h("ul", {}, items.map((item) => h("li", {}, item))) : null,
        support ? h("p", { class: "support" }, `详情：${support}`) : null,
      );
      box.hidden = false;
      box.scrollIntoView({ block: "nearest" });
    },
    error(error, { items } = {}) {
      const { text, support } = describe(error);
      box.show("error", text, { support, items });
    },
    ok(text, options) { box.show("ok", text, options); },
    info(text, options) { box.show("info", text, options); },
    warn(text, options) { box.show("warn", text, options); },
    hide() { box.hidden = true; clear(box); },
  });
}

// ---------- forms ----------

/**
 * A labelled input with its error slot. kind: "text" | "select" | "textarea" | "checkbox" |
 * "radio" (options [[value, label], …]). Extra attributes go to the input.
 */
export function field({ name, label, kind = "text", value = "", options = [], hint, ...attrs }) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  const error = h("p", { class: "field-error", "data-for": name, id: `${id}-error` });
  let input;
  if (kind === "select") {
    input = h("select", { id, name, "aria-describedby": `${id}-error`, ...attrs },
      options.map(([v, text]) => h("option", { value: v, selected: String(v) === String(value) }, text)));
  } else if (kind === "textarea") {
    input = h("textarea", { id, name, "aria-describedby": `${id}-error`, ...attrs }, value);
  } else if (kind === "checkbox") {
    input = h("input", { id, name, type: "checkbox", checked: Boolean(value), ...attrs });
    return h("div", { class: "field check" }, h("label", { for: id }, input, " ", label), error);
  } else if (kind === "radio") {
    return h("fieldset", { class: "field radios", "data-name": name },
      h("legend", {}, label),
      options.map(([v, text, note]) => h("label", { class: "radio" },
        h("input", { type: "radio", name, value: v, checked: String(v) === String(value), ...attrs }),
        " ", text, note ? h("span", { class: "note" }, note) : null)),
      error);
  } else {
    input = h("input", { id, name, type: kind, value, autocomplete: "off", spellcheck: "false",
      "aria-describedby": `${id}-error`, ...attrs });
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("p", { class: "hint" }, hint) : null, error);
}

/** The values of a form's named inputs (checkboxes as booleans, empty text as null). */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio") { if (el.checked) out[el.name] = el.value; else if (!(el.name in out)) out[el.name] = null; }
    else out[el.name] = el.value.trim() === "" ? null : el.value.trim();
  }
  return out;
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

/** Put one error next to its field; false when the form has no such field. */
export function fieldError(form, name, message, { focus = true } = {}) {
  const key = String(name).split(".").pop();
  const slot = form.querySelector(`.field-error[data-for="${key}"]`);
  if (!slot) return false;
  slot.textContent = message;
  const input = form.querySelector(`[name="${key}"]`);
  if (input) { input.setAttribute("aria-invalid", "true"); if (focus) input.focus(); }
  return true;
}

/**
 * Show a problem: each field error next to its field; the rest, with the title, in the
 * screen's message box. The first field in error gets the focus.
 */
export function showProblem(box, error, form) {
  const left = [];
  if (form) clearErrors(form);
  let focused = false;
  for (const f of (error instanceof Problem ? error.fields : [])) {
    const placed = form && fieldError(form, f.field || "", f.message, { focus: !focused });
    focused = focused || Boolean(placed);
    if (!placed) left.push(f.message);
  }
  box.error(error, { items: left });
}

/** Run `work` with the button busy (disabled, aria-busy); gives back what work returned. */
export async function busy(button, work) {
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await work(); } finally {
    button.removeAttribute("aria-busy");
    button.disabled = wasDisabled;
  }
}

/**
 * The Idempotency-Key of one submission: the same request sent again (a retry after a
 * network failure) keeps its key, so the backend acts once; a changed request gets a new key.
 */
export class Submission {
  constructor() { this.sent = null; this.key = null; }
  keyFor(request) {
    const text = JSON.stringify(request);
    if (text !== this.sent) { this.sent = text; this.key = newKey(); }
    return this.key;
  }
  done() { this.sent = null; this.key = null; }
}

// ---------- display ----------

/** A definition list of [label, value] pairs (value: text or element). */
export function facts(pairs, className = "facts") {
  return h("dl", { class: className },
    pairs.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "—")]));
}

/**
 * A table. columns: [{label, value: (row) => text|Node, class}], rows: objects.
 * With no rows it shows `empty` instead.
 */
export function table(columns, rows, { empty: emptyText = "没有记录", caption, rowAttrs } = {}) {
  if (!rows.length) return empty(emptyText);
  return h("table", { class: "grid" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h("td", { class: c.class }, c.value(row)))))));
}

/** A section with a heading. */
export function section(title, ...children) {
  return h("section", { class: "block" }, h("h3", {}, title), ...children);
}
