#!/usr/bin/env bash
# Build the project's environment on a fresh Debian machine: the Debian packages the
# lab and the tests need, then a Python venv with the project installed (dev extras).
# Safe to run again: apt and pip skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  python3-venv python3-pip
  openssh-client openssh-server sudo     # SSH layer tests run a real sshd (and a sudo user)
  debootstrap systemd-container          # lab machines (systemd-nspawn)
  apt-cacher-ng dnsmasq-base             # lab site services
  iproute2 iptables nftables curl rsync ca-certificates
  build-essential git libseccomp-dev     # artifacts: static pause, go builds, runc (static seccomp)
  containerd runc busybox-static         # image-bundle import test, nested-container lab test
  chromium                               # 09's browser check (Playwright drives /usr/bin/chromium)
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  # RUNLEVEL=1 keeps maintainer scripts from starting the services we install
  # (sshd, apt-cacher-ng): the lab and the tests start their own instances.
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -e $stamp ]]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "setup: ready (.venv, $(.venv/bin/python --version))"
