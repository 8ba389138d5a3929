#!/usr/bin/env bash
# Installs the Debian packages the tests and the lab use (python3-scapy as
# the ESP/L2TP oracle, xl2tpd as a real L2TP peer, tshark as an independent
# dissector, iproute2 for namespaces). Runs apt-get only for what is missing,
# and only as root; otherwise it says what is missing and carries on (the
# tests that need a missing tool skip, except under CI=true).
set -euo pipefail
pkgs=(python3-scapy python3-cryptography python3-yaml xl2tpd tshark iproute2 tcpdump)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]} (run as root to install them; tests that need them will skip)" >&2
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
