#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocates and touches ALLOC_MB megabytes, one at a time. */
int main(int argc, char **argv)
{
	long mb = argc > 1 ? strtol(argv[1], NULL, 10) : 512;

	for (long i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);
		if (p == NULL) {
			printf("malloc failed after %ld MiB\n", i);
			return 1;
		}
		memset(p, 1, 1 << 20);
	}
	printf("allocated %ld MiB\n", mb);
	return 0;
}
