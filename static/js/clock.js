// The box's clock as this browser sees it. Times in the data are the box's (or the
// charger's, in UTC); "3 min ago" and "stuck for 20 min" compare them with now, so a
// tablet whose own clock is off would mislead. Each API answer's Date header gives the
// offset (to the second, which is plenty here).

let offsetMs = 0;

/** Learn the offset from an HTTP Date header. */
export function noteServerDate(header) {
  const at = header ? Date.parse(header) : NaN;
  if (!Number.isNaN(at)) offsetMs = at + 500 - Date.now(); // the header drops the milliseconds
}

/** Now on the box's clock, in milliseconds since the epoch. */
export function serverNow() {
  return Math.abs(offsetMs) < 2000 ? Date.now() : Date.now() + offsetMs;
}
