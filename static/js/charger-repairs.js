// "Firmware deviations evedge repaired" on the charger page: every kind of repair the
// tolerant pass made for this charger, how often, first and last seen, and one example of
// what the charger sent, so that an operator can tell the vendor (docs/decisions.md D22).

import { time } from "./format.js";
import { $, h, replace, table } from "./ui.js";

const what = (r) => [h("strong", {}, r.action), " ", h("code", {}, r.field || "(payload)"),
  h("br"), h("span", { class: "small muted" }, r.repair)];

export function startRepairs() {
  function render(detail) {
    const repairs = detail.repairs || [];
    replace($("#repairs"), table([
      { label: "What", value: what },
      { label: "Count", value: (r) => r.count.toLocaleString(), num: true },
      { label: "First seen", value: (r) => time(r.first_seen_at) },
      { label: "Last seen", value: (r) => time(r.last_seen_at) },
      { label: "Example", value: (r) => h("code", { class: "example" }, r.example) },
    ], repairs, { empty: "None: everything this charger sent followed the OCPP 1.6 schemas.",
                  caption: "Firmware deviations evedge repaired",
                  rowData: (r) => ({ kind: r.kind }) }));
  }
  return { render };
}
