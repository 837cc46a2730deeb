/* check_prewarm.c: every file a pre-booted guest warms
 * (sandbox/guest/prewarm.c) is in the rootfs. The guest skips a missing
 * one without a word, so a rootfs that moved gcc or the JDK would
 * otherwise lose the warm-up unnoticed. The JVM's files are required
 * only of a rootfs with a JDK (PROFILE=minimal has none). Reads the
 * rootfs's listing with unsquashfs; without images (a quick `make
 * unit-test`) it says so and is skipped, under `make test`
 * (TMC_REQUIRE_IMAGES=1) that is a failure. */
#define _GNU_SOURCE
#include "sandbox/guest/prewarm.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *listing;		/* unsquashfs -lc output, one path per line */

static int load_listing(void)
{
	const char *dir = getenv("TMC_IMAGES") ? getenv("TMC_IMAGES") : "build";
	char cmd[512];
	size_t len = 0, cap = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s/rootfs.squashfs", dir);
	if (access(cmd, R_OK) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "unsquashfs -lc '%s/rootfs.squashfs'", dir);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			listing = realloc(listing, cap);
			ck_assert_ptr_nonnull(listing);
		}
		size_t n = fread(listing + len, 1, cap - len - 1, p);

		if (n == 0)
			break;
		len += n;
	}
	listing[len] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	return 0;
}

/* A line of the listing starts with path followed by end ("\n": the
 * whole line, "": a prefix). */
static int listed(const char *path, const char *end)
{
	char line[1024];

	snprintf(line, sizeof(line), "\nsquashfs-root%s%s", path, end);
	return strstr(listing, line) != NULL;
}

static int java_file(const char *path)
{
	return strncmp(path, "/usr/lib/jvm/", 13) == 0 || strncmp(path, "/usr/share/java/", 16) == 0;
}

START_TEST(test_every_file_is_in_the_rootfs)
{
	const char *require = getenv("TMC_REQUIRE_IMAGES");
	const char *const *files;
	size_t n, missing = 0;
	int has_jdk;

	if (load_listing() < 0) {
		fprintf(stderr, "check_prewarm: SKIPPED: no rootfs.squashfs (make images)\n");
		ck_assert_msg(require == NULL || strcmp(require, "1") != 0,
		    "the rootfs is required here (TMC_REQUIRE_IMAGES=1) but missing");
		return;
	}
	files = prewarm_list(&n);
	ck_assert_uint_gt(n, 0);
	has_jdk = listed("/usr/lib/jvm/", "");
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(files[i][0] == '/', "not absolute: %s", files[i]);
		if (!has_jdk && java_file(files[i]))
			continue;
		if (!listed(files[i], "\n")) {
			fprintf(stderr, "check_prewarm: not in the rootfs: %s\n", files[i]);
			missing++;
		}
	}
	ck_assert_msg(missing == 0, "%zu of %zu warmed files are not in the rootfs", missing, n);
	free(listing);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prewarm");
	TCase *tc = tcase_create("prewarm");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_file_is_in_the_rootfs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
