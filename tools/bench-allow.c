/* bench-allow.c -- measures tally_allow() decisions per second for each algorithm
 * against plain INCR on the same Redis, one connection, one call at a time (so
 * both pay the same round trip), and Redis memory (MEMORY USAGE) per limited key.
 *   bench-allow [N]     against $TALLY_URL (default redis://127.0.0.1:6379/0)
 * Writes keys under the prefix "bench" and deletes them afterwards. Not a test:
 * it asserts nothing. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally.h"

static double secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long usage(redisContext *c, const char *key) {
    redisReply *r = redisCommand(c, "MEMORY USAGE %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    if (r) freeReplyObject(r);
    return v;
}

/* Sums MEMORY USAGE of every key matching pattern (a handful in this bench). */
static long long usage_all(redisContext *c, const char *pattern) {
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    long long sum = 0;
    for (size_t i = 0; r && i < r->elements; i++) sum += usage(c, r->element[i]->str);
    if (r) freeReplyObject(r);
    return sum;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.prefix = "bench";
    tally *t;
    if (tally_open(&cfg, &t) != TALLY_OK) {
        fprintf(stderr, "bench-allow: %s\n", tally_errmsg(t));
        tally_close(t);
        return 3;
    }
    const char *url = getenv("TALLY_URL");
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (url && sscanf(url, "redis://%255[^:/]:%d", host, &port) < 1) port = 6379;
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "bench-allow: raw connection to %s:%d failed\n", host, port);
        return 3;
    }
    double t0 = secs();
    for (int i = 0; i < n; i++) freeReplyObject(redisCommand(c, "INCR bench:incr"));
    double incr = n / (secs() - t0);
    printf("%-16s %9.0f calls/s\n", "INCR", incr);
    static const int algos[] = { TALLY_ALGO_SLIDING_WINDOW, TALLY_ALGO_SLIDING_LOG, TALLY_ALGO_GCRA,
                                 TALLY_ALGO_FIXED };
    for (int a = 0; a < 4; a++) {
        /* a limit never reached, so every call is an allowed, writing call; the
         * sliding log keeps n entries (its worst case at this limit) */
        tally_rule r = { TALLY_COUNT_REQUESTS, algos[a], 1000000, 3600000, 0 };
        tally_decision d;
        t0 = secs();
        for (int i = 0; i < n; i++)
            if (tally_allow(t, "speed", &r, 1, NULL, &d) != TALLY_OK || !d.allowed) {
                fprintf(stderr, "bench-allow: %s\n", tally_errmsg(t));
                return 4;
            }
        double rate = n / (secs() - t0);
        printf("%-16s %9.0f decisions/s (%.0f%% of INCR)\n", tally_algo_name(algos[a]), rate, 100 * rate / incr);
    }
    printf("\nmemory per limited key and rule (MEMORY USAGE, all keys of the rule):\n");
    static const int entries[] = { 1, 10, 100, 1000 };
    for (int a = 0; a < 4; a++) {
        printf("%-16s", tally_algo_name(algos[a]));
        for (int e = 0; e < 4; e++) {
            char key[64], pat[96];
            snprintf(key, sizeof key, "mem-%d-%d", a, entries[e]);
            tally_rule r = { TALLY_COUNT_REQUESTS, algos[a], 1000000, 3600000, 0 };
            tally_decision d;
            for (int i = 0; i < entries[e]; i++) tally_allow(t, key, &r, 1, NULL, &d);
            snprintf(pat, sizeof pat, "bench:v1:{k:%s}:*", key);
            printf("  %5d calls: %7lld B", entries[e], usage_all(c, pat));
        }
        printf("\n");
    }
    freeReplyObject(redisCommand(c, "EVAL %s 0", "for _, k in ipairs(redis.call('KEYS', 'bench:*')) do "
                                                  "redis.call('DEL', k) end"));
    redisFree(c);
    tally_close(t);
    return 0;
}
