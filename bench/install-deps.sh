#!/usr/bin/env bash
# Installs what `npm run bench` needs on a fresh Debian 12 (run as root). Idempotent: checks
# first, so on a prepared machine it returns at once without touching apt.
#  - the test harness's packages (sshd, PostgreSQL 15, ...) through .ci/install-system-deps.sh
#  - the tools the benchmark compares against: OpenSSH client, pssh (parallel-ssh),
#    ansible-core (ansible-playbook), the PostgreSQL client (psql), python3 (measure.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/install-deps.sh: must run as root (apt-get, sshd, PostgreSQL as the postgres user)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

if [ -x "$here/../.ci/install-system-deps.sh" ]; then
  "$here/../.ci/install-system-deps.sh" >/dev/null
fi

PACKAGES=(openssh-client openssh-server pssh ansible-core postgresql-client python3)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
for c in /usr/bin/ssh /usr/bin/parallel-ssh /usr/bin/ansible-playbook /usr/bin/psql /usr/bin/python3; do
  [ -x "$c" ] || missing+=("(missing $c)")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench/install-deps.sh: installing ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi
mkdir -p /run/sshd
