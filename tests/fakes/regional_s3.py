"""S3 as the internet sees one new bucket outside us-east-1, behind an HTTPS proxy on 127.0.0.1.

Point ``HTTPS_PROXY`` at it and trust its CA (``AWS_CA_BUNDLE`` for boto3, an SSL context for a
browser-like client): requests to the bucket's real host names then reach this stand-in, with no
endpoint override anywhere and no packet leaving the machine. It answers as S3 does:

- on the bucket's regional virtual-hosted name ``{bucket}.s3.{region}.amazonaws.com``, it checks
  the SigV4 signature (query or header form) against the Host it was sent to, and serves
  GetObject / HeadObject from ``objects``;
- on the global name ``{bucket}.s3.amazonaws.com``, a bucket less than a day old in another
  region answers ``307 Temporary Redirect`` to its regional name, query string kept (S3 request
  routing guide, "Temporary request redirection"; AWS knowledge center "s3-http-307-response");
  in us-east-1 the global name is the bucket's own;
- any other host is refused at CONNECT, so nothing is ever forwarded.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote

from bot.local.loopback import Loopback, QuietHandler, Served
from tests.fakes.local_ca import LocalCA
from tests.fakes.sigv4 import Refusal, check


@dataclass(frozen=True)
class Seen:
    method: str
    host: str
    target: str
    status: int
    code: str = ""


@dataclass
class RegionalS3(Served):
    ca: LocalCA
    bucket: str
    region: str
    keys: dict[str, str]  # access key id -> secret key
    objects: dict[str, bytes] = field(default_factory=dict)
    young: bool = True  # created less than about 24 hours ago
    seen: list[Seen] = field(default_factory=list)

    @property
    def regional_host(self) -> str:
        return f"{self.bucket}.s3.{self.region}.amazonaws.com"

    @property
    def global_host(self) -> str:
        return f"{self.bucket}.s3.amazonaws.com"

    def start(self) -> RegionalS3:
        stand_in = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive inside the tunnel, as boto3 expects
            tunnel_host = ""

            def do_CONNECT(self) -> None:
                host, _, port = self.path.rpartition(":")
                if port != "443" or host not in (stand_in.regional_host, stand_in.global_host):
                    self.send_response(502, "Bad Gateway")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.close_connection = True
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                try:
                    tls = stand_in.ca.server_context(host).wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    self.close_connection = True
                    return
                # From here on the same handler reads and answers the requests inside the tunnel.
                self.tunnel_host = host
                self.close_connection = False  # even after an HTTP/1.0 CONNECT, as http.client sends
                self.connection = tls
                self.rfile = tls.makefile("rb")
                self.wfile = tls.makefile("wb")

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, *, send_body: bool) -> None:
                headers: dict[str, str] = {}
                if not self.tunnel_host:  # a plain-HTTP request: S3 here is HTTPS only
                    status, body = 400, b""
                else:
                    status, headers, body = stand_in.respond(
                        self.command, self.tunnel_host, self.path, dict(self.headers.items())
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

        self._server = Loopback(Handler)
        return self

    def respond(
        self, method: str, host: str, target: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if host == self.global_host and self.region != "us-east-1" and self.young:
            location = f"https://{self.regional_host}{target}"
            self.seen.append(Seen(method, host, target, 307, "TemporaryRedirect"))
            body = _error_xml(
                "TemporaryRedirect",
                "Please re-send this request to the specified temporary endpoint. "
                "Continue to use the original request endpoint for future requests.",
                f"<Endpoint>{self.regional_host}</Endpoint><Bucket>{self.bucket}</Bucket>",
            )
            return 307, {"Location": location, "x-amz-bucket-region": self.region}, body
        # S3 signs the Host header the client sent: the name the URL was made for.
        refusal = check(method, target, headers, keys=self.keys, region=self.region)
        if refusal is None:
            key = unquote(target.partition("?")[0].removeprefix("/"))
            data = self.objects.get(key)
            if data is not None:
                self.seen.append(Seen(method, host, target, 200))
                etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
                return 200, {"Content-Type": "image/jpeg", "ETag": etag}, data
            refusal = Refusal(404, "NoSuchKey", "The specified key does not exist.")
        self.seen.append(Seen(method, host, target, refusal.status, refusal.code))
        return refusal.status, {"Content-Type": "application/xml"}, _error_xml(refusal.code, refusal.message)


def _error_xml(code: str, message: str, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
    ).encode()
