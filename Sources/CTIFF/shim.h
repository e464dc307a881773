#ifndef LEUKNODE_CTIFF_SHIM_H
#define LEUKNODE_CTIFF_SHIM_H
#include <tiffio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* TIFFSetField is variadic too: typed wrappers for the writer (used to make test and benchmark files). */
static inline int leuk_tiff_set_uint32(TIFF *tif, uint32_t tag, uint32_t value) {
    return TIFFSetField(tif, tag, value);
}
static inline int leuk_tiff_set_uint16(TIFF *tif, uint32_t tag, uint16_t value) {
    return TIFFSetField(tif, tag, (int)value);
}
/* ExtraSamples takes a count and an array. */
static inline int leuk_tiff_set_extra_samples(TIFF *tif, uint16_t count, const uint16_t *kinds) {
    return TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, kinds);
}

/* Reading from memory, with errors captured per handle (never printed to stderr, never global):
 * the Swift side owns one `leuk_tiff_memory` per open file at a stable address. */
typedef struct {
    const uint8_t *data;
    uint64_t size;
    uint64_t position;
    char message[256]; /* first error libtiff reported, empty if none */
} leuk_tiff_memory;

static inline tmsize_t leuk_tiff_memory_read(thandle_t handle, void *buffer, tmsize_t count) {
    leuk_tiff_memory *m = (leuk_tiff_memory *)handle;
    if (count <= 0 || m->position >= m->size) return 0;
    uint64_t available = m->size - m->position;
    uint64_t n = (uint64_t)count < available ? (uint64_t)count : available;
    memcpy(buffer, m->data + m->position, (size_t)n);
    m->position += n;
    return (tmsize_t)n;
}
static inline tmsize_t leuk_tiff_memory_write(thandle_t handle, void *buffer, tmsize_t count) {
    (void)handle; (void)buffer; (void)count;
    return 0; /* read-only */
}
static inline toff_t leuk_tiff_memory_seek(thandle_t handle, toff_t offset, int whence) {
    leuk_tiff_memory *m = (leuk_tiff_memory *)handle;
    uint64_t base = whence == SEEK_SET ? 0 : (whence == SEEK_CUR ? m->position : m->size);
    uint64_t target = base + (uint64_t)offset; /* libtiff passes offsets as unsigned toff_t */
    m->position = target;
    return (toff_t)target;
}
static inline int leuk_tiff_memory_close(thandle_t handle) { (void)handle; return 0; }
static inline toff_t leuk_tiff_memory_size(thandle_t handle) { return ((leuk_tiff_memory *)handle)->size; }
static inline int leuk_tiff_memory_map(thandle_t handle, void **base, toff_t *size) {
    (void)handle; (void)base; (void)size;
    return 0; /* no mapping: libtiff reads through the procs above */
}
static inline void leuk_tiff_memory_unmap(thandle_t handle, void *base, toff_t size) {
    (void)handle; (void)base; (void)size;
}
static inline int leuk_tiff_capture_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    leuk_tiff_memory *m = (leuk_tiff_memory *)user;
    if (m != NULL && m->message[0] == 0) vsnprintf(m->message, sizeof m->message, fmt, ap);
    return 1; /* handled: the global handler (stderr) is not called */
}
static inline int leuk_tiff_ignore_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1;
}
static inline const char *leuk_tiff_memory_message(const leuk_tiff_memory *m) { return m->message; }

/* Opens `m` for reading. `max_single_allocation` caps every allocation libtiff makes for this file. */
static inline TIFF *leuk_tiff_open_memory(leuk_tiff_memory *m, int64_t max_single_allocation) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (options == NULL) return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, (tmsize_t)max_single_allocation);
    TIFFOpenOptionsSetErrorHandlerExtR(options, leuk_tiff_capture_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(options, leuk_tiff_ignore_warning, m);
    TIFF *tif = TIFFClientOpenExt("memory", "rm", (thandle_t)m,
                                  leuk_tiff_memory_read, leuk_tiff_memory_write, leuk_tiff_memory_seek,
                                  leuk_tiff_memory_close, leuk_tiff_memory_size,
                                  leuk_tiff_memory_map, leuk_tiff_memory_unmap, options);
    TIFFOpenOptionsFree(options);
    return tif;
}

/* Opens a file for writing with errors captured into `m->message` (m->data unused). */
static inline TIFF *leuk_tiff_open_write(const char *path, leuk_tiff_memory *m) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (options == NULL) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(options, leuk_tiff_capture_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(options, leuk_tiff_ignore_warning, m);
    TIFF *tif = TIFFOpenExt(path, "w", options);
    TIFFOpenOptionsFree(options);
    return tif;
}

/* TIFFGetR/G/B/A are macros. */
static inline uint8_t leuk_tiff_r(uint32_t abgr) { return (uint8_t)TIFFGetR(abgr); }
static inline uint8_t leuk_tiff_g(uint32_t abgr) { return (uint8_t)TIFFGetG(abgr); }
static inline uint8_t leuk_tiff_b(uint32_t abgr) { return (uint8_t)TIFFGetB(abgr); }
static inline uint8_t leuk_tiff_a(uint32_t abgr) { return (uint8_t)TIFFGetA(abgr); }
#endif
