# bench/module.mk: the guest figures of `make bench` (bench/bench.sh says
# what each section measures and how it prints).
#
#   make bench-uml                     boot, initrd, hello, proc, java, jvm,
#                                      maven, fpu, scout, memory, pin, huge,
#                                      faultaround, prewarm, jail, preboot,
#                                      then previous (vs bench/previous.txt)
#   make bench-uml BENCH_SECTIONS=boot one or more sections only
#   make bench KERNEL_VARIANTS="raid6-btrfs squashfs-lz4"
#                                      also build (once, then cached) and
#                                      compare bench/variants/NAME.*
#   BENCH_RUNS=N (default 9, at least 5)
#
# The helpers are static so that the same binaries run on the host, in the
# rootfs chroot and inside the guest; memwatch runs only on the host.

BENCH_RUNS ?= 9
BENCH_SECTIONS ?=
KERNEL_VARIANTS ?=
STOCK_UML ?= /usr/bin/linux.uml

BENCH_BIN := $(B)/bench/bin
BENCH_TOOLS := $(BENCH_BIN)/timeit $(BENCH_BIN)/forkexec $(BENCH_BIN)/sysloop \
	$(BENCH_BIN)/bench_open $(BENCH_BIN)/memwatch $(BENCH_BIN)/hostinfo $(BENCH_BIN)/anontouch
BENCH_INPUTS := $(IMAGES) $(B)/sandbox-run $(B)/sandboxd $(BENCH_TOOLS)

$(BENCH_BIN)/timeit: $(B)/static/bench/timeit.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^
$(BENCH_BIN)/forkexec: $(B)/static/bench/forkexec.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^
$(BENCH_BIN)/sysloop: $(B)/static/bench/sysloop.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^
$(BENCH_BIN)/anontouch: $(B)/static/bench/anontouch.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^
$(BENCH_BIN)/bench_open: $(B)/static/tests/carrier/bench_open.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^
$(BENCH_BIN)/hostinfo: $(B)/obj/bench/hostinfo.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^
$(BENCH_BIN)/memwatch: $(B)/obj/bench/memwatch.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The stock Debian kernel boots our initrd with its squashfs/overlay modules.
$(B)/bench/initrd-stock.img: bench/stock-initrd.sh initrd/build.sh $(B)/init $(B)/tmc-init $(INITRD_CARRIER) | $(DEPS_OK)
	bench/stock-initrd.sh $@ $(STOCK_UML) $(B)/init $(B)/tmc-init $(INITRD_CARRIER)

# The rootfs unpacked once, for the native side of the ratios.
$(B)/bench/chroot/.stamp: $(B)/rootfs.squashfs | $(DEPS_OK)
	rm -rf $(B)/bench/chroot
	unsquashfs -q -n -d $(B)/bench/chroot $(B)/rootfs.squashfs
	[ -c $(B)/bench/chroot/dev/null ] || { rm -f $(B)/bench/chroot/dev/null; mknod -m 0666 $(B)/bench/chroot/dev/null c 1 3; }
	touch $@

.PHONY: bench-uml bench-variants
BENCHES += bench-uml
# The fpu section compares ours with the lazy FPU patch switched off; the
# jail section sandbox-run with its jail and host filter vs the test-hooks
# build's --no-jail (tests/module.mk).
bench-uml: $(BENCH_INPUTS) $(B)/bench/initrd-stock.img $(B)/bench/chroot/.stamp $(B)/bench/linux-eager-fpu.uml \
		$(B)/tests/sandbox-run-test
	B=$(B) RUNS=$(BENCH_RUNS) STOCK_KERNEL=$(STOCK_UML) FPU_OFF_KERNEL=$(B)/bench/linux-eager-fpu.uml \
		bench/bench.sh $(BENCH_SECTIONS)

# Config variants, only when asked. A variant NAME is bench/variants/NAME.config
# (a kernel fragment over kernel/uml.config: a kernel build the first time)
# and/or bench/variants/NAME.mksquashfs (mksquashfs options: the rootfs
# repacked from the chroot); what a variant does not change is ours.
ifneq ($(strip $(KERNEL_VARIANTS)),)
BENCHES += bench-variants
endif
variant_kernel = $(if $(wildcard bench/variants/$(1).config),$(B)/bench/linux-$(1).uml)
variant_rootfs = $(if $(wildcard bench/variants/$(1).mksquashfs),$(B)/bench/rootfs-$(1).squashfs)
$(B)/bench/linux-%.uml: bench/variants/%.config kernel/uml.config kernel/build.sh \
		$(wildcard kernel/patches/*.patch) | $(DEPS_OK)
	kernel/build.sh $@ kernel/uml.config $<
$(B)/bench/rootfs-%.squashfs: bench/variants/%.mksquashfs $(B)/bench/chroot/.stamp
	rm -f $@
	mksquashfs $(B)/bench/chroot $@ -no-progress -quiet -e bench .stamp $$(grep -v '^#' $<)
bench-variants: $(BENCH_INPUTS) $(foreach v,$(KERNEL_VARIANTS),$(call variant_kernel,$(v)) $(call variant_rootfs,$(v)))
	@set -e; $(foreach v,$(KERNEL_VARIANTS),\
		$(if $(call variant_kernel,$(v))$(call variant_rootfs,$(v)),,echo "bench: no bench/variants/$(v).config or .mksquashfs" >&2; exit 1;) \
		B=$(B) RUNS=$(BENCH_RUNS) bench/bench.sh variant $(v) -- \
		$(addprefix --kernel ,$(call variant_kernel,$(v))) $(addprefix --rootfs ,$(call variant_rootfs,$(v)));)
