/* test_prices.c -- unit (no server): price text read exactly (plain decimals
 * and exponent forms; refusals of negatives, garbage, prices finer than the
 * stored resolution and too large), the cost formula's rounding at its
 * boundaries and its bound, tiers, effective-from lookup, both JSON forms
 * (ours and LiteLLM's) with messages naming model and field, and the
 * canonical text prices.lua stores. Expected amounts are worked out by hand
 * in the comments, not by the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "price_table.h"

static int parse(const char *s, int shift, int64_t *v) {
    *v = -42;
    return tally__price_parse(s, strlen(s), shift, v);
}

static int64_t ok(const char *s, int shift) {
    int64_t v;
    int rc = parse(s, shift, &v);
    if (rc != TALLY_PRICE_OK) fail_msg("'%s' (shift %d) refused: %d", s, shift, rc);
    return v;
}

static void per_million_text_is_exact(void **state) {
    (void)state;
    assert_int_equal(ok("3", 9), 3000000000LL);
    assert_int_equal(ok("0.30", 9), 300000000);
    assert_int_equal(ok("0.0375", 9), 37500000);       /* 0.0375 USD/Mtok */
    assert_int_equal(ok("3.75", 9), 3750000000LL);
    assert_int_equal(ok("0.000000001", 9), 1);           /* the resolution */
    assert_int_equal(ok("0.30000000000000", 9), 300000000); /* zeros past it are exact */
    /* ... however many: past 40 significant digits too */
    assert_int_equal(ok("1.0000000000000000000000000000000000000000000000", 9), 1000000000);
    assert_int_equal(ok("10000000000000000000000000000000000000000000e-44", 9), 100000000);
    assert_int_equal(parse("1.00000000000000000000000000000000000000001", 9, &(int64_t){ 0 }), TALLY_PRICE_FINE);
    assert_int_equal(ok("000.5", 9), 500000000);
    assert_int_equal(ok("0", 9), 0);
    assert_int_equal(ok("0.0", 9), 0);
    assert_int_equal(ok("1000000", 9), TALLY_PRICE_MAX_NANOS);
    /* 0.1 + 0.2 style values that a double gets wrong stay exact */
    assert_int_equal(ok("0.3", 9) - ok("0.1", 9) - ok("0.2", 9), 0);
}

static void exponent_forms_are_exact(void **state) {
    (void)state;
    assert_int_equal(ok("3e-06", 15), 3000000000LL);     /* LiteLLM: 3 USD/Mtok */
    assert_int_equal(ok("3.75e-6", 15), 3750000000LL);
    assert_int_equal(ok("3E-7", 15), 300000000);
    assert_int_equal(ok("1.5e-05", 15), 15000000000LL);
    assert_int_equal(ok("0.000003", 15), 3000000000LL);
    assert_int_equal(ok("3.0e-06", 15), 3000000000LL);
    assert_int_equal(ok("1e-15", 15), 1);                /* 1 nano-USD per Mtok */
    assert_int_equal(ok("1e+0", 9), 1000000000);
    assert_int_equal(ok("2.5e2", 9), 250000000000LL);
    assert_int_equal(ok("0e-400", 15), 0);
    assert_int_equal(ok("3e-06", 15), ok("3", 9));       /* both forms, one amount */
}

static void refusals(void **state) {
    (void)state;
    int64_t v;
    static const char *const bad[] = { "", "abc", "1.", ".5", "1e", "1e+", "0x10", "1 ", " 1", "1,5", "--1", "1e5e5",
                                       "+1", "NaN", "Infinity" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], 9, &v) != TALLY_PRICE_BAD) fail_msg("'%s' was not refused as garbage", bad[i]);
    assert_int_equal(parse("-1", 9, &v), TALLY_PRICE_NEGATIVE);
    assert_int_equal(parse("-0.5", 15, &v), TALLY_PRICE_NEGATIVE);
    assert_int_equal(parse("0.0000000001", 9, &v), TALLY_PRICE_FINE);  /* 0.1 nano-USD per Mtok */
    assert_int_equal(parse("1e-16", 15, &v), TALLY_PRICE_FINE);
    assert_int_equal(parse("3.0000000000000001e-06", 15, &v), TALLY_PRICE_FINE);
    assert_int_equal(parse("1e-400", 15, &v), TALLY_PRICE_FINE);
    assert_int_equal(parse("1000000.000000001", 9, &v), TALLY_PRICE_LARGE);
    assert_int_equal(parse("1e400", 9, &v), TALLY_PRICE_LARGE);
    assert_int_equal(parse("99999999999999999999999999999999999999999", 9, &v), TALLY_PRICE_LARGE);
    assert_int_equal(v, -42); /* nothing written on a refusal */
}

static tally_price price(int64_t in, int64_t out, int64_t cc, int64_t cr) {
    tally_price p = { "m", 0, in, out, cc, cr, 0, 0, 0, 0, 0 };
    return p;
}

static int64_t cost_of(const tally_price *p, int64_t in, int64_t out, int64_t cc, int64_t cr) {
    tally_event e = { "k", "m", NULL, in, out, cc, cr, TALLY_COST_FROM_PRICES, 0, NULL };
    int64_t c = -42;
    assert_int_equal(tally_price_cost(p, &e, &c), TALLY_OK);
    return c;
}

/* Half up: tokens x price is in nano-USD x 10^-6; an exact half goes up. */
static void rounding_at_the_boundaries(void **state) {
    (void)state;
    tally_price one = price(1, 0, 0, 0); /* 1 nano-USD per million tokens */
    assert_int_equal(cost_of(&one, 0, 0, 0, 0), 0);
    assert_int_equal(cost_of(&one, 499999, 0, 0, 0), 0);   /* 0.499999 -> 0 */
    assert_int_equal(cost_of(&one, 500000, 0, 0, 0), 1);   /* 0.5 -> 1 */
    assert_int_equal(cost_of(&one, 1499999, 0, 0, 0), 1);
    assert_int_equal(cost_of(&one, 1500000, 0, 0, 0), 2);  /* 1.5 -> 2 */
    assert_int_equal(cost_of(&one, 2500000, 0, 0, 0), 3);  /* 2.5 -> 3 (half to even would give 2) */
    /* the four kinds are summed before the one division: 4 x 0.25 = 1, not 4 x 0 */
    tally_price all = price(1, 1, 1, 1);
    assert_int_equal(cost_of(&all, 250000, 250000, 250000, 250000), 1);
    assert_int_equal(cost_of(&all, 125000, 125000, 125000, 124999), 0);
    /* the seed's first event: 1000 input at 3 USD/Mtok + 500 output at 15 USD/Mtok
     * = 0.003 + 0.0075 = 0.0105 USD */
    tally_price sonnet = price(3000000000LL, 15000000000LL, 3750000000LL, 300000000);
    assert_int_equal(cost_of(&sonnet, 1000, 500, 0, 0), 10500000);
    /* 1 cache-read token at 0.30 USD/Mtok = 0.0000003 USD = 300 nano-USD */
    assert_int_equal(cost_of(&sonnet, 0, 0, 0, 1), 300);
    /* 7 tokens at 0.0375 USD/Mtok = 262.5 nano-USD -> 263 */
    tally_price small = price(37500000, 0, 0, 0);
    assert_int_equal(cost_of(&small, 7, 0, 0, 0), 263);
    assert_int_equal(cost_of(&small, 9, 0, 0, 0), 338); /* 337.5 -> 338 */
}

static void overflow_is_refused(void **state) {
    (void)state;
    tally_event e = { "k", "m", NULL, TALLY_MAX_TOKENS, 0, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL };
    int64_t c = -42;
    /* 10^12 tokens at 1 USD/Mtok = 10^6 USD = TALLY_MAX_COST_NANOS exactly */
    tally_price usd1 = price(1000000000, 0, 0, 0);
    assert_int_equal(tally_price_cost(&usd1, &e, &c), TALLY_OK);
    assert_int_equal(c, TALLY_MAX_COST_NANOS);
    /* one nano-USD per Mtok more: 10^15 + 10^6 nano-USD, past the bound */
    tally_price above = price(1000000001, 0, 0, 0);
    assert_int_equal(tally_price_cost(&above, &e, &c), TALLY_EINVAL);
    /* the largest product of all: 4 x 10^12 tokens x 10^15 fits 128 bits */
    tally_price max = price(TALLY_PRICE_MAX_NANOS, TALLY_PRICE_MAX_NANOS, TALLY_PRICE_MAX_NANOS, TALLY_PRICE_MAX_NANOS);
    e.output_tokens = e.cache_create_tokens = e.cache_read_tokens = TALLY_MAX_TOKENS;
    c = -42;
    assert_int_equal(tally_price_cost(&max, &e, &c), TALLY_EINVAL);
    assert_int_equal(c, -42);
    /* token counts past their bound are refused before any sum (no int64
     * overflow in the tier's prompt count) */
    tally_price tiered = usd1;
    tiered.tier_above = 1000;
    tally_event huge = { "k", "m", NULL, INT64_MAX, 0, 0, 1, TALLY_COST_FROM_PRICES, 0, NULL };
    assert_int_equal(tally_price_cost(&tiered, &huge, &c), TALLY_EINVAL);
    huge.input_tokens = TALLY_MAX_TOKENS + 1, huge.cache_read_tokens = 0;
    assert_int_equal(tally_price_cost(&usd1, &huge, &c), TALLY_EINVAL);
    assert_int_equal(c, -42);
}

static void tier_above_the_prompt_threshold(void **state) {
    (void)state;
    tally_price p = { "m", 0, 3000000000LL, 15000000000LL, 3750000000LL, 300000000,
                      200000, 6000000000LL, 22500000000LL, 7500000000LL, 600000000 };
    /* prompt = input + cache create + cache read = 200,000: the base prices */
    assert_int_equal(cost_of(&p, 100000, 1000, 50000, 50000), 300000000 + 15000000 + 187500000 + 15000000);
    /* 200,001: every token at the tier's: 0.600006 + 0.0225 + 0.375 + 0.03 USD */
    assert_int_equal(cost_of(&p, 100001, 1000, 50000, 50000), 600006000 + 22500000 + 375000000 + 30000000);
}

static tally_prices *table(const char *json) {
    tally_prices *p = NULL;
    char err[256] = "";
    if (tally_prices_parse(json, strlen(json), &p, err, sizeof err) != TALLY_OK) fail_msg("refused: %s", err);
    return p;
}

static void refused(const char *json, const char *want1, const char *want2) {
    tally_prices *p = (tally_prices *)1;
    char err[256] = "";
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, err, sizeof err), TALLY_EINVAL);
    assert_null(p);
    if (!strstr(err, want1) || !strstr(err, want2)) fail_msg("message '%s' lacks '%s' or '%s'", err, want1, want2);
}

static void our_form_and_effective_from(void **state) {
    (void)state;
    tally_prices *p = table(
        "{\"models\": {\"opus\": {\"input\": \"15\", \"output\": 75, \"cache_create\": \"18.75\", \"cache_read\": 1.5},"
        " \"sonnet\": [{\"input\": \"3\", \"output\": \"15\", \"cache_create\": \"3.75\", \"cache_read\": \"0.30\"},"
        "  {\"from\": \"2026-11-01T00:00:00Z\", \"input\": \"2\", \"output\": \"10\", \"cache_create\": \"2.5\","
        "   \"cache_read\": \"0.2\", \"tier_above\": 200000, \"tier\": {\"input\": \"4\", \"output\": \"15\","
        "   \"cache_create\": \"5\", \"cache_read\": \"0.4\"}}]}}");
    assert_int_equal(tally_prices_count(p), 3);
    assert_int_equal(tally_prices_version(p), 0);
    const int64_t nov1 = 1793491200000LL; /* 2026-11-01T00:00:00Z, by `date -d` */
    const tally_price *old = tally_prices_find(p, "sonnet", nov1 - 1), *now = tally_prices_find(p, "sonnet", nov1);
    assert_non_null(old);
    assert_non_null(now);
    assert_int_equal(old->input, 3000000000LL);
    assert_int_equal(old->from_ms, 0);
    assert_int_equal(now->input, 2000000000LL);
    assert_int_equal(now->from_ms, nov1);
    assert_int_equal(now->tier_above, 200000);
    assert_int_equal(now->tier_cache_read, 400000000);
    assert_int_equal(tally_prices_find(p, "opus", 1)->cache_create, 18750000000LL);
    assert_int_equal(tally_prices_find(p, "opus", 1)->cache_read, 1500000000);
    assert_null(tally_prices_find(p, "haiku", nov1));
    assert_null(tally_prices_find(p, "sonne", nov1));
    tally_prices_free(p);
    p = table("{\"models\": {\"late\": {\"from\": 1793491200000, \"input\": 1, \"output\": 1, \"cache_create\": 1,"
              " \"cache_read\": 1}}}");
    assert_null(tally_prices_find(p, "late", nov1 - 1)); /* before its first entry: no price */
    assert_non_null(tally_prices_find(p, "late", nov1));
    tally_prices_free(p);
}

static void our_form_refusals_name_model_and_field(void **state) {
    (void)state;
    refused("{\"models\": {\"opus\": {\"input\": \"-15\", \"output\": 75, \"cache_create\": 1, \"cache_read\": 1}}}",
            "opus", "input '-15' is negative");
    refused("{\"models\": {\"opus\": {\"input\": \"15\", \"output\": \"lots\", \"cache_create\": 1, \"cache_read\": 1}}}",
            "opus", "output 'lots' is not a decimal number");
    refused("{\"models\": {\"opus\": {\"input\": 1, \"output\": 1, \"cache_create\": \"0.0000000001\", \"cache_read\": 1}}}",
            "opus", "cache_create '0.0000000001' is finer");
    refused("{\"models\": {\"opus\": {\"input\": 1, \"output\": 1, \"cache_create\": 1}}}", "opus",
            "\"cache_read\" is missing");
    refused("{\"models\": {\"opus\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1, \"x\": 1}}}",
            "opus", "unknown field \"x\"");
    refused("{\"models\": {\"opus\": [{\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1},"
            " {\"input\": 2, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}]}}", "opus", "two entries");
    refused("{\"models\": {\"opus\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1,"
            " \"tier_above\": 1000}}}", "opus", "tier");
    refused("{\"models\": {\"opus\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}", "JSON", "}");
    refused("{\"models\": {\"\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}", "model", "empty");
    refused("not json", "JSON", "{");
}

/* LiteLLM's shape: USD per token as JSON numbers, cache prices optional,
 * the above-200k tier fields, models priced per something else skipped. */
static void litellm_form(void **state) {
    (void)state;
    tally_prices *p = table(
        "{\"sample_spec\": {\"max_tokens\": \"LEGACY parameter\", \"input_cost_per_token\": 0.0000,"
        "   \"supports_vision\": true},"
        " \"claude-sonnet-4\": {\"max_tokens\": 64000, \"input_cost_per_token\": 3e-06,"
        "   \"output_cost_per_token\": 1.5e-05, \"cache_creation_input_token_cost\": 3.75e-06,"
        "   \"cache_read_input_token_cost\": 3e-07, \"input_cost_per_token_above_200k_tokens\": 6e-06,"
        "   \"output_cost_per_token_above_200k_tokens\": 2.25e-05,"
        "   \"cache_creation_input_token_cost_above_200k_tokens\": 7.5e-06,"
        "   \"cache_read_input_token_cost_above_200k_tokens\": 6e-07, \"litellm_provider\": \"anthropic\","
        "   \"cache_creation_input_token_cost_above_1hr\": 6e-06, \"input_cost_per_token_above_8k\": 1,"
        "   \"supported_regions\": [\"us\", {\"x\": null}]},"
        " \"gpt-3.5-turbo\": {\"input_cost_per_token\": 0.0000015, \"output_cost_per_token\": 0.000002},"
        " \"dall-e-3\": {\"input_cost_per_pixel\": 1e-08, \"mode\": \"image_generation\"}}");
    assert_int_equal(tally_prices_count(p), 2);
    const tally_price *s = tally_prices_find(p, "claude-sonnet-4", 1);
    assert_non_null(s);
    assert_int_equal(s->input, 3000000000LL);
    assert_int_equal(s->output, 15000000000LL);
    assert_int_equal(s->cache_create, 3750000000LL);
    assert_int_equal(s->cache_read, 300000000);
    assert_int_equal(s->tier_above, 200000);
    assert_int_equal(s->tier_input, 6000000000LL);
    assert_int_equal(s->tier_output, 22500000000LL);
    assert_int_equal(s->tier_cache_create, 7500000000LL);
    assert_int_equal(s->tier_cache_read, 600000000);
    const tally_price *g = tally_prices_find(p, "gpt-3.5-turbo", 1);
    assert_int_equal(g->input, 1500000000);
    assert_int_equal(g->cache_create, 1500000000); /* no cache price: the input price */
    assert_int_equal(g->cache_read, 1500000000);
    assert_int_equal(g->tier_above, 0);
    assert_null(tally_prices_find(p, "dall-e-3", 1));
    assert_null(tally_prices_find(p, "sample_spec", 1));
    tally_prices_free(p);
    /* one model alone in a file: skipped, so the file yields nothing */
    refused("{\"m\": {\"input_cost_per_token\": -3e-06, \"output_cost_per_token\": 1e-06}}", "no model",
            "m: input_cost_per_token '-3e-06' is negative");
}

/* Item 6: past 40 significant digits a non-zero digit is too fine, not too
 * large: 3.000...01 (41 digits) is just above 3 USD per million tokens. */
static void digits_past_forty_are_too_fine(void **state) {
    (void)state;
    int64_t v;
    assert_int_equal(parse("3.0000000000000000000000000000000000000001", 9, &v), TALLY_PRICE_FINE);
    assert_int_equal(parse("3.0000000000000000000000000000000000000001e-6", 15, &v), TALLY_PRICE_FINE);
    assert_int_equal(parse("30000000000000000000000000000000000000001e-40", 9, &v), TALLY_PRICE_FINE);
    /* still too large when it is: 41 digits of whole USD */
    assert_int_equal(parse("30000000000000000000000000000000000000001", 9, &v), TALLY_PRICE_LARGE);
    refused("{\"models\": {\"m\": {\"input\": 3.0000000000000000000000000000000000000001, \"output\": 1,"
            " \"cache_create\": 1, \"cache_read\": 1}}}",
            "input '3.0000000000000000000000000000000000000001'", "is finer than 1 nano-USD per million tokens");
}

/* The LiteLLM rounding rule: half up to 1 nano-USD per million tokens (10^-15
 * USD per token), the first dropped digit deciding; ours never rounds. */
static void litellm_numbers_round_half_up(void **state) {
    (void)state;
    int64_t v = -42;
    /* 2.9999900000000002e-06 USD/token = 2999990000.0000002 nano-USD/Mtok */
    assert_int_equal(tally__price_round("2.9999900000000002e-06", 22, 15, &v), TALLY_PRICE_ROUNDED);
    assert_int_equal(v, 2999990000LL);
    /* 3.0001999999999996e-07 = 300019999.99999996 -> 300020000 */
    assert_int_equal(tally__price_round("3.0001999999999996e-07", 22, 15, &v), TALLY_PRICE_ROUNDED);
    assert_int_equal(v, 300020000LL);
    assert_int_equal(tally__price_round("1.5e-15", 7, 15, &v), TALLY_PRICE_ROUNDED); /* 1.5 -> 2 */
    assert_int_equal(v, 2);
    assert_int_equal(tally__price_round("2.5e-15", 7, 15, &v), TALLY_PRICE_ROUNDED); /* 2.5 -> 3, not even 2 */
    assert_int_equal(v, 3);
    assert_int_equal(tally__price_round("2.4999e-15", 10, 15, &v), TALLY_PRICE_ROUNDED);
    assert_int_equal(v, 2);
    assert_int_equal(tally__price_round("5e-16", 5, 15, &v), TALLY_PRICE_ROUNDED); /* 0.5 -> 1 */
    assert_int_equal(v, 1);
    v = -42;
    assert_int_equal(tally__price_round("4e-16", 5, 15, &v), TALLY_PRICE_FINE); /* would be free: refused */
    assert_int_equal(v, -42);
    assert_int_equal(tally__price_round("3e-06", 5, 15, &v), TALLY_PRICE_OK); /* exact: not rounded */
    assert_int_equal(v, 3000000000LL);
    assert_int_equal(tally__price_round("-2.9999900000000002e-06", 23, 15, &v), TALLY_PRICE_NEGATIVE);
}

static tally_prices *table_ex(const char *json, int tz_min, unsigned flags) {
    tally_prices *p = NULL;
    char err[512] = "";
    if (tally_prices_parse_ex(json, strlen(json), tz_min, flags, &p, err, sizeof err) != TALLY_OK)
        fail_msg("refused: %s", err);
    return p;
}

/* The note on `model`, of kind `what`, must mention `want`. */
static void noted(const tally_prices *p, const char *model, int what, const char *want) {
    for (size_t i = 0; i < tally_prices_note_count(p); i++) {
        const tally_price_note *n = tally_prices_note_at(p, i);
        if (strcmp(n->model, model) != 0) continue;
        if (n->what != what || !strstr(n->why, want))
            fail_msg("note on %s is %d '%s', not %d '%s'", model, n->what, n->why, what, want);
        return;
    }
    fail_msg("no note on %s", model);
}

/* Item 5: LiteLLM's file is third-party: one model never refuses the load.
 * Float artefacts are rounded and listed; bad values, two tier thresholds,
 * duplicates and models priced per something else are skipped and listed
 * with the reason; an embedding model with only an input price loads. */
static void litellm_models_skipped_or_rounded_with_notes(void **state) {
    (void)state;
    tally_prices *p = table(
        "{\"sample_spec\": {\"input_cost_per_token\": 0.0, \"output_cost_per_token\": 0.0},"
        " \"last_updated\": \"2026-07-24\","
        " \"db\": {\"input_cost_per_token\": 2.9999900000000002e-06, \"output_cost_per_token\": 1.5e-05,"
        "   \"litellm_provider\": \"databricks\"},"
        " \"neg\": {\"input_cost_per_token\": -3e-06, \"output_cost_per_token\": 1e-06},"
        " \"free\": {\"input_cost_per_token\": 3e-16, \"output_cost_per_token\": 1e-06},"
        " \"nul\": {\"input_cost_per_token\": null, \"output_cost_per_token\": 1e-06},"
        " \"tiers\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06,"
        "   \"input_cost_per_token_above_200k_tokens\": 2e-06, \"output_cost_per_token_above_128k_tokens\": 2e-06},"
        " \"twice\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06, \"input_cost_per_token\": 0},"
        " \"dup\": {\"input_cost_per_token\": 1.0000000000000001e-06, \"output_cost_per_token\": 1e-06},"
        " \"dup\": {\"input_cost_per_token\": 2e-06, \"output_cost_per_token\": 1e-06},"
        " \"mistral/mistral-embed\": {\"input_cost_per_token\": 1e-07, \"litellm_provider\": \"mistral\","
        "   \"mode\": \"embedding\"},"
        " \"gpt-image-1\": {\"input_cost_per_token\": 5e-06, \"output_cost_per_image\": 0.04,"
        "   \"mode\": \"image_generation\"},"
        " \"dall-e-3\": {\"output_cost_per_image\": 0.04, \"litellm_provider\": \"openai\"},"
        " \"whisper-1\": {\"input_cost_per_second\": 0.0001, \"output_cost_per_second\": 0.0001},"
        " \"qwen\": {\"litellm_provider\": \"dashscope\", \"tiered_pricing\": [{\"range\": [0, 256000]}]},"
        " \"bare\": {\"litellm_provider\": \"x\", \"mode\": \"chat\"},"
        " \"ok\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06}}");
    assert_int_equal(tally_prices_count(p), 3); /* db, mistral-embed, ok */
    assert_int_equal(tally_prices_find(p, "db", 1)->input, 2999990000LL);
    assert_int_equal(tally_prices_find(p, "db", 1)->output, 15000000000LL);
    const tally_price *embed = tally_prices_find(p, "mistral/mistral-embed", 1);
    assert_non_null(embed);
    assert_int_equal(embed->input, 100000000);
    assert_int_equal(embed->output, 0);
    assert_int_equal(tally_prices_find(p, "ok", 1)->output, 2000000000);
    assert_null(tally_prices_find(p, "dup", 1));
    noted(p, "db", TALLY_PRICE_NOTE_ROUNDED, "input_cost_per_token 2.9999900000000002e-06 rounded to 2.99999 USD");
    noted(p, "sample_spec", TALLY_PRICE_NOTE_SKIPPED, "description");
    noted(p, "last_updated", TALLY_PRICE_NOTE_SKIPPED, "not a model");
    noted(p, "neg", TALLY_PRICE_NOTE_SKIPPED, "input_cost_per_token '-3e-06' is negative");
    noted(p, "free", TALLY_PRICE_NOTE_SKIPPED, "input_cost_per_token '3e-16' is finer");
    noted(p, "nul", TALLY_PRICE_NOTE_SKIPPED, "input_cost_per_token is not a number");
    noted(p, "tiers", TALLY_PRICE_NOTE_SKIPPED, "only one tier");
    noted(p, "twice", TALLY_PRICE_NOTE_SKIPPED, "input_cost_per_token is given twice");
    noted(p, "dup", TALLY_PRICE_NOTE_SKIPPED, "given twice in the file");
    noted(p, "gpt-image-1", TALLY_PRICE_NOTE_SKIPPED, "input_cost_per_token without output_cost_per_token");
    noted(p, "dall-e-3", TALLY_PRICE_NOTE_SKIPPED, "priced per image, not per token");
    noted(p, "whisper-1", TALLY_PRICE_NOTE_SKIPPED, "priced per second, not per token");
    noted(p, "qwen", TALLY_PRICE_NOTE_SKIPPED, "tiered_pricing");
    noted(p, "bare", TALLY_PRICE_NOTE_SKIPPED, "no prices");
    assert_int_equal(tally_prices_note_count(p), 14);
    tally_prices_free(p);
}

/* Item 5 on the real thing: tests/data/litellm_excerpt.json, entries of
 * LiteLLM's model_prices_and_context_window.json copied verbatim (the 23
 * databricks models with float artefacts, embeddings, per image / pixel /
 * second / character / video models, tiered_pricing, a model without prices,
 * fallback_generalizations). */
static void litellm_excerpt_loads(void **state) {
    (void)state;
    const char *path = getenv("TALLY_LITELLM_EXCERPT");
    assert_non_null(path);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    tally_prices *p = table(text);
    assert_int_equal(tally_prices_count(p), 30);
    size_t rounded = 0, skipped = 0;
    for (size_t i = 0; i < tally_prices_note_count(p); i++)
        rounded += tally_prices_note_at(p, i)->what == TALLY_PRICE_NOTE_ROUNDED,
        skipped += tally_prices_note_at(p, i)->what == TALLY_PRICE_NOTE_SKIPPED;
    assert_int_equal(rounded, 23);
    assert_int_equal(skipped, 13);
    /* 1.5000020000000002e-05 and 7.500003000000001e-05 USD per token */
    const tally_price *opus = tally_prices_find(p, "databricks/databricks-claude-opus-4", 1);
    assert_int_equal(opus->input, 15000020000LL);
    assert_int_equal(opus->output, 75000030000LL);
    assert_int_equal(tally_prices_find(p, "mistral/mistral-embed", 1)->input, 100000000);
    const tally_price *sonnet = tally_prices_find(p, "claude-sonnet-4-5", 1);
    assert_int_equal(sonnet->input, 3000000000LL);
    assert_int_equal(sonnet->tier_above, 200000);
    noted(p, "dall-e-3", TALLY_PRICE_NOTE_SKIPPED, "priced per image");
    noted(p, "whisper-1", TALLY_PRICE_NOTE_SKIPPED, "priced per second");
    noted(p, "tts-1", TALLY_PRICE_NOTE_SKIPPED, "priced per character");
    noted(p, "dashscope/qwen-flash", TALLY_PRICE_NOTE_SKIPPED, "tiered_pricing");
    tally_prices_free(p);
}

/* Item 2: a mistyped file yields no table. */
static void mistyped_or_empty_files_are_refused(void **state) {
    (void)state;
    refused("{\"version\": 2, \"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1,"
            " \"cache_read\": 1}}}", "unknown top-level field \"version\"", "only \"models\"");
    refused("{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}},"
            " \"m2\": {}}", "unknown top-level field \"m2\"", "models");
    /* "model" for "models": read as LiteLLM's, where it is no model */
    refused("{\"model\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}",
            "no model priced per token", "model: not a model");
    refused("{\"models\": {}}", "no model", "");
    refused("{}", "no model", "");
    /* said explicitly: an empty table */
    tally_prices *p = table_ex("{\"models\": {}}", 0, TALLY_PRICES_ALLOW_EMPTY);
    assert_int_equal(tally_prices_count(p), 0);
    tally_prices_free(p);
}

/* Item 3: the last value of a field given twice must not silently win. */
static void a_field_given_twice_is_refused(void **state) {
    (void)state;
    refused("{\"models\": {\"m\": {\"input\": \"3\", \"output\": 1, \"cache_create\": 1, \"cache_read\": 1,"
            " \"input\": \"0\"}}}", "model m", "\"input\" is given twice");
    refused("{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1,"
            " \"tier_above\": 10, \"tier\": {\"input\": 1, \"output\": 1, \"cache_create\": 1,"
            " \"cache_read\": 1, \"output\": 0}}}}", "model m", "tier \"output\" is given twice");
    refused("{\"models\": {\"m\": {\"from\": 5, \"input\": 1, \"output\": 1, \"cache_create\": 1,"
            " \"cache_read\": 1, \"from\": 6}}}", "model m", "\"from\" is given twice");
    refused("{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1,"
            " \"tier_above\": 10, \"tier_above\": 20, \"tier\": {\"input\": 1, \"output\": 1,"
            " \"cache_create\": 1, \"cache_read\": 1}}}}", "model m", "\"tier_above\" is given twice");
    /* a model given twice, even with different from times: entries go in one list */
    refused("{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1},"
            " \"n\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1},"
            " \"m\": {\"from\": 5, \"input\": 0, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}",
            "model m", "given twice");
    refused("{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}},"
            " \"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}",
            "model m", "given twice");
}

/* Item 4: a "from" without an offset is in the zone given, as --at reads
 * its time (tally_parse_time); with an offset or in epoch ms it is exact. */
static void from_without_offset_is_in_the_zone(void **state) {
    (void)state;
    const int64_t dec1_utc = 1796083200000LL;          /* 2026-12-01T00:00:00Z, by `date -d` */
    const int64_t dec1_cst = dec1_utc - 8 * 3600000LL; /* 2026-12-01T00:00:00+08:00 */
    const char *json = "{\"models\": {\"m\": [{\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1},"
                       " {\"from\": \"2026-12-01T00:00:00\", \"input\": 2, \"output\": 1, \"cache_create\": 1,"
                       "  \"cache_read\": 1}],"
                       " \"z\": {\"from\": \"2026-12-01T00:00:00Z\", \"input\": 1, \"output\": 1,"
                       "  \"cache_create\": 1, \"cache_read\": 1},"
                       " \"e\": {\"from\": 1796083200000, \"input\": 1, \"output\": 1, \"cache_create\": 1,"
                       "  \"cache_read\": 1}}}";
    tally_prices *p = table_ex(json, 480, 0);
    int64_t at;
    assert_int_equal(tally_parse_time("2026-12-01T00:00:00", 480, &at), TALLY_OK); /* what --at reads */
    assert_int_equal(at, dec1_cst);
    assert_int_equal(tally_prices_find(p, "m", dec1_cst)->from_ms, dec1_cst);
    /* local 2026-11-30T23:59:59.999 and 2026-12-01T03:00, either side of the change */
    assert_int_equal(tally_prices_find(p, "m", dec1_cst - 1)->input, 1000000000);
    assert_int_equal(tally_prices_find(p, "m", dec1_cst + 3 * 3600000LL)->input, 2000000000);
    assert_null(tally_prices_find(p, "z", dec1_utc - 1)); /* never moved by the zone */
    assert_int_equal(tally_prices_find(p, "z", dec1_utc)->from_ms, dec1_utc);
    assert_int_equal(tally_prices_find(p, "e", 1 + dec1_utc)->from_ms, dec1_utc);
    tally_prices_free(p);
    p = table(json); /* tally_prices_parse: UTC */
    assert_int_equal(tally_prices_find(p, "m", dec1_utc)->from_ms, dec1_utc);
    tally_prices_free(p);
}

static void canonical_text_round_trips(void **state) {
    (void)state;
    tally_prices *p = table(
        "{\"models\": {\"a\": [{\"input\": 1, \"output\": 2, \"cache_create\": 3, \"cache_read\": \"0.000000004\"},"
        " {\"from\": 5, \"input\": 6, \"output\": 7, \"cache_create\": 8, \"cache_read\": 9, \"tier_above\": 10,"
        "  \"tier\": {\"input\": 11, \"output\": 12, \"cache_create\": 13, \"cache_read\": 14}}]}}");
    char buf[512];
    size_t n = tally__prices_encode(p, 0, tally__prices_run(p, 0), buf, sizeof buf);
    const char *want = "0,1000000000,2000000000,3000000000,4,0,0,0,0,0;"
                       "5,6000000000,7000000000,8000000000,9000000000,10,11000000000,12000000000,13000000000,14000000000";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    assert_int_equal(tally__prices_encode(p, 0, 2, buf, 20), 0); /* does not fit */
    tally_prices *q = tally__prices_new();
    assert_int_equal(tally__prices_decode(q, "a", 1, want, strlen(want)), 0);
    assert_int_equal(tally_prices_count(q), 2);
    for (size_t i = 0; i < 2; i++)
        assert_memory_equal(&tally_prices_at(q, i)->from_ms, &tally_prices_at(p, i)->from_ms,
                            sizeof(tally_price) - offsetof(tally_price, from_ms));
    assert_int_equal(tally__prices_decode(q, "a", 1, "1,2", 3), -1);
    assert_int_equal(tally__prices_decode(q, "a", 1, "1,2,3,4,5,6,7,8,9,x", 19), -1);
    tally_prices_free(p);
    tally_prices_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_million_text_is_exact),
        cmocka_unit_test(exponent_forms_are_exact),
        cmocka_unit_test(refusals),
        cmocka_unit_test(rounding_at_the_boundaries),
        cmocka_unit_test(overflow_is_refused),
        cmocka_unit_test(tier_above_the_prompt_threshold),
        cmocka_unit_test(our_form_and_effective_from),
        cmocka_unit_test(our_form_refusals_name_model_and_field),
        cmocka_unit_test(litellm_form),
        cmocka_unit_test(canonical_text_round_trips),
        cmocka_unit_test(digits_past_forty_are_too_fine),
        cmocka_unit_test(litellm_numbers_round_half_up),
        cmocka_unit_test(litellm_models_skipped_or_rounded_with_notes),
        cmocka_unit_test(litellm_excerpt_loads),
        cmocka_unit_test(mistyped_or_empty_files_are_refused),
        cmocka_unit_test(a_field_given_twice_is_refused),
        cmocka_unit_test(from_without_offset_is_in_the_zone),
    };
    return cmocka_run_group_tests_name("prices", tests, NULL, NULL);
}
