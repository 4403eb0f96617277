/*
 * cdc_test.c: the FastCDC chunker: bounds, average, determinism of the
 * gear table, and the property the format relies on, that boundaries
 * resynchronize after an insertion or deletion (most chunks are reused).
 */
#include <stdlib.h>
#include <string.h>

#include "bt/crypto.h"
#include "image_int.h"
#include "testing.h"

#define DATA_LEN ((size_t)8 << 20)

static uint8_t *
random_data(size_t n, uint64_t seed)
{
	uint8_t *p = bt_alloc(n);
	uint64_t x = seed;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
	return p;
}

/* Chunks p; returns the count and the digests (bt_free them). */
static size_t
chunk_all(const uint8_t *p, size_t n, uint8_t **digests, size_t *min,
    size_t *max)
{
	size_t cap = n / BT_IMAGE_CHUNK_MIN + 2, count = 0, off = 0;
	uint8_t *d = bt_calloc(cap, 32);

	assert_non_null(d);
	*min = SIZE_MAX;
	*max = 0;
	while (off < n) {
		size_t len = bt__image_cdc_cut(p + off, n - off);

		assert_true(len > 0);
		assert_true(len <= BT_IMAGE_CHUNK_MAX);
		if (off + len < n && len < *min)
			*min = len;
		if (len > *max)
			*max = len;
		assert_int_equal(bt_sha256(p + off, len, d + 32 * count), 0);
		count++;
		off += len;
	}
	*digests = d;
	return count;
}

static size_t
shared(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t n = 0;

	for (size_t i = 0; i < nb; i++) {
		for (size_t j = 0; j < na; j++) {
			if (memcmp(b + 32 * i, a + 32 * j, 32) == 0) {
				n++;
				break;
			}
		}
	}
	return n;
}

static void
test_cdc_gear_table_is_fixed(void **state)
{
	const uint64_t *g = bt__image_gear();

	(void)state;
	/* Pinned: changing the generator changes every chunk digest of
	 * every image (docs/image-format.md). */
	assert_true(g[0] == 0x9d998ffb03db045cull);
	assert_true(g[255] == 0xf16f15e55d181979ull);
	for (int i = 0; i < 255; i++)
		assert_true(g[i] != g[i + 1]);
}

static void
test_cdc_chunks_stay_in_bounds_and_average_near_64k(void **state)
{
	uint8_t *p = random_data(DATA_LEN, 42), *d;
	size_t min, max, n;

	(void)state;
	n = chunk_all(p, DATA_LEN, &d, &min, &max);
	assert_true(min >= BT_IMAGE_CHUNK_MIN);
	assert_true(max <= BT_IMAGE_CHUNK_MAX);
	/* Normalized chunking: the mean sits near the 64 KiB target. */
	assert_true(DATA_LEN / n > 48 * 1024);
	assert_true(DATA_LEN / n < 96 * 1024);
	bt_free(d);
	bt_free(p);
}

static void
test_cdc_short_input_is_one_chunk(void **state)
{
	uint8_t buf[100] = { 1, 2, 3 };

	(void)state;
	assert_int_equal(bt__image_cdc_cut(buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(bt__image_cdc_cut(buf, 1), 1);
}

static void
test_cdc_boundaries_resync_after_insertion(void **state)
{
	uint8_t *a = random_data(DATA_LEN, 7), *b, *da, *db;
	size_t na, nb, min, max, ins = 3 << 20, extra = 100;

	(void)state;
	b = bt_alloc(DATA_LEN + extra);
	assert_non_null(b);
	memcpy(b, a, ins);
	memset(b + ins, 0xab, extra);
	memcpy(b + ins + extra, a + ins, DATA_LEN - ins);
	na = chunk_all(a, DATA_LEN, &da, &min, &max);
	nb = chunk_all(b, DATA_LEN + extra, &db, &min, &max);
	/* Only the chunk holding the insertion (and rarely its neighbour)
	 * changes; everything else is reused. */
	assert_true(shared(da, na, db, nb) + 3 >= nb);
	bt_free(da);
	bt_free(db);
	bt_free(b);
	bt_free(a);
}

static void
test_cdc_boundaries_resync_after_deletion(void **state)
{
	uint8_t *a = random_data(DATA_LEN, 9), *b, *da, *db;
	size_t na, nb, min, max, del = 5 << 20, gone = 4096;

	(void)state;
	b = bt_alloc(DATA_LEN - gone);
	assert_non_null(b);
	memcpy(b, a, del);
	memcpy(b + del, a + del + gone, DATA_LEN - del - gone);
	na = chunk_all(a, DATA_LEN, &da, &min, &max);
	nb = chunk_all(b, DATA_LEN - gone, &db, &min, &max);
	assert_true(shared(da, na, db, nb) + 3 >= nb);
	bt_free(da);
	bt_free(db);
	bt_free(b);
	bt_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cdc_gear_table_is_fixed),
		cmocka_unit_test(test_cdc_chunks_stay_in_bounds_and_average_near_64k),
		cmocka_unit_test(test_cdc_short_input_is_one_chunk),
		cmocka_unit_test(test_cdc_boundaries_resync_after_insertion),
		cmocka_unit_test(test_cdc_boundaries_resync_after_deletion),
	};

	return cmocka_run_group_tests_name("image.cdc", tests, NULL, NULL);
}
