"""`make demo`: the whole system on 127.0.0.1 — no AWS account, no Docker. Ctrl-C stops it."""

from __future__ import annotations

import logging
import signal
import threading

from devstack.runtime import Devstack
from devstack.settings import DevstackSettings


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = DevstackSettings.from_environment()
    devstack = Devstack(settings)
    print(
        "Starting sis-sync: AWS in moto, Clever",
        "at " + settings.clever_api_url if settings.clever_api_url else "simulator",
        "…",
        flush=True,
    )
    url = devstack.start()
    email = settings.district_admin_email
    print(
        f"""
sis-sync is running.

  Dashboard      {url}/          sign in with the e-mail {email}
  Demo panel     {url}/dev/      make the simulated district misbehave (holds, a revoked token)
  Sent e-mail    {url}/dev/outbox
  Poll now       curl -X POST {url}/dev/tick
  API token      curl -X POST {url}/dev/token -H 'content-type: application/json' -d '{{"email":"{email}"}}'

The first sync has run. Press Ctrl-C to stop.""",
        flush=True,
    )
    cli_env = " ".join(f"{name}={value}" for name, value in devstack.admin_environment().items())
    print(
        f"""
Operator CLI on this devstack (list, onboard, poll, offboard):
  env {cli_env} PYTHONPATH=layers/common .venv/bin/python -m sis_sync.admin list""",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping…", flush=True)
        devstack.stop()


if __name__ == "__main__":
    main()
