/*
 * wasi_cat: copies stdin to stdout in odd-sized reads (fd_read, fd_write)
 * and reports the byte count on stderr.
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	char buf[1000];
	unsigned long total = 0;
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) > 0) {
		if (write(1, buf, (size_t)n) != n)
			return 1;
		total += (unsigned long)n;
	}
	if (n < 0) {
		perror("read");
		return 1;
	}
	fprintf(stderr, "cat: %lu bytes\n", total);
	return 0;
}
