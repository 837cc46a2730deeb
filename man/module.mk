# man/: the manual pages, written in scdoc and built into roff:
# sandboxd(8), sandbox-run(1), tmc-sandbox.conf(5) and tmc-make-layer(1). `make install`
# installs them (MANDIR); the Debian package ships them. man-test checks
# that each page documents exactly the options the program's --help lists.

MAN_PAGES := sandboxd.8 sandbox-run.1 tmc-sandbox.conf.5 tmc-make-layer.1
MANDIR ?= $(PREFIX)/share/man

.PHONY: man install-man man-test
man: $(addprefix $(B)/man/,$(MAN_PAGES))

$(B)/man/%: man/%.scd | $(DEPS_OK)
	@mkdir -p $(dir $@)
	scdoc < $< > $@.tmp && mv $@.tmp $@

# A prerequisite of web/module.mk's install (make merges the two rules).
install: install-man
install-man: man
	for p in $(MAN_PAGES); do \
		install -d $(DESTDIR)$(MANDIR)/man$${p##*.} && \
		install -m 0644 $(B)/man/$$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$$p || exit 1; done

# Also: `make install` puts each page where man looks (PREFIX=/usr).
MAN_STAGE := $(B)/man-stage
INTEGRATION_TESTS += man-test
man-test: man $(B)/sandboxd $(B)/sandbox-run
	tests/man/options_test.sh $(B) $(MAN_PAGES)
	rm -rf $(MAN_STAGE)
	$(MAKE) --no-print-directory install-man PREFIX=/usr DESTDIR=$(abspath $(MAN_STAGE)) > /dev/null
	@for p in $(MAN_PAGES); do f=$(MAN_STAGE)/usr/share/man/man$${p##*.}/$$p; \
		[ -s $$f ] || { echo "man-test: make install did not install $$f"; exit 1; }; done
	@echo "man-test: make install installs $(words $(MAN_PAGES)) pages"
	rm -rf $(MAN_STAGE)
