/*
 * fuzz/image_index_fuzz.c: the OCI index.json parser of image/ (oci.c)
 * on arbitrary bytes; it must refuse or accept, never crash or leak.
 */
#include <stdint.h>

#include "bt/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_diag d;

	(void)bt_image_index_check(data, size, &d);
	return 0;
}
