"""The ``funasr-realtime`` command line: argument parsing and presentation only."""
