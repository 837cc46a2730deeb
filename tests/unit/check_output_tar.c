/* check_output_tar.c: sandbox/output_tar.c against hostile output.tar
 * images (built here with libarchive or as raw bytes) and hostile
 * meta.txt contents. */
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

#include "common/util.h"
#include "sandbox/sandbox.h"

enum shape {
	SHAPE_TAR,		/* entries written by libarchive, then a zero tail */
	SHAPE_TAR_CUT,		/* the same, cut after `cut` bytes, no tail */
	SHAPE_TAR_GZIP,		/* entries, gzip-compressed */
	SHAPE_GARBAGE,
	SHAPE_EMPTY,
	SHAPE_ZEROS,
};

struct ent {
	const char *name;
	mode_t type;		/* 0 = regular */
	const char *data;	/* NULL: `size` bytes of 'A' */
	size_t size;
	const char *symlink;
	const char *hardlink;
	int sparse;		/* a pax sparse entry: size bytes, one data byte at the end */
};
#define REG(n, d, s)	{ .name = (n), .data = (d), .size = (s) }
#define FILL(n, s)	{ .name = (n), .size = (s) }
#define SPARSE(n, s)	{ .name = (n), .size = (s), .sparse = 1 }
#define TYPED(n, t)	{ .name = (n), .type = (t) }
#define SYM(n, l)	{ .name = (n), .type = AE_IFLNK, .symlink = (l) }
#define HARD(n, l)	{ .name = (n), .hardlink = (l) }
#define NONE		{ .name = NULL }

static const struct tcase {
	const char *what;
	enum shape shape;
	struct ent ents[4];
	size_t cut;
	uint64_t cap;
	int malformed;
	size_t count;
	const char *file;	/* checked file (or NULL) */
	const char *file_data;	/* its expected data, or NULL to check only len */
	size_t file_len;
	int file_truncated;
	const char *note;	/* substring of the note */
} cases[] = {
	{ "clean", SHAPE_TAR, { REG("meta.txt", "version=1\nexit_code=0\n", 22),
	  REG("output.txt", "hi\n", 3) }, 0, 1024, 0, 2, "output.txt", "hi\n", 3, 0, NULL },
	{ "dot-slash names", SHAPE_TAR, { REG("./output.txt", "x", 1) }, 0, 1024, 0, 1,
	  "output.txt", "x", 1, 0, NULL },
	{ "symlink", SHAPE_TAR, { SYM("output.txt", "/etc/shadow") }, 0, 1024,
	  1, 0, NULL, NULL, 0, 0, "symlink" },
	{ "hardlink", SHAPE_TAR, { REG("meta.txt", "version=1\n", 10),
	  HARD("output.txt", "meta.txt") }, 0, 1024, 1, 1, "meta.txt", NULL, 10, 0,
	  "hard link" },
	{ "dot-dot", SHAPE_TAR, { REG("../output.txt", "x", 1), REG("../../x", "y", 1) }, 0,
	  1024, 1, 0, NULL, NULL, 0, 0, "unknown name" },
	{ "absolute", SHAPE_TAR, { REG("/etc/output.txt", "x", 1) }, 0, 1024, 1, 0, NULL,
	  NULL, 0, 0, "unknown name" },
	{ "nested", SHAPE_TAR, { REG("sub/output.txt", "x", 1) }, 0, 1024, 1, 0, NULL,
	  NULL, 0, 0, "unknown name" },
	{ "directory", SHAPE_TAR, { TYPED("output.txt", AE_IFDIR) }, 0, 1024, 1, 0, NULL,
	  NULL, 0, 0, "directory" },
	{ "char device", SHAPE_TAR, { TYPED("stdout.txt", AE_IFCHR) }, 0, 1024, 1, 0,
	  NULL, NULL, 0, 0, "char device" },
	{ "block device", SHAPE_TAR, { TYPED("stdout.txt", AE_IFBLK) }, 0, 1024, 1, 0,
	  NULL, NULL, 0, 0, "block device" },
	{ "fifo", SHAPE_TAR, { TYPED("stderr.txt", AE_IFIFO) }, 0, 1024, 1, 0, NULL, NULL,
	  0, 0, "fifo" },
	{ "unknown name", SHAPE_TAR, { REG("evil.sh", "rm -rf /", 8),
	  REG("stdout.txt", "ok", 2) }, 0, 1024, 1, 1, "stdout.txt", "ok", 2, 0, "evil.sh" },
	{ "duplicate keeps first", SHAPE_TAR, { REG("output.txt", "first", 5),
	  REG("output.txt", "second", 6) }, 0, 1024, 1, 1, "output.txt", "first", 5, 0,
	  "duplicate" },
	{ "entry over the cap", SHAPE_TAR, { FILL("output.txt", 5000),
	  REG("meta.txt", "version=1\n", 10) }, 0, 1000, 0, 2, "output.txt", NULL, 1000, 1,
	  NULL },
	{ "sparse 64 MiB entry", SHAPE_TAR, { SPARSE("output.txt", 64u << 20),
	  REG("meta.txt", "version=1\n", 10) }, 0, 4096, 0, 2, "output.txt", NULL, 4096 * 3,
	  1, NULL },
	{ "invalid UTF-8 replaced", SHAPE_TAR, { REG("stderr.txt", "a\xff\0b", 4) }, 0, 1024,
	  0, 1, "stderr.txt", "a\xEF\xBF\xBD\xEF\xBF\xBD" "b", 8, 0, NULL },
	{ "cut in data", SHAPE_TAR_CUT, { REG("meta.txt", "version=1\n", 10),
	  FILL("output.txt", 3000) }, 1024 + 512 + 1000, 8192, 1, 1, "meta.txt", NULL, 10,
	  0, "broken" },
	{ "cut in header", SHAPE_TAR_CUT, { REG("meta.txt", "version=1\n", 10),
	  FILL("output.txt", 3000) }, 1024 + 100, 8192, 1, 1, "meta.txt", NULL, 10, 0,
	  NULL },
	{ "gzip is not accepted", SHAPE_TAR_GZIP, { REG("output.txt", "x", 1) }, 0, 1024, 1,
	  0, NULL, NULL, 0, 0, "not a tar" },
	{ "garbage", SHAPE_GARBAGE, { NONE }, 0, 1024, 1, 0, NULL, NULL, 0, 0, NULL },
	{ "empty file", SHAPE_EMPTY, { NONE }, 0, 1024, -1, 0, NULL, NULL, 0, 0, NULL },
	{ "all zeros", SHAPE_ZEROS, { NONE }, 0, 1024, 0, 0, NULL, NULL, 0, 0, NULL },
};

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_output_tar-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	rm_rf(tmpdir);
}

static void write_entries(struct archive *a, const struct ent *ents)
{
	for (int i = 0; i < 4 && ents[i].name != NULL; i++) {
		const struct ent *e = &ents[i];
		struct archive_entry *ae = archive_entry_new();
		mode_t type = e->type ? e->type : AE_IFREG;

		archive_entry_set_pathname(ae, e->name);
		archive_entry_set_filetype(ae, type);
		archive_entry_set_perm(ae, 0644);
		if (e->symlink)
			archive_entry_set_symlink(ae, e->symlink);
		if (e->hardlink)
			archive_entry_set_hardlink(ae, e->hardlink);
		archive_entry_set_size(ae, type == AE_IFREG && !e->hardlink ? (la_int64_t)e->size : 0);
		if (e->sparse)
			archive_entry_sparse_add_entry(ae, (la_int64_t)e->size - 1, 1);
		ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
		if (type == AE_IFREG && !e->hardlink) {
			if (e->sparse)
				ck_assert_int_eq(archive_write_data(a, "Z", 1), 1);
			else if (e->data != NULL)
				ck_assert_int_eq(archive_write_data(a, e->data, e->size), (la_ssize_t)e->size);
			else {
				char *fill = malloc(e->size);

				memset(fill, 'A', e->size);
				ck_assert_int_eq(archive_write_data(a, fill, e->size), (la_ssize_t)e->size);
				free(fill);
			}
		}
		archive_entry_free(ae);
	}
}

/* Writes the case's image to path the way the guest's disk would look. */
static void build_image(const struct tcase *c, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	if (c->shape == SHAPE_TAR || c->shape == SHAPE_TAR_CUT || c->shape == SHAPE_TAR_GZIP) {
		struct archive *a = archive_write_new();

		/* pax for the sparse case, ustar otherwise (as tmc-init writes). */
		if (c->ents[0].sparse || c->ents[1].sparse)
			archive_write_set_format_pax(a);
		else
			archive_write_set_format_ustar(a);
		if (c->shape == SHAPE_TAR_GZIP)
			archive_write_add_filter_gzip(a);
		archive_write_set_bytes_in_last_block(a, 1);
		ck_assert_int_eq(archive_write_open_fd(a, fd), ARCHIVE_OK);
		write_entries(a, c->ents);
		ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		if (c->shape == SHAPE_TAR_CUT)
			ck_assert_int_eq(ftruncate(fd, (off_t)c->cut), 0);
		else
			ck_assert_int_eq(ftruncate(fd, lseek(fd, 0, SEEK_END) + (1 << 20)), 0);
	} else if (c->shape == SHAPE_GARBAGE) {
		unsigned char buf[8192];
		unsigned x = 42;

		for (size_t i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (unsigned char)(x >> 16);
		}
		ck_assert_int_eq(write_full(fd, buf, sizeof(buf)), 0);
	} else if (c->shape == SHAPE_ZEROS) {
		ck_assert_int_eq(ftruncate(fd, 20 << 20), 0);
	}
	close(fd);
}

START_TEST(test_hostile_archives)
{
	const struct tcase *c = &cases[_i];
	struct output_set set;
	char path[512], err[256] = "";
	const struct output_file *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/output.tar", tmpdir);
	build_image(c, path);
	ck_assert_msg(output_tar_read(path, c->cap, &set, err, sizeof(err)) == 0, "%s: %s",
	    c->what, err);
	if (c->malformed >= 0)
		ck_assert_msg(set.malformed == c->malformed, "%s: malformed %d, note: %s", c->what,
		    set.malformed, set.note);
	ck_assert_msg(set.count == c->count, "%s: count %zu, note: %s", c->what, set.count,
	    set.note);
	if (c->note != NULL)
		ck_assert_msg(strstr(set.note, c->note) != NULL, "%s: note \"%s\" lacks \"%s\"",
		    c->what, set.note, c->note);
	if (c->file != NULL) {
		f = output_set_get(&set, c->file);
		ck_assert_ptr_nonnull(f);
		if (c->file_data != NULL)
			ck_assert_mem_eq(f->data, c->file_data, c->file_len);
		ck_assert_msg(f->len == c->file_len, "%s: len %zu", c->what, f->len);
		ck_assert_int_eq(f->data[f->len], '\0');
		ck_assert_int_eq(f->truncated, c->file_truncated);
	}
	/* Whatever was accepted has a known flat name. */
	for (size_t i = 0; i < set.count; i++)
		ck_assert_ptr_null(strchr(set.files[i].name, '/'));
	output_set_free(&set);
	remove_tmpdir();
}
END_TEST

START_TEST(test_missing_file)
{
	struct output_set set;
	char err[256] = "";

	ck_assert_int_eq(output_tar_read("/nonexistent/output.tar", 1024, &set, err, sizeof(err)), -1);
	ck_assert_str_ne(err, "");
	ck_assert_uint_eq(set.count, 0);
}
END_TEST

static const struct mcase {
	const char *text;
	int rc;
	int exit_code;		/* -1: absent */
	int signal;		/* 0: absent */
	int oom, output_full;
	const char *error;
	size_t ntruncated;
} meta_cases[] = {
	{ "version=1\nexit_code=0\n", 0, 0, 0, 0, 0, "", 0 },
	{ "version=1\nexit_code=255\nrun_ms=1234\n", 0, 255, 0, 0, 0, "", 0 },
	{ "exit_code=3\nversion=1", 0, 3, 0, 0, 0, "", 0 },		/* no final newline */
	{ "version=1\nsignal=9\noom=1\n", 0, -1, 9, 1, 0, "", 0 },
	{ "version=1\nexit_code=1\noutput_full=1\ntruncated=stdout.txt\ntruncated=stdout.txt\n"
	  "truncated=stderr.txt\n", 0, 1, 0, 0, 1, "", 2 },
	{ "version=1\nerror=cannot untar /dev/ubdb\n", 0, -1, 0, 0, 0, "cannot untar /dev/ubdb", 0 },
	{ "version=1\nfuture_key=whatever\nexit_code=0\n", 0, 0, 0, 0, 0, "", 0 },
	{ "version=1\n\n\nexit_code=0\n", 0, 0, 0, 0, 0, "", 0 },	/* blank lines */
	{ .text = "", .rc = -1 },							/* no version */
	{ .text = "exit_code=0\n", .rc = -1 },
	{ .text = "version=2\nexit_code=0\n", .rc = -1 },
	{ .text = "version=1\nversion=1\n", .rc = -1 },
	{ .text = "version=1\nexit_code=256\n", .rc = -1 },
	{ .text = "version=1\nexit_code=-1\n", .rc = -1 },
	{ .text = "version=1\nexit_code= 1\n", .rc = -1 },
	{ .text = "version=1\nexit_code=1 \n", .rc = -1 },
	{ .text = "version=1\nexit_code=0x10\n", .rc = -1 },
	{ .text = "version=1\nexit_code=\n", .rc = -1 },
	{ .text = "version=1\nexit_code=99999999999999999999999\n", .rc = -1 },
	{ .text = "version=1\nexit_code=1\nexit_code=0\n", .rc = -1 },
	{ .text = "version=1\nsignal=0\n", .rc = -1 },
	{ .text = "version=1\nsignal=65\n", .rc = -1 },
	{ .text = "version=1\noom=2\n", .rc = -1 },
	{ .text = "version=1\ntruncated=../../etc/passwd\n", .rc = -1 },
	{ .text = "version=1\njunk\n", .rc = -1 },
	{ .text = "version=1\n=1\n", .rc = -1 },
	{ .text = "version=1\r\nexit_code=0\r\n", .rc = -1 },			/* CR is not ours */
};

START_TEST(test_meta)
{
	const struct mcase *c = &meta_cases[_i];
	struct output_meta m;
	char err[256] = "";
	int rc = output_tar_parse_meta(c->text, strlen(c->text), &m, err, sizeof(err));

	ck_assert_msg(rc == c->rc, "\"%s\": rc %d (%s)", c->text, rc, err);
	if (rc < 0) {
		ck_assert_str_ne(err, "");
		return;
	}
	ck_assert_int_eq(m.version, 1);
	ck_assert_int_eq(m.has_exit_code, c->exit_code >= 0);
	if (c->exit_code >= 0)
		ck_assert_uint_eq(m.exit_code, (unsigned)c->exit_code);
	ck_assert_int_eq(m.has_signal, c->signal > 0);
	if (c->signal > 0)
		ck_assert_uint_eq(m.signal, (unsigned)c->signal);
	ck_assert_int_eq(m.oom, c->oom);
	ck_assert_int_eq(m.output_full, c->output_full);
	ck_assert_str_eq(m.error, c->error);
	ck_assert_uint_eq(m.ntruncated, c->ntruncated);
}
END_TEST

/* Bounds: a long line, many lines. */
START_TEST(test_meta_bounds)
{
	struct output_meta m;
	char err[256];
	char *big = malloc(100000);
	size_t n = 0;

	n += (size_t)sprintf(big, "version=1\nerror=");
	memset(big + n, 'x', 5000);
	n += 5000;
	big[n++] = '\n';
	ck_assert_int_eq(output_tar_parse_meta(big, n, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer"));

	n = (size_t)sprintf(big, "version=1\n");
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(big + n, "k%d=v\n", i);
	ck_assert_int_eq(output_tar_parse_meta(big, n, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "lines"));
	free(big);
}
END_TEST

static Suite *output_tar_suite(void)
{
	Suite *s = suite_create("output_tar");
	TCase *tc = tcase_create("archives");
	TCase *tm = tcase_create("meta");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_hostile_archives, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_missing_file);
	tcase_add_loop_test(tm, test_meta, 0, sizeof(meta_cases) / sizeof(meta_cases[0]));
	tcase_add_test(tm, test_meta_bounds);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(output_tar_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
