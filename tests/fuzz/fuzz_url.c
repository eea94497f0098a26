/* fuzz_url.c -- libFuzzer target: connection URL parsing (tally__url_parse).
 * Invariants: never reads past the text, every field NUL-terminated, the port in
 * range, and a message for every refusal. (That the password is never in a
 * message is checked in tests/test_security.c.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tally_url u;
    char err[256];
    if (tally__url_parse(text, &u, err, sizeof err) == 0) {
        if (u.port < 1 || u.port > 65535 || u.db < 0) abort();
        if (strlen(u.host) >= sizeof u.host || strlen(u.path) >= sizeof u.path ||
            strlen(u.user) >= sizeof u.user || strlen(u.password) >= sizeof u.password)
            abort();
        if (!u.is_unix && !u.host[0]) abort();
    } else if (!err[0] || !memchr(err, 0, sizeof err)) {
        abort();
    }
    free(text);
    return 0;
}
