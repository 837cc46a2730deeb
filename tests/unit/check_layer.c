/* check_layer.c: layers (sandbox/layer.c): the name rule, --layer
 * NAME=FILE with a real squashfs made by tools/make-layer and with files
 * that are not one (missing, a dir, a FIFO, plain data, a path UML cannot
 * take), a task's `layers` list against the configured ones (the 400
 * texts), and the kernel command line they become (uml.c). */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox_host.h"

static char dir[64], image[128], image2[128];

static void setup(void)
{
	char cmd[1024];

	strcpy(dir, "/tmp/check_layer.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/repo/org/x && echo jar > %s/repo/org/x/x.jar && "
	    "echo 'x.jar>central=' > %s/repo/org/x/_remote.repositories && "
	    "tools/make-layer %s/repo %s/a.squashfs >/dev/null && cp %s/a.squashfs %s/b.squashfs",
	    dir, dir, dir, dir, dir, dir, dir);
	ck_assert_msg(system(cmd) == 0, "tools/make-layer failed (run from the tree's top)");
	snprintf(image, sizeof(image), "%s/a.squashfs", dir);
	snprintf(image2, sizeof(image2), "%s/b.squashfs", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const struct {
	const char *name;
	int ok;
} names[] = {
	{ "a", 1 }, { "course-a", 1 }, { "jdk.tools", 1 }, { "A_1", 1 },
	{ "0123456789abcdef0123456789abcdef", 1 },
	{ "", 0 }, { ".", 0 }, { "..", 0 }, { "-x", 0 }, { "_x", 0 }, { "a/b", 0 }, { "a b", 0 },
	{ "a,b", 0 }, { "a=b", 0 }, { "0123456789abcdef0123456789abcdefg", 0 }, { "\xc3\xa4", 0 },
	{ "a\nb", 0 },
};

START_TEST(test_name_rule)
{
	char err[256] = "";
	int rc = layer_name_check(names[_i].name, strlen(names[_i].name), err, sizeof(err));

	ck_assert_msg((rc == 0) == names[_i].ok, "'%s': %s", names[_i].name, err);
	/* A refused name is echoed printable only. */
	for (const char *p = err; *p != '\0'; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "unprintable byte in '%s'", err);
}
END_TEST

START_TEST(test_parse_real_image)
{
	struct sandbox_layer l;
	char spec[256], err[256] = "";
	struct stat st;

	snprintf(spec, sizeof(spec), "course=%s", image);
	ck_assert_msg(layer_parse(spec, &l, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(l.name, "course");
	ck_assert_str_eq(l.path, image);
	ck_assert_int_eq(stat(image, &st), 0);
	ck_assert_uint_eq(l.size, (uint64_t)st.st_size);
	ck_assert_int_eq(l.mtime, (int64_t)st.st_mtim.tv_sec);
	layer_free(&l);
}
END_TEST

/* tools/make-layer keeps the files, drops Maven's remote tracking (the
 * guest's Maven would count a tracked artifact as unavailable offline),
 * and makes the task user (1000) the owner. */
START_TEST(test_make_layer_contents)
{
	char cmd[512], line[512];
	int jar = 0, tracking = 0, owner = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "unsquashfs -lln %s", image);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		jar |= strstr(line, "org/x/x.jar") != NULL;
		tracking |= strstr(line, "_remote.repositories") != NULL;
		owner |= strstr(line, "org/x/x.jar") != NULL && strstr(line, " 1000/1000 ") != NULL;
	}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_msg(jar && owner, "x.jar missing or not owned by 1000/1000");
	ck_assert_msg(!tracking, "_remote.repositories kept in the layer");
}
END_TEST

/* What is not a layer, each refused with a text naming why. */
START_TEST(test_parse_refusals)
{
	struct sandbox_layer l;
	char spec[256], path[128], err[256];
	int fd;

	static const struct {
		const char *spec, *why;
	} bad[] = {
		{ "course", "expected NAME=FILE" },
		{ "=x", "empty" },
		{ "course=", "expected NAME=FILE" },
		{ "../x=/dev/null", "only letters" },
		{ "course=/nonexistent/layer.squashfs", "No such file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(layer_parse(bad[i].spec, &l, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, bad[i].why) != NULL, "%s: '%s'", bad[i].spec, err);
	}
	snprintf(spec, sizeof(spec), "course=%s", dir);
	ck_assert_int_eq(layer_parse(spec, &l, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

	/* A FIFO must be refused, not opened for a blocking read. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	snprintf(spec, sizeof(spec), "course=%s", path);
	ck_assert_int_eq(layer_parse(spec, &l, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

	snprintf(path, sizeof(path), "%s/plain.squashfs", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not squashfs at all, only text................................."
	    "..........................................................", 120), 120);
	close(fd);
	snprintf(spec, sizeof(spec), "course=%s", path);
	ck_assert_int_eq(layer_parse(spec, &l, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a squashfs image") != NULL, "%s", err);

	/* UML splits its options on ','. */
	snprintf(path, sizeof(path), "%s/a,b.squashfs", dir);
	ck_assert_int_eq(link(image, path), 0);
	snprintf(spec, sizeof(spec), "course=%s", path);
	ck_assert_int_eq(layer_parse(spec, &l, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot be given to the guest kernel") != NULL, "%s", err);
}
END_TEST

static void configure(struct sandbox_layer **list, size_t *n, const char *const *specs, size_t count)
{
	char spec[256], err[256];

	for (size_t i = 0; i < count; i++) {
		snprintf(spec, sizeof(spec), "%s=%s", specs[i], i % 2 ? image2 : image);
		ck_assert_msg(layer_add(list, n, spec, err, sizeof(err)) == 0, "%s", err);
	}
}

START_TEST(test_add_twice)
{
	static const char *const specs[] = { "a" };
	struct sandbox_layer *list = NULL;
	size_t n = 0;
	char spec[256], err[256];

	configure(&list, &n, specs, 1);
	snprintf(spec, sizeof(spec), "a=%s", image2);
	ck_assert_int_eq(layer_add(&list, &n, spec, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "layer a is configured twice") != NULL, "%s", err);
	ck_assert_uint_eq(n, 1);
	layer_list_free(list, n);
}
END_TEST

static const struct {
	const char *list;
	int ok;
	const char *want;	/* ok: the names chosen, in order; else a piece of the error */
} selects[] = {
	{ "", 1, "" },
	{ "a", 1, "a" },
	{ "b,a", 1, "b,a" },
	{ "c", 0, "unknown layer 'c' (configured: a, b)" },
	{ "a,c", 0, "unknown layer 'c'" },
	{ "a,a", 0, "layer 'a' is named twice" },
	{ "a,,b", 0, "a layer name is empty" },
	{ "a,", 0, "a layer name is empty" },
	{ ",a", 0, "a layer name is empty" },
	{ "a b", 0, "only letters" },
	{ "../../etc", 0, "only letters" },
};

START_TEST(test_select)
{
	static const char *const specs[] = { "a", "b" };
	struct sandbox_layer *list = NULL, out[SANDBOX_LAYERS_MAX];
	size_t n = 0, nout = 99;
	char err[256] = "", got[128] = "";
	int rc;

	configure(&list, &n, specs, 2);
	rc = layer_select(list, n, selects[_i].list, out, &nout, err, sizeof(err));
	if (selects[_i].ok) {
		ck_assert_msg(rc == 0, "'%s': %s", selects[_i].list, err);
		for (size_t i = 0; i < nout; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", out[i].name);
		ck_assert_str_eq(got, selects[_i].want);
		/* Shallow copies of the configured entries. */
		for (size_t i = 0; i < nout; i++)
			ck_assert(out[i].path == list[0].path || out[i].path == list[1].path);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err, selects[_i].want) != NULL, "'%s': '%s'", selects[_i].list, err);
	}
	layer_list_free(list, n);
}
END_TEST

START_TEST(test_select_none_configured_and_too_many)
{
	static const char *const specs[] = { "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8" };
	struct sandbox_layer *list = NULL, out[SANDBOX_LAYERS_MAX];
	size_t n = 0, nout;
	char err[256];

	ck_assert_int_eq(layer_select(NULL, 0, "a", out, &nout, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown layer 'a' (this instance has no layers configured)") != NULL, "%s", err);
	ck_assert_int_eq(layer_select(NULL, 0, NULL, out, &nout, err, sizeof(err)), 0);
	ck_assert_uint_eq(nout, 0);
	configure(&list, &n, specs, 9);
	ck_assert_int_eq(layer_select(list, n, "l0,l1,l2,l3,l4,l5,l6,l7", out, &nout, err, sizeof(err)), 0);
	ck_assert_uint_eq(nout, 8);
	ck_assert_int_eq(layer_select(list, n, "l0,l1,l2,l3,l4,l5,l6,l7,l8", out, &nout, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "more than 8 layers") != NULL, "%s", err);
	layer_list_free(list, n);
}
END_TEST

static int argv_has(char **argv, const char *want)
{
	for (char **p = argv; *p != NULL; p++)
		if (strcmp(*p, want) == 0)
			return 1;
	return 0;
}

/* Layer i is ubd<'d'+i>, read-only ('r'), named in tmc.layers= in order. */
START_TEST(test_kernel_command_line)
{
	static const char *const specs[] = { "course-a", "tools" };
	struct sandbox_layer *list = NULL;
	struct uml_launch l;
	size_t n = 0;
	char err[256], want[256], **argv;

	configure(&list, &n, specs, 2);
	memset(&l, 0, sizeof(l));
	l.kernel = "/k/linux.uml";
	l.initrd = "/k/initrd.img";
	l.rootfs = "/k/rootfs.squashfs";
	l.runnable = "/w/runnable.tar";
	l.output = "/w/output.tar";
	l.work_dir = "/w";
	l.memory = 256ULL << 20;
	argv = uml_argv(&l, err, sizeof(err));
	ck_assert_msg(argv != NULL, "%s", err);
	for (char **p = argv; *p != NULL; p++)
		ck_assert_msg(strncmp(*p, "ubdd", 4) != 0 && strncmp(*p, "tmc.layers=", 11) != 0,
		    "no layers asked for, yet %s", *p);
	/* uml_populate=1 (kernel patch 0006) only when asked for. */
	ck_assert(!argv_has(argv, "uml_populate=1"));
	/* Page faults from the host's siginfo (kernel patch 0007), always. */
	ck_assert(argv_has(argv, "uml_fast_fault=1"));
	uml_argv_free(argv);
	l.populate_ram = 1;
	argv = uml_argv(&l, err, sizeof(err));
	ck_assert_msg(argv != NULL, "%s", err);
	ck_assert(argv_has(argv, "uml_populate=1"));
	uml_argv_free(argv);
	l.populate_ram = 0;

	l.layers = list;
	l.nlayers = n;
	argv = uml_argv(&l, err, sizeof(err));
	ck_assert_msg(argv != NULL, "%s", err);
	snprintf(want, sizeof(want), "ubddr=%s", image);
	ck_assert_msg(argv_has(argv, want), "no %s", want);
	snprintf(want, sizeof(want), "ubder=%s", image2);
	ck_assert_msg(argv_has(argv, want), "no %s", want);
	ck_assert(argv_has(argv, "ubdarc=/k/rootfs.squashfs"));
	ck_assert(argv_has(argv, "tmc.layers=course-a,tools"));
	uml_argv_free(argv);

	free(list[1].path);
	list[1].path = strdup("/x/a b.squashfs");
	ck_assert_ptr_null(uml_argv(&l, err, sizeof(err)));
	ck_assert_msg(strstr(err, "unusable layer path") != NULL, "%s", err);
	layer_list_free(list, n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layer");
	TCase *tc = tcase_create("layer");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_name_rule, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, test_parse_real_image);
	tcase_add_test(tc, test_make_layer_contents);
	tcase_add_test(tc, test_parse_refusals);
	tcase_add_test(tc, test_add_twice);
	tcase_add_loop_test(tc, test_select, 0, sizeof(selects) / sizeof(selects[0]));
	tcase_add_test(tc, test_select_none_configured_and_too_many);
	tcase_add_test(tc, test_kernel_command_line);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
