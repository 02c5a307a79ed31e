// Power (and session energy) charts of a transaction (uPlot, vendored in
// static/vendor/uplot/). History comes from the transaction's meter samples, live points
// from meter events; both are placed at the meter's own timestamp (OCPP 1.6 §4.7
// MeterValues: sampledValue timestamps are the charger's), never at the browser's clock,
// so that a live point and the same point reloaded land in the same place.

import { get } from "./api.js";

const HEIGHT = 240;
const SAMPLES = 20000; // a day of 10 s samples for one measurand, with the others
const POWER = "Power.Active.Import";
const ENERGY = "Energy.Active.Import.Register";

function kilowatts(sample) {
  return sample.unit === "kW" ? sample.value : sample.value / 1000;
}

function kilowattHours(sample, meterStartWh) {
  const wh = sample.unit === "kWh" ? sample.value * 1000 : sample.value;
  return (wh - meterStartWh) / 1000;
}

/** Time labels that never overlap: one line, as short as the range allows. */
function timeLabels(u, splits) {
  const range = (u.scales.x.max || 0) - (u.scales.x.min || 0);
  const options = range > 86400 ? { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" };
  return splits.map((s) => new Date(s * 1000).toLocaleString([], options));
}

// Tick steps (s): uPlot's own jump from 1 to 5 minutes leaves a ten-minute session with two
// labels; 2 minutes sits between. Then the room per tick is the longest label plus a gap,
// whatever the width (a tablet in portrait has half a laptop's), so labels never collide.
const TICKS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400];
const tickSpace = (u, axis, min, max) => (max - min > 86400 ? 130 : 80);

const MIN_SPAN_S = 600;

/** At least ten minutes on the time axis: one reading alone is not a span of years. */
function timeRange(u, min, max) {
  if (min === null || max === null || !Number.isFinite(min)) return [min, max];
  return max - min < MIN_SPAN_S ? [min, min + MIN_SPAN_S] : [min, max];
}

function options(width, energy) {
  const series = [
    {},
    { label: "Power", scale: "kW", stroke: "#0b4fa8", width: 2, fill: "rgba(11, 79, 168, 0.12)",
      spanGaps: true, value: (u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} kW`) },
  ];
  const axes = [
    { stroke: "#111", space: tickSpace, incrs: TICKS, values: timeLabels, size: 36 },
    { stroke: "#111", scale: "kW", label: "kW", size: 56 },
  ];
  if (energy) {
    series.push({ label: "Session energy", scale: "kWh", stroke: "#0b6b2c", width: 2, spanGaps: true,
                  value: (u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(2)} kWh`) });
    axes.push({ stroke: "#0b6b2c", scale: "kWh", label: "kWh", side: 1, size: 64,
                grid: { show: false } });
  }
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true, range: timeRange },
              kW: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] },
              kWh: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    series,
    axes,
  };
}

export class MeterChart {
  /** A chart in `element`; `energy` adds the session energy on a second axis. */
  constructor(element, { energy = false, label = "" } = {}) {
    this.element = element;
    this.energy = energy;
    this.plot = null;
    this.points = new Map(); // x (s) -> [kW or null, kWh or null]
    this.meterStart = 0;
    element.classList.add("chart");
    element.setAttribute("role", "img");
    element.setAttribute("aria-label", label || "Power over time");
    this.resizer = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
    });
    this.resizer.observe(element);
  }

  width() {
    return Math.max(260, this.element.clientWidth - 12);
  }

  put(x, power, energy) {
    const point = this.points.get(x) || [null, null];
    if (power !== null && power !== undefined) point[0] = power;
    if (energy !== null && energy !== undefined) point[1] = energy;
    this.points.set(x, point);
  }

  /** The samples of GET /api/transactions/<id>/ (oldest first). */
  setSamples(samples, meterStartWh) {
    this.meterStart = meterStartWh || 0;
    this.points.clear();
    for (const s of samples) {
      if (s.value === null || (s.phase && s.measurand !== ENERGY)) continue;
      const x = Date.parse(s.timestamp) / 1000;
      if (s.measurand === POWER) this.put(x, kilowatts(s), null);
      else if (s.measurand === ENERGY && this.energy) {
        this.put(x, null, kilowattHours(s, this.meterStart));
      }
    }
    this.draw();
  }

  /** Load the transaction's samples and draw them. */
  async load(tx) {
    const detail = await get(`/api/transactions/${tx.id}/?samples_limit=${SAMPLES}`);
    this.setSamples(detail.meter_samples, detail.meter_start);
    return detail;
  }

  /** A live reading at the meter's timestamp (RFC 3339 from the meter event). */
  add(timestamp, powerW, energyWh = null) {
    const at = Date.parse(timestamp);
    if (Number.isNaN(at) || ((powerW ?? null) === null && (energyWh ?? null) === null)) return;
    this.put(at / 1000, powerW === null || powerW === undefined ? null : powerW / 1000,
             energyWh === null || energyWh === undefined || !this.energy ? null
               : (energyWh - this.meterStart) / 1000);
    if (this.plot) this.plot.setData(this.data());
    else this.draw();
  }

  data() {
    const xs = [...this.points.keys()].sort((a, b) => a - b);
    const value = (x, i) => (this.points.has(x) ? this.points.get(x)[i] : null);
    // One reading alone: uPlot would span a thousand days around it (its single-point
    // default assumes milliseconds); an empty point ten minutes on gives the axis a span.
    if (xs.length === 1) xs.push(xs[0] + MIN_SPAN_S);
    const columns = [xs, xs.map((x) => value(x, 0))];
    if (this.energy) columns.push(xs.map((x) => value(x, 1)));
    return columns;
  }

  draw() {
    if (this.plot) this.plot.destroy();
    const chosen = options(this.width(), this.energy);
    // data-drawn: the chart is on screen with its axes (what tests and people can wait for).
    chosen.hooks = { draw: [() => { this.element.dataset.drawn = "true"; }] };
    // uPlot is a classic script (window.uPlot), loaded before the page's modules.
    this.plot = new window.uPlot(chosen, this.data(), this.element);
  }

  destroy() {
    this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
