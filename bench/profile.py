"""py-spy around one benchmark run: a flame graph (SVG) and a top-functions summary with the
CPU split by component (botbuilder, msrest, aiohttp, the repository's own code as repo:<dir>, …)."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else (shutil.which("py-spy") or "")


def ensure_py_spy() -> None:
    if not py_spy():
        print("installing py-spy into this venv (for --profile) …", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)


@contextlib.contextmanager
def recording(pid: int, base: Path, seconds: int, *, subprocesses: bool = False) -> Iterator[None]:
    """Samples `pid` for `seconds` into base.svg and base.collapsed while the body runs. py-spy
    runs on core 1 and does not pause the bot (--nonblocking), so the bot's core stays its own."""
    # --gil: only the thread holding the GIL, i.e. Python CPU work (not threads blocked in recv).
    common = ["--pid", str(pid), "--duration", str(seconds), "--rate", "200", "--nonblocking", "--gil",
              "--full-filenames"]
    if subprocesses:
        common.append("--subprocesses")
    procs = [subprocess.Popen(["taskset", "-c", "1", py_spy(), "record", *common, "--format", fmt, "-o", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for fmt, out in (("flamegraph", base.with_suffix(".svg")), ("raw", base.with_suffix(".collapsed")))]
    try:
        yield
    finally:
        for p in procs:
            p.wait(timeout=seconds + 60)


def component(frame: str) -> str:
    """'func (path:line)' → the package or module the frame's code belongs to."""
    path = frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith("<frozen "):  # frozen standard-library modules: "<frozen os>"
        return "stdlib:" + path[8:].rstrip(">").split(".", 1)[0]
    if path.startswith("<"):  # code compiled at run time: dataclass methods, namedtuples …
        return "generated " + path
    root = str(ROOT) + "/"
    if path.startswith(root) or not path.startswith("/"):
        rel = path.removeprefix(root)
        return "repo:" + (rel.split("/", 1)[0] if "/" in rel else rel)
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("python3") and i + 1 < len(parts):
            return "stdlib:" + parts[i + 1].removesuffix(".py")
    return "other"


def _function(frame: str) -> str:
    """'func (path:line)' without the line number, path shortened to site-packages / repo."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    path = path.split("site-packages/", 1)[-1].removeprefix(str(ROOT) + "/")
    if "/lib/python3" in path:  # the standard library: keep the path inside it
        path = path.split("/lib/python3", 1)[1].partition("/")[2]
    return f"{name} ({path})"


def summarise(collapsed: Path, out_md: Path, label: str, top: int = 25) -> dict[str, Any]:
    """Writes out_md (split by component, top self and inclusive functions); returns the split."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    split: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        self_time[_function(frames[-1])] += n
        split[component(frames[-1])] += n
        for fn in {_function(f) for f in frames}:
            inclusive[fn] += n
    pct = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    lines = [f"# Where the CPU goes: {label}", "", f"{total} samples at 200 Hz of the thread holding the GIL (py-spy --gil, non-blocking).", "",
             "## Split by component (self time of the leaf frame)", "", "| component | share |", "|---|---|"]
    lines += [f"| {c} | {pct(n)} % |" for c, n in split.most_common(15)]
    lines += ["", f"## Top {top} functions by self time", "", "| function | self |", "|---|---|"]
    lines += [f"| `{f}` | {pct(n)} % |" for f, n in self_time.most_common(top)]
    lines += ["", f"## Top {top} functions by inclusive time", "", "| function | inclusive |", "|---|---|"]
    lines += [f"| `{f}` | {pct(n)} % |" for f, n in inclusive.most_common(top)]
    out_md.write_text("\n".join(lines) + "\n")
    return {"samples": total, "split_pct": {c: pct(n) for c, n in split.most_common(10)},
            "top_inclusive_pct": {f: pct(n) for f, n in inclusive.most_common(12)}}
