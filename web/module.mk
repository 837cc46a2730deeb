# web/: deployment. `make install` (binaries, images, policy, web files,
# units, docs), the deployment integration test (real nginx in front of
# real sandboxd instances, the status page in headless Chromium, the
# systemd unit, the install tree), the check of the example alert rules
# and the pool benchmark.
#
#   make install PREFIX=/usr/local DESTDIR=     (SYSCONFDIR, UNITDIR ... below)
#   make deploy-test                            needs root, nginx, chromium, systemd-analyze
#   make pool-bench                             tasks/minute with 1, 2, 4 instances; memory

BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
# The images and the programs that find them next to themselves.
PKGLIBDIR ?= $(PREFIX)/lib/tmc-sandbox
DATADIR ?= $(PREFIX)/share/tmc-sandbox
DOCDIR ?= $(PREFIX)/share/doc/tmc-sandbox
# /usr installs configure /etc; any other prefix keeps its own etc.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

WEB_FILES := web/nginx/gen-site.sh web/nginx/tmc-sandbox.conf.in web/nginx/tmc-sandbox-proxy.conf \
	web/nginx/nginx-standalone.conf.in web/status/index.html web/status/status.js \
	web/status/status.css web/instances.sh web/prometheus/tmc-sandbox.rules.yml
# Docs: README.md (once the lead has written it), this deployment guide,
# the sandbox's theory of operation and Scout's description.
INSTALL_DOCS := $(wildcard README.md) web/DEPLOYMENT.md sandbox/SCOUT.md

# The @...@ paths of the .in files, as installed (without DESTDIR).
WEB_SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@IMAGESDIR@|$(PKGLIBDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	-e 's|@DOCDIR@|$(DOCDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install: $(B)/sandboxd $(B)/sandbox-run $(B)/tmc-unpack $(B)/carrier $(IMAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PKGLIBDIR) \
		$(DESTDIR)$(DATADIR)/web/nginx $(DESTDIR)$(DATADIR)/web/status $(DESTDIR)$(DATADIR)/web/prometheus \
		$(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/tmc-sandbox $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(B)/sandboxd $(B)/sandbox-run $(B)/tmc-unpack $(B)/carrier $(B)/linux.uml \
		$(DESTDIR)$(PKGLIBDIR)/
	install -m 0644 $(B)/initrd.img $(B)/rootfs.squashfs $(B)/lpj $(DESTDIR)$(PKGLIBDIR)/
	ln -sf $$(realpath -m --relative-to=$(SBINDIR) $(PKGLIBDIR)/sandboxd) $(DESTDIR)$(SBINDIR)/sandboxd
	ln -sf $$(realpath -m --relative-to=$(BINDIR) $(PKGLIBDIR)/sandbox-run) $(DESTDIR)$(BINDIR)/sandbox-run
	install -m 0644 sandbox/policy.default $(DESTDIR)$(DATADIR)/policy.default
	for f in $(WEB_FILES); do \
		mode=0644; case $$f in *.sh) mode=0755 ;; esac; \
		install -m $$mode $$f $(DESTDIR)$(DATADIR)/$$f; done
	$(WEB_SUBST) web/sandboxd.conf.in > $(DESTDIR)$(DATADIR)/sandboxd.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/tmc-sandbox/sandboxd.conf ] || \
		install -m 0644 $(DESTDIR)$(DATADIR)/sandboxd.conf.example $(DESTDIR)$(SYSCONFDIR)/tmc-sandbox/sandboxd.conf
	$(WEB_SUBST) web/systemd/sandboxd@.service.in > $(DESTDIR)$(UNITDIR)/sandboxd@.service
	$(WEB_SUBST) web/systemd/tmc-sandbox.target > $(DESTDIR)$(UNITDIR)/tmc-sandbox.target
	chmod 0644 $(DESTDIR)$(UNITDIR)/sandboxd@.service $(DESTDIR)$(UNITDIR)/tmc-sandbox.target
	install -m 0644 web/systemd/tmc-sandbox.sysusers $(DESTDIR)$(SYSUSERSDIR)/tmc-sandbox.conf
	install -m 0644 web/systemd/tmc-sandbox.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/tmc-sandbox
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 sandbox/README.md $(DESTDIR)$(DOCDIR)/sandbox-README.md
	$(DESTDIR)$(PKGLIBDIR)/sandboxd --help > $(DESTDIR)$(DOCDIR)/sandboxd.txt
	$(DESTDIR)$(PKGLIBDIR)/sandbox-run --help > $(DESTDIR)$(DOCDIR)/sandbox-run.txt 2>&1 || true
	@echo "installed under $(DESTDIR)$(PREFIX) (config $(SYSCONFDIR)/tmc-sandbox/sandboxd.conf)"

# ------------------------------------------------------------------ tests

$(B)/tests/deploy_test: $(B)/obj/tests/deploy/deploy_test.o $(B)/obj/tests/lib/http_harness.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# The staged install the test runs from (PREFIX /usr/local, as a user's).
# It must lie outside what the hardened unit hides (PrivateTmp: /tmp and
# /var/tmp; ProtectHome: /home, /root), because the systemd probe runs the
# staged unit for real and a clone may live in any of those: so it goes
# below the cache dir, one stage per build dir.
DEPLOY_STAGE := $(if $(TMC_CACHE_DIR),$(TMC_CACHE_DIR)/deploy-stage-$(shell printf '%s' '$(abspath $(B))' | sha256sum | cut -c1-12),$(abspath $(B))/deploy-stage)

.PHONY: deploy-test deploy-stage pool-bench
deploy-stage: $(B)/sandboxd $(B)/sandbox-run $(B)/tmc-unpack $(B)/carrier $(IMAGES)
	rm -rf $(DEPLOY_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEPLOY_STAGE)) PREFIX=/usr/local > /dev/null

# DEPLOY_TESTS=name... runs a subset (names: deploy_test --list).
INTEGRATION_TESTS += deploy-test
deploy-test: $(B)/tests/deploy_test $(B)/sandboxd deploy-stage
	$(B)/tests/deploy_test --build $(B) --web web --stage $(DEPLOY_STAGE) --prefix /usr/local $(DEPLOY_TESTS)

# The example alert rules: valid for Prometheus, and each alert fires on
# the series made to trip it and on no other (tests/prometheus/).
.PHONY: alert-rules-test
INTEGRATION_TESTS += alert-rules-test
alert-rules-test: | $(DEPS_OK)
	promtool check rules web/prometheus/tmc-sandbox.rules.yml
	promtool test rules tests/prometheus/alerts_test.yml

BENCHES += pool-bench
pool-bench: $(B)/tests/deploy_test $(B)/sandboxd $(IMAGES)
	$(B)/tests/deploy_test --bench --build $(B) --web web --exercises tests/exercises
