# images.mk: the guest's images and programs.
#   build/linux.uml        kernel/ (cached by input hash in $(TMC_CACHE_DIR))
#   build/initrd.img       initrd/ + the static guest programs
#   build/rootfs.squashfs  rootfs/ profile $(PROFILE) (full or minimal), cached
#   build/lpj              loops_per_jiffy measured once on this machine

GUEST_PROGRAMS += tmc-init init

$(B)/tmc-init: $(B)/static/sandbox/guest/tmc_init.o $(B)/static/sandbox/guest/task_unpack.o \
	$(B)/static/sandbox/guest/guest_layers.o $(B)/static/sandbox/guest/prewarm.o \
	$(B)/static/sandbox/tar_rules.o $(B)/static/common/util.o $(B)/static/common/log.o
	$(CC) -static -o $@ $^
$(B)/init: $(B)/static/initrd/init.o $(B)/static/common/util.o
	$(CC) -static -o $@ $^

$(B)/linux.uml: kernel/uml.config kernel/build.sh kernel/fetch-source.sh scripts/debian-mirror.sh $(wildcard kernel/patches/*.patch) | $(DEPS_OK)
	@mkdir -p $(B)
	kernel/build.sh $@ kernel/uml.config

INITRD_CARRIER := $(if $(filter carrier,$(GUEST_PROGRAMS)),$(B)/carrier)
$(B)/initrd.img: initrd/build.sh $(B)/init $(B)/tmc-init $(INITRD_CARRIER) | $(DEPS_OK)
	initrd/build.sh $@ $(B)/init $(B)/tmc-init $(INITRD_CARRIER)

$(B)/rootfs-$(PROFILE).squashfs: rootfs/build.sh rootfs/packages-$(PROFILE).txt $(shell find rootfs/java rootfs/c -type f) | $(DEPS_OK)
	@mkdir -p $(B)
	rootfs/build.sh $@ rootfs/packages-$(PROFILE).txt
# Checked at every make: a timestamp cannot tell which profile the link
# names (make follows it), so a switch of PROFILE would go unnoticed.
$(B)/rootfs.squashfs: $(B)/rootfs-$(PROFILE).squashfs FORCE
	@[ "$$(readlink $@)" = rootfs-$(PROFILE).squashfs ] || ln -sfn rootfs-$(PROFILE).squashfs $@
.PHONY: FORCE
FORCE:

$(B)/lpj: $(B)/linux.uml $(B)/initrd.img scripts/measure-lpj.sh
	scripts/measure-lpj.sh $(B)/linux.uml $(B)/initrd.img > $@.tmp && mv $@.tmp $@
