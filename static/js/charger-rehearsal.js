// The rehearsal panel of a simulated charger's own page (operators): shown while this
// charger is one of the simulators running in the box, with the controls of
// simulator-controls.js, redrawn from the simulator's own state (GET /api/simulators/).

import { get } from "./api.js";
import { onConnection } from "./connection.js";
import { chargerControls, connectionBadges, connectorLines } from "./simulator-controls.js";
import { $, replace } from "./ui.js";

const REFRESH_DELAY_MS = 300;

/** Wire the panel for `chargerId`; returns {refreshSoon()} for the page's live events. */
export function startRehearsal(chargerId) {
  const panel = $("#rehearsal");
  let simulator = null;
  let timer = null;

  function render() {
    panel.hidden = simulator === null;
    if (!simulator) return;
    const focused = document.activeElement && document.activeElement.dataset.focus;
    replace($("#rehearsal-connection"), connectionBadges(simulator));
    replace($("#rehearsal-connectors"), connectorLines(simulator, show));
    replace($("#rehearsal-charger"), chargerControls(simulator, show));
    const again = focused && panel.querySelector(`[data-focus="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }

  function show(state) {
    simulator = state;
    render();
  }

  async function refresh() {
    const data = await get("/api/simulators/");
    show(data.items.find((s) => s.charger_id === chargerId) || null);
  }

  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), REFRESH_DELAY_MS);
  }

  onConnection(render);
  refresh().catch(() => {});
  return { refreshSoon };
}
