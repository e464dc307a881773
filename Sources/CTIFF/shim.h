#ifndef LEUKNODE_CTIFF_SHIM_H
#define LEUKNODE_CTIFF_SHIM_H
#include <tiffio.h>
#include <stdint.h>

/* TIFFGetField is variadic and does not import into Swift: typed wrappers per tag kind. */
static inline int leuk_tiff_get_uint32(TIFF *tif, uint32_t tag, uint32_t *value) {
    return TIFFGetField(tif, tag, value);
}
static inline int leuk_tiff_get_uint16(TIFF *tif, uint32_t tag, uint16_t *value) {
    return TIFFGetField(tif, tag, value);
}
static inline int leuk_tiff_get_uint16_defaulted(TIFF *tif, uint32_t tag, uint16_t *value) {
    return TIFFGetFieldDefaulted(tif, tag, value);
}
#endif
