// The chargers as the dashboard knows them: loaded from a snapshot, kept current by the
// live events. Status and meter events are applied in place (a status event carries the
// charger's info text and timestamp, so a fault shows in full without a refetch); events
// that change more than one field (boot, transaction start/stop) refetch that charger.

import { get } from "./api.js";
import { serverNow } from "./clock.js";
import { nowIso } from "./format.js";
import { showError } from "./ui.js";

const REFETCH_DELAY_MS = 250;
const MAX_SINGLE_REFETCHES = 20; // more than this at once: reload the whole list
const REFETCH_EVENTS = new Set(["charger.boot", "transaction.started", "transaction.stopped",
                                "charger.firmware", "charger.diagnostics",
                                "charger.diagnostics_received"]);

/** Link each connector to its active transaction object, so one update serves both. */
function normalise(charger) {
  const active = charger.active_transactions || [];
  for (const connector of charger.connectors) {
    connector.active_transaction =
      active.find((tx) => tx.connector_id === connector.connector_id) || null;
  }
  return charger;
}

/** A snapshot has no last meter readings (only the detail has): keep the ones known. */
function keepDetail(charger, before) {
  if (!before) return charger;
  for (const connector of charger.connectors) {
    const old = before.connectors.find((c) => c.connector_id === connector.connector_id);
    if (old && old.last_meter && !("last_meter" in connector)) connector.last_meter = old.last_meter;
  }
  return charger;
}

export class ChargerStore {
  /** onChange(ids): ids is a Set of changed charger ids, or null when all changed. */
  constructor(onChange, { only = null } = {}) {
    this.byId = new Map();
    this.onChange = onChange;
    this.only = only; // one charger id (the detail page), or null for all
    this.pending = new Set();
    this.reloadAll = false;
    this.timer = null;
  }

  load(chargers) {
    const wanted = this.only ? chargers.filter((c) => c.id === this.only) : chargers;
    const before = this.byId;
    this.byId = new Map(wanted.map((c) => [c.id, keepDetail(normalise(c), before.get(c.id))]));
    this.onChange(null);
  }

  list() {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  apply(events) {
    const changed = new Set();
    for (const event of events) {
      if (this.only && event.charger_id && event.charger_id !== this.only) continue;
      const charger = this.byId.get(event.charger_id);
      if (this.applyOne(event, charger)) changed.add(charger.id);
    }
    if (changed.size) this.onChange(changed);
  }

  /** Apply one event; returns true when `charger` changed in place. */
  applyOne(event, charger) {
    if (!event.charger_id) return false; // about the site, not a charger (site.allocation)
    if (REFETCH_EVENTS.has(event.type) || !charger) {
      this.refetch(event.charger_id);
      return false;
    }
    charger.last_seen = nowIso();
    if (event.type === "charger.connected") {
      charger.online = true;
      charger.connected_at = charger.last_seen;
    } else if (event.type === "charger.disconnected") {
      charger.online = false;
      charger.disconnected_at = charger.last_seen;
    } else if (event.type === "connector.status") {
      this.setStatus(charger, event);
    } else if (event.type === "meter") {
      return this.setMeter(charger, event);
    }
    return true;
  }

  setStatus(charger, event) {
    let connector = charger.connectors.find((c) => c.connector_id === event.connector_id);
    if (!connector) {
      connector = { connector_id: event.connector_id, active_transaction: null, info: "" };
      charger.connectors.push(connector);
      charger.connectors.sort((a, b) => a.connector_id - b.connector_id);
    }
    connector.status = event.status;
    connector.error_code = event.error_code;
    connector.info = event.info ?? "";
    // As in the record: status_at is the charger's own time (null when it sent none we
    // could read), updated_at when the box received it.
    connector.status_at = event.timestamp ?? null;
    connector.updated_at = charger.last_seen;
  }

  setMeter(charger, event) {
    const tx = (charger.active_transactions || []).find((t) => t.id === event.transaction_id);
    if (!tx) {
      if (event.transaction_id) this.refetch(charger.id);
      return false;
    }
    if (event.power_w !== null && event.power_w !== undefined) tx.power_w = event.power_w;
    if (event.energy_wh !== null && event.energy_wh !== undefined) tx.meter_now = event.energy_wh;
    // The session energy is the server's (domain/meter_readings.session_energy), as in the list.
    if (event.session_energy_wh !== null && event.session_energy_wh !== undefined) {
      tx.energy_wh = event.session_energy_wh;
    }
    tx.live_meter_at = serverNow();
    if (this.onMeter) this.onMeter(charger, tx, event);
    return true;
  }

  refetch(chargerId) {
    if (chargerId === undefined || chargerId === null) this.reloadAll = true;
    else this.pending.add(chargerId);
    if (!this.timer) {
      this.timer = setTimeout(() => this.runRefetch().catch(showError), REFETCH_DELAY_MS);
    }
  }

  async runRefetch() {
    this.timer = null;
    const ids = [...this.pending];
    this.pending.clear();
    if (this.reloadAll || ids.length > MAX_SINGLE_REFETCHES) {
      this.reloadAll = false;
      this.load(await get("/api/chargers/"));
      return;
    }
    const changed = new Set();
    for (const id of ids) {
      try {
        this.byId.set(id, normalise(await get(`/api/chargers/${encodeURIComponent(id)}/`)));
        changed.add(id);
      } catch (error) {
        if (error.status !== 404) throw error;
        this.byId.delete(id);
        this.onChange(null);
      }
    }
    if (changed.size) this.onChange(changed, { refetched: true });
  }
}
