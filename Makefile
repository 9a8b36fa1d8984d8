# Thin wrapper over cargo and the scripts; `install` puts the built files in place.
CARGO ?= cargo

.PHONY: build release test test-all demo bench lint fmt setup schema install uninstall manpages

# Where `make install` puts things (DESTDIR is prepended to each, for staging).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
# The daemon's state directory, named in the units.
STATEDIR ?= /var/lib/workshop
# Where the binaries to install are (`make release` builds them there).
BUILD_DIR ?= target/release
# The manual pages, generated from the command-line definitions.
MANPAGES_DIR ?= $(BUILD_DIR)/man

build:
	$(CARGO) build --workspace

# workshopctl runs in workshops of every base: it is linked statically (glibc's static
# libraries; it needs nothing of NSS or dlopen), replacing the dynamic one the first step built.
release:
	$(CARGO) build --workspace --release
	$(CARGO) rustc --release -p workshop-cli --bin workshopctl -- -C target-feature=+crt-static

# Unit and socket-level tests; LXD tests skip themselves without WORKSHOP_TEST_LXD=1.
test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

# Everything, against a real LXD that the scripts install and start (run as root).
test-all:
	bash scripts/test-all.sh

# Set up LXD, start workshopd, launch the example workshop and run a command in it (root).
demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

setup:
	bash scripts/setup-lxd.sh

schema:
	UPDATE_SCHEMA=1 $(CARGO) test -p workshop-api schema

# The binaries, the systemd units, shell completions and manual pages (one per command).
# Build first (make release); as root for the default PREFIX. Then, for the daemon:
# systemctl daemon-reload && systemctl enable --now workshopd.socket workshopd.service
# (and, where systemd-resolved runs, systemctl enable workshop-configure-dns.service)
install: manpages
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD_DIR)/workshop $(BUILD_DIR)/workshopd $(BUILD_DIR)/workshopctl $(BUILD_DIR)/sdk $(DESTDIR)$(BINDIR)/
	for unit in workshopd.service workshopd.socket workshop-configure-dns.service; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' dist/systemd/$$unit.in >$(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp && \
		mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit || exit 1; \
	done
	sh snap/local/commands/completions install $(BUILD_DIR)/workshop \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0644 $(MANPAGES_DIR)/*.1 $(DESTDIR)$(MANDIR)/man1/

# Removes exactly what `make install` (with the same variables and build) put in place.
uninstall: manpages
	rm -f $(DESTDIR)$(BINDIR)/workshop $(DESTDIR)$(BINDIR)/workshopd $(DESTDIR)$(BINDIR)/workshopctl $(DESTDIR)$(BINDIR)/sdk
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/workshopd.service $(DESTDIR)$(SYSTEMDUNITDIR)/workshopd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/workshop-configure-dns.service
	sh snap/local/commands/completions remove \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	for page in $(MANPAGES_DIR)/*.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$${page##*/}; done

# Generated afresh from the binaries each time, so that uninstall knows their names too.
manpages:
	@test -x $(BUILD_DIR)/workshop && test -x $(BUILD_DIR)/workshopd && test -x $(BUILD_DIR)/workshopctl && test -x $(BUILD_DIR)/sdk || \
		{ echo "no binaries in $(BUILD_DIR): run make release first (or set BUILD_DIR)" >&2; exit 1; }
	rm -rf $(MANPAGES_DIR) && mkdir -p $(MANPAGES_DIR)
	$(BUILD_DIR)/workshop generate-manpages $(MANPAGES_DIR)
	$(BUILD_DIR)/workshopd generate-manpages $(MANPAGES_DIR)
