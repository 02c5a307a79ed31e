// Firmware (upload, list, download, delete) and diagnostics files (list, download, delete).

import { api, del, get } from "./api.js";
import { bytes, time } from "./format.js";
import { can, startPage } from "./shell.js";
import { $, busy, confirmed, h, notify, replace, saveBlob, showError, table } from "./ui.js";

const enc = encodeURIComponent;

async function removeFile(path, name, button, reload) {
  if (!await confirmed(`Delete ${name}`, "The file is removed from the box.", "Delete")) return;
  await busy(button, async () => {
    await del(path);
    notify(`${name} deleted`);
    await reload();
  });
}

async function loadFirmware() {
  const { items } = await get("/api/firmware/");
  replace($("#firmware-table"), table([
    { label: "File", value: (f) => h("a", { href: `/firmware/${enc(f.name)}`, download: f.name }, f.name) },
    { label: "Size", value: (f) => bytes(f.size), num: true },
    { label: "SHA-256", value: (f) => h("code", { title: f.sha256 }, `${f.sha256.slice(0, 16)}…`) },
    { label: "Uploaded", value: (f) => time(f.modified_at) },
    ...(can("admin") ? [{ label: "Action", value: (f) => h("button", {
      type: "button", class: "small danger", "aria-label": `Delete ${f.name}`,
      onclick: (e) => removeFile(`/api/firmware/${enc(f.name)}`, f.name, e.currentTarget, loadFirmware),
    }, "Delete") }] : []),
  ], items, { empty: "No firmware uploaded yet.", caption: "Firmware files" }));
}

async function loadDiagnostics() {
  const charger = $("#diag-charger").value.trim();
  const { items } = await get(`/api/diagnostics/${charger ? `?charger=${enc(charger)}` : ""}`);
  const download = (f, button) => busy(button, async () => {
    saveBlob(await api("GET", f.url, undefined, { blob: true }), f.name);
  });
  replace($("#diag-table"), table([
    { label: "Charger", value: (f) => h("a", { href: `/ui/charger/${enc(f.charger_id)}/` }, f.charger_id) },
    { label: "File", value: (f) => f.name },
    { label: "Size", value: (f) => bytes(f.size), num: true },
    { label: "Received", value: (f) => time(f.received_at) },
    { label: "Actions", value: (f) => h("span", { class: "actions" },
      h("button", { type: "button", class: "small", "aria-label": `Download ${f.name}`,
                    onclick: (e) => download(f, e.currentTarget) }, "Download"),
      can("admin") ? h("button", { type: "button", class: "small danger", "aria-label": `Delete ${f.name}`,
                                   onclick: (e) => removeFile(f.url, f.name, e.currentTarget, loadDiagnostics) },
                       "Delete") : "") },
  ], items, { empty: "No diagnostics received.", caption: "Diagnostics files" }));
}

function upload(form) {
  const file = $("#firmware-input").files[0];
  if (!file) return;
  const data = new FormData();
  data.append("file", file, file.name);
  const overwrite = $("#firmware-overwrite").checked ? "?overwrite=1" : "";
  busy(form.querySelector("button"), async () => {
    const stored = await api("POST", `/api/firmware/${overwrite}`, undefined, { raw: data });
    notify(`${stored.name} uploaded (${bytes(stored.size)})`);
    form.reset();
    await loadFirmware();
  }, form);
}

async function main() {
  await startPage();
  $("#firmware-upload").addEventListener("submit", (e) => {
    e.preventDefault();
    upload(e.currentTarget);
  });
  $("#diag-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    loadDiagnostics().catch(showError);
  });
  await Promise.all([loadFirmware(), loadDiagnostics()]);
}

main().catch(showError);
