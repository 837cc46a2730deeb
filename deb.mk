# deb.mk: the Debian packages (debian/) and the test that installs them.
#   make deb        build/deb/tmc-sandbox_*.deb and tmc-sandbox-images_*.deb
#                   (dpkg-buildpackage -us -uc -b on a copy of the tree, then
#                   lintian, which must find no error)
#   make deb-test   the packages installed into a fresh Debian 12 chroot, one
#                   instance under the packaged unit, a task through HTTP,
#                   purge (tests/debpkg/); needs root

DEB_OUT := $(B)/deb

.PHONY: deb deb-test
deb: | $(DEPS_OK)
	scripts/make-deb.sh $(DEB_OUT)

# Slow the first time (mmdebstrap of the base, cached in $(TMC_CACHE_DIR)
# keyed by its inputs), then about a minute plus `make deb`.
INTEGRATION_TESTS += deb-test
deb-test: deb
	tests/debpkg/run.sh $(DEB_OUT) tests/exercises/c-hello
