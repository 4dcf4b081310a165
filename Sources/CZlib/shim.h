#include <zlib.h>

/* The init macros pass sizeof(z_stream) and the version string; Swift cannot call macros. */
static inline int czlib_deflate_init(z_streamp stream, int level) {
    return deflateInit(stream, level);
}

static inline int czlib_inflate_init(z_streamp stream) {
    return inflateInit(stream);
}
