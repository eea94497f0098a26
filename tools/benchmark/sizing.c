/* sizing.c -- tally-bench --figures: the inputs of docs/capacity.md's sizing
 * model, printed as named figures whose names are stable (the document cites
 * them by name and a test checks every cited name against --list-figures):
 *
 *   tally-bench --figures [--single-url URL] [--url CLUSTER_URL] [--json] [--scale F]
 *   tally-bench --list-figures
 *
 * On the single server (an EMPTY database: it is flushed between phases):
 * events/s and Redis CPU per recorded event, one event per call (tally_record)
 * and batched (tally_record_batch); the cost of an allow per algorithm; Redis
 * memory per API key by bucket size, and what a key costs per day, per month
 * and at steady state under the default retention; per request id, in a
 * key's small (listpack) and large (hashtable) id hash. On the cluster
 * (recording only, nothing flushed): the same recording runs with every node's
 * own CPU (INFO cpu before and after, per node), a hot-key case where one API
 * key takes HOT_SHARE of the events, and the id hashes' growth per event (an
 * id is kept by the key's, the account's and the shard's call). Both: the
 * configured bound of a script call and the longest call SLOWLOG saw on any
 * node. tools/bench --cluster runs it on a private single server and a private
 * 3+3 cluster.
 *
 * Redis CPU is each redis-server's used_cpu_user + used_cpu_sys: on a machine
 * whose cores the client and every node share, events/s is bounded by all of
 * them together, while CPU per event is what each node would need alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define HOT_SHARE 0.9 /* of the events that go to the hot API key */
#define MAX_NODES 16
#define AVG_MONTH_DAYS 30.44

/* The figures, in printing order. */
enum {
    F_BOUND, F_EVS_SINGLE_RECORD, F_EVS_SINGLE_BATCH, F_CPU_SINGLE_RECORD, F_CPU_SINGLE_BATCH, F_LONGEST_SINGLE,
    F_ALLOW_RATE, /* 4 algorithms */
    F_ALLOW_CPU = F_ALLOW_RATE + 4,
    F_MEM_TOTAL = F_ALLOW_CPU + 4, F_MEM_MONTH, F_MEM_DAY, F_MEM_SHARED, F_MEM_REQUEST_ID, F_MEM_REQUEST_ID_LARGE,
    F_MEM_ACCOUNT,
    F_MEM_DAY_ALL, F_DAYS_LIVE, F_MONTHS_LIVE, F_MEM_MONTH_ALL, F_MEM_STEADY,
    F_EVS_CLUSTER_RECORD, F_EVS_CLUSTER_BATCH, F_EVS_CLUSTER_DISTINCT, F_CPU_CLUSTER_RECORD_TOTAL,
    F_CPU_CLUSTER_RECORD_MAX, F_CPU_CLUSTER_DISTINCT_TOTAL, F_CPU_CLUSTER_DISTINCT_MAX,
    F_CPU_CLUSTER_BATCH_TOTAL, F_CPU_CLUSTER_BATCH_MAX, F_CPU_CLUSTER_BATCH_MIN, F_CPU_CLUSTER_BATCH_REPLICA,
    F_SHARE_CLUSTER_BATCH, F_LONGEST_CLUSTER, F_MEM_REQUEST_ID_CLUSTER,
    F_HOT_SHARE, F_EVS_HOT_RECORD, F_EVS_HOT_BATCH, F_CPU_HOT_RECORD_MAX, F_CPU_HOT_BATCH_TOTAL, F_CPU_HOT_BATCH_MAX,
    F_SHARE_HOT_RECORD, F_SHARE_HOT_BATCH,
    F_N
};

typedef struct {
    const char *name, *unit, *what;
} figure;

static const figure figures[F_N] = {
    { "script_bound_us", "us", "tally_config.max_script_us's default: a batch call holds Redis about this long at most" },
    { "events_per_s.single.record", "events/s", "single server, tally_record, 1 event per call" },
    { "events_per_s.single.batch", "events/s", "single server, tally_record_batch of up to 65536 (BULK_BATCH): 60000 events at scale 1, one call" },
    { "redis_cpu_us_per_event.single.record", "us", "single server, 1 event per call" },
    { "redis_cpu_us_per_event.single.batch", "us", "single server, batched" },
    { "longest_script_ms.single", "ms", "single server, the longest EVALSHA (SLOWLOG > 1 ms; 0: none)" },
    { "allow_per_s.sliding_window", "calls/s", "tally_allow, 1 rule, 1 call at a time" },
    { "allow_per_s.sliding_log", "calls/s", "" },
    { "allow_per_s.gcra", "calls/s", "" },
    { "allow_per_s.fixed", "calls/s", "" },
    { "redis_cpu_us_per_allow.sliding_window", "us", "Redis CPU per allowed call" },
    { "redis_cpu_us_per_allow.sliding_log", "us", "" },
    { "redis_cpu_us_per_allow.gcra", "us", "" },
    { "redis_cpu_us_per_allow.fixed", "us", "" },
    { "memory_bytes.key_total_bucket", "B", "per API key: its all-time hash (3 models)" },
    { "memory_bytes.key_month_bucket", "B", "per API key: one month hash (3 models)" },
    { "memory_bytes.key_day_bucket", "B", "per API key: one day hash with its 24 hour fields (3 models)" },
    { "memory_bytes.shard_share_per_period", "B", "per API key: its share of the shards' hashes of one period (its k: field, and the model, account and global fields it shares)" },
    { "memory_bytes.request_id", "B", "per event with a request id, while remembered (24 h): a key's id hash of 24 ids (listpack)" },
    { "memory_bytes.request_id_large", "B", "the same in a key's id hash past hash-max-listpack-entries (512 by default: a hashtable): 20000 events of one key" },
    { "memory_bytes.account_buckets_day", "B", "per account: its day hash after a day (its total and month are its a: fields in the shards' hashes)" },
    { "memory_bytes.per_key_day", "B", "used_memory growth per API key for a day of traffic (every bucket, 1 account per key)" },
    { "retention.day_buckets_live", "buckets", "day buckets alive at once: today + ttl_day_s (default retention)" },
    { "retention.month_buckets_live", "buckets", "month buckets alive at once: this month + ttl_month_s / 30.44 d" },
    { "memory_bytes.per_key_month", "B", "a month of daily traffic: 30 day buckets + 1 month bucket + their share of the shards' hashes" },
    { "memory_bytes.per_key_steady", "B", "an API key active every day, all its live buckets and its share of the shards' hashes, no request ids" },
    { "events_per_s.cluster.record", "events/s", "3+3 cluster, tally_record, 1 event per call" },
    { "events_per_s.cluster.batch", "events/s", "3+3 cluster, tally_record_batch of up to 65536 (BULK_BATCH): 60000 events at scale 1, ~60 per API key" },
    { "events_per_s.cluster.batch_distinct_keys", "events/s", "3+3 cluster, tally_record_batch of 1000, each API key once per call" },
    { "redis_cpu_us_per_event.cluster.record.total", "us", "summed over the primaries" },
    { "redis_cpu_us_per_event.cluster.record.node_max", "us", "the busiest primary" },
    { "redis_cpu_us_per_event.cluster.batch_distinct_keys.total", "us", "summed over the primaries" },
    { "redis_cpu_us_per_event.cluster.batch_distinct_keys.node_max", "us", "the busiest primary" },
    { "redis_cpu_us_per_event.cluster.batch.total", "us", "summed over the primaries" },
    { "redis_cpu_us_per_event.cluster.batch.node_max", "us", "the busiest primary" },
    { "redis_cpu_us_per_event.cluster.batch.node_min", "us", "the least busy primary" },
    { "redis_cpu_us_per_event.cluster.batch.replica_max", "us", "the busiest replica (applying the writes)" },
    { "busiest_node_cpu_share.cluster.batch", "ratio", "the busiest primary's part of the primaries' CPU" },
    { "longest_script_ms.cluster", "ms", "the longest EVALSHA on any primary (SLOWLOG > 1 ms; 0: none)" },
    { "memory_bytes.request_id_cluster", "B", "cluster: id hash growth per recorded event over the cluster runs, all its copies (key, account, shard)" },
    { "hot_key_share", "ratio", "part of the hot-key runs' events that go to one API key" },
    { "events_per_s.hot.record", "events/s", "cluster, hot key, 1 event per call" },
    { "events_per_s.hot.batch", "events/s", "cluster, hot key, tally_record_batch of up to 65536 (merged per entity)" },
    { "redis_cpu_us_per_event.hot.record.node_max", "us", "the busiest primary (the hot key's, its account's or its shard's), per event of the run" },
    { "redis_cpu_us_per_event.hot.batch.total", "us", "summed over the primaries" },
    { "redis_cpu_us_per_event.hot.batch.node_max", "us", "the busiest primary, per event of the run" },
    { "busiest_node_cpu_share.hot.record", "ratio", "the busiest primary's part of the primaries' CPU" },
    { "busiest_node_cpu_share.hot.batch", "ratio", "" },
};

static double value[F_N];
static int measured[F_N];

static void set(int f, double v) {
    value[f] = v;
    measured[f] = 1;
}

/* ---------------------------------------------------------------- nodes */

/* Every node of the server or cluster `c` is connected to, with its CPU. */
typedef struct {
    int n;
    redisContext *c[MAX_NODES];
    int replica[MAX_NODES];
    char addr[MAX_NODES][160];
    double cpu0[MAX_NODES];
} node_set;

static void nodes_open(node_set *s, redisContext *c) {
    memset(s, 0, sizeof *s);
    if (!bench_url.is_cluster) {
        s->n = 1;
        s->c[0] = c;
        snprintf(s->addr[0], sizeof s->addr[0], "the server");
        return;
    }
    redisReply *r = bench_cmd(c, "CLUSTER NODES");
    for (char *line = r->str; line && *line && s->n < MAX_NODES; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char addr[128], flags[128];
        if (sscanf(line, "%*s %127s %127s", addr, flags) != 2 || strstr(flags, "fail") || strstr(flags, "noaddr")) continue;
        char *at = strchr(addr, '@'), *colon;
        if (at) *at = 0;
        if (!(colon = strrchr(addr, ':'))) continue;
        *colon = 0;
        redisContext *nc = redisConnect(addr, atoi(colon + 1));
        if (!nc || nc->err) die("cannot connect to cluster node %s:%s", addr, colon + 1);
        s->c[s->n] = nc;
        s->replica[s->n] = strstr(flags, "slave") != NULL;
        snprintf(s->addr[s->n++], sizeof s->addr[0], "%s:%s", addr, colon + 1);
    }
    freeReplyObject(r);
}

/* Bytes of every request-id hash (`{...}:i:<slice>`) on the primaries of s,
 * by MEMORY USAGE. */
static double id_hash_bytes(node_set *s) {
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->replica[i]) continue;
        char cursor[32] = "0";
        do {
            redisReply *r = bench_cmd(s->c[i], "SCAN %s MATCH *}:i:* COUNT 1000", cursor);
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            redisReply *ks = r->element[1];
            for (size_t k = 0; k < ks->elements; k++) {
                redisReply *u = bench_cmd(s->c[i], "MEMORY USAGE %b SAMPLES 0", ks->element[k]->str, ks->element[k]->len);
                sum += (double)u->integer;
                freeReplyObject(u);
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    return sum;
}

static void nodes_close(node_set *s) {
    for (int i = 0; bench_url.is_cluster && i < s->n; i++) redisFree(s->c[i]);
}

static void nodes_begin(node_set *s) {
    for (int i = 0; i < s->n; i++) {
        slowlog_start(s->c[i]);
        s->cpu0[i] = server_cpu(s->c[i]);
    }
}

/* Per-node Redis CPU of a run of `events` events. */
typedef struct {
    double total, node_max, node_min, replica_max, share, longest_ms;
} node_cpu;

static node_cpu nodes_end(node_set *s, double nevents, const char *title) {
    node_cpu o = { 0, 0, 1e30, 0, 0, 0 };
    double us[MAX_NODES];
    for (int i = 0; i < s->n; i++) {
        us[i] = (server_cpu(s->c[i]) - s->cpu0[i]) * 1e6 / nevents;
        double longest = slowlog_longest_ms(s->c[i], NULL);
        if (s->replica[i]) {
            if (us[i] > o.replica_max) o.replica_max = us[i];
            continue;
        }
        o.total += us[i];
        if (us[i] > o.node_max) o.node_max = us[i];
        if (us[i] < o.node_min) o.node_min = us[i];
        if (longest > o.longest_ms) o.longest_ms = longest;
    }
    o.share = o.total > 0 ? o.node_max / o.total : 0;
    fprintf(stderr, "  %s: Redis CPU per event by node\n", title);
    for (int i = 0; i < s->n; i++)
        fprintf(stderr, "    %-22s %-8s %8.2f us%s\n", s->addr[i], s->replica[i] ? "replica" : "primary", us[i],
                s->replica[i] || o.total <= 0 ? "" : (us[i] == o.node_max ? "  (busiest)" : ""));
    return o;
}

/* --------------------------------------------------------------- phases */

/* n events over NKEYS keys, where HOT_SHARE of them go to key 0 (and its
 * account): nine of every ten. */
static events hot_events(size_t n, int tag) {
    events e = make_events(n, tag, DIST_UNIFORM, NACCOUNTS);
    for (size_t i = 0; i < n; i++)
        if (i % 10 != 0) e.ev[i].key = bench_key_ids[0], e.ev[i].account = bench_acct_ids[0];
    return e;
}

/* One recording run (per_call 0: tally_record one event at a time) on every
 * node of s. */
static run measured_run(redisContext *c, node_set *s, const events *e, size_t per_call, const char *title,
                        node_cpu *cpu) {
    nodes_begin(s);
    run r = per_call ? bench_batch(c, e, per_call) : bench_sync(c, e);
    *cpu = nodes_end(s, r.events, title);
    return r;
}

static void single_server(redisContext *c, double scale) {
    node_set s;
    nodes_open(&s, c);
    node_cpu cpu;
    events one = make_events((size_t)(5000 * scale), 0x51, DIST_UNIFORM, NACCOUNTS);
    run r = measured_run(c, &s, &one, 0, "single server, tally_record", &cpu);
    free_events(&one);
    set(F_EVS_SINGLE_RECORD, r.rate), set(F_CPU_SINGLE_RECORD, cpu.total);
    flush_db(c);
    events bulk = make_events((size_t)(60000 * scale), 0x52, DIST_UNIFORM, NACCOUNTS);
    r = measured_run(c, &s, &bulk, BULK_BATCH, "single server, tally_record_batch", &cpu);
    free_events(&bulk);
    set(F_EVS_SINGLE_BATCH, r.rate), set(F_CPU_SINGLE_BATCH, cpu.total), set(F_LONGEST_SINGLE, cpu.longest_ms);
    flush_db(c);
    allow_run al[5];
    bench_allow(c, (size_t)(10000 * scale), al);
    for (int a = 0; a < 4; a++) set(F_ALLOW_RATE + a, al[1 + a].rate), set(F_ALLOW_CPU + a, al[1 + a].server_cpu_us);
    flush_db(c);
    mem_result m = bench_memory(c);
    tally_config d;
    tally_config_init(&d);
    double day = (double)m.bytes[C_KD] / NKEYS, month = (double)m.bytes[C_KM] / NKEYS,
           total = (double)m.bytes[C_KT] / NKEYS, shared = (double)m.bytes[C_SHARED] / NKEYS / 3;
    double days_live = 1 + (double)((d.ttl_day_s + 86399) / 86400);
    double months_live = 1 + (double)(int)((double)d.ttl_month_s / 86400 / AVG_MONTH_DAYS + 0.999);
    set(F_MEM_TOTAL, total), set(F_MEM_MONTH, month), set(F_MEM_DAY, day), set(F_MEM_SHARED, shared);
    set(F_MEM_REQUEST_ID, (double)m.bytes[C_KI] / NKEYS / m.events_per_key);
    set(F_MEM_ACCOUNT, (double)(m.bytes[C_AT] + m.bytes[C_AM] + m.bytes[C_AD]) / NKEYS);
    set(F_MEM_DAY_ALL, m.per_key);
    set(F_DAYS_LIVE, days_live), set(F_MONTHS_LIVE, months_live);
    set(F_MEM_MONTH_ALL, 30 * (day + shared) + month + shared);
    set(F_MEM_STEADY, total + months_live * month + days_live * day + (1 + months_live + days_live) * shared);
    /* a busy key's ids (20000 at any scale): past hash-max-listpack-entries (512
     * by default) its id hash is a hashtable */
    flush_db(c);
    events busy = make_events(20000, 0x53, DIST_UNIFORM, NACCOUNTS);
    for (size_t i = 0; i < busy.n; i++) busy.ev[i].key = bench_key_ids[0], busy.ev[i].account = bench_acct_ids[0];
    bench_batch(c, &busy, BULK_BATCH);
    set(F_MEM_REQUEST_ID_LARGE, id_hash_bytes(&s) / (double)busy.n);
    free_events(&busy);
    nodes_close(&s);
}

static void cluster(redisContext *c, double scale) {
    node_set s;
    nodes_open(&s, c);
    node_cpu cpu;
    size_t n_one = (size_t)(5000 * scale), n_bulk = (size_t)(60000 * scale);
    double ids0 = id_hash_bytes(&s);
    events e = make_events(n_one, 0x61, DIST_UNIFORM, NACCOUNTS);
    run r = measured_run(c, &s, &e, 0, "cluster, tally_record", &cpu);
    free_events(&e);
    set(F_EVS_CLUSTER_RECORD, r.rate), set(F_CPU_CLUSTER_RECORD_TOTAL, cpu.total);
    set(F_CPU_CLUSTER_RECORD_MAX, cpu.node_max);
    double longest = cpu.longest_ms;
    e = make_events(n_bulk, 0x62, DIST_UNIFORM, NACCOUNTS);
    r = measured_run(c, &s, &e, BULK_BATCH, "cluster, tally_record_batch", &cpu);
    free_events(&e);
    set(F_EVS_CLUSTER_BATCH, r.rate), set(F_CPU_CLUSTER_BATCH_TOTAL, cpu.total);
    set(F_CPU_CLUSTER_BATCH_MAX, cpu.node_max), set(F_CPU_CLUSTER_BATCH_MIN, cpu.node_min);
    set(F_CPU_CLUSTER_BATCH_REPLICA, cpu.replica_max), set(F_SHARE_CLUSTER_BATCH, cpu.share);
    if (cpu.longest_ms > longest) longest = cpu.longest_ms;
    /* round-robin keys in calls of NKEYS events: no API key's buckets merge
     * within a call (many active keys), only accounts' and shards' do */
    e = make_events(n_bulk, 0x65, DIST_UNIFORM, NACCOUNTS);
    r = measured_run(c, &s, &e, NKEYS, "cluster, tally_record_batch, each key once per call", &cpu);
    free_events(&e);
    set(F_EVS_CLUSTER_DISTINCT, r.rate), set(F_CPU_CLUSTER_DISTINCT_TOTAL, cpu.total);
    set(F_CPU_CLUSTER_DISTINCT_MAX, cpu.node_max);
    if (cpu.longest_ms > longest) longest = cpu.longest_ms;
    set(F_HOT_SHARE, HOT_SHARE);
    e = hot_events(n_one, 0x63);
    r = measured_run(c, &s, &e, 0, "cluster, hot key, tally_record", &cpu);
    free_events(&e);
    set(F_EVS_HOT_RECORD, r.rate), set(F_CPU_HOT_RECORD_MAX, cpu.node_max), set(F_SHARE_HOT_RECORD, cpu.share);
    if (cpu.longest_ms > longest) longest = cpu.longest_ms;
    e = hot_events(n_bulk, 0x64);
    r = measured_run(c, &s, &e, BULK_BATCH, "cluster, hot key, tally_record_batch", &cpu);
    free_events(&e);
    set(F_EVS_HOT_BATCH, r.rate), set(F_CPU_HOT_BATCH_TOTAL, cpu.total), set(F_CPU_HOT_BATCH_MAX, cpu.node_max);
    set(F_SHARE_HOT_BATCH, cpu.share);
    if (cpu.longest_ms > longest) longest = cpu.longest_ms;
    set(F_LONGEST_CLUSTER, longest);
    set(F_MEM_REQUEST_ID_CLUSTER, (id_hash_bytes(&s) - ids0) / (double)(2 * n_one + 3 * n_bulk));
    nodes_close(&s);
}

/* Points the bench's connection globals at `url` and connects. */
static redisContext *target(const char *url) {
    char err[256];
    bench_url_text = url;
    if (tally__url_parse(url, &bench_url, err, sizeof err) < 0) die("%s", err);
    return raw_connect();
}

static void print_figures(int json) {
    int first = 1;
    if (json) printf("{\n  \"figures\":{\n");
    for (int f = 0; f < F_N; f++) {
        if (!measured[f]) continue;
        if (json) printf("%s    \"%s\":%.6g", first ? "" : ",\n", figures[f].name, value[f]);
        else printf("%-52s %14.6g %-9s %s\n", figures[f].name, value[f], figures[f].unit, figures[f].what);
        first = 0;
    }
    if (json) printf("\n  },\n  \"hot_key_share\":%.2f\n}\n", HOT_SHARE);
}

int sizing_main(int argc, char **argv) {
    const char *single = NULL, *cluster_url = NULL;
    double scale = 1;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list-figures") == 0) {
            for (int f = 0; f < F_N; f++) printf("%s\t%s\t%s\n", figures[f].name, figures[f].unit, figures[f].what);
            return 0;
        }
        if (strcmp(argv[i], "--figures") == 0) continue;
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--single-url") == 0 && i + 1 < argc) single = argv[++i];
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) cluster_url = argv[++i];
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) scale = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: tally-bench --figures [--single-url URL] [--url CLUSTER_URL] [--json] [--scale F]\n"
                            "       tally-bench --list-figures\n");
            return 2;
        }
    }
    if (scale <= 0 || scale > 100) die("--scale must be in (0, 100]");
    if (!single && !cluster_url) die("--figures needs --single-url URL and/or --url CLUSTER_URL");
    bench_init();
    tally_config d;
    tally_config_init(&d);
    set(F_BOUND, (double)d.max_script_us);
    fprintf(stderr, "tally-bench --figures: measuring (a few minutes)...\n");
    if (single) {
        redisContext *c = target(single);
        redisReply *r = bench_cmd(c, "DBSIZE");
        if (r->integer != 0) die("the single server's database is not empty (%lld keys)", r->integer);
        freeReplyObject(r);
        single_server(c, scale);
        redisFree(c);
    }
    if (cluster_url) {
        redisContext *c = target(cluster_url);
        if (!bench_url.is_cluster) die("--url must be a redis-cluster:// URL for --figures");
        cluster(c, scale);
        redisFree(c);
    }
    print_figures(json);
    return 0;
}
