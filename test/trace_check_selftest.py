#!/usr/bin/env python3
"""trace_check.py must accept a trace as relay writes it and reject each
kind of broken one with a line that names the problem: the checker guards
the RELAY_TRACE tests, so a checker that accepts anything would let a broken
writer pass. Builds the traces here, runs the checker as the tests do."""
import copy
import json
import os
import subprocess
import sys
import tempfile

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trace_check.py")
GOOD_FLAGS = ["--tasks", "2", "--actors", "3", "--blocked", "--ranks", "3", "--min-flows", "2"]


def tid_(n):
    return "0x%016x" % n


def meta(name, pid, args, tid=None):
    ev = {"ph": "M", "name": name, "pid": pid, "args": args}
    if tid is not None:
        ev["tid"] = tid
    return ev


def span(cat, name, pid, tid, ts, dur, args):
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur,
            "args": args}


def task(name, pid, tid, ts, dur, n):
    return span("task", name, pid, tid, ts, dur,
                {"task_id": tid_(n), "function": name, "name": "", "rank": pid, "status": "ok"})


def actor(method, pid, tid, ts, dur, n):
    return span("actor", "Counter." + method, pid, tid, ts, dur,
                {"task_id": tid_(n), "actor_id": tid_(0xAA), "method": method, "rank": pid,
                 "status": "ok"})


def flow(ph, pid, tid, ts, id_):
    ev = {"ph": ph, "cat": "flow", "name": "result", "id": id_, "pid": pid, "tid": tid, "ts": ts}
    if ph == "f":
        ev["bp"] = "e"
    return ev


def async_(ph, cat, name, pid, ts, id_, args=None):
    ev = {"ph": ph, "cat": cat, "name": name, "id": id_, "pid": pid, "ts": ts}
    if args:
        ev["args"] = args
    return ev


def good():
    """Three ranks: a producer task on rank 1 whose result a task on rank 2
    consumes (blocked in a get a while, across a spill read), actor calls
    on rank 1 back to back, queued and transfer spans, two flows."""
    ev = []
    for r in range(3):
        ev.append(meta("process_name", r, {"name": "rank %d (node%d)" % (r, r)}))
        ev.append(meta("process_sort_index", r, {"sort_index": r}))
    for pid, tid, name in [(0, 1, "main"), (0, 2, "runtime"), (1, 1, "worker 0"),
                           (2, 1, "worker 0"), (2, 2, "spill")]:
        ev.append(meta("thread_name", pid, {"name": name}, tid))
    ev.append(span("scheduler", "schedule", 0, 2, 5.0, 2.0, {"records": 3}))
    ev.append(task("produce", 1, 1, 10.0, 20.0, 1))
    ev.append(task("consume", 2, 1, 40.0, 30.0, 2))
    # Ends 0.0005 µs after its task: rounding, still inside.
    ev.append(span("blocked", "get", 2, 1, 45.0, 25.0005,
                   {"task_id": tid_(2), "objects": [tid_(0x10)], "count": 1}))
    ev.append(span("spill", "spill read", 2, 2, 46.0, 3.0, {"object": tid_(0x10), "bytes": 4096}))
    ev.append(actor("__init__", 1, 1, 80.0, 5.0, 3))
    ev.append(actor("add", 1, 1, 85.0, 5.0, 4))  # starts where __init__ ends
    ev.append(actor("get", 1, 1, 90.0, 5.0, 5))
    ev.append(flow("s", 1, 1, 29.999, "1-2"))
    ev.append(flow("f", 2, 1, 40.0, "1-2"))
    ev.append(flow("s", 1, 1, 84.9, "3-4"))
    ev.append(flow("f", 1, 1, 85.0, "3-4"))
    ev.append(async_("b", "queued", "produce", 1, 2.0, tid_(1)))
    ev.append(async_("e", "queued", "produce", 1, 10.0, tid_(1)))
    ev.append(async_("b", "queued", "consume", 2, 3.0, tid_(2)))
    ev.append(async_("e", "queued", "consume", 2, 40.0, tid_(2)))
    ev.append(async_("b", "transfer", "receive", 2, 41.0, "r2-1",
                     {"object": tid_(0x10), "bytes": 1 << 20, "from": 1, "to": 2}))
    ev.append(async_("e", "transfer", "receive", 2, 43.0, "r2-1"))
    other = {"relay_version": "0.0.0-test", "ranks": 3, "ranks_traced": 3, "dropped_events": 0,
             "dropped_per_rank": [0, 0, 0], "clock_error_us": [0.0, 1.5, 2.25],
             "buffer_bytes": 1 << 20}
    return {"traceEvents": ev, "displayTimeUnit": "ms", "otherData": other}


def find(doc, pred):
    return next(i for i, e in enumerate(doc["traceEvents"]) if pred(e))


def named(ph, cat=None, name=None, id_=None):
    return lambda e: (e["ph"] == ph and (cat is None or e.get("cat") == cat)
                      and (name is None or e.get("name") == name)
                      and (id_ is None or e.get("id") == id_))


def drop(doc, pred):
    del doc["traceEvents"][find(doc, pred)]


def edit(doc, pred, **fields):
    doc["traceEvents"][find(doc, pred)].update(fields)


# Each broken trace: (what, how to break the good one, extra flags, the
# line the checker must print).
def b_dup(d):
    d["traceEvents"].append(task("produce", 1, 1, 200.0, 1.0, 1))


def b_negdur(d):
    edit(d, named("X", "scheduler"), dur=-1.0)


def b_overlap(d):
    d["traceEvents"].append(task("produce", 1, 1, 25.0, 10.0, 9))


def b_flow_unmatched(d):
    drop(d, named("f", id_="1-2"))


def b_flow_outside(d):
    edit(d, named("s", id_="1-2"), ts=35.0)


def b_async_unmatched(d):
    drop(d, named("e", "queued", "produce"))


def b_async_order(d):
    edit(d, named("b", "transfer"), ts=43.5)


def b_thread_name(d):
    drop(d, lambda e: e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == 2
         and e["tid"] == 2)


def b_process_name(d):
    drop(d, lambda e: e["ph"] == "M" and e["name"] == "process_name" and e["pid"] == 2)


def b_no_blocked(d):
    drop(d, named("X", "blocked"))


def b_blocked_outside(d):
    edit(d, named("X", "blocked"), ts=71.0, dur=1.0)


def b_blocked_task(d):
    d["traceEvents"][find(d, named("X", "blocked"))]["args"]["task_id"] = tid_(1)


def b_dropped(d):
    d["otherData"].update(dropped_events=5, dropped_per_rank=[0, 5, 0])


def b_dropped_sum(d):
    d["otherData"].update(dropped_events=0, dropped_per_rank=[0, 5, 0])


def b_ts_string(d):
    edit(d, named("X", "task", "produce"), ts="10.0")


def b_no_version(d):
    del d["otherData"]["relay_version"]


def b_no_other(d):
    del d["otherData"]


def b_many(d):
    # 25 threads without names: 20 lines, then a count.
    for tid in range(10, 35):
        d["traceEvents"].append(span("spill", "spill write", 0, tid, 1.0, 1.0,
                                     {"object": tid_(1), "bytes": 1}))


def ident(d):
    pass


BAD = [
    ("duplicate task", b_dup, [], "duplicate task_id 0x0000000000000001"),
    ("negative dur", b_negdur, [], "negative dur -1.0"),
    ("overlapping spans", b_overlap, [], "X spans overlap without nesting on pid 1 tid 1"),
    ("unmatched flow", b_flow_unmatched, [], "unmatched flow id 1-2: 1 s and 0 f events"),
    ("flow outside spans", b_flow_outside, [], "flow s event not inside a task/actor span"),
    ("unmatched b/e", b_async_unmatched, [], "unmatched async span queued/produce"),
    ("e before b", b_async_order, [], "async span transfer/receive id r2-1 pid 2 ends"),
    ("missing thread name", b_thread_name, [], "no thread_name for pid 2 tid 2"),
    ("missing process name", b_process_name, [], "no process_name for pid 2"),
    ("no blocked span", b_no_blocked, ["--blocked"], "no blocked span"),
    ("blocked outside spans", b_blocked_outside, [], "blocked span not inside a task/actor span"),
    ("blocked in another task", b_blocked_task, [], "is not that of the span it lies in"),
    ("wrong task count", ident, ["--tasks", "3"], "expected 3 tasks (--tasks), found 2"),
    ("wrong actor count", ident, ["--actors", "2"], "expected 2 actor calls (--actors), found 3"),
    ("too few flows", ident, ["--min-flows", "3"],
     "expected at least 3 flows (--min-flows), found 2"),
    ("wrong rank count", ident, ["--ranks", "4"], "no process_name for rank 3 (--ranks 4)"),
    ("dropped events", b_dropped, [], "dropped_events: 5 events dropped"),
    ("dropped sum", b_dropped_sum, [], "dropped_per_rank sums to 5, dropped_events is 0"),
    ("ts not a number", b_ts_string, [], "ts is missing or not a number"),
    ("no relay_version", b_no_version, [], "otherData.relay_version is missing"),
    ("no otherData", b_no_other, [], "otherData is missing or not an object"),
    ("many problems", b_many, [], "... and 5 more problems"),
]


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0
        self.failures = []

    def write(self, text):
        self.n += 1
        path = os.path.join(self.tmp, "trace%d.json" % self.n)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, what, path, flags, rc, line):
        """The checker's exit status is rc and its output has line."""
        p = subprocess.run([sys.executable, CHECKER, path] + flags, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        ok = p.returncode == rc and line in p.stdout and (rc == 0) == ("trace ok" in p.stdout)
        print("%s: %s (exit %d)" % ("ok  " if ok else "FAIL", what, p.returncode))
        if not ok:
            print("  wanted exit %d and the line %r; got:\n%s" % (rc, line, p.stdout))
            self.failures.append(what)


def main():
    with tempfile.TemporaryDirectory(prefix="relay-trace-check-") as tmp:
        run = Run(tmp)
        g = run.write(json.dumps(good(), indent=1))
        run.check("good trace, every option", g, GOOD_FLAGS, 0,
                  "trace ok: 29 events, 2 tasks, 2 flows, 1 blocked spans, 3 ranks")
        run.check("good trace, no options", g, [], 0, "trace ok: 29 events")
        for what, breaks, flags, line in BAD:
            doc = copy.deepcopy(good())
            breaks(doc)
            run.check(what, run.write(json.dumps(doc)), flags, 1, line)
        allowed = copy.deepcopy(good())
        b_dropped(allowed)
        run.check("dropped events allowed", run.write(json.dumps(allowed)), ["--allow-dropped"],
                  0, "dropped_events: 5 events dropped")
        text = json.dumps(good())
        run.check("invalid JSON", run.write(text[:-40]), [], 1, "invalid JSON in ")
        nan = good()
        nan["traceEvents"][find(nan, named("X", "task"))]["ts"] = float("nan")
        run.check("NaN (not JSON)", run.write(json.dumps(nan)), [], 1, "invalid JSON in ")
        run.check("missing file", os.path.join(tmp, "absent.json"), [], 1, "cannot read ")
    if run.failures:
        print("trace_check_selftest: FAIL: %s" % ", ".join(run.failures))
        return 1
    print("trace_check_selftest: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
