// How numbers, times and statuses are shown.

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
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
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

export const nowIso = () => new Date().toISOString();

/** A datetime-local input's value (local time) as RFC 3339 UTC, or null when empty. */
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}
