// Small DOM helpers shared by every page: elements, notices, dialogs, busy buttons.

/**
 * h("button", {class: "primary", onclick: fn, dataset: {id: 1}}, "Text", child, ...)
 * Strings become text nodes (never HTML), null/false children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A notice in the corner; errors stay until dismissed, others go after a while. */
export function notify(message, kind = "ok") {
  const box = $("#notices");
  const close = h("button", { type: "button", class: "small", "aria-label": "Dismiss" }, "×");
  const note = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null },
                 message, close);
  close.addEventListener("click", () => note.remove());
  box.append(note);
  if (kind !== "error") setTimeout(() => note.remove(), 6000);
  return note;
}

/** Show an API error; with a form, mark and focus the field the API named. */
export function showError(error, form = null) {
  const text = error.status ? `${error.message} (HTTP ${error.status})` : error.message;
  notify(text, "error");
  if (form && error.field) {
    const input = form.querySelector(`[name="${CSS.escape(error.field)}"]`);
    if (input) {
      input.classList.add("field-error");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
}

function clearFieldErrors(form) {
  for (const input of form.querySelectorAll(".field-error")) {
    input.classList.remove("field-error");
    input.removeAttribute("aria-invalid");
  }
}

/** Disable `button` while `work()` runs; errors are shown, not thrown. */
export async function busy(button, work, form = null) {
  if (form) clearFieldErrors(form);
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    showError(error, form);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

function field(spec) {
  const common = { name: spec.name, required: spec.required, id: `ask-${spec.name}` };
  let input;
  if (spec.options) {
    input = h("select", common,
              spec.options.map(([value, label]) => h("option", { value }, label)));
  } else {
    input = h("input", { ...common, type: spec.type || "text", min: spec.min, max: spec.max,
                         step: spec.step, list: spec.list, autocomplete: "off" });
  }
  if (spec.value !== undefined && spec.value !== null) input.value = spec.value;
  return h("label", { for: common.id }, spec.label, input);
}

/**
 * A modal dialog asking for `fields` (or only confirming). Resolves with the values
 * ({name: value}) or null when cancelled. `danger` makes the confirm button red.
 */
export function ask({ title, text = "", fields = [], ok = "OK", danger = false, extra = null }) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" });
    const titleId = `dialog-${Math.random().toString(36).slice(2)}`;
    const dialog = h("dialog", { "aria-labelledby": titleId }, form);
    const okButton = h("button", { type: "submit", value: "ok",
                                   class: danger ? "primary danger" : "primary" }, ok);
    const cancel = h("button", { type: "submit", value: "cancel", formnovalidate: true },
                     "Cancel");
    form.append(h("h2", { id: titleId }, title), text ? h("p", {}, text) : "",
                ...fields.map(field), extra || "", h("div", { class: "actions" }, cancel, okButton));
    dialog.addEventListener("close", () => {
      const values = Object.fromEntries(new FormData(form).entries());
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector("input, select") || cancel).focus();
  });
}

export async function confirmed(title, text, ok = "Confirm") {
  return (await ask({ title, text, ok, danger: true })) !== null;
}

/** Save a Blob as a file (downloads that need the bearer token). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A table of `items`: columns are {label, value(item) -> text or node, num}. On narrow
 * screens it becomes one card per item (evedge.css, table.cards).
 */
export function table(columns, items, { empty = "Nothing here yet.", caption = null } = {}) {
  if (!items.length) return h("p", { class: "empty" }, empty);
  const cls = (column) => (column.num ? "num" : null);
  return h("div", { class: "table-wrap" }, h("table", { class: "cards" },
    caption ? h("caption", { class: "sr-only" }, caption) : "",
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: cls(c) },
                                                     c.label)))),
    h("tbody", {}, items.map((item) => h("tr", {}, columns.map((c) =>
      h("td", { class: cls(c), dataset: { label: c.label } }, c.value(item))))))));
}

/** Previous/next buttons for a page {total, limit, offset}; go(offset) loads another. */
export function pager(el, page, go) {
  const { total, limit, offset } = page;
  replace(el,
    h("button", { type: "button", disabled: offset === 0,
                  onclick: () => go(Math.max(0, offset - limit)) }, "← Previous"),
    h("span", {}, total ? `${offset + 1}–${Math.min(total, offset + limit)} of ${total}` : ""),
    h("button", { type: "button", disabled: offset + limit >= total,
                  onclick: () => go(offset + limit) }, "Next →"));
}
