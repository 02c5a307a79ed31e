"""Reservation (§5.1, §5.13), SmartCharging (§5.5, §5.7, §5.16) and LocalAuthListManagement
(§5.10, §5.15) actions the Central System sends the simulated charger.

The rules themselves live in `state` (local list) and `smart_charging` (profiles); these
handlers validate what the server sent and answer.
"""

from __future__ import annotations

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    CancelReservationStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
    ReservationStatus,
    UpdateStatus,
)

from .clock import _whole_seconds, rfc3339, utc_now
from .smart_charging import _plain
from .state import Reservation


class SmartHandlers:
    """Reservation, smart charging and local list handlers of `SimulatedCharger`."""

    # ---- Local auth list management --------------------------------------------------------

    @on(Action.send_local_list)
    def on_send_local_list(
        self, list_version, update_type, local_authorization_list=None, **kwargs
    ):
        """§5.15: NotSupported while LocalAuthListEnabled is false, VersionMismatch for a stale
        Differential update, Failed when the list would be too long."""
        if not self.config.flag("LocalAuthListEnabled"):
            return call_result.SendLocalList(status=UpdateStatus.not_supported)
        entries = local_authorization_list or []
        expiries = [(e.get("id_tag_info") or {}).get("expiry_date") for e in entries]
        bad_time = any(
            v is not None and self._server_time(v, "SendLocalList expiryDate") is None
            for v in expiries
        )
        if bad_time or len(entries) > self.config.number("SendLocalListMaxLength"):
            return call_result.SendLocalList(status=UpdateStatus.failed)
        status = self.local_list.apply(
            update_type, list_version, entries, int(self.config.number("LocalAuthListMaxLength"))
        )
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        """§5.10: -1 when local lists are switched off, and 0 for an empty list."""
        enabled = self.config.flag("LocalAuthListEnabled")
        return call_result.GetLocalListVersion(
            list_version=self.local_list.version if enabled else -1
        )

    # ---- Reservation -----------------------------------------------------------------------

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id,
        expiry_date,
        id_tag,
        reservation_id,
        parent_id_tag=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.13: reserve an Available connector until expiryDate. A reservation with the same
        id replaces the old one. Connector 0 is rejected (no ReserveConnectorZeroSupported)."""
        expiry = self._server_time(expiry_date, "ReserveNow expiryDate")
        connector = self._outlet(connector_id)
        if connector is None or expiry is None or expiry <= utc_now():
            return call_result.ReserveNow(status=ReservationStatus.rejected)
        old = self.reservations.get(reservation_id)
        status = self._reservation_status(connector, old)
        if status != ReservationStatus.accepted:
            return call_result.ReserveNow(status=status)
        touched = [connector]
        if old is not None:
            self._drop_reservation(old)
            if old.connector_id != connector.connector_id:
                touched.append(self.connectors[old.connector_id])  # that one becomes Available
        reservation = Reservation(
            reservation_id, connector.connector_id, id_tag, expiry, parent_id_tag
        )
        self.reservations[reservation_id] = reservation
        reservation.timer = self._spawn(
            self._expire_reservation(reservation), f"reservation-{reservation_id}"
        )
        self._after_reply(call_unique_id, lambda: self._announce_idle(touched))
        return call_result.ReserveNow(status=ReservationStatus.accepted)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, call_unique_id=None, **kwargs):
        """§5.1: the connector becomes Available again."""
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            return call_result.CancelReservation(status=CancelReservationStatus.rejected)
        self._drop_reservation(reservation)
        connector = self.connectors[reservation.connector_id]
        self._after_reply(call_unique_id, lambda: self._announce_idle([connector]))
        return call_result.CancelReservation(status=CancelReservationStatus.accepted)

    # ---- Smart charging --------------------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        """§5.16: store the profile, replacing one with the same id or slot. A TxProfile needs
        a transaction on that connector."""
        profile = _plain(cs_charging_profiles)
        status = self._profile_status(connector_id, profile)
        if status == ChargingProfileStatus.accepted:
            self.profiles.install(connector_id, profile)
            self._load_changed()  # the cars follow after the reaction delay
        return call_result.SetChargingProfile(status=status)

    def _profile_status(self, connector_id: int, profile: dict) -> str:
        connector = self.connectors.get(connector_id)
        purpose = profile["charging_profile_purpose"]
        periods = profile["charging_schedule"]["charging_schedule_period"]
        replaces = profile["charging_profile_id"] in self.profiles.installed
        fits = (
            connector is not None
            and 0 <= profile["stack_level"] <= self.config.number("ChargeProfileMaxStackLevel")
            and 0 < len(periods) <= self.config.number("ChargingScheduleMaxPeriods")
            and (
                replaces
                or len(self.profiles.installed) < self.config.number("MaxChargingProfilesInstalled")
            )
            and self._profile_times_valid(profile)
        )
        if not fits or (
            purpose == ChargingProfilePurposeType.charge_point_max_profile and connector_id != 0
        ):
            return ChargingProfileStatus.rejected
        if purpose == ChargingProfilePurposeType.tx_profile:
            transaction = connector.transaction if connector_id > 0 else None
            wanted = profile.get("transaction_id")
            if transaction is None or wanted not in (None, transaction.transaction_id):
                return ChargingProfileStatus.rejected
        return ChargingProfileStatus.accepted

    def _profile_times_valid(self, profile: dict) -> bool:
        values = {
            "validFrom": profile.get("valid_from"),
            "validTo": profile.get("valid_to"),
            "startSchedule": profile["charging_schedule"].get("start_schedule"),
        }
        parsed = [
            self._server_time(v, f"SetChargingProfile {k}")
            for k, v in values.items()
            if v is not None
        ]
        return all(moment is not None for moment in parsed)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **kwargs
    ):
        """§5.5: Accepted when at least one profile matched, else Unknown."""
        cleared = self.profiles.clear(id, connector_id, charging_profile_purpose, stack_level)
        self._load_changed()
        status = (
            ClearChargingProfileStatus.accepted if cleared else ClearChargingProfileStatus.unknown
        )
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        """§5.7: the schedule that results from the installed profiles. Rejected when none apply."""
        connector = self.connectors.get(connector_id)
        now = _whole_seconds(utc_now())
        origin = (
            connector.transaction.started_at
            if connector is not None and connector.transaction
            else now
        )
        schedule = None
        if connector is not None:
            schedule = self.profiles.composite(
                connector_id, duration, charging_rate_unit, now, origin, self.power_w, self.phases
            )
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=rfc3339(now),
            charging_schedule=schedule,
        )
