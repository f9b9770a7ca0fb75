#!/usr/bin/env bash
# Installs the system packages the test suite needs on a fresh Debian 12. `npm test` runs it
# first (pretest), so the README's test command sets up what it needs:
# - as root: installs what is missing (packages' services are not started);
# - otherwise: says in one line what is missing and the command that installs it, and fails at
#   once (the tests also need root: they start sshd and PostgreSQL as other users).
# Idempotent: checks first, so a re-run on a prepared machine takes well under a second.
# In CI (CI=true) it also makes sure no PostgreSQL cluster on port 5432 and no sshd on port 22 run;
# on a workstation it never stops the machine's own services.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(openssh-server openssh-client postgresql-15 postgresql-15-slony1-2 slony1-2-bin tmux util-linux procps psmisc openssl zsh strace)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
for c in /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/lib/postgresql/15/bin/initdb /usr/bin/slon /usr/bin/slonik /usr/bin/strace \
         /usr/bin/unshare /usr/sbin/runuser /usr/sbin/useradd /usr/bin/zsh; do
  if [ ! -x "$c" ]; then
    missing+=("(missing $c)")
  fi
done

if [ "$(id -u)" -ne 0 ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "npm test needs ${missing[*]} (Debian packages): install them with: sudo bash .ci/install-system-deps.sh" >&2
  else
    echo "npm test must run as root (the tests start sshd and PostgreSQL as other users): sudo npm test" >&2
  fi
  exit 1
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "npm test needs ${missing[*]} and this is not a Debian machine (no apt-get): install their equivalents" >&2
    exit 1
  fi
  echo "install-system-deps.sh: installing (missing: ${missing[*]})"
  # Do not let postgresql-common create (and start) the default 15/main cluster on port 5432.
  mkdir -p /etc/postgresql-common
  if [ -f /etc/postgresql-common/createcluster.conf ] && grep -Eq '^\s*create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    sed -i -E 's/^\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
  else
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  # Keep package scripts from starting services (sshd on port 22, postgresql) during install.
  policy_rc_d_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc_d_created=1
  fi
  apt-get update
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  if [ "$policy_rc_d_created" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
  fi
fi

if [ "${CI:-}" != true ]; then
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  exit 0
fi

# CI only: whatever happened before (a cluster created by an earlier install, a started sshd),
# make sure nothing occupies the ports the tests' own servers may want.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r ver cluster port status _rest; do
    if [ "$status" = online ] || [ "${status#online}" != "$status" ]; then
      echo "install-system-deps.sh: stopping PostgreSQL cluster $ver/$cluster (port $port)"
      pg_ctlcluster "$ver" "$cluster" stop -m fast || true
    fi
    # Do not let it come back at boot either.
    if [ -f "/etc/postgresql/$ver/$cluster/start.conf" ]; then
      echo manual > "/etc/postgresql/$ver/$cluster/start.conf"
    fi
  done
fi
if [ -f /run/sshd.pid ]; then
  pid="$(cat /run/sshd.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/sshd ]; then
    echo "install-system-deps.sh: stopping the system sshd (pid $pid)"
    kill "$pid" || true
  fi
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now ssh.service ssh.socket postgresql.service >/dev/null 2>&1 || true
fi

mkdir -p /run/sshd
chmod 0755 /run/sshd
echo "install-system-deps.sh: ok"
