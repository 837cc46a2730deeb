/*
 * hostinfo.c: the machine a benchmark ran on, for the header of `make
 * bench`: CPU model, the flags that change what UML does (avx512f, amx_tile)
 * and the XSAVE sizes from cpuid leaf 0xd. UML moves the whole XSAVE area
 * for each guest process, so figures from hosts with different sizes are
 * not comparable, and a UML whose buffer is smaller than the host's cannot
 * run a process at all (6.12 on AMX hosts).
 * Prints "key value" lines; never fails on a CPU without leaf 0xd.
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

static void print_cpuinfo_fields(void)
{
	char line[8192];
	int have_model = 0, have_flags = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f == NULL) {
		printf("cpu_model unknown\n");
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && !(have_model && have_flags)) {
		char *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!have_model && strncmp(line, "model name", 10) == 0) {
			printf("cpu_model %s\n", colon + 2);
			have_model = 1;
		} else if (!have_flags && strncmp(line, "flags", 5) == 0) {
			static const char *const wanted[] = { "avx2", "avx512f", "amx_tile", "xsave" };
			char padded[sizeof(line) + 2];

			snprintf(padded, sizeof(padded), " %s ", colon + 1);
			for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
				char word[32];

				snprintf(word, sizeof(word), " %s ", wanted[i]);
				printf("flag_%s %s\n", wanted[i], strstr(padded, word) ? "yes" : "no");
			}
			have_flags = 1;
		}
	}
	fclose(f);
}

int main(void)
{
	unsigned int eax, ebx, ecx, edx;

	print_cpuinfo_fields();
	if (__get_cpuid_max(0, NULL) >= 0xd) {
		__cpuid_count(0xd, 0, eax, ebx, ecx, edx);
		/* EBX: the area for the features enabled in XCR0 now; ECX: for
		 * every feature the CPU supports (what a kernel may enable). */
		printf("xsave_enabled_bytes %u\nxsave_max_bytes %u\n", ebx, ecx);
	} else {
		printf("xsave_enabled_bytes 0\nxsave_max_bytes 0\n");
	}
	return 0;
}
