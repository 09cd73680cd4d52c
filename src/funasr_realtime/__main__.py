"""``python -m funasr_realtime``: the ``funasr-realtime`` command, for when its script is not on PATH."""

from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
