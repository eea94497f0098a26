/* ndjson.c -- the fields of a usage event (flags and NDJSON names) and the
 * event parser for `tally record --stdin`: one flat JSON object per line,
 * read with the library's strict JSON reader (c/json_reader.c), whose values go through the same typed parsers as the
 * flags (opt.c). Numbers are taken from their literal text, so "cost": 0.0123
 * is exact; exponents, signs, leading zeros and fractions of token counts are
 * refused rather than rounded. */
#include "ndjson.h"

#include "json_reader.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    tally_json j;       /* the library's strict JSON reader (c/json_reader.c) */
    char *out;          /* next free byte of the event's text buffer */
    char *out_end;
} reader;

#define bad(r, ...) tally__json_fail(&(r)->j, __VA_ARGS__)

/* Reads a JSON string or number into the text buffer; *s gets its
 * NUL-terminated copy, *n its length, *quoted whether it was a string. */
static int scalar(reader *r, const char **s, size_t *n, int *quoted) {
    int rc = tally__json_scalar(&r->j, r->out, (size_t)(r->out_end - r->out), n, quoted);
    if (rc == TALLY_JSON_FULL) return bad(r, "line too long");
    if (rc) return rc;
    *s = r->out;
    r->out += *n + 1;
    return 0;
}

void event_fields(tally_event *e, int ndjson, opt f[EVENT_FIELDS + 1]) {
    /* Only the syntax is the tool's: an event's ranges (tokens, cost, time,
     * ids) are the library's to judge, once, with its own messages. */
    const opt fields[EVENT_FIELDS + 1] = {
        OPT_TEXT("--key", &e->key),
        OPT_TEXT("--model", &e->model),
        OPT_TEXT("--account", &e->account),
        OPT_COUNT("--input", &e->input_tokens, 0, INT64_MAX),
        OPT_COUNT("--output", &e->output_tokens, 0, INT64_MAX),
        OPT_COUNT("--cache-create", &e->cache_create_tokens, 0, INT64_MAX),
        OPT_COUNT("--cache-read", &e->cache_read_tokens, 0, INT64_MAX),
        OPT_USD("--cost", &e->cost_nanos, INT64_MAX),
        OPT_TEXT("--id", &e->request_id),
        OPT_TIME("--at", &e->at_ms),
        OPT_END,
    };
    static const char *const json_names[EVENT_FIELDS] = { "key",    "model",        "account",    "input",
                                                          "output", "cache_create", "cache_read", "cost",
                                                          "id",     "at" };
    for (int i = 0; i <= EVENT_FIELDS; i++) {
        f[i] = fields[i];
        if (ndjson && i < EVENT_FIELDS) f[i].name = json_names[i];
    }
}

int ndjson_blank(const char *line, size_t n) {
    tally_json j;
    tally__json_init(&j, line, n, NULL, 0);
    tally__json_ws(&j);
    return j.p == j.end;
}

/* Reads the value of field o: a string or a number literal, as its kind
 * allows, converted by the kind's parser. */
static int field_value(reader *r, opt *o, int tz_min) {
    const char *text = NULL;
    size_t n;
    int quoted;
    if (scalar(r, &text, &n, &quoted)) return -1;
    if (o->kind == KIND_TEXT && !quoted) return bad(r, "\"%s\" must be a string", o->name);
    if (o->kind == KIND_COUNT && quoted) return bad(r, "\"%s\" must be a number, not a string", o->name);
    o->given++;
    return opt_set(o, text, tz_min, r->j.err, r->j.cap);
}

int ndjson_parse(const char *line, size_t n, int tz_min, ndjson_event *out, char *err, size_t errlen) {
    reader r = { .out = out->text, .out_end = out->text + sizeof out->text };
    tally_json *j = &r.j;
    tally__json_init(j, line, n, err, errlen);
    memset(&out->ev, 0, sizeof out->ev);
    out->ev.cost_nanos = TALLY_COST_FROM_PRICES; /* no "cost": the price table's */
    opt fields[EVENT_FIELDS + 1];
    event_fields(&out->ev, 1, fields);
    if (!tally__json_peek(j, '{')) return bad(&r, "expected a JSON object");
    j->p++;
    if (tally__json_peek(j, '}')) return bad(&r, "empty object: \"key\" and \"model\" are required");
    for (size_t next = 0;;) {
        const char *name = NULL;
        size_t len;
        int quoted;
        if (!tally__json_peek(j, '"')) return bad(&r, "expected a string");
        if (scalar(&r, &name, &len, &quoted)) return -1;
        /* lines of one source give their fields in one order: the field
         * after the last one first */
        opt *o = opt_find(fields + next, name, len);
        if (!o) o = opt_find(fields, name, len);
        if (!o) return bad(&r, "unknown field \"%.40s\"", name);
        next = (size_t)(o - fields) + 1;
        if (o->given) return bad(&r, "field \"%s\" given twice", name);
        if (!tally__json_peek(j, ':')) return bad(&r, "expected ':' after \"%s\"", name);
        j->p++;
        tally__json_ws(j);
        if (field_value(&r, o, tz_min) < 0) return -1;
        if (tally__json_peek(j, ',')) {
            j->p++;
            continue;
        }
        if (tally__json_peek(j, '}')) {
            j->p++;
            break;
        }
        return bad(&r, "expected ',' or '}' after \"%s\"", name);
    }
    tally__json_ws(j);
    if (j->p != j->end) return bad(&r, "text after the object");
    if (!fields[0].given || !fields[1].given) return bad(&r, "\"key\" and \"model\" are required");
    return 0;
}
