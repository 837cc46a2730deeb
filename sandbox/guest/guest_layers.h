/*
 * guest_layers.h: the guest's side of layers (read-only dependency images),
 * linked into the static tmc-init.
 */
#ifndef TMC_GUEST_LAYERS_H
#define TMC_GUEST_LAYERS_H

#include <stddef.h>

/* guest/guest_layers.c: mounts the layers named in `list` (the value of
 * tmc.layers=, NAME[,NAME...], layer i on /dev/ubd<'d'+i>) read-only at
 * /opt/layers/NAME, then lays them under Maven's local repository (see the
 * file). Returns 0, or -1 with err naming the layer that failed. */
int guest_layers_mount(const char *list, char *err, size_t errlen);

#endif
