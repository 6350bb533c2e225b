"""Slack burst: N pipeline runs finish at once into one rate-limited channel.

Compares the slack-notify stage (one parent per run, updated; 429s retried after Retry-After) with the common
anchor behaviour (a plain slack_sdk client with its default retry handlers, which do not retry 429, posting one
message per run). Prints one JSON line; ratios come from the same run against the same double.

    python benchmarks/slack_burst.py [--runs 50] [--per-second 5]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from shipyard.runtime import Action, run_stage  # noqa: E402
from shipyard.slack import stage  # noqa: E402
from tests.doubles.slack import BOT_TOKEN, SlackDouble  # noqa: E402


def env_for(double: SlackDouble, tmp: Path, i: int) -> dict[str, str]:
    (tmp / str(i)).mkdir()
    return {
        "GITHUB_REPOSITORY": f"acme/svc{i:03d}", "GITHUB_RUN_ID": str(9000 + i), "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF_NAME": "main",
        "RUNNER_TEMP": str(tmp / str(i)), "INPUT_TOKEN": BOT_TOKEN, "INPUT_CHANNEL": "C0DEPLOYS1",
        "INPUT_API_URL": double.api_url, "SHIPYARD_SLACK_BACKOFF": "0.1",
    }


def event(env: dict[str, str], **inputs: str) -> dict[str, str]:
    full = dict(env)
    full.update({"INPUT_" + k.upper(): v for k, v in inputs.items()})
    action = Action(full, io.StringIO())
    run_stage(stage.run, action, name="slack-notify")
    return action.outputs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--per-second", type=int, default=5, help="channel message limit of the double")
    args = parser.parse_args()
    n = args.runs
    double = SlackDouble(message_limit=None, app_limit=None).start()
    assert isinstance(double, SlackDouble)
    tmp = Path(tempfile.mkdtemp(prefix="slack-burst-"))
    try:
        envs = [env_for(double, tmp, i) for i in range(n)]
        for env in envs:  # the runs started at different times
            event(env, event="start", stages="build,deploy")
            event(env, event="stage", stage="build")
        double.set_limits((args.per_second, 1.0), (max(20, args.per_second * 4), 1.0))
        t0 = time.monotonic()

        def finish(i: int) -> bool:
            failing = i % 5 == 0
            a = event(envs[i], event="stage", stage="deploy", status="failure" if failing else "success",
                      details=f"rev {i}")
            b = event(envs[i], event="finish", job_status="failure" if failing else "success")
            return a.get("delivered") == "true" and b.get("delivered") == "true"

        with ThreadPoolExecutor(max_workers=n) as pool:
            ours = list(pool.map(finish, range(n)))
        ours_s = time.monotonic() - t0
        tops = [m for m in double.messages() if m.thread_ts is None]
        finished = sum(1 for m in tops if m.metadata and m.metadata["event_payload"]["status"] != "running")
        limited_ours = sum(1 for c in double.calls() if c.status == 429)
        our_posts = double.calls("POST", r"/api/chat\.postMessage")
        our_429_per_post = sum(1 for c in our_posts if c.status == 429) / max(1, sum(c.status == 200 for c in our_posts))

        # baseline: the same burst through a default slack_sdk client (429 not retried), one post per run
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        double.reset()
        double.set_limits((args.per_second, 1.0), None)

        def naive(i: int) -> bool:
            client = WebClient(token=BOT_TOKEN, base_url=double.api_url)
            try:
                client.chat_postMessage(channel="C0DEPLOYS1", text=f"svc{i:03d} deployed")
                return True
            except SlackApiError:
                return False

        t1 = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            theirs = list(pool.map(naive, range(n)))
        theirs_s = time.monotonic() - t1

        # the SDK's own 429 handler (Retry-After + up to 1 s): delivers, but the whole burst retries in step
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        double.reset()
        double.set_limits((args.per_second, 1.0), None)

        def sdk_retry(i: int) -> bool:
            client = WebClient(token=BOT_TOKEN, base_url=double.api_url,
                               retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=100)])
            try:
                client.chat_postMessage(channel="C0DEPLOYS1", text=f"svc{i:03d} deployed")
                return True
            except SlackApiError:
                return False

        with ThreadPoolExecutor(max_workers=n) as pool:
            sdk_ok = sum(pool.map(sdk_retry, range(n)))
        sdk_posts = len(double.calls("POST", r"/api/chat\.postMessage"))
        sdk_429 = sum(1 for c in double.calls() if c.status == 429)
    finally:
        double.stop()
    ours_rate = sum(ours) / n
    theirs_rate = sum(theirs) / n
    print(json.dumps({
        "benchmark": "slack_burst",
        "runs": n,
        "channel_limit_per_s": args.per_second,
        "shipyard_delivered": round(ours_rate, 3),
        "shipyard_runs_finished": finished,
        "shipyard_parents_per_run": round(len(tops) / n, 3),
        "shipyard_seconds": round(ours_s, 2),
        "shipyard_429_absorbed": limited_ours,
        "default_sdk_delivered": round(theirs_rate, 3),
        "default_sdk_seconds": round(theirs_s, 2),
        "delivery_ratio": round(ours_rate / theirs_rate, 2) if theirs_rate else None,
        "lost_by_default_sdk": n - sum(theirs),
        "shipyard_429_per_delivered_post": round(our_429_per_post, 2),
        "sdk_retry_delivered": round(sdk_ok / n, 3),
        "sdk_retry_429_per_delivered_post": round(sdk_429 / max(1, sdk_posts - sdk_429), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
