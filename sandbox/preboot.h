/*
 * preboot.h: the one message of the pre-boot handshake, shared by the host
 * (preboot.c) and the guest (guest/tmc_init.c); contract in
 * sandbox/README.md ("Pre-boot").
 */
#ifndef TMC_PREBOOT_H
#define TMC_PREBOOT_H

/* host -> guest on /dev/ttyS1, once: the task disk /dev/ubdb now holds the
 * task. Anything else on the line before it is a broken host. */
#define PREBOOT_GO "tmc-go 1\n"
/* guest -> host on the console once tmc-init waits for PREBOOT_GO. */
#define PREBOOT_READY_MARKER "tmc-init: ready"

#endif
