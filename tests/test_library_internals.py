"""The private parts of ocpp 2.1.0 and Tornado 6.6 evedge relies on are still there.

``chargers/dispatch.py`` and ``web/connection_gate.py`` list them in their
docstrings; an upgrade of either library that moves one fails here, naming it,
instead of failing in the field.
"""

from __future__ import annotations

import inspect
import re

import ocpp.charge_point
import ocpp.routing
import tornado.http1connection
import tornado.httpserver
import tornado.tcpserver
import tornado.websocket
from ocpp.v16 import ChargePoint

from evedge.chargers.dispatch import Dispatcher
from evedge.chargers.session import ChargePointSession

# What ChargePoint.call() and the helpers it calls read from ``self``, which
# Dispatcher.__init__ sets instead of calling ChargePoint.__init__.
SET_BY_DISPATCHER = {"id", "logger", "_connection", "_response_timeout", "_call_lock",
                     "_unique_id_generator", "_response_queue"}
CLASS_ATTRIBUTES = {"_ocpp_version", "_call_result"}
METHODS = {"_send", "_get_specific_response"}


def test_call_reads_only_the_attributes_the_dispatcher_sets():
    source = "".join(inspect.getsource(getattr(ocpp.charge_point.ChargePoint, name))
                     for name in ("call", "_send", "_get_specific_response"))
    read = set(re.findall(r"self\.(\w+)", source))
    assert read <= SET_BY_DISPATCHER | CLASS_ATTRIBUTES | METHODS, \
        f"ocpp's call() now also reads {sorted(read - SET_BY_DISPATCHER - CLASS_ATTRIBUTES)}"
    assert ChargePoint._ocpp_version == "1.6"
    assert ChargePoint._call_result.__name__.endswith("call_result")


def test_the_dispatcher_sets_them_all():
    init = inspect.getsource(Dispatcher.__init__)
    for name in SET_BY_DISPATCHER - {"_response_queue"}:
        assert f"self.{name} =" in init, name
    assert isinstance(Dispatcher._response_queue, property)


def test_the_routing_decorators_mark_methods_as_the_dispatcher_reads_them():
    handler = ChargePointSession.on_boot_notification
    assert handler._on_action == "BootNotification"
    assert inspect.signature(ocpp.routing.on).parameters.keys() >= {"action"}
    assert "_after_action" in inspect.getsource(ocpp.routing.after)
    assert set(ChargePointSession._routes) == {
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction"}


def test_tornado_private_methods_keep_their_signatures():
    write_frame = inspect.signature(tornado.websocket.WebSocketProtocol13._write_frame)
    assert list(write_frame.parameters)[:4] == ["self", "fin", "opcode", "data"]
    handle = inspect.signature(tornado.tcpserver.TCPServer._handle_connection)
    assert list(handle.parameters) == ["self", "connection", "address"]
    for hook, parameters in (("handle_stream", ["self", "stream", "address"]),
                             ("start_request", ["self", "server_conn", "request_conn"]),
                             ("on_close", ["self", "server_conn"])):
        signature = inspect.signature(getattr(tornado.httpserver.HTTPServer, hook))
        assert list(signature.parameters) == parameters, hook
    assert "header_timeout" in inspect.signature(
        tornado.http1connection.HTTP1ConnectionParameters).parameters
    assert "self.stream = stream" in inspect.getsource(
        tornado.http1connection.HTTP1ServerConnection.__init__)


def test_the_routing_delegate_exposes_the_handler_delegate_and_its_streaming_flag():
    """web/connection_gate._BodyBudget tells streamed uploads from buffered bodies by these."""
    import tornado.routing
    import tornado.web
    assert "self.delegate = self.router.find_handler(request)" in inspect.getsource(
        tornado.routing._RoutingDelegate.headers_received)
    assert "self.stream_request_body = _has_stream_request_body(" in inspect.getsource(
        tornado.web._HandlerDelegate.__init__)


def test_the_websocket_protocol_parts_the_ocpp_socket_overrides():
    """web/ocpp_socket._Protocol answers a text frame that is not UTF-8 with 1007: it
    overrides _handle_message and reads what Tornado's own reads there."""
    protocol = tornado.websocket.WebSocketProtocol13
    handle = inspect.signature(protocol._handle_message)
    assert list(handle.parameters) == ["self", "opcode", "data"]
    source = inspect.getsource(protocol._handle_message)
    for part in ("self._frame_compressed", "self._message_bytes_in += len(data)",
                 "self._run_callback(self.handler.on_message, decoded)", "self._abort()"):
        assert part in source, part
    get_protocol = inspect.getsource(tornado.websocket.WebSocketHandler.get_websocket_protocol)
    assert "return WebSocketProtocol13(self, False, params)" in get_protocol
