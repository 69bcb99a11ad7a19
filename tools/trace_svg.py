#!/usr/bin/env python3
"""Draws an LWT_TRACE file (Chrome trace-event JSON) as an SVG picture, for the docs.

Perfetto (ui.perfetto.dev) and chrome://tracing open the file itself; this draws the same
tracks where no browser is at hand: per thread (loop), the loop's iterations, the coroutine
runs stacked as they nest, and the I/O operations and sleeps in flight. Stretches where the
loop sat idle in the kernel longer than --gap microseconds are cut out and marked.

usage: tools/trace_svg.py trace.json out.svg [--gap 300] [--width 1100] [--title TEXT]
"""
import argparse
import html
import json
import re
import zlib

ap = argparse.ArgumentParser()
ap.add_argument("trace")
ap.add_argument("out")
ap.add_argument("--gap", type=float, default=300.0, help="idle stretches longer than this (us) are cut")
ap.add_argument("--width", type=int, default=1100)
ap.add_argument("--title", default="")
a = ap.parse_args()

events = json.load(open(a.trace))["traceEvents"]
names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}


def short(fn):
    """'(anonymous namespace)::handle(lwt::unix_::sockaddr, ...)' -> 'handle'."""
    fn = re.sub(r"\(anonymous namespace\)::", "", fn)
    depth, out = 0, ""
    for ch in fn:  # drop template arguments and the parameter list
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif depth == 0:
            out += ch
    return out.split("::")[-1] or fn


# Per thread: slices (start, end, depth, name), iterations (start, end), async (start, end, label).
threads = {}
for e in events:
    if e["ph"] == "M":
        continue
    t = threads.setdefault(e["tid"], {"stack": [], "slices": [], "iters": [], "open": {}, "async": []})
    ts = e["ts"]
    if e["ph"] == "B":
        t["stack"].append((ts, short(e["name"])))
    elif e["ph"] == "E" and t["stack"]:
        start, name = t["stack"].pop()
        t["slices"].append((start, ts, len(t["stack"]), name))
    elif e["ph"] == "X":
        t["iters"].append((ts, ts + e["dur"]))
    elif e["ph"] == "b":
        label = e["name"] + (" fd %d" % e["args"]["fd"] if "fd" in e.get("args", {}) else "")
        t["open"][(e["cat"], e["id"])] = (ts, label, e["cat"])
    elif e["ph"] == "e":
        key = (e["cat"], e["id"])
        if key in t["open"]:
            start, label, cat = t["open"].pop(key)
            t["async"].append((start, ts, label, cat))

# Busy stretches (runs and iterations) of every thread; the time between them longer than
# --gap is cut to a fixed width.
busy = sorted((s, e) for t in threads.values() for (s, e, *_) in t["slices"] + t["iters"])
merged = []
for s, e in busy:
    if merged and s <= merged[-1][1] + a.gap:
        merged[-1][1] = max(merged[-1][1], e)
    else:
        merged.append([s, e])
if not merged:
    raise SystemExit("trace_svg: no coroutine runs or iterations in " + a.trace)
cut_px = 26
label_w = 130
span = sum(e - s for s, e in merged) or 1.0
scale = (a.width - label_w - 10 - cut_px * (len(merged) - 1)) / span


def x_of(ts):
    x = label_w
    for i, (s, e) in enumerate(merged):
        if ts <= e or i == len(merged) - 1:
            return x + max(0.0, min(ts, e) - s) * scale
        x += (e - s) * scale + cut_px
        if i + 1 < len(merged) and ts < merged[i + 1][0]:
            return x - cut_px / 2
    return x


def colour(name):
    h = zlib.crc32(name.encode()) % 360
    return "hsl(%d,55%%,72%%)" % h


out = []
y = 40 if a.title else 14
if a.title:
    out.append('<text x="10" y="22" font-size="15" font-weight="bold">%s</text>' % html.escape(a.title))
row = 18
for tid in sorted(threads):
    t = threads[tid]
    out.append('<text x="10" y="%d" font-size="13" font-weight="bold">%s</text>' % (y + 13, html.escape(names.get(tid, "thread %d" % tid))))
    y += 20
    # Iterations.
    out.append('<text x="10" y="%d" font-size="11" fill="#555">loop iterations</text>' % (y + 12))
    for s, e in t["iters"]:
        x0, x1 = x_of(s), x_of(e)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="14" fill="#bbb"/>' % (x0, y, max(1.0, x1 - x0)))
    y += row
    # Coroutine runs, by depth.
    depth = max((d for *_, d, _ in t["slices"]), default=-1) + 1
    out.append('<text x="10" y="%d" font-size="11" fill="#555">coroutines running</text>' % (y + 12))
    for s, e, d, name in t["slices"]:
        x0, x1 = x_of(s), x_of(e)
        w = max(1.0, x1 - x0)
        yy = y + d * row
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="16" fill="%s" stroke="#333" stroke-width="0.3"><title>%s</title></rect>'
                   % (x0, yy, w, colour(name), html.escape(name)))
        if w > 7 * len(name):
            out.append('<text x="%.1f" y="%d" font-size="10">%s</text>' % (x0 + 2, yy + 12, html.escape(name)))
    y += max(depth, 1) * row + 4
    # Operations and sleeps in flight, packed into lanes.
    lanes = []
    out.append('<text x="10" y="%d" font-size="11" fill="#555">I/O and sleeps</text>' % (y + 12))
    for s, e, label, cat in sorted(t["async"]):
        x0, x1 = x_of(s), x_of(e)
        for i, end in enumerate(lanes):
            if end <= x0:
                lanes[i] = max(x1, x0 + 6.5 * len(label))
                lane = i
                break
        else:
            lanes.append(max(x1, x0 + 6.5 * len(label)))
            lane = len(lanes) - 1
        yy = y + lane * row
        fill = "#9cc3e6" if cat == "io" else "#f2c77b"
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="12" fill="%s"><title>%s</title></rect>' % (x0, yy + 2, max(1.0, x1 - x0), fill, html.escape(label)))
        out.append('<text x="%.1f" y="%d" font-size="9">%s</text>' % (x0 + 2, yy + 11, html.escape(label)))
    y += max(len(lanes), 1) * row + 14

# The cuts, and a time scale for the first busy stretch.
for i in range(len(merged) - 1):
    x = x_of(merged[i][1]) + cut_px / 2
    idle = merged[i + 1][0] - merged[i][1]
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="3,3"/>' % (x, 30, x, y))
    out.append('<text x="%.1f" y="%d" font-size="9" fill="#666" text-anchor="middle">%s</text>'
               % (x, y + 12, "%.1f ms idle" % (idle / 1000) if idle >= 1000 else "%d us idle" % idle))
bar_us = 100 if span < 5000 else 1000
out.append('<line x1="%d" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>' % (label_w, y + 26, label_w + bar_us * scale, y + 26))
out.append('<text x="%d" y="%d" font-size="10">%s</text>' % (label_w, y + 40, "%d us" % bar_us))
y += 48

svg = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" font-family="sans-serif">' % (a.width, y),
       '<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>' % (a.width, y)] + out + ["</svg>"]
open(a.out, "w").write("\n".join(svg) + "\n")
