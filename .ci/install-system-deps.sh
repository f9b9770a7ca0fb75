#!/usr/bin/env bash
# Installs the system packages the test suite needs on a fresh Debian 12 (run as root).
# Idempotent: checks first, so a re-run on a prepared machine takes well under a second.
# Leaves no PostgreSQL cluster on port 5432 and no sshd on port 22 running.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps.sh: must run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(openssh-server openssh-client postgresql-15 postgresql-15-slony1-2 slony1-2-bin tmux util-linux procps psmisc openssl)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
for c in /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/lib/postgresql/15/bin/initdb /usr/bin/slon /usr/bin/slonik \
         /usr/bin/unshare /usr/sbin/runuser /usr/sbin/useradd; do
  if [ ! -x "$c" ]; then
    missing+=("(missing $c)")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
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

# Whatever happened before (a cluster created by an earlier install, a started sshd), make sure
# nothing occupies the ports the tests' own servers may want.
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
