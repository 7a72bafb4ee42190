"""The markdown report of a benchmark run: the issue-8 table, ratios, connections, memory, targets."""
from __future__ import annotations

import os
import platform
from typing import Any

ANCHORS = {"botbuilder": "plain botbuilder", "agents": "Agents SDK"}
MEETBOTS = ("meetbot-full", "meetbot", "meetbot-2w")


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}


def _cell(stack: dict[str, Any], g: int, c: int, k: int = 0) -> dict[str, Any] | None:
    cell = stack.get("cells", {}).get(f"g{g}-k{k}-c{c}")
    return cell["median"] if cell else None


def _num(v: float | None, fmt: str = "{:,.0f}", unit: str = "") -> str:
    return "–" if v is None else fmt.format(v) + unit


def _mb(kb: int | None) -> str:
    return "–" if not kb else f"{kb / 1024:.0f} MB"


def _cpu_range(*cells: dict[str, Any] | None) -> str:
    vals = sorted(c["cpu_ms_per_cmd"] for c in cells if c and c.get("cpu_ms_per_cmd") is not None)
    if not vals:
        return "–"
    lo, hi = vals[0], vals[-1]
    fmt = (lambda v: f"{v:.2f}") if hi < 10 else (lambda v: f"{v:.1f}")
    return f"{fmt(lo)} ms" if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def main_table(stacks: dict[str, Any]) -> list[str]:
    out = ["| stack | Graph delay | c=16 /s | c=128 /s | p99 command→card at c=128 | CPU per command | idle RSS |",
           "|---|---|---|---|---|---|---|"]
    for st in stacks.values():
        if "failed" in st:
            out.append(f"| {st['label']} | – | failed: {st['failed'][:80]} | | | | |")
            continue
        first = True
        for g in (0, 100):
            c16, c128 = _cell(st, g, 16), _cell(st, g, 128)
            if not (c16 or c128):
                continue
            label = st["label"] if first else "the same"
            out.append(f"| {label} | {g} ms | {_num(c16 and c16['throughput'])} | {_num(c128 and c128['throughput'])} "
                       f"| {_num(c128 and c128['card_ms_p99'], unit=' ms')} | {_cpu_range(c16, c128)} "
                       f"| {_mb(st['idle_rss_kb']) if first else ''} |")
            first = False
    return out


def ratio_table(stacks: dict[str, Any]) -> list[str]:
    cols = [(0, 16, 0), (0, 128, 0), (100, 16, 0), (100, 128, 0), (0, 128, 100)]
    head = ["c=16 G0", "c=128 G0", "c=16 G100", "c=128 G100", "c=128 connector 100 ms"]
    out = ["| ratio | " + " | ".join(f"{h} /s" for h in head) + " | CPU per command (anchor ÷ MeetBot) |",
           "|---" * (len(cols) + 2) + "|"]
    for mb in (m for m in MEETBOTS if m in stacks and "failed" not in stacks[m]):
        for anchor, name in ANCHORS.items():
            if anchor not in stacks or "failed" in stacks[anchor]:
                continue
            ratios = []
            for g, c, k in cols:
                m, a = _cell(stacks[mb], g, c, k), _cell(stacks[anchor], g, c, k)
                ratios.append(_ratio(m and m["throughput"], a and a["throughput"]))
            m, a = _cell(stacks[mb], 100, 128), _cell(stacks[anchor], 100, 128)
            cpu = _ratio(a and a["cpu_ms_per_cmd"], m and m["cpu_ms_per_cmd"])
            out.append(f"| {mb} ÷ {name} | " + " | ".join(ratios) + f" | {cpu} |")
    return out if len(out) > 2 else []


def connector_table(stacks: dict[str, Any]) -> list[str]:
    out = ["| stack | connector 100 ms: /s (c=128) | p99 command→card | replies / TCP connections (c=128, connector 0 ms) |",
           "|---|---|---|---|"]
    for st in stacks.values():
        if "failed" in st:
            continue
        slow, fast = _cell(st, 0, 128, 100), _cell(st, 0, 128) or _cell(st, 100, 128)
        conns = (f"{_num(fast['connector_requests'])} / {_num(fast['connector_connections'])}" if fast else "–")
        out.append(f"| {st['label']} | {_num(slow and slow['throughput'])} | "
                   f"{_num(slow and slow['card_ms_p99'], unit=' ms')} | {conns} |")
    return out


def memory_table(stacks: dict[str, Any]) -> list[str]:
    out = ["| stack | start-up (spawn → listening) | idle RSS | peak RSS in the matrix | RSS after first / second "
           "count | growth |", "|---|---|---|---|---|---|"]
    for st in stacks.values():
        if "failed" in st:
            continue
        peak = max((c["median"]["peak_rss_kb"] for c in st["cells"].values()), default=0)
        growth, after = "–", "–"
        cps = (st.get("growth") or {}).get("checkpoints") or {}
        if len(cps) >= 2:
            (n1, m1), (n2, m2) = sorted(cps.items(), key=lambda kv: int(kv[0]))[:2]
            after = f"{n1}: {_mb(m1['rss_kb'])} (peak {_mb(m1['hwm_kb'])}) / {n2}: {_mb(m2['rss_kb'])} (peak {_mb(m2['hwm_kb'])})"
            growth = f"{100 * (m2['hwm_kb'] - m1['hwm_kb']) / m1['hwm_kb']:+.1f} % (peak)"
        out.append(f"| {st['label']} | {st['startup_s'] * 1000:.0f} ms | {_mb(st['idle_rss_kb'])} | {_mb(peak)} "
                   f"| {after} | {growth} |")
    return out


def targets(stacks: dict[str, Any]) -> list[str]:
    """Issue 8's targets (one process, stated for 'every feature on'), checked for each
    single-process MeetBot variant measured; the 2-worker row only reports its throughput."""
    out: list[str] = []
    bb, ag = stacks.get("botbuilder", {}), stacks.get("agents", {})
    for mb in (m for m in MEETBOTS if m in stacks and "failed" not in stacks[m] and m != "meetbot-2w"):
        st = stacks[mb]
        g100, g0c16, slow, fast = _cell(st, 100, 128), _cell(st, 0, 16), _cell(st, 0, 128, 100), _cell(st, 0, 128)
        bbc, agc = _cell(bb, 100, 128) if "cells" in bb else None, _cell(ag, 100, 128) if "cells" in ag else None
        checks = [
            ("≥ 320/s at c=128, Graph 100 ms", g100 and g100["throughput"] >= 320, g100 and g100["throughput"]),
            ("≤ 3.1 ms CPU per command (c=128, Graph 100 ms)", g100 and g100["cpu_ms_per_cmd"] is not None
             and g100["cpu_ms_per_cmd"] <= 3.1, g100 and g100["cpu_ms_per_cmd"]),
            ("≥ 6× plain botbuilder (c=128, Graph 100 ms)", g100 and bbc and g100["throughput"] >= 6 * bbc["throughput"],
             _ratio(g100 and g100["throughput"], bbc and bbc["throughput"])),
            ("≥ 1.4× Agents SDK (c=128, Graph 100 ms)", g100 and agc and g100["throughput"] >= 1.4 * agc["throughput"],
             _ratio(g100 and g100["throughput"], agc and agc["throughput"])),
            ("≥ 430/s at c=16, Graph 0 ms", g0c16 and g0c16["throughput"] >= 430, g0c16 and g0c16["throughput"]),
            ("p99 command→card ≤ 100 + 300 ms (c=128, Graph 100 ms)", g100 and g100["card_ms_p99"] is not None
             and g100["card_ms_p99"] <= 400, g100 and g100["card_ms_p99"]),
            ("≥ 300/s with a 100 ms connector (c=128)", slow and slow["throughput"] >= 300, slow and slow["throughput"]),
            ("replies reuse connections (connections ≤ 10 % of replies)", fast and fast["connector_connections"]
             <= 0.1 * fast["connector_requests"], fast and f"{fast['connector_connections']:.0f} / {fast['connector_requests']:.0f}"),
            ("idle RSS ≤ 70 MB", st["idle_rss_kb"] <= 70 * 1024, _mb(st["idle_rss_kb"])),
            ("start-up ≤ 1 s", st["startup_s"] <= 1.0, f"{st['startup_s'] * 1000:.0f} ms"),
        ]
        cps = (st.get("growth") or {}).get("checkpoints") or {}
        if len(cps) >= 2:
            (_, m1), (_, m2) = sorted(cps.items(), key=lambda kv: int(kv[0]))[:2]
            checks.append(("peak RSS flat (≤ +10 % from first to second count)", m2["hwm_kb"] <= 1.1 * m1["hwm_kb"],
                           f"{100 * (m2['hwm_kb'] - m1['hwm_kb']) / m1['hwm_kb']:+.1f} %"))
        out += [f"**{st['label']}**", ""]
        for name, ok, value in checks:
            mark = "–" if ok is None else ("met" if ok else "**missed**")
            out.append(f"- {name}: {mark} ({value if value is not None else 'not measured'})")
        out.append("")
    return out


def markdown(results: dict[str, Any]) -> str:
    stacks = results["stacks"]
    m, cfg = results["machine"], results["config"]
    lines = [f"## Benchmark {results['started']}", "",
             f"{m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}. Bot pinned to core 0, "
             f"fakes + load generator on core 1. Median of {cfg['runs']} run(s) of {cfg['duration_s']:g} s after "
             f"{cfg['warmup_s']:g} s warm-up{' (QUICK smoke run)' if cfg['quick'] else ''}.", "",
             *main_table(stacks), ""]
    ratios = ratio_table(stacks)
    if ratios:
        lines += ["Ratios (throughput MeetBot ÷ anchor; CPU anchor ÷ MeetBot, so higher is better for MeetBot):", "",
                  *ratios, ""]
    lines += ["Connector taking 100 ms per reply (Graph 0 ms), and TCP connections the connector saw:", "",
              *connector_table(stacks), "", *memory_table(stacks), ""]
    errors = {st["label"]: sum(c["median"]["errors"] for c in st["cells"].values())
              for st in stacks.values() if "cells" in st}
    lines.append("Errors (non-2xx, missing card, or a card that is not a meeting card; all runs): " +
                 (", ".join(f"{k}: {v}" for k, v in errors.items()) or "none") + ".")
    lines.append("")
    checks = targets(stacks)
    if checks:
        lines += ["### Issue 8 targets", "", *checks]
    for st in stacks.values():
        prof = st.get("profile")
        if prof:
            split = ", ".join(f"{c} {p} %" for c, p in prof["split_pct"].items())
            lines += [f"Profile of {st['label']}: flame graph `{prof['svg']}`, summary `{prof['top']}`; "
                      f"CPU split: {split}.", ""]
    return "\n".join(lines)
