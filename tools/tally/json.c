/* json.c -- see json.h. */
#include "json.h"

void json_begin(json_out *j, FILE *f) {
    j->f = f;
    j->depth = 0;
    j->members[0] = 0;
}

/* s as a JSON string: quotes, backslashes and control characters escaped;
 * other bytes (UTF-8 included) as they are. */
static void quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* The comma and the key before a value. */
static void head(json_out *j, const char *key) {
    if (j->members[j->depth]++) fputc(',', j->f);
    if (!key) return;
    quoted(j->f, key);
    fputc(':', j->f);
}

static void open_level(json_out *j, const char *key, char bracket) {
    head(j, key);
    fputc(bracket, j->f);
    j->closer[j->depth + 1] = bracket == '{' ? '}' : ']';
    j->members[++j->depth] = 0;
}

void json_object(json_out *j, const char *key) { open_level(j, key, '{'); }
void json_array(json_out *j, const char *key) { open_level(j, key, '['); }

void json_close(json_out *j) {
    fputc(j->closer[j->depth--], j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void json_str(json_out *j, const char *key, const char *s) {
    head(j, key);
    quoted(j->f, s);
}

void json_int(json_out *j, const char *key, int64_t v) {
    head(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void json_bool(json_out *j, const char *key, int v) {
    head(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_null(json_out *j, const char *key) {
    head(j, key);
    fputs("null", j->f);
}

void json_number(json_out *j, const char *key, const char *literal) {
    head(j, key);
    fputs(literal, j->f);
}

void json_usd(json_out *j, const char *key, const char *key_nanos, int64_t nanos) {
    char usd[32];
    tally_nanos_to_usd(nanos, usd, sizeof usd);
    json_str(j, key, usd);
    if (key_nanos) json_int(j, key_nanos, nanos);
}

void json_bucket(json_out *j, const tally_bucket *b) {
    json_int(j, "requests", b->requests);
    json_int(j, "input_tokens", b->input_tokens);
    json_int(j, "output_tokens", b->output_tokens);
    json_int(j, "cache_create_tokens", b->cache_create_tokens);
    json_int(j, "cache_read_tokens", b->cache_read_tokens);
    json_int(j, "total_tokens", b->total_tokens);
    json_usd(j, "cost", "cost_nanos", b->cost_nanos);
}
