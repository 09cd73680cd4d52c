#!/usr/bin/env bash
# nginx for tests/deploy/test_nginx.py (two servers behind nginx), from the system's packages.
# Installs Debian's (or Ubuntu's) nginx when it is missing and that is possible: apt-get, and
# root or passwordless sudo. Anywhere else it says why it did not and succeeds, so make install
# never fails for it; the deployment tests then skip, naming the reason.
# The package lists are refreshed (apt-get update) only when the install fails without it.
set -uo pipefail

if PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v nginx >/dev/null; then
  exit 0
fi
skip() {
  echo "nginx: not installed ($1); the nginx deployment tests (tests/deploy) will skip" >&2
  exit 0
}
command -v apt-get >/dev/null || skip "no apt-get here: install nginx with the system's package manager"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  skip "needs root or passwordless sudo: run 'sudo apt-get install nginx'"
fi
install() {
  # --no-install-recommends: the server binary and its configuration files, nothing else.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx
}
echo "nginx: installing Debian's package (apt-get install nginx)" >&2
if install || { $SUDO apt-get update -q && install; }; then
  exit 0
fi
skip "apt-get install nginx failed"
