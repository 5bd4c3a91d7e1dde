#!/usr/bin/env bash
# Installs the system packages Parley's tests need when they are missing:
#   dovecot-imapd  (a real IMAP server for the email channel tests; brings doveadm)
#   openssl        (the TLS tests make a self-signed certificate)
# As root it installs them with apt-get; otherwise it says what to run. The tests themselves
# start and stop their servers on free ports under a temp dir.
set -euo pipefail

missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests run their own unprivileged Dovecot; the packaged service is not needed.
  (service dovecot stop || pkill -x dovecot || true) >/dev/null 2>&1
else
  echo "note: missing ${missing[*]}; the email server tests skip locally (CI fails without them)." >&2
  echo "      install with: sudo apt-get install ${missing[*]}" >&2
fi
