#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Twisted's web server answering GET /ping, for t/bench/http.c's weft/Twisted ratio.

    python3 t/bench/twisted_http.py

Listens on 127.0.0.1 on a free port, prints `listening on <port>` and serves until killed.
The site's access log is off, as in the weft server it is compared with.
"""
import sys

from twisted.internet import reactor
from twisted.web import resource, server


class Ping(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain")
        return b"pong\n"


root = resource.Resource()
root.putChild(b"ping", Ping())
site = server.Site(root)
site.log = lambda request: None
port = reactor.listenTCP(0, site, interface="127.0.0.1", backlog=1024)
print("listening on %d" % port.getHost().port, flush=True)
sys.stdout.close()
reactor.run()
