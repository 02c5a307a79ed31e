// Operations technicians use on the charger page (operators): any configuration key
// (vendor keys too), local authorization list sync, ReserveNow, and a simple current or
// power limit through SetChargingProfile.

import { command, report } from "./actions.js";
import { get, post } from "./api.js";
import { fromLocalInput } from "./format.js";
import { $, busy, confirmed, h, notify, replace } from "./ui.js";

const enc = encodeURIComponent;
// Fixed profile ids: sending the limit again replaces the earlier one instead of stacking
// (OCPP 1.6 §5.16: a profile with the same chargingProfileId replaces it).
const MAX_PROFILE_ID = 9001;
const TX_DEFAULT_PROFILE_ID = 9100; // + connector id

/** A limit as OCPP 1.6 takes it (§7 ChargingSchedulePeriod.limit: at most one digit
 *  fraction), or {error}. */
export function chargingLimit(text, unit) {
  const value = Number(String(text).replace(",", "."));
  if (!Number.isFinite(value) || value <= 0) {
    return { error: "The limit must be a number above 0." };
  }
  const tenths = Math.round(value * 10);
  if (Math.abs(value * 10 - tenths) > 1e-6) {
    return { error: "OCPP 1.6 limits are multiples of 0.1: use at most one decimal." };
  }
  // kW go out as W (charging_rate_unit W); A stay A. Both are multiples of 0.1 then.
  return unit === "kW" ? { rate: "W", limit: tenths * 100 } : { rate: "A", limit: tenths / 10 };
}

function limitProfile(scope, rate, limit) {
  const txDefault = scope !== "0";
  return {
    connector_id: Number(scope),
    cs_charging_profiles: {
      charging_profile_id: txDefault ? TX_DEFAULT_PROFILE_ID + Number(scope) : MAX_PROFILE_ID,
      stack_level: 0,
      // ChargePointMaxProfile caps the whole charger (connector 0 only); TxDefaultProfile
      // applies to the connector's sessions that have no profile of their own (§3.13).
      charging_profile_purpose: txDefault ? "TxDefaultProfile" : "ChargePointMaxProfile",
      charging_profile_kind: "Absolute",
      charging_schedule: {
        charging_rate_unit: rate,
        start_schedule: new Date().toISOString(),
        charging_schedule_period: [{ start_period: 0, limit }],
      },
    },
  };
}

function wireConfig(chargerId, reload) {
  const form = $("#custom-config-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#custom-key").value.trim();
    if (!key) {
      notify("Enter the configuration key to set.", "error");
      $("#custom-key").focus();
      return;
    }
    const answer = await command(chargerId, "change-configuration",
                                 { key, value: $("#custom-value").value },
                                 `ChangeConfiguration ${key}`, form.querySelector("button"));
    if (answer) await reload();
  });
}

function wireLocalList(chargerId) {
  const form = $("#local-list-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form.querySelector("button"), async () => {
      const result = await post(`/api/chargers/${enc(chargerId)}/local-list/sync/`,
                                { mode: form.mode.value });
      const text = `${result.update_type} list, version ${result.list_version}, ` +
                   `${result.entries} entr${result.entries === 1 ? "y" : "ies"}: ${result.status}` +
                   (result.fallback_from ? ` (after ${result.fallback_from.update_type} was ` +
                                           `${result.fallback_from.status})` : "");
      $("#local-list-state").textContent = `Last sync: ${text}`;
      report(`Local list of ${chargerId}`, result);
    }, form);
  });
}

function wireReserve(chargerId, reload) {
  const form = $("#reserve-form");
  const until = form.expiry_date;
  const soon = new Date(Date.now() + 30 * 60_000 - new Date().getTimezoneOffset() * 60_000);
  until.value = soon.toISOString().slice(0, 16);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const idTag = form.id_tag.value.trim();
    if (!idTag || !until.value) {
      notify("A reservation needs an ID tag and an end time.", "error");
      return;
    }
    const answer = await command(chargerId, "reserve-now", {
      connector_id: Number(form.connector_id.value), id_tag: idTag,
      expiry_date: fromLocalInput(until.value),
    }, `ReserveNow for ${idTag}`, form.querySelector("button"));
    if (answer) await reload();
  });
  get("/api/id-tags/?status=Accepted&limit=200").then((tags) => {
    replace($("#known-tags-reserve"), tags.items.map((t) => h("option", { value: t.id_tag })));
  }).catch(() => {});
}

function wireLimit(chargerId, reload) {
  const form = $("#limit-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = chargingLimit(form.limit.value, form.unit.value);
    if (value.error) {
      notify(value.error, "error");
      form.limit.setAttribute("aria-invalid", "true");
      form.limit.focus();
      return;
    }
    form.limit.removeAttribute("aria-invalid");
    const shown = `${form.limit.value} ${form.unit.value}`;
    const answer = await command(chargerId, "set-charging-profile",
                                 limitProfile(form.scope.value, value.rate, value.limit),
                                 `Limit to ${shown}`, form.querySelector("button[type=submit]"));
    if (answer) await reload();
  });
  $("#limit-clear").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const scope = form.scope.value;
    const id = scope === "0" ? MAX_PROFILE_ID : TX_DEFAULT_PROFILE_ID + Number(scope);
    if (!await confirmed(`Remove the limit of ${chargerId}`,
                         "Clears the charging profile this page set; other profiles stay.",
                         "Remove limit")) return;
    const answer = await command(chargerId, "clear-charging-profile", { id },
                                 "Remove limit", button);
    if (answer) await reload();
  });
}

export function startOperations(chargerId, reload) {
  wireConfig(chargerId, reload);
  wireLocalList(chargerId);
  wireReserve(chargerId, reload);
  wireLimit(chargerId, reload);
  return {
    render(detail) {
      replace($("#config-keys"), Object.keys(detail.configuration || {}).sort()
        .map((key) => h("option", { value: key })));
    },
    connectors(current) {
      const outlets = current.connectors.filter((c) => c.connector_id > 0);
      const keep = (select, options) => {
        const chosen = select.value;
        replace(select, options);
        if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
      };
      keep($("#reserve-connector"), [h("option", { value: 0 }, "Any connector"),
        ...outlets.map((c) => h("option", { value: c.connector_id }, `Connector ${c.connector_id}`))]);
      keep($("#limit-scope"), [h("option", { value: 0 }, "the whole charger (ChargePointMaxProfile)"),
        ...outlets.map((c) => h("option", { value: c.connector_id },
                                `new sessions on connector ${c.connector_id} (TxDefaultProfile)`))]);
    },
  };
}
