/* version.c -- the library's version, fixed at build time from meson.build's
 * project version (TALLY_VERSION_TEXT). */
#include "tally.h"

const char *tally_version(void) {
    return TALLY_VERSION_TEXT;
}
