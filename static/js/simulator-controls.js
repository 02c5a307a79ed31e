// Rehearsal controls of one running simulated charger (POST /ui/simulators/<id>/<action>/):
// plug a car in and out, swipe a tag, fault a connector and clear it, take the charger off
// the network and back. Shared by the dashboard's commissioning panel and the simulator's
// own charger page. Every answer is the simulator's new state: `onState(simulator)` redraws
// at once, and the button pressed keeps the focus (its key survives the redraw). A refusal
// (409) says why in a notice; nothing was sent then.

import { tagList } from "./actions.js";
import { post } from "./api.js";
import { isLive } from "./connection.js";
import { shortTime, statusKind } from "./format.js";
import { ask, busy, h, notify } from "./ui.js";

// ChargePointErrorCode values of a Faulted StatusNotification (OCPP 1.6 §7.6, NoError is no
// fault); the box checks them too (evedge/simulation/rehearsal.py, tests/test_rehearsal_ui.py).
export const FAULT_CODES = [
  "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
  "InternalError", "LocalListConflict", "OtherError", "OverCurrentFailure", "OverVoltage",
  "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage",
  "WeakSignal",
];
const INFO_LENGTH = 50; // StatusNotification's info is a CiString50
const enc = encodeURIComponent;

const where = (id, n) => (n === 0 ? `${id} (whole charger)` : `${id} connector ${n}`);

function refocus(key) {
  if (!key) return;
  const again = document.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (again && !again.disabled) again.focus();
}

/** Send one action; the answer redraws the controls, and a notice says what happened. */
async function act(simulator, action, body, button, onState) {
  const key = button && button.dataset.focus;
  return busy(button, async () => {
    const answer = await post(`/ui/simulators/${enc(simulator.charger_id)}/${action}/`, body);
    onState(answer);
    refocus(key);
    tell(answer, body);
    return answer;
  });
}

function stateOf(answer, n) {
  return answer.connector_states.find((c) => c.connector_id === n) || {};
}

function tell(answer, body) {
  const id = answer.charger_id;
  const n = answer.connector_id;
  const status = n === null ? "" : stateOf(answer, n).status;
  const texts = {
    "plug-in": () => `${where(id, n)}: car plugged in (${status})`,
    "plug-out": () => `${where(id, n)}: car unplugged (${status})`,
    fault: () => `${where(id, n)} Faulted: ${body.error_code}`,
    "clear-fault": () => `${where(id, n)}: fault cleared (${status})`,
    "go-offline": () => `${id} is offline ` +
      (answer.back_at ? `until ${shortTime(answer.back_at)}` : "until you bring it back"),
    "go-online": () => `${id} reconnects now`,
  };
  if (answer.action === "swipe") {
    tellSwipe(answer, body.id_tag);
    return;
  }
  notify(texts[answer.action]());
}

function tellSwipe(answer, tag) {
  const at = where(answer.charger_id, answer.connector_id);
  if (answer.stopped) {
    notify(`${at}: ${tag} stopped transaction ${answer.transaction_id}`);
  } else if (answer.transaction_id !== null) {
    notify(`${at}: ${tag} ${answer.authorization}, transaction ${answer.transaction_id} started`);
  } else {
    notify(`${at}: ${tag} ${answer.authorization || "not answered"}; no session started`,
           "error");
  }
}

function button(simulator, what, n, onclick, props = {}) {
  const id = simulator.charger_id;
  const label = n === null ? `${what}: ${id}` : `${what}: ${id} connector ${n}`;
  const slot = props.slot || what;
  return h("button", { type: "button", class: props.class || "small", "aria-label": label,
                       disabled: !isLive(), title: isLive() ? null : "No connection to the box",
                       dataset: { focus: `sim/${id}/${slot}/${n}` },
                       onclick: (event) => onclick(event.currentTarget) }, props.text || what);
}

async function swipe(simulator, n, target, onState) {
  const values = await ask({
    title: `Swipe a tag: ${where(simulator.charger_id, n)}`,
    text: "The simulated charger sends Authorize and, if the box accepts the tag, starts a " +
          "session. The tag of the running session stops it.",
    fields: [{ name: "id_tag", label: "ID tag", required: true, list: "known-tags" }],
    ok: "Swipe tag",
    extra: await tagList(),
  });
  if (!values) return;
  await act(simulator, "swipe", { connector_id: n, id_tag: values.id_tag.trim() }, target,
            onState);
}

async function fault(simulator, n, target, onState) {
  const values = await ask({
    title: `Fault: ${where(simulator.charger_id, n)}`,
    text: "The simulated charger reports Faulted with this error code. A session on it " +
          "goes on without energy until the fault is cleared.",
    fields: [
      { name: "error_code", label: "Error code", options: FAULT_CODES.map((c) => [c, c]),
        value: "GroundFailure" },
      { name: "info", label: `What the charger says (optional, up to ${INFO_LENGTH})` },
    ],
    ok: "Report the fault",
    danger: true,
  });
  if (!values) return;
  const body = { connector_id: n, error_code: values.error_code };
  const info = values.info.trim();
  if (info) body.info = info.slice(0, INFO_LENGTH);
  await act(simulator, "fault", body, target, onState);
}

async function goOffline(simulator, target, onState) {
  const values = await ask({
    title: `Take ${simulator.charger_id} offline`,
    text: "Its connection drops as when the network fails. Leave the seconds empty to keep " +
          "it offline until you bring it back.",
    fields: [
      { name: "seconds", label: "Back after (seconds, optional)", type: "number", min: 1,
        max: 86400, inputmode: "numeric" },
      { name: "reboot", label: "When it is back", options: [
        ["false", "it reconnects without a BootNotification (sessions go on)"],
        ["true", "it has rebooted: sessions end, BootNotification first"]] },
    ],
    ok: "Go offline",
    danger: true,
  });
  if (!values) return;
  const body = { reboot: values.reboot === "true" };
  if (values.seconds !== "") body.seconds = Number(values.seconds);
  await act(simulator, "go-offline", body, target, onState);
}

/** The buttons of one connector (n > 0): plug in or out, swipe, fault or clear. */
export function connectorControls(simulator, connector, onState) {
  const n = connector.connector_id;
  const car = connector.plugged_in || connector.transaction_id !== null;
  const faulted = connector.status === "Faulted";
  return h("span", { class: "actions" },
    car ? button(simulator, "Plug out", n, (b) => act(simulator, "plug-out", { connector_id: n },
                                                      b, onState), { slot: "plug" })
        : button(simulator, "Plug in", n, (b) => act(simulator, "plug-in", { connector_id: n },
                                                     b, onState), { slot: "plug" }),
    button(simulator, "Swipe tag", n, (b) => swipe(simulator, n, b, onState),
           { text: "Swipe tag…" }),
    faulted
      ? button(simulator, "Clear fault", n, (b) => act(simulator, "clear-fault",
                                                       { connector_id: n }, b, onState),
               { slot: "fault" })
      : button(simulator, "Fault", n, (b) => fault(simulator, n, b, onState),
               { slot: "fault", text: "Fault…", class: "small danger" }));
}

/** The charger's own buttons: off the network and back, a fault of the whole charger. */
export function chargerControls(simulator, onState) {
  const whole = simulator.connector_states.find((c) => c.connector_id === 0);
  const faulted = whole && whole.status === "Faulted";
  return h("span", { class: "actions" },
    simulator.held_offline
      ? button(simulator, "Go online", null, (b) => act(simulator, "go-online", {}, b, onState),
               { slot: "network", class: "small primary" })
      : button(simulator, "Go offline", null, (b) => goOffline(simulator, b, onState),
               { slot: "network", text: "Go offline…", class: "small danger" }),
    faulted
      ? button(simulator, "Clear charger fault", null, (b) => act(simulator, "clear-fault",
                                                                  { connector_id: 0 }, b, onState),
               { slot: "fault" })
      : button(simulator, "Fault whole charger", null, (b) => fault(simulator, 0, b, onState),
               { slot: "fault", text: "Fault whole charger…", class: "small danger" }));
}

/** One line per connector: its status as the simulator knows it, the car, the session. */
export function connectorLines(simulator, onState) {
  return simulator.connector_states.filter((c) => c.connector_id > 0).map((c) => h("div", {
    class: "connector", dataset: { simConnector: c.connector_id } },
    h("span", {}, `#${c.connector_id}`),
    h("span", { class: `badge ${statusKind(c.status)}` }, c.status),
    c.status === "Faulted" ? h("span", { class: "error-text" }, c.error_code) : "",
    h("span", { class: "muted small" }, [
      c.plugged_in ? "car plugged in" : "no car",
      c.transaction_id !== null ? `transaction ${c.transaction_id}` : ""].filter(Boolean)
      .join(" · ")),
    connectorControls(simulator, c, onState)));
}

/** The simulator's connection, as badges: connected, connecting, or held offline. */
export function connectionBadges(simulator) {
  if (simulator.held_offline) {
    return [h("span", { class: "badge off" }, "Offline"), " ",
            h("span", { class: "muted small" }, simulator.back_at
              ? `back at ${shortTime(simulator.back_at)}` : "until you bring it back")];
  }
  return [h("span", { class: `badge ${simulator.connected ? "ok" : "warn"}` },
            simulator.connected ? "Connected" : "Connecting"), " ",
          simulator.registration_status
            ? h("span", { class: "muted small" }, simulator.registration_status) : ""];
}
