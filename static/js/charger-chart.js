// The live power chart of the charger page (uPlot, vendored in static/vendor/uplot/).
// History comes from the transaction's meter samples; live points from meter events.

import { get } from "./api.js";

const HEIGHT = 240;
const SAMPLES = 20000; // a day of 10 s samples for one measurand, with the others

function kilowatts(sample) {
  return sample.unit === "kW" ? sample.value : sample.value / 1000;
}

function options(width) {
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
    series: [
      {},
      { label: "Power", stroke: "#0b4fa8", width: 2, fill: "rgba(11, 79, 168, 0.12)",
        value: (u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} kW`) },
    ],
    axes: [{ stroke: "#111" }, { stroke: "#111", label: "kW", size: 60 }],
  };
}

export class PowerChart {
  constructor(element) {
    this.element = element;
    this.plot = null;
    this.txId = null;
    this.xs = [];
    this.ys = [];
    new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
    }).observe(element);
  }

  width() {
    return Math.max(280, this.element.clientWidth - 12);
  }

  /** Show transaction `tx` (loads its power samples once per transaction). */
  async show(tx) {
    if (this.txId === tx.id) return;
    this.txId = tx.id;
    const detail = await get(`/api/transactions/${tx.id}/?samples_limit=${SAMPLES}`);
    const power = detail.meter_samples.filter((s) => s.measurand === "Power.Active.Import"
                                                   && !s.phase && s.value !== null);
    this.xs = power.map((s) => Date.parse(s.timestamp) / 1000);
    this.ys = power.map(kilowatts);
    if (!this.xs.length && tx.power_w !== null && tx.power_w !== undefined) {
      this.xs.push(Date.now() / 1000);
      this.ys.push(tx.power_w / 1000);
    }
    this.draw();
  }

  /** A live reading of the transaction shown. */
  add(tx, powerW) {
    if (tx.id !== this.txId || powerW === null || powerW === undefined) return;
    this.xs.push(Date.now() / 1000);
    this.ys.push(powerW / 1000);
    if (this.plot) this.plot.setData([this.xs, this.ys]);
  }

  draw() {
    this.element.hidden = false;
    if (this.plot) this.plot.destroy();
    // uPlot is a classic script (window.uPlot), loaded before the page's modules.
    this.plot = new window.uPlot(options(this.width()), [this.xs, this.ys], this.element);
  }

  hide() {
    this.txId = null;
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.element.hidden = true;
  }
}
