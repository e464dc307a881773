#ifndef LEUKNODE_CSTBIMAGE_SHIM_H
#define LEUKNODE_CSTBIMAGE_SHIM_H
/* Debian's libstb-dev ships a compiled libstb.so: include the headers only, never the IMPLEMENTATION macros. */
#include <stb_image.h>
#include <stb_image_write.h>
#endif
