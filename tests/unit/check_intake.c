/*
 * check_intake.c: the multipart parser (server/intake.c). Each row is a
 * body and what must come out of it; every row is fed whole and in chunks
 * of 1, 2, 3, 7 and 64 bytes, so a delimiter split anywhere is covered.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/sandboxd.h"

#define CT "multipart/form-data; boundary=XyZ"
#define B "--XyZ\r\n"
#define CD(n) "Content-Disposition: form-data; name=\"" n "\"\r\n\r\n"
#define CDF "Content-Disposition: form-data; name=\"file\"; filename=\"t.tar\"\r\n" \
	"Content-Type: application/x-tar\r\n\r\n"

static const struct row {
	const char *what;
	const char *ct;
	const char *body;
	size_t body_len;	/* 0: strlen */
	int code;		/* 0: accepted; else the HTTP code of the rejection */
	const char *want;	/* accepted: file content; rejected: error substring */
	const char *token;	/* accepted: expected token field, NULL = absent */
} rows[] = {
	{ "file, notify, token", CT,
	  B CDF "tar\r\n--not-a-delimiter\r\n--Xy-data" "\r\n" B CD("notify") "http://h/x" "\r\n"
	  B CD("token") "tok en" "\r\n--XyZ--\r\n", 0, 0, "tar\r\n--not-a-delimiter\r\n--Xy-data", "tok en" },
	{ "preamble and epilogue", CT,
	  "This is a preamble\r\n" B CDF "abc\r\n--XyZ--\r\nepilogue", 0, 0, "abc", NULL },
	{ "quoted boundary", "multipart/form-data; charset=utf-8; boundary=\"a b\"",
	  "--a b\r\n" CDF "x\r\n--a b--", 0, 0, "x", NULL },
	{ "CR LF runs in data", CT, B CDF "\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r\r\n--XyZ--", 0, 0,
	  "\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r", NULL },
	{ "binary data with NULs", CT, B CDF "a\0b\0\r\n--XyZ--", sizeof(B CDF "a\0b\0\r\n--XyZ--") - 1, 0,
	  "a\0b\0", NULL },
	{ "unknown field skipped", CT, B CD("other") "zzz\r\n" B CDF "f\r\n--XyZ--", 0, 0, "f", NULL },
	{ "no boundary", "multipart/form-data", B CDF "x\r\n--XyZ--", 0, 400, "boundary", NULL },
	{ "not multipart", "application/x-www-form-urlencoded", "file=x", 0, 400, "multipart/form-data", NULL },
	{ "bad boundary char", "multipart/form-data; boundary=a\001b", "", 0, 400, "boundary", NULL },
	{ "unterminated part", CT, B CDF "abc", 0, 400, "ends before the closing boundary", NULL },
	{ "unterminated headers", CT, B "Content-Disposition: form-data; name=\"file\"\r\n", 0, 400,
	  "ends before", NULL },
	{ "wrong boundary in body", CT, "--Other\r\n" CDF "x\r\n--Other--", 0, 400, "no part found", NULL },
	{ "empty body", CT, "", 0, 400, "no part found", NULL },
	{ "no file part", CT, B CD("token") "t\r\n--XyZ--", 0, 400, "no 'file' part", NULL },
	{ "empty file", CT, B CDF "\r\n--XyZ--", 0, 400, "'file' part is empty", NULL },
	{ "two files", CT, B CDF "a\r\n" B CDF "b\r\n--XyZ--", 0, 400, "more than one 'file'", NULL },
	{ "duplicate token", CT, B CD("token") "a\r\n" B CD("token") "b\r\n--XyZ--", 0, 400, "more than once", NULL },
	{ "no disposition", CT, B "Content-Type: text/plain\r\n\r\nx\r\n--XyZ--", 0, 400, "without Content-Disposition",
	  NULL },
	{ "header without colon", CT, B "garbage\r\n\r\nx\r\n--XyZ--", 0, 400, "without ':'", NULL },
	{ "bad delimiter line", CT, B CDF "x\r\n--XyZjunk", 0, 400, "bad delimiter line", NULL },
	{ "file over cap", CT, B CDF "0123456789ABCDEFG\r\n--XyZ--", 0, 413, "upload cap", NULL },
};

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/check_intake.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/upload", dir);
	unlink(p);
	ck_assert_int_eq(rmdir(dir), 0);
}

static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

START_TEST(test_rows)
{
	const struct row *r = &rows[_i / NCHUNKS];
	size_t chunk = chunks[_i % NCHUNKS];
	size_t len = r->body_len ? r->body_len : strlen(r->body);
	char path[128], err[256] = "";
	struct intake *in;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/upload", dir);
	in = intake_new(r->ct, path, strcmp(r->what, "file over cap") == 0 ? 16 : 4096, err, sizeof(err));
	if (in == NULL) {
		ck_assert_msg(r->code == 400, "%s: intake_new failed: %s", r->what, err);
		ck_assert_msg(strstr(err, r->want) != NULL, "%s: '%s' lacks '%s'", r->what, err, r->want);
		return;
	}
	for (size_t off = 0; off < len && rc == 0;) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;

		rc = intake_feed(in, r->body + off, n);
		off += n;
	}
	if (rc == 0)
		rc = intake_finish(in);
	if (r->code != 0) {
		ck_assert_msg(rc == -1, "%s (chunk %zu): accepted", r->what, chunk);
		ck_assert_int_eq(intake_error_code(in), r->code);
		ck_assert_msg(strstr(intake_error(in), r->want) != NULL, "%s: '%s' lacks '%s'", r->what,
		    intake_error(in), r->want);
		intake_free(in);
		ck_assert_msg(access(path, F_OK) != 0, "%s: upload left behind", r->what);
		return;
	}
	ck_assert_msg(rc == 0, "%s (chunk %zu): %s", r->what, chunk, intake_error(in));
	{
		uint64_t size;
		char buf[256];
		size_t wlen = strlen(r->want);
		int fd;
		ssize_t n;

		if (strcmp(r->what, "binary data with NULs") == 0)
			wlen = 4;
		ck_assert_int_eq(intake_take_file(in, &size), 0);
		ck_assert_uint_eq(size, wlen);
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		ck_assert_int_eq(n, (ssize_t)wlen);
		ck_assert_msg(memcmp(buf, r->want, wlen) == 0, "%s (chunk %zu): file content differs", r->what, chunk);
	}
	if (r->token != NULL)
		ck_assert_str_eq(intake_field(in, "token", NULL), r->token);
	else
		ck_assert_ptr_null(intake_field(in, "token", NULL));
	intake_free(in);
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

static const struct {
	const char *s;
	int valid;
} utf8_rows[] = {
	{ "plain ascii", 1 },
	{ "\xc3\xa4iti", 1 },
	{ "\xe2\x82\xac", 1 },
	{ "\xf0\x9f\x98\x80", 1 },
	{ "\xff", 0 },
	{ "\xc3", 0 },
	{ "\xc0\xaf", 0 },		/* overlong '/' */
	{ "\xed\xa0\x80", 0 },		/* surrogate */
	{ "\xf4\x90\x80\x80", 0 },	/* > U+10FFFF */
	{ "\xe2\x82", 0 },
};

START_TEST(test_utf8)
{
	ck_assert_int_eq(intake_utf8_valid(utf8_rows[_i].s, strlen(utf8_rows[_i].s)), utf8_rows[_i].valid);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("intake");
	TCase *tc = tcase_create("multipart");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0]) * NCHUNKS));
	tcase_add_loop_test(tc, test_utf8, 0, (int)(sizeof(utf8_rows) / sizeof(utf8_rows[0])));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
