"""The results table: one row per comparison, memory per measurement, written as Markdown."""
from dataclasses import dataclass


@dataclass
class Row:
    """One comparison: the original's way against the project's, and the goal if any."""
    stage: str
    original: str
    project: str
    ratio: str
    goal: str = "-"
    met: object = None  # True, False, or None where there is no goal
    key: str = ""  # names the explanation bench/findings.py gives when the goal is missed


@dataclass
class Memory:
    """Peak resident memory and CPU time of one measured process (the largest of its runs)."""
    what: str
    peak_mb: float
    cpu_seconds: float
    wall_seconds: float


def per_second(value, unit):
    return f"{value:,.0f} {unit}/s" if value >= 100 else f"{value:,.1f} {unit}/s"


def times(value):
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def verdict(met):
    return {True: "met", False: "**not met**", None: "-"}[met]


def table(rows):
    lines = ["| stage | original | project | ratio | goal | met? |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.stage} | {r.original} | {r.project} | {r.ratio} | {r.goal} | "
              f"{verdict(r.met)} |" for r in rows]
    return lines


def memory_table(entries):
    lines = ["| measured process | peak RSS | CPU time | wall time |", "|---|---|---|---|"]
    lines += [f"| {m.what} | {m.peak_mb:,.0f} MB | {m.cpu_seconds:,.1f} s | {m.wall_seconds:,.1f} s |"
              for m in entries]
    return lines


def markdown(title, machine, rows, memory, notes, findings, footer):
    """The whole results.md."""
    out = [f"# {title}", "", *[f"- {line}" for line in machine], "", *table(rows), ""]
    out += ["## What each row measured", "", *[f"- {n}" for n in notes], ""]
    out += ["## Goals missed: why, and the next step", ""]
    out += [f"- {f}" for f in findings] or ["- none"]
    out += ["", "## Peak memory", "",
            "Peak resident set of the largest single process of each measured run: the "
            "process's own `VmHWM`, or `ru_maxrss` of its pool workers (RUSAGE_CHILDREN) if "
            "larger. Workers are separate processes, so a stage with N workers holds up to "
            "about N times this (less, as forked workers share pages). CPU and wall time are "
            "those of the measured call (start-up and imports excluded), CPU being user + "
            "system of the process and its workers: a wall time longer than the CPU time is "
            "waiting (the network), a shorter one is parallel work.", "",
            *memory_table(memory), "", *footer, ""]
    return "\n".join(out)
