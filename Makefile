# Top-level build of the TMC-style sandbox service.
#
#   make            everything into build/ (kernel, initrd, rootfs, binaries)
#   make deps       install the Debian packages needed (apt-get, idempotent)
#   make test       unit tests (plain and ASan/UBSan), fuzz smoke, integration,
#                   then the Debian 13 chroot suite (SKIP_DEBIAN13=1 skips it)
#   make bench      measured figures (boot, hello-C, Scout, HTTP, pool)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean
#
# Each part's objects, programs and tests are declared in its own module.mk
# (common/, sandbox/, server/, tests/ ...), included below.

B := build
PROFILE ?= full
PREFIX ?= /usr/local
DESTDIR ?=
TMC_CACHE_DIR ?= /var/cache/tmc-sandbox
export TMC_CACHE_DIR

CC ?= gcc
PKGS := libarchive jansson libseccomp libmicrohttpd libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
# Deferred (=): pkg-config must run after `make deps` installed the packages.
CFLAGS = -std=gnu11 -O2 -g $(WARN) $(HARDEN) -I. $(PKG_CFLAGS)
LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_CFLAGS = -std=gnu11 -O1 -g $(WARN) -I. $(PKG_CFLAGS) $(SAN)
# Guest programs and the Carrier run without the host's shared libraries.
STATIC_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong -I.

# Filled by the module.mk files:
PROGRAMS :=		# host programs, build/<name>
GUEST_PROGRAMS :=	# static programs that go into the initrd
UNIT_TESTS :=		# check suites, build/tests/<name> and build/asan/tests/<name>
INTEGRATION_TESTS :=	# targets run by `make test` after the unit tests
BENCHES :=		# targets run by `make bench`
FUZZERS :=		# libFuzzer harnesses

# Every build step waits for the Debian packages (order-only): a fresh
# machine can start with `make test` or ./run-test-exercise.sh.
DEPS_OK := $(B)/.deps-ok

IMAGES := $(B)/linux.uml $(B)/initrd.img $(B)/rootfs.squashfs $(B)/lpj

.PHONY: all deps images programs test unit-test asan-test integration-test \
	bench fuzz install clean distclean
all: programs images

include common/module.mk
-include sandbox/module.mk
-include sandbox/scout.mk
-include server/module.mk
-include images.mk
-include deb.mk
-include tests/module.mk
-include web/module.mk
-include man/module.mk
-include bench/module.mk

programs: $(addprefix $(B)/,$(PROGRAMS) $(GUEST_PROGRAMS))
images: $(IMAGES)

deps:
	./scripts/deps.sh
	@mkdir -p $(B) && touch $(DEPS_OK)
$(DEPS_OK): scripts/deps.sh
	./scripts/deps.sh
	@mkdir -p $(B) && touch $@

# Objects: build/obj (hardened), build/asan (sanitizers), build/static (guest).
$(B)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<
$(B)/asan/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/static/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_CFLAGS) -MMD -MP -c -o $@ $<

# A unit test T is tests/unit/T.c linked with $(T_SRCS), built twice.
define unit_test_rules
$(B)/tests/$(1): $(B)/obj/tests/unit/$(1).o $(patsubst %.c,$(B)/obj/%.o,$($(1)_SRCS))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(CHECK_LIBS)
$(B)/asan/tests/$(1): $(B)/asan/tests/unit/$(1).o $(patsubst %.c,$(B)/asan/%.o,$($(1)_SRCS))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(SAN) -o $$@ $$^ $$(PKG_LIBS) $$(CHECK_LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_test_rules,$(t))))

# Under `make test` the images are built first and suites that boot them
# must not skip (REQUIRE_IMAGES is inherited by the prerequisites of test).
REQUIRE_IMAGES ?= 0
unit-test: $(addprefix $(B)/tests/,$(UNIT_TESTS))
	@set -e; for t in $(UNIT_TESTS); do echo "== unit: $$t"; \
		TMC_REQUIRE_IMAGES=$(REQUIRE_IMAGES) $(B)/tests/$$t; done

asan-test: $(addprefix $(B)/asan/tests/,$(UNIT_TESTS))
	@set -e; for t in $(UNIT_TESTS); do echo "== asan: $$t"; \
		TMC_REQUIRE_IMAGES=$(REQUIRE_IMAGES) ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 $(B)/asan/tests/$$t; done

integration-test: all $(INTEGRATION_TESTS)

# The Debian 13 suite (test-debian13) comes last, after everything else.
# A developer may skip it with SKIP_DEBIAN13=1; CI (CI set, e.g. CI=true)
# never does.
DEBIAN13_SKIP := $(if $(filter-out false,$(CI)),,$(filter 1,$(SKIP_DEBIAN13)))
test: REQUIRE_IMAGES := 1
test: all unit-test asan-test integration-test
ifeq ($(DEBIAN13_SKIP),1)
	@echo "make test: test-debian13 SKIPPED (SKIP_DEBIAN13=1)"
else
	$(DEBIAN13_TEST)
endif
	@echo "make test: all suites passed"

bench: all $(BENCHES)

fuzz: $(FUZZERS)

clean:
	rm -rf $(B)/obj $(B)/asan $(B)/static $(B)/tests $(B)/fuzz \
		$(addprefix $(B)/,$(PROGRAMS) $(GUEST_PROGRAMS)) $(B)/initrd.img $(B)/initrd-root

# Also drops the kernel and rootfs (the cache in $(TMC_CACHE_DIR) stays).
distclean:
	rm -rf $(B)

-include $(shell find $(B)/obj $(B)/asan $(B)/static -name '*.d' 2>/dev/null)
