/* url.h -- parsing of connection URLs (no I/O, so it can be fuzzed alone). */
#ifndef TALLY_URL_H
#define TALLY_URL_H

#include <stddef.h>

#define TALLY_SEEDS_MAX 16

typedef struct tally_url {
    int is_unix;
    int is_cluster;     /* redis-cluster://: host/port are the first seed */
    int nseeds;
    struct { char host[256]; int port; } seeds[TALLY_SEEDS_MAX];
    char host[256];     /* TCP host name or address, brackets removed for IPv6 */
    int port;
    char path[108];     /* unix socket path */
    char user[128];     /* empty: none (password alone means the default user) */
    char password[512]; /* empty: no AUTH */
    int db;
} tally_url;

/* Parses redis://[user:password@]host[:port][/db],
 * unix://[user:password@]/path/to.sock[?db=N] or
 * redis-cluster://[user:password@]host[:port][,host[:port]...]. User and password may be
 * percent-encoded. Returns 0, or -1 with a message in err that names what is wrong
 * and never contains the password. */
int tally__url_parse(const char *text, tally_url *out, char *err, size_t errlen);

#endif
