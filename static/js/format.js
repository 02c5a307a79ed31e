// How numbers, times and statuses are shown.

import { serverNow } from "./clock.js";

export function kw(watts) {
  return watts === null || watts === undefined ? "–" : `${(watts / 1000).toFixed(1)} kW`;
}

export function kwh(wattHours) {
  return wattHours === null || wattHours === undefined ? "–" : `${(wattHours / 1000).toFixed(2)} kWh`;
}

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((serverNow() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return time(iso);
}

export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 ** 2) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 ** 2).toFixed(1)} MiB`;
}

const STATUS_KIND = {
  Available: "ok",
  Charging: "info",
  Preparing: "warn",
  Finishing: "warn",
  SuspendedEV: "warn",
  SuspendedEVSE: "warn",
  Reserved: "plain",
  Unavailable: "off",
  Faulted: "bad",
  Accepted: "ok",
  Pending: "warn",
  Rejected: "bad",
  Blocked: "bad",
  Expired: "off",
  Invalid: "bad",
};

/** A status as a badge class: colour plus the text itself, never colour alone. */
export function statusKind(status) {
  return STATUS_KIND[status] || "plain";
}

export const nowIso = () => new Date(serverNow()).toISOString();

/** A datetime-local input's value (local time) as RFC 3339 UTC, or null when empty. */
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

/** A length of time: "45 s", "12 min", "2 h 05 min", "3 d 4 h". */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A time as "14:03:12" today, or "24/11, 14:03" another day. */
export function shortTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString()
    : date.toLocaleString([], { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" });
}
