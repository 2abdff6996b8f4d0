#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Twisted's deferToThread on t/bench/offload.c's throughput workload, for its weft/Twisted ratio.

    python3 t/bench/twisted_offload.py [N [K [POOL]]]

Runs N trivial jobs (a function returning a small integer) through deferToThread on the
reactor's thread pool sized to POOL threads, keeping K in flight (each completion submits the
next), after a warm-up of N/10, and prints one line: `jobs/s <value>`. Defaults: N=60000,
K=1024, POOL=4. t/bench/offload.c runs it when `python3 -c 'import twisted'` succeeds.
"""
import sys
import time

from twisted.internet import reactor
from twisted.internet.threads import deferToThread


def job():
    return 7


class Run:
    def __init__(self, n, k, then):
        self.n, self.k, self.then = n, k, then
        self.submitted = self.done = 0
        self.t0 = self.t1 = 0.0

    def start(self):
        self.t0 = time.perf_counter()
        for _ in range(min(self.k, self.n)):
            self.submit()

    def submit(self):
        self.submitted += 1
        d = deferToThread(job)
        d.addCallbacks(self.on_done, self.on_fail)

    def on_done(self, value):
        if value != 7:
            raise AssertionError(value)
        self.done += 1
        if self.submitted < self.n:
            self.submit()
        elif self.done == self.n:
            self.t1 = time.perf_counter()
            reactor.callLater(0, self.then, self)

    def on_fail(self, failure):
        failure.printTraceback()
        reactor.stop()


def main():
    args = [int(a) for a in sys.argv[1:4]]
    n, k, pool = (args + [60000, 1024, 4][len(args):])[:3]
    reactor.suggestThreadPoolSize(pool)
    result = {}

    def measured(run):
        result["tput"] = run.n / (run.t1 - run.t0)
        reactor.stop()

    def warmed(_run):
        Run(n, k, measured).start()

    reactor.callWhenRunning(lambda: Run(max(n // 10, 1), k, warmed).start())
    reactor.run()
    if "tput" not in result:
        return 1
    print("jobs/s %.0f" % result["tput"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
