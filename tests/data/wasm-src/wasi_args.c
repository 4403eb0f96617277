/*
 * wasi_args: prints its arguments and environment, one per line, so a test
 * can compare them with what `bt wasm run` was given. Exercises
 * args_sizes_get/args_get and environ_sizes_get/environ_get.
 *
 *   wasi_args [ARGS...]   prints "argc=N", "argv[i]=...", "env[i]=K=V"
 */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int
main(int argc, char **argv)
{
	int i;

	printf("argc=%d\n", argc);
	for (i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (i = 0; environ[i] != NULL; i++)
		printf("env[%d]=%s\n", i, environ[i]);
	if (getenv("WASI_ARGS_MISSING") != NULL)
		return 3;
	return 0;
}
