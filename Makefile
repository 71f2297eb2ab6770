# The two commands of the README: `make run` and `make test` (as root on Debian 12).
PY := /usr/bin/python3
BUILD := build
ASAN := build-asan

.PHONY: all deps build run stop test unit asan integration format-check clean screenshots nspawn

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Start a private slapd, a mail sink, the daemon and the demo accounts.
run: build
	scripts/devstack.sh demo

stop:
	scripts/devstack.sh stop

$(ASAN)/build.ninja:
	CC=clang meson setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Dfuzz=true

unit: build
	meson test -C $(BUILD) --print-errorlogs

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included),
# and every fuzz harness run briefly.
asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C $(ASAN) --print-errorlogs
	scripts/fuzz.sh $(ASAN) 20

# Its own base directory: another pytest run resets /tmp/pytest-of-root to 0700,
# which would lock the unprivileged test clients out of the daemon's socket.
# The modules run side by side, IT_JOBS at a time (pytest-xdist, one module per worker, each with
# its own slapd, SMTP sink and daemons); most of their time is spent waiting on timers, browsers
# and child processes, not on the CPU. test_packages.py installs the packages on this machine
# (/etc/nsswitch.conf, the PAM profiles), so it runs alone, after the others.
IT_JOBS ?= 3
integration: build
	MM_BUILD=$(abspath $(BUILD)) $(PY) -m pytest -q -p no:cacheprovider -n $(IT_JOBS) --dist loadfile \
		--basetemp=/tmp/medimail-integration \
		--ignore=tests/integration/test_packages.py tests/integration
	MM_BUILD=$(abspath $(BUILD)) $(PY) -m pytest -q -p no:cacheprovider \
		--basetemp=/tmp/medimail-packages tests/integration/test_packages.py

# The Debian packages installed in a Debian 12 tree booted under systemd-nspawn: systemctl
# start/reload/stop, a login, the sandbox on the running process (the first run downloads the
# tree, ~1.5 min; then ~3 min, most of it dpkg-buildpackage). tests/nspawn/RESULTS.md has figures.
nspawn: deps
	$(PY) tests/nspawn/run.py

# The README's pictures of the main pages (docs/screenshots/), in Chromium.
screenshots: build
	MM_BUILD=$(abspath $(BUILD)) $(PY) -m pytest -q -p no:cacheprovider \
		--basetemp=/tmp/medimail-screens tests/integration/screens.py

# The C sources follow .clang-format.
format-check: deps
	git ls-files '*.c' '*.h' | grep -v '^tests/oidc/' | xargs clang-format --dry-run -Werror

# Everything CI runs.
test: format-check unit asan integration nspawn

clean:
	rm -rf $(BUILD) $(ASAN)
