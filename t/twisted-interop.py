# SPDX-License-Identifier: MIT
# Twisted's side of t/27-twisted-interop: its own LineReceiver, NetstringReceiver and
# Int32StringReceiver, as a client of examples/framing_echo or as an echo server for a weft
# client.
#   twisted-interop.py client line|netstring|int32 <framing_echo binary>
#       starts the binary with --port 0, sends MESSAGES with Twisted's receiver, checks each
#       echo byte for byte, then SIGTERMs the binary and checks it exits 0. Prints "ok".
#   twisted-interop.py server line|netstring|int32
#       an echo server on 127.0.0.1:0; prints "listening on <port>"; SIGTERM stops it.
import signal
import subprocess
import sys

from twisted.internet import protocol, reactor
from twisted.protocols import basic

MESSAGES = {
    "line": [b"hello", b"", b"x" * 16384, b"tab\tand \x01\xff bytes", b"last"],
    "netstring": [b"abc", b"", b"y" * 99999, b"\x00\r\n,:", b"last"],
    "int32": [b"abc", b"", b"z" * 99999, b"\x00\x00\x00\x04", b"last"],
}

BASES = {
    "line": basic.LineReceiver,
    "netstring": basic.NetstringReceiver,
    "int32": basic.Int32StringReceiver,
}


def send(p, kind, msg):
    if kind == "line":
        p.sendLine(msg)
    else:
        p.sendString(msg)


def make_client(kind, result):
    base = BASES[kind]

    class Client(base):
        MAX_LENGTH = 100000

        def connectionMade(self):
            self.got = []
            for m in MESSAGES[kind]:
                send(self, kind, m)

        def frame(self, data):
            self.got.append(data)
            if len(self.got) == len(MESSAGES[kind]):
                result.append(self.got == MESSAGES[kind])
                self.transport.loseConnection()

        def lineReceived(self, line):
            self.frame(line)

        def stringReceived(self, s):
            self.frame(s)

        def connectionLost(self, reason):
            if reactor.running:
                reactor.stop()

    return Client


def make_server(kind):
    base = BASES[kind]

    class Echo(base):
        MAX_LENGTH = 100000

        def lineReceived(self, line):
            self.sendLine(line)

        def stringReceived(self, s):
            self.sendString(s)

    return Echo


def main():
    mode, kind = sys.argv[1], sys.argv[2]
    if mode == "server":
        f = protocol.Factory.forProtocol(make_server(kind))
        port = reactor.listenTCP(0, f, interface="127.0.0.1")
        print("listening on %d" % port.getHost().port, flush=True)
        reactor.run()
        return 0
    binary = sys.argv[3]
    proc = subprocess.Popen([binary, "--proto", kind, "--port", "0"], stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    if not line.startswith("listening on "):
        print("framing_echo said %r" % line)
        proc.kill()
        return 1
    port = int(line.split()[-1])
    result = []
    f = protocol.ClientFactory.forProtocol(make_client(kind, result))
    f.clientConnectionFailed = lambda c, r: reactor.stop()
    reactor.connectTCP("127.0.0.1", port, f)
    reactor.callLater(30, reactor.stop)
    reactor.run()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    if result != [True]:
        print("echo mismatch or no answer: %r" % result)
        return 1
    if code != 0:
        print("framing_echo exited %d after SIGTERM" % code)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
