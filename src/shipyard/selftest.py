"""A side-effect-free stage: reads inputs, writes outputs and a summary. Used by tests and benchmarks
to measure what the runtime itself costs a job."""

from __future__ import annotations

from shipyard.runtime import Action, run_stage


def run(action: Action) -> None:
    message = action.input("message", default="hello")
    count = action.integer("count", 1, minimum=0)
    mode = action.choice("mode", ["plain", "loud"], default="plain")
    tags = action.items("tags")
    text = (message or "").upper() if mode == "loud" else (message or "")
    action.set_output("message", text)
    action.set_output("count", count)
    action.set_output("tags", "\n".join(tags))
    action.summary.heading("selftest").table(["input", "value"], [("message", text), ("count", count)])


def main() -> int:
    return run_stage(run, name="selftest")
