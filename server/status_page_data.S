/*
 * status_page_data.S: the bytes of the status page's files (web/status/),
 * built into sandboxd (status_page.c serves them): nothing to install or
 * keep in step with the daemon.
 * Each file is followed by a NUL and its size (without the NUL).
 * Paths are relative to the top of the tree, where make runs.
 */
#define PAGE_FILE(sym, path)		\
	.section .rodata;		\
	.balign 16;			\
	.globl sym;			\
	.type sym, @object;		\
sym:					\
	.incbin path;			\
sym##_end:				\
	.byte 0;			\
	.balign 8;			\
	.globl sym##_size;		\
	.type sym##_size, @object;	\
sym##_size:				\
	.quad sym##_end - sym

PAGE_FILE(status_page_index_html, "web/status/index.html")
PAGE_FILE(status_page_status_js, "web/status/status.js")
PAGE_FILE(status_page_status_css, "web/status/status.css")

	.section .note.GNU-stack, "", @progbits
