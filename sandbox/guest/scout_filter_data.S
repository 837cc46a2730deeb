/*
 * scout_filter_data.S: the Scout filter's BPF program, as scout-filter-gen
 * wrote it at build time (SCOUT_FILTER_BPF: its path, from make), built
 * into the Carrier: scout_filter_prebuilt() hands it out.
 */
	.section .rodata
	.balign 8
	.globl scout_filter_bpf
	.type scout_filter_bpf, @object
scout_filter_bpf:
	.incbin SCOUT_FILTER_BPF
scout_filter_bpf_end:
	.balign 8
	.globl scout_filter_bpf_size
	.type scout_filter_bpf_size, @object
scout_filter_bpf_size:
	.quad scout_filter_bpf_end - scout_filter_bpf

	.section .note.GNU-stack, "", @progbits
