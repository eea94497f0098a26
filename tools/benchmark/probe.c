/* probe.c -- what tally-bench-report's probes share (probe.h): the key and
 * account ids they record, the connection that checks the database is empty,
 * one day of events for every key, and the script calls' count and Redis time
 * from INFO commandstats. report_probe.c and top_probe.c use it; it uses
 * neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

#define BATCH 65536

char (*probe_key_ids)[16], (*probe_acct_ids)[32];
size_t probe_accounts = 100;

void probe_ids(size_t nkeys, size_t naccounts) {
    probe_free_ids();
    probe_key_ids = xmalloc(nkeys * sizeof *probe_key_ids);
    for (size_t k = 0; k < nkeys; k++) snprintf(probe_key_ids[k], sizeof probe_key_ids[k], "rk-%06u", (unsigned)k);
    probe_acct_ids = xmalloc(naccounts * sizeof *probe_acct_ids);
    for (size_t a = 0; a < naccounts; a++) snprintf(probe_acct_ids[a], sizeof probe_acct_ids[a], "acct-%05zu", a);
    probe_accounts = naccounts;
}

void probe_free_ids(void) {
    free(probe_key_ids);
    free(probe_acct_ids);
    probe_key_ids = NULL;
    probe_acct_ids = NULL;
}

redisContext *probe_connect(void) {
    char err[256];
    if (tally__url_parse(bench_url_text, &bench_url, err, sizeof err) < 0) die("%s", err);
    redisContext *c = raw_connect();
    redisReply *r = bench_cmd(c, "DBSIZE");
    if (r->integer != 0) die("the database is not empty (%lld keys)", r->integer);
    freeReplyObject(r);
    return c;
}

void script_stats(redisContext *c, double *calls, double *usec) {
    redisReply *r = bench_cmd(c, "INFO commandstats");
    *calls = *usec = 0;
    static const char *const names[] = { "\ncmdstat_evalsha:", "\ncmdstat_evalsha_ro:" };
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(r->str, names[i]);
        double n, u;
        if (p && sscanf(p + strlen(names[i]), "calls=%lf,usec=%lf", &n, &u) == 2) *calls += n, *usec += u;
    }
    freeReplyObject(r);
}

void probe_record(tally *t, size_t nkeys, int64_t at_ms, int turn) {
    static tally_event ev[BATCH];
    static tally_result res[BATCH];
    static const char *const models[3] = { "model-a", "model-b", "model-c" };
    for (size_t i = 0; i < nkeys; i += BATCH) {
        size_t m = nkeys - i < BATCH ? nkeys - i : BATCH;
        for (size_t k = 0; k < m; k++)
            ev[k] = (tally_event){ .key = probe_key_ids[i + k], .account = probe_acct_ids[(i + k) % probe_accounts],
                                   .model = models[(i + k + (size_t)turn) % 3], .input_tokens = 100 + (int64_t)k % 7,
                                   .output_tokens = 20, .cost_nanos = 1000 + (int64_t)(i + k), .at_ms = at_ms };
        if (tally_record_batch(t, ev, m, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
        for (size_t k = 0; k < m; k++)
            if (res[k].code != TALLY_OK) die("record: event %zu: %s", i + k, res[k].message);
    }
}
