/*
 * wasi_exit: ends in the way its first argument names, so a test can check
 * the exit status and the message of `bt wasm run`:
 *
 *   wasi_exit N            exit(N) (proc_exit)
 *   wasi_exit return N     return N from main (proc_exit too, for N != 0)
 *   wasi_exit ok           return 0 from main (_start simply returns)
 *   wasi_exit div0         integer divide by zero trap
 *   wasi_exit unreachable  __builtin_trap(): the unreachable instruction
 *   wasi_exit oob          a load far outside linear memory
 *   wasi_exit loop         spins forever (for --timeout and --fuel)
 *   wasi_exit grow         mallocs 1 MiB blocks until malloc fails, then
 *                          prints how many it got (for --max-memory)
 *   wasi_exit recurse      unbounded recursion (stack exhaustion)
 *   wasi_exit stderr       writes a line to stderr and exits 7
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int zero;
static volatile uint32_t far = 0xfffffff0u;

static volatile int sink;
static void *volatile keep;

/* Recursion on the wasm value stack only (no locals in linear memory, so
 * the shadow stack cannot overflow into data first); the volatile store
 * after the call keeps clang from turning it into a loop. */
__attribute__((noinline)) static int
recurse(int n)
{
	int r;

	if (sink == -1)
		return n;
	r = recurse(n + 1);
	sink = r;
	return r + n;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: wasi_exit MODE\n");
		return 2;
	}
	if (strcmp(argv[1], "ok") == 0)
		return 0;
	if (strcmp(argv[1], "return") == 0 && argc > 2)
		return (int)strtol(argv[2], NULL, 10);
	if (strcmp(argv[1], "div0") == 0) {
		printf("%d\n", 10 / zero);
		return 0;
	}
	if (strcmp(argv[1], "unreachable") == 0)
		__builtin_trap();
	if (strcmp(argv[1], "oob") == 0) {
		printf("%d\n", *(volatile int *)(uintptr_t)far);
		return 0;
	}
	if (strcmp(argv[1], "loop") == 0) {
		volatile unsigned n = 0;

		for (;;)
			n++;
	}
	if (strcmp(argv[1], "grow") == 0) {
		unsigned n = 0;
		char line[64];
		int len;

		/* the volatile store keeps clang from assuming malloc never
		 * fails; stdio's own buffer would need malloc: write(2) */
		while ((keep = malloc(1 << 20)) != NULL)
			n++;
		len = snprintf(line, sizeof(line), "grew %u MiB\n", n);
		return write(1, line, (size_t)len) == len ? 0 : 1;
	}
	if (strcmp(argv[1], "recurse") == 0) {
		return recurse(0);
	}
	if (strcmp(argv[1], "stderr") == 0) {
		fprintf(stderr, "to stderr\n");
		return 7;
	}
	exit((int)strtol(argv[1], NULL, 10));
}
