"""Floor server: the cheapest OCPP 1.6J "central system" that can be built on Tornado.

A bare tornado WebSocketHandler at /ocpp/<id> (subprotocol ocpp1.6) that answers every CALL frame with a
fixed, valid CALLRESULT for its action. It parses only the unique id and the action out of the frame (string
scanning, no json), validates nothing and stores nothing. Anything evedge does costs more than this.

    python bench/servers/floor.py --port 9000 [--host 127.0.0.1] [--backlog 4096]
"""
import argparse
import asyncio
import resource

import tornado.web
import tornado.websocket

TS = "2025-01-01T00:00:00Z"
REPLIES = {
    "BootNotification": '{"currentTime":"%s","interval":300,"status":"Accepted"}' % TS,
    "Heartbeat": '{"currentTime":"%s"}' % TS,
    "StatusNotification": "{}",
    "Authorize": '{"idTagInfo":{"status":"Accepted"}}',
    "StartTransaction": '{"idTagInfo":{"status":"Accepted"},"transactionId":1}',
    "StopTransaction": '{"idTagInfo":{"status":"Accepted"}}',
    "MeterValues": "{}",
    "DataTransfer": '{"status":"Accepted"}',
    "DiagnosticsStatusNotification": "{}",
    "FirmwareStatusNotification": "{}",
}
# pre-split templates: '[3,"' + uid + '",<payload>]'
TAILS = {action: '",' + body + "]" for action, body in REPLIES.items()}


class OcppFloorHandler(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def select_subprotocol(self, subprotocols):
        return "ocpp1.6" if "ocpp1.6" in subprotocols else None

    def open(self, cp_id):
        self.set_nodelay(True)

    def on_message(self, m):
        if type(m) is bytes:
            m = m.decode()
        # [2,"<uid>","<Action>",{...}]
        try:
            a = m.index('"')
            b = m.index('"', a + 1)
            c = m.index('"', b + 1)
            d = m.index('"', c + 1)
        except ValueError:
            return
        if m[1:a].strip(" ,\t\r\n") != "2":
            return  # CALLRESULT/CALLERROR: the floor sends no CALLs, ignore
        tail = TAILS.get(m[c + 1:d])
        if tail is None:
            self.write_message('[4,"%s","NotImplemented","",{}]' % m[a + 1:b])
        else:
            self.write_message('[3,"' + m[a + 1:b] + tail)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backlog", type=int, default=4096)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run():
        app = tornado.web.Application([(r"/ocpp/([^/]+)", OcppFloorHandler)])
        app.listen(a.port, a.host, backlog=a.backlog)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
