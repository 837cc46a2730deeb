/*
 * proc_scan.h: what tests ask of the host's process table. Owns reading
 * /proc/PID/cmdline; never signals or changes a process.
 */
#ifndef TMC_TESTS_PROC_SCAN_H
#define TMC_TESTS_PROC_SCAN_H

/* proc_scan.c */
int proc_count_cmdline(const char *needle);

#endif
