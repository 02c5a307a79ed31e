"""Peewee models: the schema of evedge.

All times are naive ``datetime`` values in UTC. Changing a model means adding a
migration under ``evedge/migrations/`` (the initial one is a frozen copy).
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    SQL,
)

from ..timeutil import utcnow

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


# --- accounts --------------------------------------------------------------------------

ROLES = ("admin", "operator", "viewer")


class User(BaseModel):
    id = AutoField()
    username = CharField(max_length=150, unique=True)
    password_hash = CharField(max_length=60)
    role = CharField(max_length=16, default="viewer")
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)


class LoginSession(BaseModel):
    """One login: its access and refresh tokens carry ``sid``; logout revokes it."""

    sid = CharField(max_length=36, primary_key=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)


class RevokedToken(BaseModel):
    """A token id (``jti``) that must no longer be accepted, kept until it expires anyway."""

    jti = CharField(max_length=36, primary_key=True)
    expires_at = DateTimeField(index=True)


# --- chargers --------------------------------------------------------------------------

REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")


class Charger(BaseModel):
    id = CharField(max_length=64, primary_key=True)  # the charge point id from the URL
    label = CharField(max_length=100, default="")
    location = CharField(max_length=200, default="")
    registration_status = CharField(max_length=16, default="Accepted")
    password_hash = CharField(max_length=60, null=True)  # OCPP 1.6 security profile 1
    vendor = CharField(max_length=500, default="")
    model = CharField(max_length=500, default="")
    serial_number = CharField(max_length=500, default="")
    charge_box_serial_number = CharField(max_length=500, default="")
    firmware_version = CharField(max_length=500, default="")
    iccid = CharField(max_length=500, default="")
    imsi = CharField(max_length=500, default="")
    meter_type = CharField(max_length=500, default="")
    meter_serial_number = CharField(max_length=500, default="")
    created_at = DateTimeField(default=utcnow)
    last_boot_at = DateTimeField(null=True)
    last_seen_at = DateTimeField(null=True)
    connected_at = DateTimeField(null=True)
    disconnected_at = DateTimeField(null=True)
    firmware_status = CharField(max_length=500, default="")
    firmware_status_at = DateTimeField(null=True)
    diagnostics_status = CharField(max_length=500, default="")
    diagnostics_status_at = DateTimeField(null=True)
    local_list_version = IntegerField(null=True)
    configuration = TextField(default="")  # JSON of the last GetConfiguration answer
    retired_at = DateTimeField(null=True)  # DELETE /api/chargers/<id>/: gone, transactions kept
    # registered by one of the dashboard's simulators (a database default for hand-written SQL)
    simulated = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])


class Connector(BaseModel):
    """Current status of one connector; connector_id 0 is the charger as a whole."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="connectors", on_delete="CASCADE")
    connector_id = BigIntegerField()
    status = CharField(max_length=500, default="Unknown")
    error_code = CharField(max_length=30, default="NoError")
    info = CharField(max_length=500, default="")
    vendor_id = CharField(max_length=255, default="")
    vendor_error_code = CharField(max_length=500, default="")
    status_at = DateTimeField(null=True)  # the charger's timestamp, if it sent one
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("charger", "connector_id"), True),)


class StatusEvent(BaseModel):
    """Every StatusNotification as received: the status log."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    connector_id = BigIntegerField()
    status = CharField(max_length=500)
    error_code = CharField(max_length=30)
    info = CharField(max_length=500, default="")
    vendor_id = CharField(max_length=255, default="")
    vendor_error_code = CharField(max_length=500, default="")
    charger_time = DateTimeField(null=True)
    received_at = DateTimeField()

    class Meta:
        indexes = ((("charger", "received_at"), False),)


# --- id tags and transactions ------------------------------------------------------------

ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired")


class IdTag(BaseModel):
    id_tag = CharField(max_length=20, primary_key=True)
    status = CharField(max_length=16, default="Accepted")
    expiry_date = DateTimeField(null=True)
    parent_id_tag = CharField(max_length=20, null=True)
    max_active_transactions = IntegerField(null=True)  # None: no limit
    note = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Transaction(BaseModel):
    """A charging session; ``id`` is the OCPP transactionId handed to the charger."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="transactions", on_delete="CASCADE")
    connector_id = BigIntegerField()
    id_tag = CharField(max_length=255)
    auth_status = CharField(max_length=16)
    reservation_id = BigIntegerField(null=True)
    meter_start = BigIntegerField()
    start_time = DateTimeField()          # the charger's clock
    start_received_at = DateTimeField()   # ours
    meter_stop = BigIntegerField(null=True)
    stop_time = DateTimeField(null=True)
    stop_received_at = DateTimeField(null=True)
    stop_reason = CharField(max_length=20, null=True)
    stop_id_tag = CharField(max_length=255, null=True)
    energy_wh = BigIntegerField(null=True)
    stop_inferred = BooleanField(default=False)  # closed by evedge, not by a StopTransaction
    note = CharField(max_length=200, default="")

    class Meta:
        indexes = (
            # duplicate StartTransaction detection and "open transaction on this connector"
            (("charger", "connector_id", "start_time"), False),
            (("stop_received_at",), False),
            (("id_tag", "stop_received_at"), False),
        )


class Reservation(BaseModel):
    """A ReserveNow sent to a charger; ``id`` is the OCPP reservationId.

    ``status`` is the charger's answer (Accepted, Faulted, Occupied, Rejected,
    Unavailable), then Used when a StartTransaction names it, Cancelled, or Expired.
    """

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="reservations", on_delete="CASCADE")
    connector_id = IntegerField()
    id_tag = CharField(max_length=20)
    parent_id_tag = CharField(max_length=20, null=True)
    expiry_date = DateTimeField()
    status = CharField(max_length=16, default="Requested")
    transaction = ForeignKeyField(Transaction, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("charger", "status"), False),)


class ChargingProfileRecord(BaseModel):
    """A charging profile installed on a charger (SetChargingProfile or RemoteStart,
    answered Accepted): one row per profile in force (docs/decisions.md D23).

    A replaced, cleared or ended profile is deleted (the command log keeps what was sent).
    Rows of databases from before migration 0006 may also carry another ``status``
    (Rejected, Cleared, Replaced, Ended): those are not in force.
    """

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="charging_profiles", on_delete="CASCADE")
    connector_id = IntegerField()
    profile_id = IntegerField()
    stack_level = IntegerField()
    purpose = CharField(max_length=32)
    profile = TextField()  # the csChargingProfiles object as sent (JSON, snake_case)
    status = CharField(max_length=16)  # Accepted: in force (other values: legacy rows)
    sent_at = DateTimeField(default=utcnow)
    cleared_at = DateTimeField(null=True)
    # A TxProfile's transaction; None for a TxProfile while its transaction has not started
    # (RemoteStartTransaction) and for the other purposes.
    transaction_id = BigIntegerField(null=True)

    class Meta:
        indexes = ((("charger", "profile_id"), False),)


class LocalListEntry(BaseModel):
    """What evedge believes a charger's local authorization list holds (OCPP 1.6 §3.5.3)."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="local_list", on_delete="CASCADE")
    id_tag = CharField(max_length=20)
    status = CharField(max_length=16)
    expiry_date = DateTimeField(null=True)
    parent_id_tag = CharField(max_length=20, null=True)

    class Meta:
        indexes = ((("charger", "id_tag"), True),)


class MeterSample(BaseModel):
    """One sampledValue of a MeterValues (or StopTransaction.transactionData); the volume table."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE", index=False)
    connector_id = BigIntegerField()
    transaction = ForeignKeyField(Transaction, null=True, on_delete="SET NULL", index=False)
    timestamp = DateTimeField()       # the charger's clock
    received_at = DateTimeField()     # ours: offline replays show up as old timestamps
    measurand = CharField(max_length=500, default="Energy.Active.Import.Register")
    phase = CharField(max_length=500, null=True)
    unit = CharField(max_length=500, null=True)
    context = CharField(max_length=24, null=True)
    location = CharField(max_length=500, null=True)
    value = DoubleField(null=True)    # numeric value; None when the value is not a number
    raw_value = TextField(null=True)  # kept only when it is not a plain number (SignedData, quirks)

    class Meta:
        # Every index costs each sample a B-tree insert and the WAL pages it dirties
        # (migration 0003): per transaction here, latest per connector below (partial).
        # Retention finds its cut-off by a binary search over ``id`` instead (ids grow
        # with received_at, see sql.first_sample_since).
        indexes = ((("transaction", "timestamp"), False),)


# "Latest per connector" (docs/architecture.md §7) for samples outside transactions; a
# connector's samples inside a transaction are found through the transaction. Partial,
# so that the volume, samples in transactions, never pays for it (read_models.last_meter).
MeterSample.add_index(MeterSample.index(
    MeterSample.charger, MeterSample.connector_id, MeterSample.id,
    where=MeterSample.transaction.is_null(), name="metersample_connector_latest"))


class Anomaly(BaseModel):
    """Something a charger did that evedge answered but did not expect (unknown ids, ...)."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    kind = CharField(max_length=40)
    detail = TextField(default="")
    received_at = DateTimeField()

    class Meta:
        indexes = ((("charger", "received_at"), False),)


class ChargerRepair(BaseModel):
    """One kind of firmware deviation the tolerant pass repaired for a charger
    (chargers/tolerance.py): what, how often, first and last seen, one example.

    Counted in memory and written in batches (domain/repairs.py), never once per message.
    """

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="repairs", on_delete="CASCADE")
    action = CharField(max_length=40)     # the OCPP action, e.g. MeterValues
    field = CharField(max_length=255)     # meterValue[].sampledValue[].unit (no indexes)
    kind = CharField(max_length=40)       # tolerance.Repair.kind, e.g. enum_raw
    count = BigIntegerField()
    first_seen_at = DateTimeField()
    last_seen_at = DateTimeField()
    example = TextField(default="")       # what the charger sent the first time, cut short

    class Meta:
        indexes = ((("charger", "action", "field", "kind"), True),)


class DataTransferRecord(BaseModel):
    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    vendor_id = CharField(max_length=255)
    message_id = CharField(max_length=255, null=True)
    data = TextField(null=True)
    received_at = DateTimeField()


class CommandLog(BaseModel):
    """Audit log of every command sent to a charger: who, when, what, the answer."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    username = CharField(max_length=150, default="")
    action = CharField(max_length=40)
    request = TextField()
    outcome = CharField(max_length=20)  # answered, rejected, callerror, timeout, offline, ...
    response = TextField(default="")
    sent_at = DateTimeField()
    answered_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("charger", "sent_at"), False),)


class UploadGrant(BaseModel):
    """A location handed to a charger for one upload (GetDiagnostics); the token is hashed."""

    token_hash = CharField(max_length=64, primary_key=True)
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    purpose = CharField(max_length=16, default="diagnostics")
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    file_name = CharField(max_length=128, null=True)


class KeyValue(BaseModel):
    """Small key/value facts about this installation (health probe, runtime settings)."""

    key = CharField(max_length=64, primary_key=True)
    value = TextField(default="")


ALL_MODELS = [User, LoginSession, RevokedToken, Charger, Connector, StatusEvent, IdTag,
              Transaction, Reservation, ChargingProfileRecord, LocalListEntry, MeterSample,
              Anomaly, ChargerRepair, DataTransferRecord, CommandLog, UploadGrant, KeyValue]
