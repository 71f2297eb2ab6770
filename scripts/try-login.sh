#!/bin/bash
# try-login.sh LOGIN_OR_MAIL: a workstation login through pam_medimail on the `make run` stack,
# with the real pamtester under pam_wrapper and a private pam.d (no system file is touched).
# Type the password; the one-time code is mailed to the sink and shown here as it arrives.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${MM_STATE:-$top/state}
build=${MM_BUILD:-$top/build}
user=${1:?usage: try-login.sh LOGIN_OR_MAIL}
py=/usr/bin/python3
[ -S "$state/authd.sock" ] || { echo "the dev stack is not running: make run" >&2; exit 1; }
mail=$("$build/ctl/medimailctl" --socket "$state/authd.sock" --json show "$user" |
  sed -n 's/.*"login_mail":"\([^"]*\)".*/\1/p')
[ -n "$mail" ] || { echo "no account $user" >&2; exit 1; }
pamd="$state/pam.d"
mkdir -p "$pamd"
for t in auth account password session; do
  echo "$t required $build/pam_medimail/pam_medimail.so socket=$state/authd.sock"
done >"$pamd/medimail-try"
# Show the next code mailed to the account while pamtester waits for it.
before=$("$py" "$top/scripts/mailread.py" "$state/mail" list "$mail" 2>/dev/null | wc -l)
(
  for _ in $(seq 600); do
    now=$("$py" "$top/scripts/mailread.py" "$state/mail" list "$mail" 2>/dev/null | wc -l)
    if [ "$now" -gt "$before" ]; then
      code=$("$py" "$top/scripts/mailread.py" "$state/mail" code "$mail" 2>/dev/null) &&
        { echo; echo "[mail sink] code reçu par $mail : $code"; } >&2 && exit 0
    fi
    sleep 0.5
  done
) &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$pamd" \
  pamtester -v medimail-try "$user" authenticate acct_mgmt open_session close_session
