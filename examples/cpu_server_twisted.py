# SPDX-License-Identifier: MIT
# cpu_server_twisted: examples/cpu_server's protocol written with Twisted, the demo's third
# row: the same PBKDF2 work offloaded with Twisted's deferToThread.
#
#     python3 cpu_server_twisted.py [--iterations N] [--salt S] [--threads T] [--host H] --port P
#
# `PING` answers `PONG` on the reactor thread; `HASH <password>` answers `HASH <hex>`, the
# PBKDF2-HMAC-SHA256 of password (hashlib, which releases the GIL while it hashes) on
# Twisted's thread pool, T threads (default: one per CPU, as weft's CPU pool). With --port 0
# it prints `listening on <port>` on stdout before serving; SIGTERM or SIGINT stops it with
# exit code 0; bad options exit 2.
import argparse
import hashlib
import os
import sys

from twisted.internet import protocol, reactor, threads
from twisted.protocols import basic


class HashProtocol(basic.LineReceiver):
    def lineReceived(self, line):
        if line == b"PING":
            self.sendLine(b"PONG")
        elif line.startswith(b"HASH "):
            opts = self.factory.opts
            d = threads.deferToThread(hashlib.pbkdf2_hmac, "sha256", line[5:],
                                      opts.salt.encode(), opts.iterations, 32)
            d.addCallbacks(lambda key: self.sendLine(b"HASH " + key.hex().encode()),
                           lambda f: self.sendLine(b"ERR " + str(f.value).encode()))
        elif line == b"HASH":
            self.sendLine(b"ERR usage: HASH <password>")
        else:
            self.sendLine(b"ERR unknown command (PING, HASH <password>)")


def main():
    p = argparse.ArgumentParser(description="cpu_server's protocol on Twisted")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--iterations", type=int, default=5000)
    p.add_argument("--salt", default="salt")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    opts = p.parse_args()  # exits 2 with a usage message on bad options
    if not 0 <= opts.port <= 65535 or opts.iterations < 1 or opts.threads < 1:
        p.error("out of range")
    reactor.suggestThreadPoolSize(opts.threads)
    factory = protocol.Factory.forProtocol(HashProtocol)
    factory.opts = opts
    port = reactor.listenTCP(opts.port, factory, interface=opts.host)
    print("listening on %d" % port.getHost().port, flush=True)
    reactor.run()  # SIGTERM / SIGINT stop it
    return 0


if __name__ == "__main__":
    sys.exit(main())
