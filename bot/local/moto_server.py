"""moto's server on 127.0.0.1, with DynamoDB's isolation: the local stand-in for S3, SQS and
DynamoDB.

DynamoDB runs each request, a TransactWriteItems whole, in isolation: a transaction that meets
another on the same item is cancelled (TransactionConflict), never interleaved with it
(docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
moto's threaded server runs requests side by side, and its TransactWriteItems checks and writes
item by item, rolling a cancelled one back by restoring a copy of the whole table taken at its
start; moto lists "an ongoing operation is updating the same item" among the cases it does not
model (github.com/getmoto/moto/pull/2879). Two concurrent quota reservations could then both pass
their conditions, or a cancelled one could undo another's accepted count. So DynamoDB requests
are answered one at a time here; S3 and SQS (whose receives long-poll) stay concurrent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from bot.local.loopback import STOP_POLL_SECONDS

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def one_dynamodb_request_at_a_time(app: WSGIApp) -> WSGIApp:
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Every DynamoDB API call is a POST whose X-Amz-Target names it: DynamoDB_20120810.<Action>.
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole answer, made inside the lock

    return serve


class QuietMotoRequestHandler(MotoRequestHandler):
    disable_nagle_algorithm = True  # as bot/local/loopback.py's servers: no delayed-ACK stalls

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # a request line per call is noise on a local stand-in


class MotoServer:
    def __init__(self) -> None:
        app = one_dynamodb_request_at_a_time(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=QuietMotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_SECONDS}, daemon=True
        )

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
