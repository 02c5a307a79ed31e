// The ID tags page: search, add, block/unblock, delete, CSV export and import.

import { api, del, get, patch, post } from "./api.js";
import { fromLocalInput, statusKind, time } from "./format.js";
import { can, startPage } from "./shell.js";
import { $, busy, confirmed, h, notify, pager, replace, saveBlob, showError, table } from "./ui.js";

const LIMIT = 50;
let offset = 0;
const enc = encodeURIComponent;

async function load(at = offset) {
  offset = at;
  const query = new URLSearchParams({ limit: LIMIT, offset });
  if ($("#tag-q").value.trim()) query.set("q", $("#tag-q").value.trim());
  if ($("#tag-status").value) query.set("status", $("#tag-status").value);
  const page = await get(`/api/id-tags/?${query}`);
  $("#tag-count").textContent = `${page.total} tag(s)`;
  replace($("#tag-table"), table([
    { label: "ID tag", value: (t) => h("code", {}, t.id_tag) },
    { label: "Status", value: statusCell },
    { label: "Expires", value: (t) => (t.expiry_date ? time(t.expiry_date) : "never") },
    { label: "Parent", value: (t) => t.parent_id_tag || "–" },
    { label: "Max. sessions", value: (t) => String(t.max_active_transactions ?? "–"), num: true },
    { label: "Note", value: (t) => t.note || "" },
    ...(can("operator") ? [{ label: "Actions", value: tagActions }] : []),
  ], page.items, { empty: "No tag matches.", caption: "ID tags" }));
  pager($("#tag-pager"), page, (next) => load(next).catch(showError));
}

/** The status a charger is told (an Accepted tag past its expiry is Expired), and the
 *  status as set when that differs. */
function statusCell(tag) {
  const effective = tag.effective_status || tag.status;
  return [h("span", { class: `badge ${statusKind(effective)}`, dataset: { status: effective } }, effective),
          effective !== tag.status
            ? h("span", { class: "small muted" }, ` (set ${tag.status}; expired ${time(tag.expiry_date)})`) : ""];
}

function tagActions(tag) {
  const blocked = tag.status === "Blocked";
  return h("span", { class: "actions" },
    h("button", { type: "button", class: "small", "aria-label": `${blocked ? "Unblock" : "Block"} ${tag.id_tag}`,
                  onclick: (e) => setStatus(tag, blocked ? "Accepted" : "Blocked", e.currentTarget) },
      blocked ? "Unblock" : "Block"),
    h("button", { type: "button", class: "small danger", "aria-label": `Delete ${tag.id_tag}`,
                  onclick: (e) => remove(tag, e.currentTarget) }, "Delete"));
}

async function setStatus(tag, status, button) {
  await busy(button, async () => {
    await patch(`/api/id-tags/${enc(tag.id_tag)}/`, { status });
    notify(`${tag.id_tag} is now ${status}`);
    await load();
  });
}

async function remove(tag, button) {
  if (!await confirmed(`Delete ${tag.id_tag}`, "The tag can no longer charge. Its past " +
                       "transactions stay in the history.", "Delete tag")) return;
  await busy(button, async () => {
    await del(`/api/id-tags/${enc(tag.id_tag)}/`);
    notify(`${tag.id_tag} deleted`);
    await load();
  });
}

function newTag(form) {
  const values = Object.fromEntries(new FormData(form).entries());
  const body = { id_tag: values.id_tag.trim(), status: values.status, note: values.note };
  if (values.expiry_date) body.expiry_date = fromLocalInput(values.expiry_date);
  if (values.parent_id_tag.trim()) body.parent_id_tag = values.parent_id_tag.trim();
  if (values.max_active_transactions) body.max_active_transactions = Number(values.max_active_transactions);
  return body;
}

function wireForms() {
  $("#tag-search").addEventListener("submit", (e) => {
    e.preventDefault();
    load(0).catch(showError);
  });
  $("#tag-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    busy(form.querySelector("button"), async () => {
      const tag = await post("/api/id-tags/", newTag(form));
      notify(`${tag.id_tag} added`);
      form.reset();
      await load();
    }, form);
  });
  $("#tag-export").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    saveBlob(await api("GET", "/api/id-tags/export.csv", undefined, { blob: true }), "id-tags.csv");
  }));
  $("#tag-import").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const file = form.csv.files[0];
    if (!file) return;
    busy(form.querySelector("button"), async () => {
      const result = await api("POST", "/api/id-tags/import/", undefined,
                               { raw: await file.text(), headers: { "Content-Type": "text/csv" } });
      notify(`Imported: ${result.created} created, ${result.updated} updated`);
      form.reset();
      await load(0);
    }, form);
  });
}

async function main() {
  await startPage();
  wireForms();
  await load(0);
}

main().catch(showError);
