#!/usr/bin/env python3
"""Checks a trace file relay wrote with RELAY_TRACE (Chrome trace event JSON)
against the format relay promises, so that a viewer (ui.perfetto.dev,
chrome://tracing) shows what the job did and nothing it did not:

  python3 trace_check.py FILE [--tasks N] [--actors N] [--blocked]
                              [--ranks N] [--min-flows K] [--allow-dropped]

It prints one line per problem (the first 20, then a count) and exits 1,
or prints "trace ok: N events, T tasks, F flows, B blocked spans, R ranks"
and exits 0. Standard library only: it runs wherever python3 does."""
import argparse
import bisect
import json
import re
import sys

# ts and dur are written with 3 decimals (µs): values that should meet may
# differ by that much.
EPS = 0.001
MAX_LINES = 20
HEX_ID = re.compile(r"^0x[0-9a-fA-F]{16}$")
# Phases drawn on a thread's own track, so their (pid, tid) needs a name.
# Async spans (b/e) are drawn on the process's tracks: their tid, if any,
# names no thread.
THREAD_PHASES = {"X", "B", "E", "i", "I", "s", "t", "f"}
TIMED_PHASES = THREAD_PHASES | {"b", "e", "n", "C"}
SPAN_CATS = ("task", "actor")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def describe(ev):
    """Short name of an event for a problem line."""
    what = "%s %s/%s pid %s" % (ev.get("ph"), ev.get("cat", "-"), ev.get("name"), ev.get("pid"))
    if "tid" in ev:
        what += " tid %s" % ev["tid"]
    if "ts" in ev:
        what += " ts %s" % json.dumps(ev["ts"])
    return what


def end_of(ev):
    return ev["ts"] + ev["dur"]


class Trace:
    """The problems found so far and the events sorted by kind."""

    def __init__(self, args):
        self.args = args
        self.problems = []
        self.spans = []  # X events with valid ts/dur
        self.asyncs = []  # b and e
        self.flows = []  # s and f
        self.meta = []  # M
        self.pids = set()
        self.threads = set()
        self.other = {}
        self.nflows = 0

    def bad(self, msg):
        self.problems.append(msg)


def load(path, t):
    """The parsed document, or None (with the problem noted)."""

    def no_constant(name):
        # Python reads NaN and Infinity; JSON (and the viewers) do not.
        raise ValueError("%s is not JSON" % name)

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_constant=no_constant)
    except OSError as e:
        t.bad("cannot read %s: %s" % (path, e.strerror or e))
    except (ValueError, UnicodeDecodeError) as e:
        t.bad("invalid JSON in %s: %s" % (path, e))
    return None


def per_rank_list(t, other, key, ok, what):
    v = other.get(key)
    ranks = other.get("ranks")
    if not isinstance(v, list) or not all(ok(x) for x in v):
        t.bad("otherData.%s is not a list of %s" % (key, what))
        return None
    if is_int(ranks) and len(v) != ranks:
        t.bad("otherData.%s has %d entries for %d ranks" % (key, len(v), ranks))
    return v


def check_top(doc, t):
    """The top-level object and otherData; returns traceEvents or None."""
    if not isinstance(doc, dict):
        t.bad("the top level is not a JSON object")
        return None
    for key in sorted(set(doc) - {"traceEvents", "displayTimeUnit", "otherData"}):
        t.bad("unexpected top-level key %r" % key)
    if doc.get("displayTimeUnit") != "ms":
        t.bad("displayTimeUnit is %r, not \"ms\"" % (doc.get("displayTimeUnit"),))
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        t.bad("traceEvents is missing or not a list")
        events = None
    other = doc.get("otherData")
    if not isinstance(other, dict):
        t.bad("otherData is missing or not an object")
        return events
    t.other = other
    check_other(other, t)
    return events


def check_other(other, t):
    v = other.get("relay_version")
    if not isinstance(v, str) or not v:
        t.bad("otherData.relay_version is missing or not a string")
    ranks = other.get("ranks")
    if not is_int(ranks) or ranks < 1:
        t.bad("otherData.ranks is missing or not a positive integer")
    traced = other.get("ranks_traced")
    if not is_int(traced) or traced < 0 or (is_int(ranks) and traced > ranks):
        t.bad("otherData.ranks_traced is missing or not an integer in 0..ranks")
    dropped = other.get("dropped_events")
    if not is_int(dropped) or dropped < 0:
        t.bad("otherData.dropped_events is missing or not an integer >= 0")
        dropped = None
    per = per_rank_list(t, other, "dropped_per_rank", lambda x: is_int(x) and x >= 0,
                        "integers >= 0")
    if per is not None and dropped is not None and sum(per) != dropped:
        t.bad("otherData.dropped_per_rank sums to %d, dropped_events is %d" % (sum(per), dropped))
    per_rank_list(t, other, "clock_error_us", lambda x: is_num(x) and x >= 0, "numbers >= 0")
    buf = other.get("buffer_bytes")
    if isinstance(buf, list):
        per_rank_list(t, other, "buffer_bytes", lambda x: is_int(x) and x >= 0, "integers >= 0")
    elif not is_int(buf) or buf < 0:
        t.bad("otherData.buffer_bytes is missing or not an integer >= 0")


def check_event(ev, i, t):
    """Fields every event of its phase needs; files it by kind."""
    if not isinstance(ev, dict):
        t.bad("traceEvents[%d] is not an object" % i)
        return
    ph, pid = ev.get("ph"), ev.get("pid")
    if not isinstance(ph, str) or not isinstance(ev.get("name"), str) or not is_int(pid):
        t.bad("traceEvents[%d] lacks a string ph and name or an integer pid: %s"
              % (i, json.dumps(ev)[:200]))
        return
    ranks = t.other.get("ranks")
    if is_int(ranks) and not 0 <= pid < ranks:
        t.bad("%s: pid is not a rank in 0..%d" % (describe(ev), ranks - 1))
    t.pids.add(pid)
    if ph == "M":
        t.meta.append(ev)
        return
    if ph in TIMED_PHASES and not is_num(ev.get("ts")):
        t.bad("%s: ts is missing or not a number" % describe(ev))
        return
    if ph in THREAD_PHASES:
        if not is_int(ev.get("tid")):
            t.bad("%s: tid is missing or not an integer" % describe(ev))
            return
        t.threads.add((pid, ev["tid"]))
    if ph == "X":
        check_complete(ev, t)
    elif ph in ("b", "e"):
        t.asyncs.append(ev)
    elif ph in ("s", "f"):
        t.flows.append(ev)


def check_complete(ev, t):
    dur = ev.get("dur")
    if not is_num(dur):
        t.bad("%s: dur is missing or not a number" % describe(ev))
        return
    if dur < 0:
        t.bad("%s: negative dur %s" % (describe(ev), dur))
        return
    t.spans.append(ev)
    check_args(ev, t)


def need_args(ev, t, fields):
    """fields: name -> (test, what it should be)."""
    args = ev.get("args")
    if not isinstance(args, dict):
        t.bad("%s: no args" % describe(ev))
        return None
    for name, (ok, what) in fields.items():
        if not ok(args.get(name)):
            t.bad("%s: args.%s is %r, not %s" % (describe(ev), name, args.get(name), what))
    return args


HEX = (lambda v: isinstance(v, str) and bool(HEX_ID.match(v)), "0x and 16 hex digits")
STR = (lambda v: isinstance(v, str), "a string")
COUNT = (lambda v: is_int(v) and v >= 0, "an integer >= 0")


def check_args(ev, t):
    """The args each category of X event carries."""
    cat = ev.get("cat")
    rank = (lambda v: v == ev["pid"], "the event's pid")
    if cat == "task":
        args = need_args(ev, t, {"task_id": HEX, "function": STR, "name": STR, "rank": rank,
                                 "status": STR})
        if args and args.get("function") != ev["name"]:
            t.bad("%s: name differs from args.function %r" % (describe(ev), args.get("function")))
    elif cat == "actor":
        need_args(ev, t, {"task_id": HEX, "actor_id": HEX, "method": STR, "rank": rank,
                          "status": STR})
        if "." not in ev["name"]:
            t.bad("%s: an actor call's name is not <class>.<method>" % describe(ev))
    elif cat == "blocked":
        objs = (lambda v: isinstance(v, list) and len(v) <= 8
                and all(HEX[0](x) for x in v), "a list of at most 8 ids")
        args = need_args(ev, t, {"task_id": HEX, "objects": objs, "count": COUNT})
        if args and is_int(args.get("count")) and isinstance(args.get("objects"), list) \
                and args["count"] < len(args["objects"]):
            t.bad("%s: args.count is below the number of objects listed" % describe(ev))
    elif cat == "spill":
        need_args(ev, t, {"object": HEX, "bytes": COUNT})
    elif cat == "scheduler":
        need_args(ev, t, {"records": COUNT})
        if ev["pid"] != 0:
            t.bad("%s: scheduling turns are rank 0's" % describe(ev))


def check_metadata(t):
    """A process_name and sort index for every pid, a thread_name for every
    thread that has events of its own."""
    procs, sorts, names = {}, {}, {}
    for ev in t.meta:
        args = ev.get("args") if isinstance(ev.get("args"), dict) else {}
        kind, pid = ev["name"], ev["pid"]
        if kind == "process_name":
            name = args.get("name")
            if not isinstance(name, str) or not name.startswith("rank %d" % pid):
                t.bad("%s: process name %r does not start with \"rank %d\""
                      % (describe(ev), name, pid))
            procs[pid] = name
        elif kind == "process_sort_index":
            if args.get("sort_index") != pid:
                t.bad("%s: sort_index %r is not the rank" % (describe(ev), args.get("sort_index")))
            sorts[pid] = args.get("sort_index")
        elif kind == "thread_name":
            name = args.get("name")
            if not is_int(ev.get("tid")) or not isinstance(name, str) or not name:
                t.bad("%s: a thread_name needs an integer tid and a name" % describe(ev))
                continue
            key = (pid, ev["tid"])
            if key in names and names[key] != name:
                t.bad("pid %d tid %d is named both %r and %r" % (pid, ev["tid"], names[key], name))
            names[key] = name
    for pid in sorted(t.pids - set(procs)):
        t.bad("no process_name for pid %d" % pid)
    for pid in sorted(t.pids - set(sorts)):
        t.bad("no process_sort_index for pid %d" % pid)
    for pid, tid in sorted(t.threads - set(names)):
        t.bad("no thread_name for pid %d tid %d" % (pid, tid))
    return procs


def by_thread(events):
    out = {}
    for ev in events:
        out.setdefault((ev["pid"], ev["tid"]), []).append(ev)
    return out


def check_nesting(t):
    """Two X events on one thread are disjoint or one contains the other."""
    for (pid, tid), evs in sorted(by_thread(t.spans).items()):
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for ev in evs:
            while stack and end_of(stack[-1]) <= ev["ts"] + EPS:
                stack.pop()
            if stack and end_of(ev) > end_of(stack[-1]) + EPS:
                top = stack[-1]
                t.bad("X spans overlap without nesting on pid %d tid %d: "
                      "%s [%s, %s] and %s [%s, %s]"
                      % (pid, tid, top["name"], top["ts"], end_of(top), ev["name"], ev["ts"],
                         end_of(ev)))
                continue
            stack.append(ev)


class Spans:
    """The task and actor spans of each thread, to find the one a point
    lies in."""

    def __init__(self, spans):
        self.threads = {}
        for key, evs in by_thread([e for e in spans if e.get("cat") in SPAN_CATS]).items():
            evs.sort(key=lambda e: e["ts"])
            self.threads[key] = ([e["ts"] for e in evs], evs)

    def around(self, pid, tid, start, end):
        """The innermost task/actor span containing [start, end], or None."""
        starts, evs = self.threads.get((pid, tid), ([], []))
        i = bisect.bisect_right(starts, start + EPS)
        for ev in reversed(evs[:i]):
            if end_of(ev) >= end - EPS:
                return ev
        return None


def check_tasks(t):
    """Every call appears once; counts as asked."""
    seen = {}
    ntasks = nactors = 0
    for ev in t.spans:
        if ev.get("cat") not in SPAN_CATS:
            continue
        if ev["cat"] == "task":
            ntasks += 1
        else:
            nactors += 1
        tid = ev.get("args", {}).get("task_id") if isinstance(ev.get("args"), dict) else None
        if not isinstance(tid, str):
            continue
        if tid in seen:
            t.bad("duplicate task_id %s: %s and %s" % (tid, describe(seen[tid]), describe(ev)))
        else:
            seen[tid] = ev
    a = t.args
    if a.tasks is not None and ntasks != a.tasks:
        t.bad("expected %d tasks (--tasks), found %d X events of cat \"task\"" % (a.tasks, ntasks))
    if a.actors is not None and nactors != a.actors:
        t.bad("expected %d actor calls (--actors), found %d X events of cat \"actor\""
              % (a.actors, nactors))
    return ntasks


def check_blocked(t, spans):
    blocked = [e for e in t.spans if e.get("cat") == "blocked"]
    for ev in blocked:
        host = spans.around(ev["pid"], ev["tid"], ev["ts"], end_of(ev))
        if host is None:
            t.bad("blocked span not inside a task/actor span on its thread: %s" % describe(ev))
            continue
        want = host.get("args", {}).get("task_id") if isinstance(host.get("args"), dict) else None
        got = ev.get("args", {}).get("task_id") if isinstance(ev.get("args"), dict) else None
        if got != want:
            t.bad("%s: task_id %s is not that of the span it lies in (%s)"
                  % (describe(ev), got, want))
    if t.args.blocked and not blocked:
        t.bad("no blocked span (X event of cat \"blocked\"), and --blocked wants one")
    return len(blocked)


def check_async(t):
    """b and e pair up per (cat, name, id, pid), b no later than e."""
    groups = {}
    for ev in t.asyncs:
        if not isinstance(ev.get("id"), str) or not isinstance(ev.get("cat"), str):
            t.bad("%s: an async event needs a string cat and id" % describe(ev))
            continue
        key = (ev["cat"], ev["name"], ev["id"], ev["pid"])
        groups.setdefault(key, ([], []))[0 if ev["ph"] == "b" else 1].append(ev)
        if ev["ph"] == "b" and ev["cat"] == "transfer":
            need_args(ev, t, {"object": HEX, "bytes": COUNT, "from": COUNT, "to": COUNT})
    for (cat, name, id_, pid), (bs, es) in sorted(groups.items()):
        if len(bs) != len(es):
            t.bad("unmatched async span %s/%s id %s pid %d: %d b and %d e events"
                  % (cat, name, id_, pid, len(bs), len(es)))
            continue
        bs.sort(key=lambda e: e["ts"])
        es.sort(key=lambda e: e["ts"])
        for b, e in zip(bs, es):
            if b["ts"] > e["ts"] + EPS:
                t.bad("async span %s/%s id %s pid %d ends (ts %s) before it begins (ts %s)"
                      % (cat, name, id_, pid, e["ts"], b["ts"]))


def check_flows(t, spans):
    """One s and one f per id, each inside a task/actor span of its thread."""
    groups = {}
    for ev in t.flows:
        if not isinstance(ev.get("id"), str) or ev.get("cat") != "flow" or ev["name"] != "result":
            t.bad("%s: a flow event needs cat \"flow\", name \"result\" and a string id"
                  % describe(ev))
            continue
        if ev["ph"] == "f" and ev.get("bp") != "e":
            t.bad("%s: a flow's f event needs \"bp\":\"e\"" % describe(ev))
        groups.setdefault(ev["id"], ([], []))[0 if ev["ph"] == "s" else 1].append(ev)
        if spans.around(ev["pid"], ev["tid"], ev["ts"], ev["ts"]) is None:
            t.bad("flow %s event not inside a task/actor span on its thread: %s"
                  % (ev["ph"], describe(ev)))
    for id_, (ss, fs) in sorted(groups.items()):
        if len(ss) != 1 or len(fs) != 1:
            t.bad("unmatched flow id %s: %d s and %d f events" % (id_, len(ss), len(fs)))
        else:
            t.nflows += 1
    if t.args.min_flows is not None and t.nflows < t.args.min_flows:
        t.bad("expected at least %d flows (--min-flows), found %d" % (t.args.min_flows, t.nflows))


def check_ranks(t, procs):
    want = t.args.ranks
    if want is None:
        return
    for key in ("ranks", "ranks_traced"):
        if t.other.get(key) != want:
            t.bad("otherData.%s is %r, --ranks wants %d" % (key, t.other.get(key), want))
    for r in range(want):
        if r not in procs:
            t.bad("no process_name for rank %d (--ranks %d)" % (r, want))


def check_dropped(t):
    """Returns a note to print when dropped events are allowed."""
    dropped = t.other.get("dropped_events")
    if not is_int(dropped) or dropped <= 0:
        return None
    line = "dropped_events: %d events dropped (per rank %s)" % (
        dropped, t.other.get("dropped_per_rank"))
    if not t.args.allow_dropped:
        t.bad(line + "; a larger RELAY_TRACE_BUFFER keeps them, --allow-dropped accepts it")
        return None
    return line


def check(t):
    doc = load(t.args.file, t)
    if doc is None:
        return None
    events = check_top(doc, t)
    if events is None:
        return None
    for i, ev in enumerate(events):
        check_event(ev, i, t)
    procs = check_metadata(t)
    check_nesting(t)
    spans = Spans(t.spans)
    ntasks = check_tasks(t)
    nblocked = check_blocked(t, spans)
    check_async(t)
    check_flows(t, spans)
    check_ranks(t, procs)
    note = check_dropped(t)
    return "%strace ok: %d events, %d tasks, %d flows, %d blocked spans, %d ranks" % (
        note + "\n" if note else "", len(events), ntasks, t.nflows, nblocked, len(procs))


def parse_args(argv):
    p = argparse.ArgumentParser(description="Check a relay trace file (RELAY_TRACE).")
    p.add_argument("file")
    p.add_argument("--tasks", type=int, help="exactly N X events of cat task")
    p.add_argument("--actors", type=int, help="exactly N X events of cat actor")
    p.add_argument("--blocked", action="store_true",
                   help="at least one X event of cat blocked")
    p.add_argument("--ranks", type=int, help="a job of N ranks, each named")
    p.add_argument("--min-flows", type=int, help="at least K matched flows")
    p.add_argument("--allow-dropped", action="store_true",
                   help="dropped events (a full buffer) are not a problem")
    return p.parse_args(argv)


def main(argv):
    t = Trace(parse_args(argv))
    ok = check(t)
    for line in t.problems[:MAX_LINES]:
        print("trace_check: %s" % line)
    if len(t.problems) > MAX_LINES:
        print("trace_check: ... and %d more problems" % (len(t.problems) - MAX_LINES))
    if t.problems:
        print("trace_check: %s: %d problem(s)" % (t.args.file, len(t.problems)))
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
