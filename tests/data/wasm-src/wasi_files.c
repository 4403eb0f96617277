/*
 * wasi_files: file-system operations through wasi-libc inside one preopened
 * folder (argv[1], e.g. /sandbox): create, write, read, seek/tell, stat,
 * append, exclusive create, truncate, mkdir/rmdir, readdir, rename, unlink.
 * Prints "ok STEP" per step; on the first failure prints "FAIL STEP: why"
 * and exits 1. Leaves "kept.txt" (contents "kept\n") and the folder "keep"
 * behind so the test can check the host side.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *
at(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
check(int ok, const char *step)
{
	if (!ok) {
		printf("FAIL %s: %s\n", step, strerror(errno));
		exit(1);
	}
	printf("ok %s\n", step);
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	char buf[256], *names[64];
	struct stat st;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int fd, n, i;
	off_t off;

	if (argc < 2) {
		fprintf(stderr, "usage: wasi_files DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);

	f = fopen(at("hello.txt"), "w");
	check(f != NULL, "create");
	check(fputs("hello, world\n", f) >= 0 && fclose(f) == 0, "write");

	f = fopen(at("hello.txt"), "r");
	check(f != NULL, "open-read");
	check(fgets(buf, sizeof(buf), f) != NULL &&
	    strcmp(buf, "hello, world\n") == 0, "read");
	fclose(f);

	fd = open(at("hello.txt"), O_RDWR);
	check(fd >= 0, "open-rdwr");
	off = lseek(fd, 7, SEEK_SET);
	check(off == 7, "seek-set");
	check(write(fd, "WASI!", 5) == 5, "write-at");
	check(lseek(fd, 0, SEEK_CUR) == 12, "tell");
	check(lseek(fd, -2, SEEK_END) == 11, "seek-end");
	n = (int)read(fd, buf, sizeof(buf));
	check(n == 2 && memcmp(buf, "!\n", 2) == 0, "read-at");
	check(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0,
	    "pread");
	check(fstat(fd, &st) == 0 && st.st_size == 13 && S_ISREG(st.st_mode),
	    "fstat");
	check(ftruncate(fd, 5) == 0, "ftruncate");
	check(close(fd) == 0, "close");
	check(stat(at("hello.txt"), &st) == 0 && st.st_size == 5, "stat");

	fd = open(at("hello.txt"), O_WRONLY | O_APPEND);
	check(fd >= 0, "open-append");
	check(write(fd, "+more", 5) == 5, "append");
	close(fd);
	f = fopen(at("hello.txt"), "r");
	check(f != NULL && fgets(buf, sizeof(buf), f) != NULL &&
	    strcmp(buf, "hello+more") == 0, "append-result");
	fclose(f);

	fd = open(at("hello.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	check(fd < 0 && errno == EEXIST, "excl-exists");
	fd = open(at("nothere.txt"), O_RDONLY);
	check(fd < 0 && errno == ENOENT, "open-missing");
	fd = open(at("hello.txt"), O_WRONLY | O_TRUNC);
	check(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "trunc");
	close(fd);

	check(mkdir(at("sub"), 0755) == 0, "mkdir");
	check(mkdir(at("sub"), 0755) != 0 && errno == EEXIST, "mkdir-exists");
	check(stat(at("sub"), &st) == 0 && S_ISDIR(st.st_mode), "stat-dir");
	f = fopen(at("sub/inner.txt"), "w");
	check(f != NULL && fputs("inner\n", f) >= 0 && fclose(f) == 0,
	    "create-inner");
	check(rmdir(at("sub")) != 0 && errno == ENOTEMPTY, "rmdir-notempty");
	fd = open(at("hello.txt/x"), O_RDONLY);
	check(fd < 0 && errno == ENOTDIR, "notdir");

	/* readdir: enough entries that the runtime must fill several buffers */
	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "sub/file-with-a-long-name-%02d", i);
		fd = open(at(buf), O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			break;
		close(fd);
	}
	check(i == 40, "create-many");
	d = opendir(at("sub"));
	check(d != NULL, "opendir");
	n = 0;
	while ((de = readdir(d)) != NULL && n < 64) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	check(n == 41, "readdir-count");
	qsort(names, (size_t)n, sizeof(names[0]), cmpstr);
	check(strcmp(names[0], "file-with-a-long-name-00") == 0 &&
	    strcmp(names[39], "file-with-a-long-name-39") == 0 &&
	    strcmp(names[40], "inner.txt") == 0, "readdir-names");
	for (i = 0; i < n; i++)
		free(names[i]);

	check(rename(at("sub/inner.txt"), at("moved.txt")) == 0, "rename");
	check(stat(at("sub/inner.txt"), &st) != 0 && errno == ENOENT,
	    "rename-source-gone");
	f = fopen(at("moved.txt"), "r");
	check(f != NULL && fgets(buf, sizeof(buf), f) != NULL &&
	    strcmp(buf, "inner\n") == 0, "rename-contents");
	fclose(f);
	check(unlink(at("moved.txt")) == 0, "unlink");
	check(unlink(at("moved.txt")) != 0 && errno == ENOENT, "unlink-missing");
	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "sub/file-with-a-long-name-%02d", i);
		if (unlink(at(buf)) != 0)
			break;
	}
	check(i == 40, "unlink-many");
	check(unlink(at("sub")) != 0, "unlink-dir-refused");
	check(rmdir(at("sub")) == 0, "rmdir");
	check(stat(at("sub"), &st) != 0 && errno == ENOENT, "rmdir-gone");
	check(unlink(at("hello.txt")) == 0, "unlink-hello");

	check(mkdir(at("keep"), 0755) == 0, "mkdir-keep");
	f = fopen(at("kept.txt"), "w");
	check(f != NULL && fputs("kept\n", f) >= 0 && fclose(f) == 0, "kept");
	printf("files: all ok\n");
	return 0;
}
