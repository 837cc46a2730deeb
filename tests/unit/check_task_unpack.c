/*
 * check_task_unpack.c: the path of an upload from the intake to the
 * guest's task dir, without UML: a tar made by a real tool goes through
 * upload_tar_normalize() (the intake's check) and then task_unpack() (what
 * tmc-init runs on /dev/ubdb) into a fresh directory, which must then hold
 * the tree the tool packed (issue 9.5: a tar without directory entries, or
 * with an inner symlink or hard link, passed the intake and crashed the
 * guest). One row per tool and layout: GNU tar (gnu, ustar, pax), bsdtar
 * (its default and ustar), Python's tarfile (GNU, PAX, USTAR) and the
 * layout of Ruby's Gem::Package::TarWriter (made byte by byte by
 * tests/lib/gem_tar.c: ruby is not a dependency). A missing tool fails its
 * row and says so.
 * Then the guest's own refusals, for a runnable.tar that did not come from
 * the intake.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "sandbox/tar_rules.h"
#include "tests/lib/gem_tar.h"

/* 255 bytes: "src/" + 75 x "ä" (a 154-byte directory) + "/" + 50 x "ö". */
#define AE5 "\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4"
#define AE25 AE5 AE5 AE5 AE5 AE5
#define OE5 "\xC3\xB6\xC3\xB6\xC3\xB6\xC3\xB6\xC3\xB6"
#define OE25 OE5 OE5 OE5 OE5 OE5
#define MB_DIR "src/" AE25 AE25 AE25
#define MB_PATH MB_DIR "/" OE25 OE25
/* 160 bytes: a GNU long name or a pax path, a split ustar name. */
#define LONG_DIR "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_PATH LONG_DIR "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.txt"

_Static_assert(sizeof(MB_PATH) - 1 == 255, "the multibyte path is 255 bytes");

/* The tree, in the order given to the tools: no directory entries. */
static const struct gem_tar_file tree[] = {
	{ "tmc-run", "#!/bin/sh\necho ok\n", NULL, NULL },
	{ "src/Main.java", "class Main {}\n", NULL, NULL },
	{ "src/Main2.java", NULL, NULL, "src/Main.java" },
	{ "lib", NULL, "src", NULL },
	{ "src/up", NULL, "../tmc-run", NULL },
	{ "src/deep/nested/x.txt", "deep\n", NULL, NULL },
	{ LONG_PATH, "long\n", NULL, NULL },
	{ MB_PATH, "multibyte\n", NULL, NULL },
};
#define NTREE (sizeof(tree) / sizeof(tree[0]))

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_task_unpack.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(int dir, const char *name, const char *data, mode_t mode)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, mode);

	ck_assert_msg(fd >= 0, "create %s: %s", name, strerror(errno));
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void mkdirs(int dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s", name);
	for (char *s = strchr(path, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		ck_assert(mkdirat(dir, path, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
}

/* The tool's input: the tree on disk under tmpdir/t. */
static int make_tree(void)
{
	char path[128];
	int dir;

	snprintf(path, sizeof(path), "%s/t", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	dir = open(path, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dir, 0);
	for (size_t i = 0; i < NTREE; i++) {
		mkdirs(dir, tree[i].name);
		if (tree[i].data != NULL)
			write_file(dir, tree[i].name, tree[i].data, strcmp(tree[i].name, "tmc-run") ? 0644 : 0755);
		else if (tree[i].link != NULL)
			ck_assert_int_eq(symlinkat(tree[i].link, dir, tree[i].name), 0);
		else
			ck_assert_int_eq(linkat(dir, tree[i].hard, dir, tree[i].name, 0), 0);
	}
	return dir;
}

/* --- The layouts ------------------------------------------------------------ */

#define PY_TARFILE "import sys, tarfile\n" \
	"f = tarfile.open(sys.argv[1], mode=\"w\", format=getattr(tarfile, sys.argv[2]))\n" \
	"for n in sys.argv[3:]:\n" \
	"    f.add(n, recursive=False)\n" \
	"f.close()\n"

static const struct layout {
	const char *what;
	const char *tool;	/* checked with `command -v` */
	const char *cmd;	/* %s: the output tar; run in the tree, file list appended */
	int hard_kept;		/* the tool writes the hard link as one */
} layouts[] = {
	{ "GNU tar, gnu format (tar cf t.tar files...)", "tar", "tar --format=gnu -cf %s", 1 },
	{ "GNU tar, ustar", "tar", "tar --format=ustar -cf %s", 1 },
	{ "GNU tar, pax", "tar", "tar --format=pax -cf %s", 1 },
	{ "GNU tar, gzip", "tar", "tar -czf %s", 1 },
	{ "bsdtar, default", "bsdtar", "bsdtar -cf %s", 1 },
	{ "bsdtar, ustar", "bsdtar", "bsdtar --format=ustar -cf %s", 1 },
	{ "Python tarfile, GNU_FORMAT", "python3", "python3 -c \"$PY\" %s GNU_FORMAT", 1 },
	{ "Python tarfile, PAX_FORMAT", "python3", "python3 -c \"$PY\" %s PAX_FORMAT", 1 },
	{ "Python tarfile, USTAR_FORMAT", "python3", "python3 -c \"$PY\" %s USTAR_FORMAT", 1 },
	{ "Gem::Package::TarWriter layout", NULL, NULL, 0 },
};

static void make_tar(const struct layout *l, const char *out)
{
	char cmd[4096];
	size_t n;

	if (l->cmd == NULL) {
		char err[512];

		ck_assert_msg(gem_tar_write(out, tree, NTREE, err, sizeof(err)) == 0, "%s: %s", l->what, err);
		return;
	}
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", l->tool);
	ck_assert_msg(system(cmd) == 0, "%s: %s is not installed (make deps installs it)", l->what, l->tool);
	n = (size_t)snprintf(cmd, sizeof(cmd), "cd %s/t && PY='%s' && ", tmpdir, PY_TARFILE);
	n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, l->cmd, out);
	for (size_t i = 0; i < NTREE; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " '%s'", tree[i].name);
	ck_assert_uint_lt(n, sizeof(cmd));
	ck_assert_msg(system(cmd) == 0, "%s: %s failed", l->what, cmd);
}

static void check_file(int dir, const char *name, const char *want)
{
	char buf[256];
	ssize_t n;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW);

	ck_assert_msg(fd >= 0, "%s: %s", name, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

static void check_tree(int dir, int hard_kept)
{
	struct stat a, b;
	char target[256];

	for (size_t i = 0; i < NTREE; i++) {
		if (tree[i].data != NULL) {
			check_file(dir, tree[i].name, tree[i].data);
		} else if (tree[i].link != NULL) {
			ssize_t n = readlinkat(dir, tree[i].name, target, sizeof(target) - 1);

			ck_assert_msg(n > 0, "%s: not a symlink", tree[i].name);
			target[n] = '\0';
			ck_assert_str_eq(target, tree[i].link);
		} else {
			ck_assert_int_eq(fstatat(dir, tree[i].name, &a, AT_SYMLINK_NOFOLLOW), 0);
			ck_assert_int_eq(fstatat(dir, tree[i].hard, &b, AT_SYMLINK_NOFOLLOW), 0);
			ck_assert(S_ISREG(a.st_mode));
			if (hard_kept)
				ck_assert_msg(a.st_ino == b.st_ino, "%s: not a hard link of %s", tree[i].name,
				    tree[i].hard);
		}
	}
	ck_assert_int_eq(fstatat(dir, "tmc-run", &a, 0), 0);
	ck_assert(a.st_mode & S_IXUSR);
	/* Through the kept symlink, as tmc-run would see it. */
	check_file(dir, "lib/Main.java", "class Main {}\n");
}

START_TEST(test_layout)
{
	const struct layout *l = &layouts[_i];
	char up[128], runnable[128], task[128], err[512] = "";
	struct upload_limits lim;
	int tree_fd = make_tree(), in, dir;

	close(tree_fd);
	snprintf(up, sizeof(up), "%s/upload.tar", tmpdir);
	snprintf(runnable, sizeof(runnable), "%s/runnable.tar", tmpdir);
	snprintf(task, sizeof(task), "%s/task", tmpdir);
	make_tar(l, up);
	upload_limits_defaults(&lim);
	ck_assert_msg(upload_tar_normalize(up, runnable, &lim, err, sizeof(err)) == 0,
	    "%s: intake refused: %s", l->what, err);
	ck_assert_int_eq(mkdir(task, 0755), 0);
	in = open(runnable, O_RDONLY);
	dir = open(task, O_RDONLY | O_DIRECTORY);
	ck_assert(in >= 0 && dir >= 0);
	ck_assert_msg(task_unpack(in, dir, err, sizeof(err)) == 0, "%s: guest refused: %s", l->what, err);
	check_tree(dir, l->hard_kept);
	close(in);
	close(dir);
}
END_TEST

/* --- The guest's own refusals -------------------------------------------------
 * runnable.tar comes from the intake, but the guest checks the same rule
 * again: each row is a ustar written directly (not through the intake). */

struct gent {
	const char *name;
	mode_t type;
	const char *link;	/* symlink target or hard link target */
	int hard;
};

static const struct {
	const char *what;
	struct gent ents[4];
	const char *want_err;
} refusals[] = {
	{ "symlink climbing out", { { "s", AE_IFLNK, "../etc/shadow", 0 } }, "points outside" },
	{ "absolute symlink", { { "s", AE_IFLNK, "/etc/shadow", 0 } }, "absolute" },
	{ "entry below a symlink", { { "d", AE_IFLNK, ".", 0 }, { "d/x", AE_IFREG, NULL, 0 } },
	  "is not a directory" },
	{ "entry below a file", { { "f", AE_IFREG, NULL, 0 }, { "f/x", AE_IFREG, NULL, 0 } },
	  "is not a directory" },
	{ "hard link to nothing", { { "h", AE_IFREG, "nope", 1 } }, "not an earlier regular file" },
	{ "hard link to a symlink", { { "s", AE_IFLNK, "x", 0 }, { "h", AE_IFREG, "s", 1 } },
	  "not an earlier regular file" },
	{ "dot-dot name", { { "../x", AE_IFREG, NULL, 0 } }, "'..' in path" },
	{ "fifo", { { "p", AE_IFIFO, NULL, 0 } }, "type '6' not allowed" },
	{ "duplicate file", { { "f", AE_IFREG, NULL, 0 }, { "f", AE_IFREG, NULL, 0 } }, "create f" },
};

START_TEST(test_guest_refuses)
{
	char path[128], task[128], err[512] = "";
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int in, dir;

	snprintf(path, sizeof(path), "%s/runnable.tar", tmpdir);
	snprintf(task, sizeof(task), "%s/task", tmpdir);
	ck_assert_int_eq(archive_write_set_format_ustar(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (const struct gent *g = refusals[_i].ents; g->name != NULL; g++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, g->name);
		archive_entry_set_filetype(e, g->type);
		archive_entry_set_perm(e, 0644);
		if (g->hard)
			archive_entry_set_hardlink(e, g->link);
		else if (g->link != NULL)
			archive_entry_set_symlink(e, g->link);
		archive_entry_set_size(e, 0);
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	ck_assert_int_eq(mkdir(task, 0755), 0);
	in = open(path, O_RDONLY);
	dir = open(task, O_RDONLY | O_DIRECTORY);
	ck_assert(in >= 0 && dir >= 0);
	ck_assert_msg(task_unpack(in, dir, err, sizeof(err)) == -1, "%s: unpacked", refusals[_i].what);
	ck_assert_msg(strstr(err, refusals[_i].want_err) != NULL, "%s: '%s' lacks '%s'",
	    refusals[_i].what, err, refusals[_i].want_err);
	/* Nothing was made outside the task dir. */
	snprintf(path, sizeof(path), "%s/x", tmpdir);
	ck_assert_int_ne(access(path, F_OK), 0);
	close(in);
	close(dir);
}
END_TEST

static Suite *task_unpack_suite(void)
{
	Suite *s = suite_create("task_unpack");
	TCase *tc = tcase_create("layouts");
	TCase *tr = tcase_create("refusals");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_layout, 0, (int)(sizeof(layouts) / sizeof(layouts[0])));
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tr, setup, teardown);
	tcase_add_loop_test(tr, test_guest_refuses, 0, (int)(sizeof(refusals) / sizeof(refusals[0])));
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(task_unpack_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
