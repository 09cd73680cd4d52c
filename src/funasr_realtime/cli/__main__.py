"""``python -m funasr_realtime.cli``: the same command as ``python -m funasr_realtime``."""

from .main import main

if __name__ == "__main__":
    raise SystemExit(main())
