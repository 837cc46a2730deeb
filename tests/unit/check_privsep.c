/*
 * check_privsep.c: sandbox/privsep.c, the caller's end of tmc-unpack.
 *   - hostile children (test parsers run in the forked child in place of
 *     tmc-unpack: crash, hang, oversized, truncated, unknown or extra
 *     frames, bad file frames): each is a clean error, never more;
 *   - the child's confinement as seen from inside (uid, groups, no root
 *     file, no_new_privs, rlimits, fds); the uid part needs root and says
 *     so when it cannot run;
 *   - the real build/tmc-unpack against the in-process parsers: the same
 *     verdict, message, runnable.tar bytes and output set for good and bad
 *     inputs.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox_host.h"

#define RUN_UID 65534
#define RUN_GID 65534

static char tmp[PATH_MAX];
static char unpack_path[PATH_MAX];
static char root_only[PATH_MAX + 32];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/check_privsep-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	/* The unprivileged child may pass through, not list. */
	ck_assert_int_eq(chmod(tmp, 0711), 0);
}

static void teardown(void)
{
	rm_rf(tmp);
}

static const char *tmp_path(const char *name)
{
	static char paths[4][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", tmp, name);
	return p;
}

/* ------------------------------------------------------------- archives */

struct ent {
	const char *name;
	mode_t type;		/* 0: regular */
	const char *data;	/* NULL: size bytes of 'A' */
	size_t size;
	const char *link;
};
#define REG(n, d)	{ (n), 0, (d), sizeof(d) - 1, NULL }
#define FILL(n, s)	{ (n), 0, NULL, (s), NULL }
#define TYPED(n, t)	{ (n), (t), NULL, 0, NULL }
#define SYM(n, l)	{ (n), AE_IFLNK, NULL, 0, (l) }
#define NONE		{ NULL, 0, NULL, 0, NULL }
#define RUN		REG("tmc-run", "#!/bin/sh\necho hi\n")

enum filt { PLAIN, GZIP, XZ, GARBAGE, EMPTY };

/* Writes the entries as a ustar (names as raw bytes) with a filter, and
 * tail zero bytes after it, as on the guest's disk. */
static void make_tar(const char *path, enum filt filt, const struct ent *ents, size_t tail)
{
	struct archive *a;
	int fd;

	if (filt == GARBAGE || filt == EMPTY) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(fd, 0);
		if (filt == GARBAGE)
			ck_assert_int_eq(write_full(fd, "this is not a tar at all\n", 25), 0);
		close(fd);
		return;
	}
	a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_ustar(a), ARCHIVE_OK);
	if (filt == GZIP)
		archive_write_add_filter_gzip(a);
	if (filt == XZ)
		archive_write_add_filter_xz(a);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (const struct ent *e = ents; e->name != NULL; e++) {
		struct archive_entry *ae = archive_entry_new();
		char *fill = NULL;

		archive_entry_set_pathname(ae, e->name);
		archive_entry_set_filetype(ae, e->type ? e->type : AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_mtime(ae, 1700000000, 0);
		if (e->link != NULL)
			archive_entry_set_symlink(ae, e->link);
		if (e->type == 0)
			archive_entry_set_size(ae, (la_int64_t)e->size);
		ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
		if (e->type == 0 && e->size > 0) {
			if (e->data == NULL) {
				fill = malloc(e->size);
				ck_assert_ptr_nonnull(fill);
				memset(fill, 'A', e->size);
			}
			ck_assert_int_eq(archive_write_data(a, e->data ? e->data : fill, e->size),
			    (la_ssize_t)e->size);
			free(fill);
		}
		archive_entry_free(ae);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	if (tail > 0) {
		struct stat st;

		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(truncate(path, st.st_size + (off_t)tail), 0);
	}
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = malloc(1 << 20);
	ssize_t n;
	int fd = open(path, O_RDONLY);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	n = read_full(fd, buf, 1 << 20);
	close(fd);
	ck_assert_int_ge(n, 0);
	*len = (size_t)n;
	return buf;
}

static struct privsep_helper helper_fn(int (*fn)(int, char **))
{
	struct privsep_helper h;

	memset(&h, 0, sizeof(h));
	h.fn = fn;
	h.uid = RUN_UID;
	h.gid = RUN_GID;
	h.timeout_s = 2;
	return h;
}

static struct privsep_helper helper_real(void)
{
	struct privsep_helper h;

	memset(&h, 0, sizeof(h));
	h.path = unpack_path;
	h.uid = RUN_UID;
	h.gid = RUN_GID;
	return h;
}

/* ------------------------------------------------------- hostile children */

static int send_hdr(uint32_t type, uint32_t len)
{
	struct privsep_hdr h = { type, len };

	return write_full(PRIVSEP_FD_MSG, &h, sizeof(h));
}

/* Sleeps until killed; "returns" only to please the compiler. */
static int hang(void)
{
	while (pause() < 0 || errno != 0)
		;
	return 0;
}

static int child_abort(int argc, char **argv)
{
	(void)argc, (void)argv;
	abort();
}

static int child_segv(int argc, char **argv)
{
	(void)argc, (void)argv;
	raise(SIGSEGV);
	return 0;
}

static int child_hang(int argc, char **argv)
{
	(void)argc, (void)argv;
	return hang();
}

static int child_close_and_hang(int argc, char **argv)
{
	(void)argc, (void)argv;
	close(PRIVSEP_FD_MSG);
	return hang();
}

static int child_oversized(int argc, char **argv)
{
	(void)argc, (void)argv;
	send_hdr(PRIVSEP_MSG_ERROR, 1U << 30);
	return hang();	/* the caller must not wait for 1 GiB */
}

static int child_long_error(int argc, char **argv)
{
	char text[PRIVSEP_TEXT_MAX + 1];

	(void)argc, (void)argv;
	memset(text, 'e', sizeof(text));
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_ERROR, text, sizeof(text), NULL, 0);
}

static int child_truncated(int argc, char **argv)
{
	(void)argc, (void)argv;
	send_hdr(PRIVSEP_MSG_ERROR, 100);
	write_full(PRIVSEP_FD_MSG, "0123456789", 10);
	return 0;
}

static int child_short_header(int argc, char **argv)
{
	(void)argc, (void)argv;
	write_full(PRIVSEP_FD_MSG, "\1\0\0", 3);
	return 0;
}

static int child_unknown_type(int argc, char **argv)
{
	(void)argc, (void)argv;
	send_hdr(99, 0);
	return 0;
}

static int child_extra(int argc, char **argv)
{
	(void)argc, (void)argv;
	send_hdr(PRIVSEP_MSG_OK, 0);
	write_full(PRIVSEP_FD_MSG, "x", 1);
	return 0;
}

static int child_silent(int argc, char **argv)
{
	(void)argc, (void)argv;
	return 0;
}

static int child_ok_exit_3(int argc, char **argv)
{
	(void)argc, (void)argv;
	send_hdr(PRIVSEP_MSG_OK, 0);
	return 3;
}

static int child_file_frame_n(const char *name, size_t nlen, uint32_t truncated, size_t dlen)
{
	uint32_t head[2] = { truncated, (uint32_t)nlen };
	char buf[sizeof(head) + 64], *data = calloc(1, dlen + 1);

	memcpy(buf, head, sizeof(head));
	memcpy(buf + sizeof(head), name, head[1]);
	privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_FILE, buf, sizeof(head) + head[1], data, dlen);
	free(data);
	return 0;
}

static int child_file_frame(const char *name, uint32_t truncated, size_t dlen)
{
	return child_file_frame_n(name, strlen(name), truncated, dlen);
}

static int child_file_unknown(int argc, char **argv)
{
	(void)argc, (void)argv;
	child_file_frame("passwd", 0, 3);
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_file_twice(int argc, char **argv)
{
	(void)argc, (void)argv;
	child_file_frame("meta.txt", 0, 3);
	child_file_frame("meta.txt", 0, 3);
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_file_over_cap(int argc, char **argv)
{
	(void)argc, (void)argv;
	child_file_frame("stdout.txt", 0, 3 * 1024 + 1);	/* the cap is 1024 */
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_file_bad_flag(int argc, char **argv)
{
	(void)argc, (void)argv;
	child_file_frame("stdout.txt", 2, 3);
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_file_nul_name(int argc, char **argv)
{
	(void)argc, (void)argv;
	child_file_frame_n("meta.txt\0x", 10, 0, 3);
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_file_too_many(int argc, char **argv)
{
	static const char *const names[] = { "meta.txt", "stdout.txt", "stderr.txt", "output.txt",
		"test_output.txt", "exit_code.txt", "valgrind.log", "validations.json", "meta.txt" };

	(void)argc, (void)argv;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		child_file_frame(names[i], 0, 1);
	return send_hdr(PRIVSEP_MSG_END, 0);
}

static int child_no_end(int argc, char **argv)
{
	(void)argc, (void)argv;
	return child_file_frame("stdout.txt", 0, 3);
}

enum req { UPLOAD, OUTPUT };

static const struct hostile {
	const char *what;
	enum req req;
	int (*fn)(int, char **);
	const char *want;	/* substring of the error */
	const char *want_plain;	/* and this one too, except under ASan (it handles SEGV) */
} hostile[] = {
	{ "abort", UPLOAD, child_abort, "died of signal 6 (SIGABRT)", NULL },
	{ "segfault", UPLOAD, child_segv, "could not be validated", "died of signal 11 (SIGSEGV)" },
	{ "segfault reading output", OUTPUT, child_segv, "could not be read", "SIGSEGV" },
	{ "hang", UPLOAD, child_hang, "no answer within the time limit", NULL },
	{ "pipe closed, then hang", UPLOAD, child_close_and_hang, "no answer within the time limit", NULL },
	{ "oversized frame", UPLOAD, child_oversized, "bad answer: frame type 2 of 1073741824 bytes", NULL },
	{ "error text over the cap", UPLOAD, child_long_error, "bad answer", NULL },
	{ "truncated frame", UPLOAD, child_truncated, "answer cut short", NULL },
	{ "short header", UPLOAD, child_short_header, "answer cut short", NULL },
	{ "unknown frame type", UPLOAD, child_unknown_type, "bad answer: frame type 99", NULL },
	{ "bytes after the answer", UPLOAD, child_extra, "bytes after the final frame", NULL },
	{ "no answer, exit 0", UPLOAD, child_silent, "no answer", NULL },
	{ "answer, then exit 3", UPLOAD, child_ok_exit_3, "exited with status 3", NULL },
	{ "file of an unknown name", OUTPUT, child_file_unknown, "unknown or repeated file name", NULL },
	{ "file twice", OUTPUT, child_file_twice, "unknown or repeated file name", NULL },
	{ "file over the cap", OUTPUT, child_file_over_cap, "over the cap", NULL },
	{ "truncated flag 2", OUTPUT, child_file_bad_flag, "bad file header", NULL },
	{ "NUL in a file name", OUTPUT, child_file_nul_name, "unknown or repeated file name", NULL },
	{ "too many files", OUTPUT, child_file_too_many, "unknown or repeated file name", NULL },
	{ "no END frame", OUTPUT, child_no_end, "no answer", NULL },
	{ "output hang", OUTPUT, child_hang, "no answer within the time limit", NULL },
};

START_TEST(test_hostile_child)
{
	const struct hostile *c = &hostile[_i];
	struct privsep_helper h = helper_fn(c->fn);
	struct output_set set;
	struct upload_limits lim;
	char err[512] = "";
	const char *in = tmp_path("in.tar"), *out = tmp_path("out.tar");
	double t0 = mono_now();
	const struct ent ents[] = { RUN, NONE };
	int rc;

	make_tar(in, PLAIN, ents, c->req == OUTPUT ? 65536 : 0);
	upload_limits_defaults(&lim);
	if (c->req == UPLOAD)
		rc = privsep_upload(&h, in, out, &lim, err, sizeof(err));
	else
		rc = privsep_output(&h, in, 1024, NULL, &set, err, sizeof(err));
	ck_assert_msg(rc == -1, "%s: accepted", c->what);
	ck_assert_msg(strstr(err, c->want) != NULL, "%s: error '%s', wanted '%s'", c->what, err, c->want);
#if !defined(__SANITIZE_ADDRESS__)
	if (c->want_plain != NULL)
		ck_assert_msg(strstr(err, c->want_plain) != NULL, "%s: error '%s', wanted '%s'",
		    c->what, err, c->want_plain);
#endif
	ck_assert_msg(mono_now() - t0 < h.timeout_s + 2.0, "%s: took %.1f s", c->what, mono_now() - t0);
	if (c->req == UPLOAD)
		ck_assert_msg(access(out, F_OK) < 0 && errno == ENOENT, "%s: runnable.tar left behind",
		    c->what);
	else
		ck_assert_uint_eq(set.count, 0);
}
END_TEST

/* The child's text is the caller's error, made printable; a refusal is not
 * a "could not be validated". */
static int child_refuses(int argc, char **argv)
{
	static const char text[] = "entry 'a\nb\x1b[31m\xff': absolute path";

	(void)argc, (void)argv;
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_ERROR, text, sizeof(text) - 1, NULL, 0);
}

START_TEST(test_refusal_text)
{
	struct privsep_helper h = helper_fn(child_refuses);
	struct upload_limits lim;
	char err[512];
	const struct ent ents[] = { RUN, NONE };

	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "entry 'a?b?[31m\xef\xbf\xbd': absolute path");
}
END_TEST

/* ------------------------------------------------------------ confinement */

static int child_inspect(int argc, char **argv)
{
	char why[256] = "";
	gid_t groups[4];
	int fd;

	(void)argc, (void)argv;
	if (geteuid() == 0 || getuid() == 0)
		snprintf(why, sizeof(why), "runs as uid %d", (int)getuid());
	else if (getuid() != RUN_UID || getgid() != RUN_GID || getegid() != RUN_GID)
		snprintf(why, sizeof(why), "uid %d gid %d", (int)getuid(), (int)getgid());
	else if (getgroups(4, groups) != 0)
		snprintf(why, sizeof(why), "supplementary groups kept");
	else if ((fd = open(root_only, O_RDONLY)) >= 0 || errno != EACCES)
		snprintf(why, sizeof(why), "open of a root-only file: %s",
		    fd >= 0 ? "succeeded" : strerror(errno));
	if (why[0] != '\0')
		return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_ERROR, why, strlen(why), NULL, 0);
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_OK, NULL, 0, NULL, 0);
}

START_TEST(test_runs_unprivileged)
{
	struct privsep_helper h = helper_fn(child_inspect);
	struct upload_limits lim;
	char err[512] = "";
	const struct ent ents[] = { RUN, NONE };
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "check_privsep: SKIPPED test_runs_unprivileged: needs root "
		    "(the uid drop happens only when the caller is root)\n");
		return;
	}
	snprintf(root_only, sizeof(root_only), "%s/root-only", tmp);
	fd = open(root_only, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, "secret", 6), 0);
	close(fd);
	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_msg(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)) == 0, "child: %s", err);
}
END_TEST

START_TEST(test_refuses_root)
{
	struct privsep_helper h = helper_fn(child_silent);
	struct upload_limits lim;
	char err[512] = "";
	const struct ent ents[] = { RUN, NONE };

	if (geteuid() != 0) {
		fprintf(stderr, "check_privsep: SKIPPED test_refuses_root: needs root\n");
		return;
	}
	h.uid = 0;
	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "refusing") != NULL, "%s", err);
}
END_TEST

/* Root or not: no_new_privs, the rlimits, cwd /, fds 0-3 only. */
static int child_limits(int argc, char **argv)
{
	char why[256] = "", cwd[64];
	struct rlimit rl;

	(void)argc;
	if (strcmp(argv[1], "upload") != 0)
		snprintf(why, sizeof(why), "argv[1] %s", argv[1]);
	else if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		snprintf(why, sizeof(why), "no_new_privs not set");
	else if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_max != 0)
		snprintf(why, sizeof(why), "RLIMIT_CORE");
	else if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max > 16)
		snprintf(why, sizeof(why), "RLIMIT_NOFILE");
	else if (getrlimit(RLIMIT_CPU, &rl) < 0 || rl.rlim_max > 3)
		snprintf(why, sizeof(why), "RLIMIT_CPU");
	else if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		snprintf(why, sizeof(why), "RLIMIT_FSIZE");
	else if (getcwd(cwd, sizeof(cwd)) == NULL || strcmp(cwd, "/") != 0)
		snprintf(why, sizeof(why), "cwd");
	else if (fcntl(4, F_GETFD) >= 0 || fcntl(PRIVSEP_FD_IN, F_GETFD) < 0 ||
	    fcntl(PRIVSEP_FD_OUT, F_GETFD) < 0)
		snprintf(why, sizeof(why), "fds other than 0-3");
	else if ((fcntl(PRIVSEP_FD_IN, F_GETFL) & O_ACCMODE) != O_RDONLY)
		snprintf(why, sizeof(why), "input writable");
	if (why[0] != '\0')
		return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_ERROR, why, strlen(why), NULL, 0);
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_OK, NULL, 0, NULL, 0);
}

START_TEST(test_confined)
{
	struct privsep_helper h = helper_fn(child_limits);
	struct upload_limits lim;
	char err[512] = "";
	const struct ent ents[] = { RUN, NONE };
	int extra = open("/dev/null", O_RDONLY);	/* must not reach the child */

	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_msg(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)) == 0, "child: %s", err);
	close(extra);
}
END_TEST

/* ------------------------------------------ the real tmc-unpack, compared */

static const struct upload_case {
	const char *what;
	enum filt filt;
	struct ent ents[4];
	uint64_t max_unpacked;	/* 0: default */
} uploads[] = {
	{ "plain", PLAIN, { RUN, REG("src/a.c", "int x;\n"), SYM("lib", "src"), NONE }, 0 },
	{ "gzip", GZIP, { RUN, REG("x", "y"), NONE }, 0 },
	{ "xz", XZ, { RUN, FILL("big", 100000), NONE }, 0 },
	{ "utf-8 name", PLAIN, { RUN, REG("p\xc3\xa4iv\xc3\xa4.txt", "x"), NONE }, 0 },
	{ "absolute path", PLAIN, { RUN, REG("/etc/x", "x"), NONE }, 0 },
	{ "dot-dot", PLAIN, { RUN, REG("a/../../x", "x"), NONE }, 0 },
	{ "symlink out", PLAIN, { RUN, SYM("l", "../../etc/passwd"), NONE }, 0 },
	{ "fifo", PLAIN, { RUN, TYPED("f", AE_IFIFO), NONE }, 0 },
	{ "no tmc-run", PLAIN, { REG("x", "y"), NONE }, 0 },
	{ "over the unpacked cap", GZIP, { RUN, FILL("z", 200000), NONE }, 100000 },
	{ "not a tar", GARBAGE, { NONE }, 0 },
	{ "empty", EMPTY, { NONE }, 0 },
};

/* The in-process parser and tmc-unpack agree on every case, whether
 * tmc-unpack is started for the request or is a spare started before it
 * (privsep.c's spares; then the spare is used up by the request). */
static void check_upload_case(const struct upload_case *c, int spare)
{
	struct privsep_helper h = helper_real();
	struct upload_limits lim;
	char err1[512] = "", err2[512] = "", *b1, *b2;
	const char *in = tmp_path("in"), *o1 = tmp_path("o1.tar"), *o2 = tmp_path("o2.tar");
	pid_t pid = 0;
	size_t l1, l2;
	int r1, r2;

	make_tar(in, c->filt, c->ents, 0);
	upload_limits_defaults(&lim);
	if (c->max_unpacked)
		lim.max_unpacked = c->max_unpacked;
	if (spare) {
		ck_assert_int_eq(privsep_upload_spare(&h, &lim, err2, sizeof(err2)), 0);
		ck_assert_int_eq(privsep_spares(&pid, 1), 1);
		/* Asked again: the one kept is enough. */
		ck_assert_int_eq(privsep_upload_spare(&h, &lim, err2, sizeof(err2)), 0);
		ck_assert_int_eq(privsep_spares(NULL, 0), 1);
	}
	r1 = upload_tar_normalize(in, o1, &lim, err1, sizeof(err1));
	r2 = privsep_upload(&h, in, o2, &lim, err2, sizeof(err2));
	if (spare) {
		ck_assert_int_eq(privsep_spares(NULL, 0), 0);
		ck_assert_int_eq(kill(pid, 0), -1);	/* reaped */
	}
	ck_assert_msg(r1 == r2, "%s: in-process %d (%s), tmc-unpack %d (%s)", c->what, r1, err1, r2, err2);
	ck_assert_str_eq(err2, err1);
	if (r1 < 0) {
		ck_assert_int_ne(access(o2, F_OK), 0);
		return;
	}
	b1 = slurp(o1, &l1);
	b2 = slurp(o2, &l2);
	ck_assert_msg(l1 == l2 && memcmp(b1, b2, l1) == 0, "%s: runnable.tar differs", c->what);
	free(b1);
	free(b2);
}

START_TEST(test_upload_same)
{
	check_upload_case(&uploads[_i], 0);
}
END_TEST

START_TEST(test_upload_spare)
{
	check_upload_case(&uploads[_i], 1);
}
END_TEST

static const struct output_case {
	const char *what;
	enum filt filt;
	struct ent ents[5];
	size_t tail;
} outputs[] = {
	{ "clean", PLAIN, { REG("meta.txt", "version=1\nexit_code=0\n"), REG("stdout.txt", "hi\n"),
	  REG("stderr.txt", "bad \xff\xfe bytes\0nul"), NONE }, 65536 },
	{ "over the file cap", PLAIN, { REG("meta.txt", "version=1\n"), FILL("output.txt", 5000), NONE },
	  65536 },
	{ "skipped entries", PLAIN, { SYM("output.txt", "/etc/shadow"), REG("../x", "y"),
	  TYPED("d", AE_IFDIR), REG("meta.txt", "version=1\n"), NONE }, 65536 },
	{ "duplicate", PLAIN, { REG("meta.txt", "a"), REG("meta.txt", "b"), NONE }, 65536 },
	{ "no zero tail", PLAIN, { REG("meta.txt", "version=1\n"), NONE }, 1 },
	{ "gzip is refused", GZIP, { REG("meta.txt", "version=1\n"), NONE }, 0 },
	{ "garbage", GARBAGE, { NONE }, 0 },
	{ "empty", EMPTY, { NONE }, 0 },
};

static void check_output_case(const struct output_case *c, int spare)
{
	struct privsep_helper h = helper_real();
	struct output_set s1, s2;
	char err1[512] = "", err2[512] = "";
	const char *in = tmp_path("output.tar");
	int r1, r2;

	make_tar(in, c->filt, c->ents, c->tail);
	if (spare) {
		ck_assert_int_eq(privsep_output_spare(&h, 1024, err2, sizeof(err2)), 0);
		ck_assert_int_eq(privsep_spares(NULL, 0), 1);
	}
	r1 = output_tar_read(in, 1024, &s1, err1, sizeof(err1));
	r2 = privsep_output(&h, in, 1024, NULL, &s2, err2, sizeof(err2));
	ck_assert_int_eq(privsep_spares(NULL, 0), 0);
	ck_assert_msg(r1 == 0 && r2 == 0, "%s: in-process %d (%s), tmc-unpack %d (%s)", c->what, r1,
	    err1, r2, err2);
	ck_assert_uint_eq(s1.count, s2.count);
	ck_assert_int_eq(s1.malformed, s2.malformed);
	ck_assert_str_eq(s1.note, s2.note);
	for (size_t i = 0; i < s1.count; i++) {
		ck_assert_str_eq(s1.files[i].name, s2.files[i].name);
		ck_assert_int_eq(s1.files[i].truncated, s2.files[i].truncated);
		ck_assert_uint_eq(s1.files[i].len, s2.files[i].len);
		ck_assert(memcmp(s1.files[i].data, s2.files[i].data, s1.files[i].len + 1) == 0);
	}
	output_set_free(&s1);
	output_set_free(&s2);
}

START_TEST(test_output_same)
{
	check_output_case(&outputs[_i], 0);
}
END_TEST

START_TEST(test_output_spare)
{
	check_output_case(&outputs[_i], 1);
}
END_TEST

START_TEST(test_output_missing)
{
	struct privsep_helper h = helper_real();
	struct output_set set;
	char err[512] = "";

	ck_assert_int_eq(privsep_output(&h, tmp_path("nonexistent"), 1024, NULL, &set, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

START_TEST(test_no_helper)
{
	struct privsep_helper h = helper_real();
	struct upload_limits lim;
	char err[512] = "";
	const struct ent ents[] = { RUN, NONE };

	h.path = "/nonexistent/tmc-unpack";
	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "could not be started") != NULL, "%s", err);
	h.path = "build/tmc-unpack";	/* relative: the child runs in / */
	ck_assert_int_eq(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "absolute path") != NULL, "%s", err);
}
END_TEST

/* What a guest inside the jail could leave in place of output.tar (or do
 * to it): each refused at once, without blocking and without a byte read. */
enum swap { SWAP_NONE, SWAP_FIFO, SWAP_SYMLINK, SWAP_HARDLINK, SWAP_GROWN, SWAP_OWNER };
static const struct {
	const char *what;
	enum swap swap;
	const char *want;	/* NULL: accepted */
} swaps[] = {
	{ "the file as made", SWAP_NONE, NULL },
	{ "a FIFO without a writer", SWAP_FIFO, "not a regular file" },
	{ "a symlink to another file", SWAP_SYMLINK, "Too many levels of symbolic links" },
	{ "a hard link of another file", SWAP_HARDLINK, "2 links, not 1" },
	{ "grown past its size", SWAP_GROWN, "not the 65536 it was made with" },
	{ "another owner", SWAP_OWNER, "owned by uid" },
};

START_TEST(test_output_swapped)
{
	struct privsep_helper h = helper_real();
	struct privsep_expect expect = { 65536, geteuid() };
	struct output_set set;
	char err[512] = "";
	const char *path = tmp_path("output.tar"), *other = tmp_path("other.tar");
	const struct ent ents[] = { REG("meta.txt", "version=1\n"), NONE };
	double t0 = mono_now();
	int rc;

	make_tar(path, PLAIN, ents, 65536);
	ck_assert_int_eq(truncate(path, 65536), 0);
	switch (swaps[_i].swap) {
	case SWAP_NONE:
		break;
	case SWAP_FIFO:
		ck_assert_int_eq(unlink(path), 0);
		ck_assert_int_eq(mkfifo(path, 0600), 0);
		break;
	case SWAP_SYMLINK:
		ck_assert_int_eq(rename(path, other), 0);
		ck_assert_int_eq(symlink(other, path), 0);
		break;
	case SWAP_HARDLINK:
		ck_assert_int_eq(link(path, other), 0);
		break;
	case SWAP_GROWN:
		ck_assert_int_eq(truncate(path, 65536 * 2), 0);
		break;
	case SWAP_OWNER:
		expect.uid = geteuid() + 1;
		break;
	}
	rc = privsep_output(&h, path, 1024, &expect, &set, err, sizeof(err));
	ck_assert_msg(mono_now() - t0 < 5.0, "%s: took %.1f s", swaps[_i].what, mono_now() - t0);
	if (swaps[_i].want == NULL) {
		ck_assert_msg(rc == 0, "%s: refused: %s", swaps[_i].what, err);
		ck_assert_ptr_nonnull(output_set_get(&set, "meta.txt"));
		output_set_free(&set);
		return;
	}
	ck_assert_msg(rc == -1, "%s: accepted", swaps[_i].what);
	ck_assert_msg(strstr(err, swaps[_i].want) != NULL, "%s: error '%s', wanted '%s'",
	    swaps[_i].what, err, swaps[_i].want);
}
END_TEST

/* A spare is confined before it waits: the unprivileged uid and gid,
 * no_new_privs, not dumpable, the rlimits of its request, fds 0-3 only;
 * its seccomp filter comes with the request (it has none while waiting). */
START_TEST(test_spare_confined)
{
	struct privsep_helper h = helper_real();
	struct upload_limits lim;
	char err[512] = "", path[64], line[256], *status;
	unsigned want = geteuid() == 0 ? RUN_UID : (unsigned)geteuid(), uid = 0, gid = 0;
	int nnp = -1, fds = 0;
	size_t len;
	pid_t pid;
	DIR *d;
	FILE *f;

	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload_spare(&h, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(privsep_spares(&pid, 1), 1);
	/* Waiting means in recvmsg(2) (x86_64: 47), its libraries loaded:
	 * until then /proc shows the forked caller, or the loader's fds. */
	for (int k = 0; k < 500; k++) {
		int waiting;

		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
		status = slurp(path, &len);
		waiting = strncmp(status, "47 ", 3) == 0;
		free(status);
		if (waiting)
			break;
		usleep(10000);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "Uid:\t%u", &uid);
		sscanf(line, "Gid:\t%u", &gid);
		sscanf(line, "NoNewPrivs:\t%d", &nnp);
	}
	fclose(f);
	ck_assert_uint_eq(uid, want);
	ck_assert_uint_eq(gid, geteuid() == 0 ? RUN_GID : (unsigned)getegid());
	ck_assert_int_eq(nnp, 1);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d != NULL) {	/* readable to root only: it is not dumpable */
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			if (e->d_name[0] != '.')
				fds++;
		closedir(d);
		ck_assert_int_eq(fds, 4);
	}
	privsep_spares_drop();
	ck_assert_int_eq(privsep_spares(NULL, 0), 0);
	ck_assert_int_eq(kill(pid, 0), -1);
}
END_TEST

/* A key that would not fit (a tmc-unpack path of 600 bytes) makes no
 * spare: a truncated key could match a request of another mode. */
START_TEST(test_spare_key_too_long)
{
	struct privsep_helper h = helper_real();
	struct upload_limits lim;
	char err[512] = "", path[700];

	memset(path, 'x', sizeof(path));
	path[0] = '/';
	path[600] = '\0';
	h.path = path;
	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload_spare(&h, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(privsep_spares(NULL, 0), 0);
}
END_TEST

/* A spare that died is replaced by a fresh process, and one made for other
 * caps is not used. */
START_TEST(test_spare_dead_or_other)
{
	struct privsep_helper h = helper_real();
	struct upload_limits lim, other;
	char err[512] = "";
	const struct ent ents[] = { RUN, NONE };
	pid_t pid;

	make_tar(tmp_path("in.tar"), PLAIN, ents, 0);
	upload_limits_defaults(&lim);
	ck_assert_int_eq(privsep_upload_spare(&h, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(privsep_spares(&pid, 1), 1);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	/* Dead (a zombie) before the request, not while taking it. */
	for (int k = 0; k < 500; k++) {
		char path[64], *stat;
		size_t len;
		int zombie;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		stat = slurp(path, &len);
		zombie = strstr(stat, ") Z ") != NULL;
		free(stat);
		if (zombie)
			break;
		usleep(10000);
	}
	ck_assert_msg(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(privsep_spares(NULL, 0), 0);
	other = lim;
	other.max_entries = 17;
	ck_assert_int_eq(privsep_upload_spare(&h, &other, err, sizeof(err)), 0);
	ck_assert_int_eq(unlink(tmp_path("out.tar")), 0);
	ck_assert_msg(privsep_upload(&h, tmp_path("in.tar"), tmp_path("out.tar"), &lim, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(privsep_spares(NULL, 0), 1);
	privsep_spares_drop();
}
END_TEST

static Suite *privsep_suite(void)
{
	Suite *s = suite_create("privsep");
	TCase *th = tcase_create("hostile children");
	TCase *tc = tcase_create("confinement");
	TCase *tr = tcase_create("tmc-unpack");

	tcase_add_checked_fixture(th, setup, teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tr, setup, teardown);
	tcase_set_timeout(th, 30);
	tcase_set_timeout(tr, 60);
	tcase_add_loop_test(th, test_hostile_child, 0, sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(th, test_refusal_text);
	tcase_add_test(tc, test_runs_unprivileged);
	tcase_add_test(tc, test_refuses_root);
	tcase_add_test(tc, test_confined);
	tcase_add_loop_test(tr, test_upload_same, 0, sizeof(uploads) / sizeof(uploads[0]));
	tcase_add_loop_test(tr, test_output_same, 0, sizeof(outputs) / sizeof(outputs[0]));
	tcase_add_test(tr, test_output_missing);
	tcase_add_loop_test(tr, test_output_swapped, 0, sizeof(swaps) / sizeof(swaps[0]));
	tcase_add_test(tr, test_no_helper);
	tcase_add_loop_test(tr, test_upload_spare, 0, sizeof(uploads) / sizeof(uploads[0]));
	tcase_add_loop_test(tr, test_output_spare, 0, sizeof(outputs) / sizeof(outputs[0]));
	tcase_add_test(tr, test_spare_confined);
	tcase_add_test(tr, test_spare_key_too_long);
	tcase_add_test(tr, test_spare_dead_or_other);
	suite_add_tcase(s, th);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	const char *p = getenv("TMC_UNPACK") ? getenv("TMC_UNPACK") : "build/tmc-unpack";
	SRunner *sr;
	int failed;

	if (realpath(p, unpack_path) == NULL) {
		fprintf(stderr, "check_privsep: %s: %s (make build/tmc-unpack)\n", p, strerror(errno));
		return 1;
	}
	sr = srunner_create(privsep_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
