#!/bin/bash
# deps.sh: install the Debian packages medimail-auth needs to build, run and test.
# Idempotent; runs apt only when something is missing. Never starts a system
# slapd (preseeded "no configuration", services blocked while installing).
set -euo pipefail

PKGS=(
  # build
  gcc clang clang-format meson ninja-build pkg-config libc6-dev git
  libldap-dev libsodium-dev libcurl4-gnutls-dev libpam0g-dev libcmocka-dev
  libclang-rt-14-dev libqrencode-dev
  libmicrohttpd-dev libgnutls28-dev libjansson-dev libpcsclite-dev libp11-kit-dev
  # run and test
  slapd ldap-utils python3 python3-pytest python3-aiosmtpd python3-ldap
  pamtester libpam-wrapper libnss-wrapper ca-certificates python3-pexpect
  curl nodejs python3-jwt python3-cryptography
  # the integration modules run side by side (make integration, IT_JOBS)
  python3-pytest-xdist
  # a real sudo resolving groups through our module (tests/integration/test_names.py)
  sudo
  # the clock stepped an hour under a running daemon (tests/integration/test_fault_matrix.py)
  libfaketime
  # packaging (debian/), man pages, the systemd unit check
  debhelper dpkg-dev build-essential fakeroot lintian groff-base man-db adduser systemd
  # the mail system's own LDAP lookups (postmap -q against the test slapd)
  postfix postfix-ldap
  # CPS cards: PC/SC, OpenSC's PKCS#11 module; vpcd (virtual reader), SoftHSM2, pkcs11-tool and
  # python3-cryptography for the test cards
  pcscd vsmartcard-vpcd opensc opensc-pkcs11 softhsm2 gnutls-bin
  # the web pages in a real browser (tests/integration/webstack.py); zbarimg reads the QR codes
  chromium chromium-driver python3-selenium zbar-tools
  # real relying parties in the tests (tests/integration/rpstack.py): Apache with mod_auth_openidc,
  # Dovecot IMAP with passdb oauth2 and passdb pam
  apache2 libapache2-mod-auth-openidc dovecot-imapd
  # the packages under a real systemd in a debootstrap tree (make nspawn, tests/nspawn/run.py)
  debootstrap systemd-container
)

missing=()
# npm ships inside some nodejs builds; Debian's comes as its own package.
command -v npm >/dev/null || PKGS+=(npm)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The test OpenID Connect provider (node oidc-provider, pinned by tests/oidc/package-lock.json).
oidc_deps() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc"
  if [ ! -d "$dir/node_modules/oidc-provider" ] && command -v npm >/dev/null; then
    echo "[deps] npm ci in tests/oidc"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
if [ ${#missing[@]} -eq 0 ]; then oidc_deps; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "[deps] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
# Postfix only lends its postmap to the tests: no system mailer is configured.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
pol=/usr/sbin/policy-rc.d
made=0
if [ ! -e "$pol" ]; then printf '#!/bin/sh\nexit 101\n' >"$pol"; chmod 755 "$pol"; made=1; fi
trap '[ $made = 1 ] && rm -f "$pol"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
oidc_deps
echo "[deps] done"
