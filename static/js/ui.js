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

const NOTICE_MS = 8000;   // how long a success stays; errors stay until dismissed
const NOTICES_SHOWN = 3;  // the newest in full, two older ones as single lines, then "+N"

function reserveSpace(area) {
  // The notices sit at the bottom of the window, the page ends above them: with the
  // space reserved, any button can be scrolled clear of them (CSSOM, allowed by the CSP).
  const any = area.querySelector(".notice");
  document.body.style.paddingBottom = any ? `${area.offsetHeight + 8}px` : "";
}

function layoutNotices(area) {
  const notes = [...area.querySelectorAll(".notice")];
  notes.forEach((note, index) => {
    note.classList.toggle("compact", index > 0);
    note.hidden = index >= NOTICES_SHOWN && !area.classList.contains("expanded");
  });
  const more = area.querySelector(".notices-more");
  const hidden = notes.filter((note) => note.hidden).length;
  if (notes.length > 1) {
    more.hidden = false;
    replace(more.querySelector(".notices-count"), hidden ? `+${hidden} older` : "");
  } else {
    more.hidden = true;
    area.classList.remove("expanded");
  }
  reserveSpace(area);
}

function noticeArea() {
  const area = $("#notices");
  if (!area.querySelector(".notices-more")) {
    const expand = () => {
      area.classList.toggle("expanded");
      layoutNotices(area);
    };
    const dismissAll = () => {
      for (const note of area.querySelectorAll(".notice")) note.remove();
      layoutNotices(area);
    };
    const toggle = h("button", { type: "button", class: "small link notices-count", onclick: expand });
    const clear = h("button", { type: "button", class: "small", onclick: dismissAll }, "Dismiss all");
    area.append(h("div", { class: "notices-more", hidden: true }, toggle, clear));
    new ResizeObserver(() => reserveSpace(area)).observe(area);
  }
  return area;
}

/**
 * One notice area at the bottom of the window: the newest notice in full, older ones as
 * single lines, all dismissible; successes go after a while, errors stay. A notice with
 * the `key` of an earlier one replaces it (a command's answer, then its follow-up).
 */
export function notify(message, kind = "ok", { key = null } = {}) {
  const area = noticeArea();
  if (key) {
    for (const old of area.querySelectorAll(".notice")) if (old.dataset.key === key) old.remove();
  }
  const close = h("button", { type: "button", class: "small", "aria-label": "Dismiss" }, "×");
  const note = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status",
                          dataset: key ? { key } : {} },
                 h("span", { class: "notice-text" }, message), close);
  close.addEventListener("click", () => { note.remove(); layoutNotices(area); });
  area.prepend(note);
  layoutNotices(area);
  if (kind !== "error" && kind !== "wait") {
    setTimeout(() => { note.remove(); layoutNotices(area); }, NOTICE_MS);
  }
  return note;
}

/** The words of an API error: the message, the CSV line or field it names, the status. */
export function errorText(error) {
  const body = error.body || {};
  const where = [];
  if (body.line !== undefined && body.line !== null) where.push(`line ${body.line}`);
  if (error.field) where.push(`field ${error.field}`);
  let text = where.length ? `${error.message} (${where.join(", ")})` : error.message;
  const others = Array.isArray(body.errors) ? body.errors.length - 1 : 0;
  if (others > 0) {
    text += `; ${others} more: ` + body.errors.slice(1, 6)
      .map((e) => `line ${e.line}${e.field ? ` (${e.field})` : ""}`).join(", ");
  }
  return error.status ? `${text} · HTTP ${error.status}` : text;
}

/** Show an API error; with a form, mark and focus the field the API named. */
export function showError(error, form = null) {
  notify(errorText(error), "error");
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
                         step: spec.step, list: spec.list, autocomplete: spec.autocomplete || "off",
                         inputmode: spec.inputmode });
  }
  if (spec.value !== undefined && spec.value !== null) input.value = spec.value;
  return h("label", { for: common.id }, spec.label, input);
}

/**
 * A modal dialog asking for `fields` (or only confirming). Resolves with the values
 * ({name: value}) or null when cancelled. `danger` makes the confirm button red.
 *
 * Enter submits (the confirm button is the form's only submit button, so implicit
 * submission uses it: USB RFID desk readers type the card number and Enter); Escape and
 * Cancel cancel. `check(values)` may return a warning (a promise of text or null): it is
 * shown in the dialog and the confirm button asks again (`again`) before it resolves.
 */
export function ask({ title, text = "", fields = [], ok = "OK", danger = false, extra = null,
                      check = null, again = "Send anyway" }) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" });
    const titleId = `dialog-${Math.random().toString(36).slice(2)}`;
    const dialog = h("dialog", { "aria-labelledby": titleId }, form);
    const okButton = h("button", { type: "submit", value: "ok",
                                   class: danger ? "primary danger" : "primary" }, ok);
    const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
    const warning = h("p", { class: "dialog-warning", role: "alert", hidden: true });
    form.append(h("h2", { id: titleId }, title), text ? h("p", {}, text) : "",
                ...fields.map(field), extra || "", warning,
                h("div", { class: "actions" }, cancel, okButton));
    let warned = null; // the values a warning was shown for: a second submit confirms them
    const values = () => Object.fromEntries(new FormData(form).entries());
    form.addEventListener("keydown", (event) => {
      // Enter in a select (reset type, role) submits too, as it does in a text field.
      if (event.key === "Enter" && event.target.tagName === "SELECT") {
        event.preventDefault();
        form.requestSubmit(okButton);
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const current = values();
      const key = JSON.stringify(current);
      if (check && warned !== key) {
        okButton.disabled = true;
        const problem = await Promise.resolve(check(current)).catch(() => null);
        okButton.disabled = false;
        if (problem) {
          warned = key;
          warning.textContent = problem;
          warning.hidden = false;
          okButton.textContent = again;
          okButton.focus();
          return;
        }
      }
      dialog.close("ok");
    });
    form.addEventListener("input", () => {
      if (warned === null) return;
      warned = null;
      warning.hidden = true;
      okButton.textContent = ok;
    });
    dialog.addEventListener("close", () => {
      const answer = values();
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? answer : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector("input, select") || okButton).focus();
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

function header(column, sort, onSort) {
  const cls = column.num ? "num" : null;
  if (!column.sort || !onSort) return h("th", { scope: "col", class: cls }, column.label);
  const active = sort && sort.replace(/^-/, "") === column.sort;
  const descending = active && sort.startsWith("-");
  const next = active && !descending ? `-${column.sort}` : column.sort;
  return h("th", { scope: "col", class: cls,
                   "aria-sort": active ? (descending ? "descending" : "ascending") : null },
    // The column's name stays the button's visible text (no aria-label: a field labelled
    // "ID tag" elsewhere on the page must stay the only thing labelled so).
    h("button", { type: "button", class: "sort", onclick: () => onSort(next) },
      column.label, h("span", { class: "sort-mark", "aria-hidden": "true" },
                      active ? (descending ? " ▼" : " ▲") : " ↕"),
      h("span", { class: "sr-only" }, `, sort ${next.startsWith("-") ? "descending" : "ascending"}`)));
}

/**
 * A table of `items`: columns are {label, value(item) -> text or node, num, sort}. On
 * narrow screens it becomes one card per item (evedge.css, table.cards). With `onSort`,
 * columns that name a `sort` key get a header button; `sort` is the current one
 * ("start_time", or "-start_time" for descending).
 */
export function table(columns, items, { empty = "Nothing here yet.", caption = null,
                                        sort = null, onSort = null, rowData = null } = {}) {
  if (!items.length) return h("p", { class: "empty" }, empty);
  const cls = (column) => (column.num ? "num" : null);
  return h("div", { class: "table-wrap" }, h("table", { class: "cards" },
    caption ? h("caption", { class: "sr-only" }, caption) : "",
    h("thead", {}, h("tr", {}, columns.map((c) => header(c, sort, onSort)))),
    h("tbody", {}, items.map((item) => h("tr", { dataset: rowData ? rowData(item) : {} },
      columns.map((c) => h("td", { class: cls(c), dataset: { label: c.label } }, c.value(item))))))));
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
