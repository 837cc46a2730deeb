/*
 * check_upload_tar.c: upload_tar_normalize() against hostile and benign
 * archives. Each case is one row: the entries (written with libarchive in
 * the chosen compression), the limits, and the expected outcome (accepted,
 * or rejected with a message containing a given phrase). Accepted uploads
 * are read back to check that the output is clean ustar.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

enum filt { PLAIN, GZIP, XZ, ZSTD };

struct ent {
	const char *name;
	mode_t type;		/* AE_IFREG ... ; 0 ends the list */
	mode_t perm;
	int64_t size;		/* regular files: zero-filled data of this size */
	const char *link;	/* symlink target */
	const char *hard;	/* hardlink target */
};

#define REG(n) { n, AE_IFREG, 0644, 3, NULL, NULL }
#define RUN { "tmc-run", AE_IFREG, 0755, 20, NULL, NULL }
#define DIR_(n) { n, AE_IFDIR, 0755, 0, NULL, NULL }
#define LNK(n, t) { n, AE_IFLNK, 0777, 0, t, NULL }
#define HARD(n, t) { n, AE_IFREG, 0644, 0, NULL, t }
#define END { NULL, 0, 0, 0, NULL, NULL }

#define X10 "xxxxxxxxxx"
#define X60 X10 X10 X10 X10 X10 X10
#define AE5 "\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4"
#define AE25 AE5 AE5 AE5 AE5 AE5
/* "src/" + a 150-byte directory + "/" + a 100-byte name: 255 bytes. */
#define MB_PATH "src/" AE25 AE25 AE25 "/" AE25 AE25

struct tcase_row {
	const char *what;
	enum filt filt;
	struct ent ents[8];
	uint64_t max_entries, max_unpacked, max_entry;	/* 0: default */
	const char *want_err;	/* NULL: accepted */
};

static const struct tcase_row rows[] = {
	{ "minimal", PLAIN, { RUN, END }, 0, 0, 0, NULL },
	{ "tree with inner symlink", PLAIN,
	  { RUN, DIR_("src"), REG("src/a.c"), LNK("lib", "src"), LNK("src/up", "../tmc-run"), END }, 0, 0, 0, NULL },
	{ "gzip", GZIP, { RUN, REG("x"), END }, 0, 0, 0, NULL },
	{ "xz", XZ, { RUN, REG("x"), END }, 0, 0, 0, NULL },
	{ "zstd", ZSTD, { RUN, REG("x"), END }, 0, 0, 0, NULL },
	{ "dot-slash names", PLAIN, { DIR_("./"), { "./tmc-run", AE_IFREG, 0755, 5, NULL, NULL }, REG(".//a/./b"), END },
	  0, 0, 0, NULL },
	{ "hardlink to earlier file", PLAIN, { RUN, REG("a"), HARD("b", "a"), END }, 0, 0, 0, NULL },
	{ "absolute path", PLAIN, { RUN, REG("/etc/x"), END }, 0, 0, 0, "absolute path" },
	{ "dot-dot", PLAIN, { RUN, REG("../x"), END }, 0, 0, 0, "'..' in path" },
	{ "inner dot-dot", PLAIN, { RUN, REG("a/../../x"), END }, 0, 0, 0, "'..' in path" },
	{ "char device", PLAIN, { RUN, { "null", AE_IFCHR, 0666, 0, NULL, NULL }, END }, 0, 0, 0,
	  "character device not allowed" },
	{ "block device", PLAIN, { RUN, { "sda", AE_IFBLK, 0666, 0, NULL, NULL }, END }, 0, 0, 0,
	  "block device not allowed" },
	{ "fifo", PLAIN, { RUN, { "p", AE_IFIFO, 0666, 0, NULL, NULL }, END }, 0, 0, 0, "fifo not allowed" },
	{ "symlink to /etc/shadow", PLAIN, { RUN, LNK("s", "/etc/shadow"), END }, 0, 0, 0, "points outside" },
	{ "symlink climbing out", PLAIN, { RUN, LNK("s", "../../etc/shadow"), END }, 0, 0, 0, "points outside" },
	{ "symlink climbing out from a dir", PLAIN, { RUN, DIR_("d"), LNK("d/s", "../../x"), END }, 0, 0, 0,
	  "points outside" },
	{ "symlink dot-dot after a name", PLAIN, { RUN, LNK("s", "a/../.."), END }, 0, 0, 0, "after a name" },
	{ "entry below a symlink", PLAIN, { RUN, LNK("d", "."), REG("d/x"), END }, 0, 0, 0, "below the symlink" },
	{ "symlink then dot-dot link below it", PLAIN, { RUN, LNK("d", "."), LNK("d/e", "../x"), END }, 0, 0, 0,
	  "below the symlink" },
	{ "hardlink out of tree", PLAIN, { RUN, HARD("h", "/etc/shadow"), END }, 0, 0, 0, "points outside" },
	{ "hardlink dot-dot", PLAIN, { RUN, HARD("h", "../x"), END }, 0, 0, 0, "points outside" },
	{ "hardlink to nothing", PLAIN, { RUN, HARD("h", "nope"), END }, 0, 0, 0, "not an earlier regular file" },
	{ "duplicate", PLAIN, { RUN, REG("a"), REG("a"), END }, 0, 0, 0, "more than once" },
	{ "too many entries", PLAIN, { RUN, REG("a"), REG("b"), REG("c"), END }, 3, 0, 0, "more than 3 entries" },
	{ "unpacked over cap", GZIP, { RUN, { "big", AE_IFREG, 0644, 1 << 20, NULL, NULL }, END }, 0, 1000000, 0,
	  "unpacked size over the cap" },
	{ "entry over cap", PLAIN, { RUN, { "big", AE_IFREG, 0644, 5000, NULL, NULL }, END }, 0, 0, 4096,
	  "over the cap of 4096" },
	{ "no directory entries (tar cf t.tar tmc-run src/Main.java)", PLAIN,
	  { RUN, REG("src/Main.java"), REG("src/deep/x"), END }, 0, 0, 0, NULL },
	{ "255-byte multibyte path", PLAIN, { RUN, REG(MB_PATH), END }, 0, 0, 0, NULL },
	{ "name that does not fit ustar", PLAIN, { RUN, REG("d/" X60 X60), END }, 0, 0, 0,
	  "does not fit a ustar header" },
	{ "hardlink target over 100 bytes", PLAIN, { RUN, REG(X60 "/" X60), HARD("h", X60 "/" X60), END },
	  0, 0, 0, "target longer than 100 bytes" },
	{ "symlink target over 100 bytes", PLAIN, { RUN, LNK("s", X60 X60), END }, 0, 0, 0,
	  "target longer than 100 bytes" },
	{ "no tmc-run", PLAIN, { REG("a"), END }, 0, 0, 0, "no tmc-run" },
	{ "tmc-run is a dir", PLAIN, { DIR_("tmc-run"), END }, 0, 0, 0, "no tmc-run" },
	{ "tmc-run not at top", PLAIN, { DIR_("x"), { "x/tmc-run", AE_IFREG, 0755, 1, NULL, NULL }, END }, 0, 0, 0,
	  "no tmc-run" },
};

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_upload_tar.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_archive(const char *path, enum filt filt, const struct ent *ents)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	static char zeros[64 * 1024];

	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	switch (filt) {
	case GZIP: archive_write_add_filter_gzip(a); break;
	case XZ: archive_write_add_filter_xz(a); break;
	case ZSTD: archive_write_add_filter_zstd(a); break;
	default: break;
	}
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (; ents->name != NULL; ents++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, ents->name);
		archive_entry_set_filetype(e, ents->type);
		archive_entry_set_perm(e, ents->perm);
		archive_entry_set_uid(e, 1234);
		if (ents->link != NULL)
			archive_entry_set_symlink(e, ents->link);
		if (ents->hard != NULL)
			archive_entry_set_hardlink(e, ents->hard);
		archive_entry_set_size(e, ents->type == AE_IFREG && ents->hard == NULL ? ents->size : 0);
		ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
		if (ents->type == AE_IFREG && ents->hard == NULL) {
			for (int64_t left = ents->size; left > 0;) {
				size_t n = left > (int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
				ck_assert_int_eq(archive_write_data(a, zeros, n), (la_ssize_t)n);
				left -= (int64_t)n;
			}
		}
	}
	archive_entry_free(e);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static struct upload_limits limits_for(const struct tcase_row *r)
{
	struct upload_limits lim;

	upload_limits_defaults(&lim);
	if (r->max_entries)
		lim.max_entries = r->max_entries;
	if (r->max_unpacked)
		lim.max_unpacked = r->max_unpacked;
	if (r->max_entry)
		lim.max_entry = r->max_entry;
	return lim;
}

/* The output must be plain ustar, owned by root, without setuid bits. */
static void check_clean_output(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int have_run = 0;

	archive_read_support_format_tar(a);
	ck_assert_int_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);

		ck_assert_int_eq(archive_format(a), ARCHIVE_FORMAT_TAR_USTAR);
		ck_assert_int_eq(archive_entry_uid(e), 0);
		ck_assert_int_eq(archive_entry_perm(e) & 07000, 0);
		ck_assert(n[0] != '/' && strncmp(n, "./", 2) != 0);
		if (strcmp(n, "tmc-run") == 0) {
			have_run = 1;
			ck_assert_int_eq(archive_entry_perm(e), 0755);
		}
	}
	ck_assert(have_run);
	archive_read_free(a);
}

START_TEST(test_rows)
{
	const struct tcase_row *r = &rows[_i];
	struct upload_limits lim = limits_for(r);
	char in[128], out[128], err[512] = "";
	int rc;

	snprintf(in, sizeof(in), "%s/in", tmpdir);
	snprintf(out, sizeof(out), "%s/runnable.tar", tmpdir);
	write_archive(in, r->filt, r->ents);
	rc = upload_tar_normalize(in, out, &lim, err, sizeof(err));
	if (r->want_err == NULL) {
		ck_assert_msg(rc == 0, "%s: rejected: %s", r->what, err);
		check_clean_output(out);
	} else {
		ck_assert_msg(rc == -1, "%s: accepted", r->what);
		ck_assert_msg(strstr(err, r->want_err) != NULL, "%s: message '%s' lacks '%s'",
		    r->what, err, r->want_err);
		ck_assert_msg(access(out, F_OK) != 0, "%s: output left behind", r->what);
	}
}
END_TEST

static void write_bytes(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static const struct {
	const char *what;
	int kind;		/* 0 empty, 1 text, 2 truncated tar, 3 gzip text, 4 zeros */
	const char *want_err;
} raw_rows[] = {
	{ "empty file", 0, "empty upload" },
	{ "not a tar", 1, "not a tar archive" },
	{ "truncated tar", 2, "truncated" },
	{ "gzip of text", 3, "not a tar archive" },
	{ "only zero blocks", 4, "no entries" },
};

START_TEST(test_raw)
{
	char in[128], out[128], err[512] = "";
	struct upload_limits lim;
	struct stat sb;
	char zeros[10240] = { 0 };
	int rc;

	upload_limits_defaults(&lim);
	snprintf(in, sizeof(in), "%s/in", tmpdir);
	snprintf(out, sizeof(out), "%s/runnable.tar", tmpdir);
	switch (raw_rows[_i].kind) {
	case 0: write_bytes(in, "", 0); break;
	case 1: write_bytes(in, "hello, this is not a tar file at all\n", 37); break;
	case 2: {
		const struct ent e[] = { RUN, { "big", AE_IFREG, 0644, 100000, NULL, NULL }, END };

		write_archive(in, PLAIN, e);
		ck_assert_int_eq(stat(in, &sb), 0);
		ck_assert_int_eq(truncate(in, 5000), 0);
		break;
	}
	case 3: {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "echo 'just some text' | gzip > %s", in);
		ck_assert_int_eq(system(cmd), 0);
		break;
	}
	default: write_bytes(in, zeros, sizeof(zeros)); break;
	}
	rc = upload_tar_normalize(in, out, &lim, err, sizeof(err));
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, raw_rows[_i].want_err) != NULL, "%s: message '%s' lacks '%s'",
	    raw_rows[_i].what, err, raw_rows[_i].want_err);
	ck_assert(access(out, F_OK) != 0);
}
END_TEST

/* A bomb: a gzip'd 1 GiB entry must be refused from its header, fast. */
START_TEST(test_bomb_refused_from_header)
{
	char in[128], out[128], err[512] = "", cmd[512];
	struct upload_limits lim;

	upload_limits_defaults(&lim);
	snprintf(in, sizeof(in), "%s/in", tmpdir);
	snprintf(out, sizeof(out), "%s/runnable.tar", tmpdir);
	/* Header claims 1 GiB; only the header is written (a truncated bomb is
	 * as good as a whole one for the size check). */
	snprintf(cmd, sizeof(cmd),
	    "cd %s && printf '#!/bin/sh\\n' > tmc-run && truncate -s 1G big && "
	    "tar -cf - tmc-run big 2>/dev/null | head -c 20000 | gzip > in; rm -f big tmc-run", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(upload_tar_normalize(in, out, &lim, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "over the cap") != NULL, "%s", err);
}
END_TEST

static Suite *upload_tar_suite(void)
{
	Suite *s = suite_create("upload_tar");
	TCase *tc = tcase_create("archives");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_loop_test(tc, test_raw, 0, (int)(sizeof(raw_rows) / sizeof(raw_rows[0])));
	tcase_add_test(tc, test_bomb_refused_from_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(upload_tar_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
